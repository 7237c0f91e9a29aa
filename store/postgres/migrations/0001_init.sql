-- Keyward schema, version 1.
-- Times are timestamptz (PostgreSQL keeps microseconds); NULL stands for the zero time where a
-- field may be zero. String lists are text[]; NULL stands for a nil list, which matters for
-- interactions.consented (nil: not asked; empty: nothing approved). Byte fields are bytea.
-- An account id that may be empty is NULL when empty, so the foreign key binds only real ids.

CREATE TABLE accounts (
    id             text        NOT NULL PRIMARY KEY,
    email          text        NOT NULL UNIQUE,
    email_verified boolean     NOT NULL,
    display_name   text        NOT NULL,
    user_handle    bytea       NOT NULL UNIQUE,
    admin          boolean     NOT NULL,
    disabled       boolean     NOT NULL,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);

CREATE INDEX accounts_created ON accounts (created_at, id);

CREATE TABLE credentials (
    id               bytea       NOT NULL PRIMARY KEY,
    account_id       text        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    public_key       bytea,
    attestation_type text        NOT NULL,
    aaguid           bytea,
    sign_count       bigint      NOT NULL CHECK (sign_count BETWEEN 0 AND 4294967295),
    transports       text[],
    user_present     boolean     NOT NULL,
    user_verified    boolean     NOT NULL,
    backup_eligible  boolean     NOT NULL,
    backup_state     boolean     NOT NULL,
    clone_warning    boolean     NOT NULL,
    name             text        NOT NULL,
    created_at       timestamptz NOT NULL,
    created_ip       text        NOT NULL,
    created_ua       text        NOT NULL,
    last_used_at     timestamptz,
    last_used_ip     text        NOT NULL,
    last_used_ua     text        NOT NULL
);

CREATE INDEX credentials_account ON credentials (account_id, created_at, id);

CREATE TABLE ceremonies (
    session_id text        NOT NULL,
    purpose    text        NOT NULL,
    account_id text        NOT NULL,
    data       bytea,
    created_at timestamptz NOT NULL,
    expires_at timestamptz,
    PRIMARY KEY (session_id, purpose)
);

CREATE INDEX ceremonies_expires ON ceremonies (expires_at);

-- account_id is NULL until someone signs in, so the foreign key only binds signed-in sessions.
CREATE TABLE sessions (
    id            text        NOT NULL PRIMARY KEY,
    account_id    text        REFERENCES accounts (id) ON DELETE CASCADE,
    auth_time     timestamptz,
    amr           text[],
    acr           text        NOT NULL,
    credential_id bytea,
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    expires_at    timestamptz,
    ip            text        NOT NULL,
    user_agent    text        NOT NULL,
    data          bytea
);

CREATE INDEX sessions_account ON sessions (account_id, last_seen_at);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE interactions (
    id         text        NOT NULL PRIMARY KEY,
    session_id text        NOT NULL,
    client_id  text        NOT NULL,
    request    text        NOT NULL,
    login_at   timestamptz,
    consented  text[],
    created_at timestamptz NOT NULL,
    expires_at timestamptz
);

CREATE INDEX interactions_session ON interactions (session_id);
CREATE INDEX interactions_expires ON interactions (expires_at);

CREATE TABLE oauth_tokens (
    kind         text        NOT NULL,
    signature    text        NOT NULL,
    request_id   text        NOT NULL,
    client_id    text        NOT NULL,
    subject      text        NOT NULL,
    session_id   text        NOT NULL,
    active       boolean     NOT NULL,
    requested_at timestamptz NOT NULL,
    expires_at   timestamptz,
    request      bytea,
    PRIMARY KEY (kind, signature)
);

CREATE INDEX oauth_tokens_request ON oauth_tokens (kind, request_id);
CREATE INDEX oauth_tokens_subject ON oauth_tokens (subject, client_id);
CREATE INDEX oauth_tokens_expires ON oauth_tokens (expires_at);

CREATE TABLE clients (
    id                         text        NOT NULL PRIMARY KEY,
    name                       text        NOT NULL,
    secret_hash                bytea,
    redirect_uris              text[],
    post_logout_redirect_uris  text[],
    grant_types                text[],
    response_types             text[],
    scopes                     text[],
    public                     boolean     NOT NULL,
    first_party                boolean     NOT NULL,
    backchannel_logout_uri     text        NOT NULL,
    id_token_signed_alg        text        NOT NULL,
    token_endpoint_auth_method text        NOT NULL,
    source                     text        NOT NULL,
    created_at                 timestamptz NOT NULL,
    updated_at                 timestamptz NOT NULL
);

CREATE TABLE consents (
    account_id text        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    client_id  text        NOT NULL,
    scopes     text[],
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, client_id)
);

CREATE TABLE signing_keys (
    id          text        NOT NULL PRIMARY KEY,
    alg         text        NOT NULL,
    private_key bytea,
    created_at  timestamptz NOT NULL,
    retired_at  timestamptz,
    expires_at  timestamptz
);

CREATE INDEX signing_keys_created ON signing_keys (created_at, id);

CREATE TABLE invites (
    token_hash text        NOT NULL PRIMARY KEY,
    email      text        NOT NULL,
    admin      boolean     NOT NULL,
    created_by text        NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz
);

CREATE INDEX invites_expires ON invites (expires_at);

-- Append-only; no foreign keys, so the log outlives the accounts it names.
CREATE TABLE audit_events (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time          timestamptz NOT NULL,
    event         text        NOT NULL,
    account_id    text        NOT NULL,
    actor_id      text        NOT NULL,
    credential_id text        NOT NULL,
    client_id     text        NOT NULL,
    ip            text        NOT NULL,
    user_agent    text        NOT NULL,
    result        text        NOT NULL,
    detail        bytea
);

CREATE INDEX audit_events_account ON audit_events (account_id, id);
CREATE INDEX audit_events_event ON audit_events (event, id);
CREATE INDEX audit_events_ip ON audit_events (ip, id);
CREATE INDEX audit_events_time ON audit_events (time);
