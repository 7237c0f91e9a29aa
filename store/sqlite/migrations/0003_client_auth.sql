-- Client fields for private_key_jwt, PAR, RFC 9068 access tokens, per-client token lifetimes
-- and CORS, and the replay cache of client assertion jtis. Defaults keep existing clients as
-- they were: secret or public auth, opaque tokens, server-wide lifetimes, no CORS.
ALTER TABLE clients ADD COLUMN jwks TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN jwks_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN token_endpoint_auth_signing_alg TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN require_par INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN access_token_format TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN access_token_ttl INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN refresh_token_ttl INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN id_token_ttl INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN allowed_origins TEXT;

CREATE TABLE client_assertion_jtis (
    jti        TEXT    NOT NULL PRIMARY KEY,
    expires_at INTEGER NOT NULL
) STRICT;
CREATE INDEX client_assertion_jtis_expires ON client_assertion_jtis (expires_at);

-- Front-Channel Logout 1.0 client metadata.
ALTER TABLE clients ADD COLUMN frontchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN frontchannel_logout_session_required INTEGER NOT NULL DEFAULT 0;
