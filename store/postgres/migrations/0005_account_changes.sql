-- Account changes (issue 5): revoking a passkey revokes the tokens issued in the sessions it
-- opened (SA-04), found by the session they were issued in.
CREATE INDEX oauth_tokens_session ON oauth_tokens (session_id);
