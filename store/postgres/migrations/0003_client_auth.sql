-- Client fields for private_key_jwt, PAR, RFC 9068 access tokens, per-client token lifetimes
-- and CORS, and the replay cache of client assertion jtis. Defaults keep existing clients as
-- they were: secret or public auth, opaque tokens, server-wide lifetimes, no CORS.
ALTER TABLE clients
    ADD COLUMN jwks text NOT NULL DEFAULT '',
    ADD COLUMN jwks_uri text NOT NULL DEFAULT '',
    ADD COLUMN token_endpoint_auth_signing_alg text NOT NULL DEFAULT '',
    ADD COLUMN require_par boolean NOT NULL DEFAULT false,
    ADD COLUMN access_token_format text NOT NULL DEFAULT '',
    ADD COLUMN access_token_ttl bigint NOT NULL DEFAULT 0,
    ADD COLUMN refresh_token_ttl bigint NOT NULL DEFAULT 0,
    ADD COLUMN id_token_ttl bigint NOT NULL DEFAULT 0,
    ADD COLUMN allowed_origins text[];

CREATE TABLE client_assertion_jtis (
    jti        text        NOT NULL PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX client_assertion_jtis_expires ON client_assertion_jtis (expires_at);

-- Front-Channel Logout 1.0 client metadata.
ALTER TABLE clients
    ADD COLUMN frontchannel_logout_uri text NOT NULL DEFAULT '',
    ADD COLUMN frontchannel_logout_session_required boolean NOT NULL DEFAULT false;
