-- Keyward schema, version 1.
-- Times are INTEGER unix nanoseconds in UTC; 0 stands for the zero time.
-- String lists are JSON arrays in TEXT; NULL stands for a nil list.
-- Booleans are INTEGER 0/1.
-- Tables looked up by a text or blob key are WITHOUT ROWID: the key is the table, so a write
-- touches one b-tree page fewer.

CREATE TABLE accounts (
    id             TEXT    NOT NULL PRIMARY KEY,
    email          TEXT    NOT NULL UNIQUE,
    email_verified INTEGER NOT NULL,
    display_name   TEXT    NOT NULL,
    user_handle    BLOB    NOT NULL UNIQUE,
    admin          INTEGER NOT NULL,
    disabled       INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
) STRICT;

CREATE INDEX accounts_created ON accounts (created_at, id);

CREATE TABLE credentials (
    id               BLOB    NOT NULL PRIMARY KEY,
    account_id       TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    public_key       BLOB,
    attestation_type TEXT    NOT NULL,
    aaguid           BLOB,
    sign_count       INTEGER NOT NULL,
    transports       TEXT,
    user_present     INTEGER NOT NULL,
    user_verified    INTEGER NOT NULL,
    backup_eligible  INTEGER NOT NULL,
    backup_state     INTEGER NOT NULL,
    clone_warning    INTEGER NOT NULL,
    name             TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    created_ip       TEXT    NOT NULL,
    created_ua       TEXT    NOT NULL,
    last_used_at     INTEGER NOT NULL,
    last_used_ip     TEXT    NOT NULL,
    last_used_ua     TEXT    NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX credentials_account ON credentials (account_id, created_at, id);

CREATE TABLE ceremonies (
    session_id TEXT    NOT NULL,
    purpose    TEXT    NOT NULL,
    account_id TEXT    NOT NULL,
    data       BLOB,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (session_id, purpose)
) STRICT, WITHOUT ROWID;

CREATE INDEX ceremonies_expires ON ceremonies (expires_at);

-- account_id is NULL until someone signs in, so the foreign key only binds signed-in sessions.
CREATE TABLE sessions (
    id            TEXT    NOT NULL PRIMARY KEY,
    account_id    TEXT    REFERENCES accounts (id) ON DELETE CASCADE,
    auth_time     INTEGER NOT NULL,
    amr           TEXT,
    acr           TEXT    NOT NULL,
    credential_id BLOB,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    ip            TEXT    NOT NULL,
    user_agent    TEXT    NOT NULL,
    data          BLOB
) STRICT, WITHOUT ROWID;

-- Not (account_id, last_seen_at): every request that bumps last_seen_at would rewrite the index.
CREATE INDEX sessions_account ON sessions (account_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE interactions (
    id         TEXT    NOT NULL PRIMARY KEY,
    session_id TEXT    NOT NULL,
    client_id  TEXT    NOT NULL,
    request    TEXT    NOT NULL,
    login_at   INTEGER NOT NULL,
    consented  TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX interactions_session ON interactions (session_id);
CREATE INDEX interactions_expires ON interactions (expires_at);

CREATE TABLE oauth_tokens (
    kind         TEXT    NOT NULL,
    signature    TEXT    NOT NULL,
    request_id   TEXT    NOT NULL,
    client_id    TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    session_id   TEXT    NOT NULL,
    active       INTEGER NOT NULL,
    requested_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    request      BLOB,
    PRIMARY KEY (kind, signature)
) STRICT, WITHOUT ROWID;

CREATE INDEX oauth_tokens_request ON oauth_tokens (kind, request_id);
CREATE INDEX oauth_tokens_subject ON oauth_tokens (subject, client_id);
CREATE INDEX oauth_tokens_expires ON oauth_tokens (expires_at);

CREATE TABLE clients (
    id                         TEXT    NOT NULL PRIMARY KEY,
    name                       TEXT    NOT NULL,
    secret_hash                BLOB,
    redirect_uris              TEXT,
    post_logout_redirect_uris  TEXT,
    grant_types                TEXT,
    response_types             TEXT,
    scopes                     TEXT,
    public                     INTEGER NOT NULL,
    first_party                INTEGER NOT NULL,
    backchannel_logout_uri     TEXT    NOT NULL,
    id_token_signed_alg        TEXT    NOT NULL,
    token_endpoint_auth_method TEXT    NOT NULL,
    source                     TEXT    NOT NULL,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL
) STRICT;

CREATE TABLE consents (
    account_id TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    client_id  TEXT    NOT NULL,
    scopes     TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (account_id, client_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE signing_keys (
    id          TEXT    NOT NULL PRIMARY KEY,
    alg         TEXT    NOT NULL,
    private_key BLOB,
    created_at  INTEGER NOT NULL,
    retired_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE invites (
    token_hash TEXT    NOT NULL PRIMARY KEY,
    email      TEXT    NOT NULL,
    admin      INTEGER NOT NULL,
    created_by TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX invites_expires ON invites (expires_at);

-- Append-only; no foreign keys, so the log outlives the accounts it names.
CREATE TABLE audit_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    time          INTEGER NOT NULL,
    event         TEXT    NOT NULL,
    account_id    TEXT    NOT NULL,
    actor_id      TEXT    NOT NULL,
    credential_id TEXT    NOT NULL,
    client_id     TEXT    NOT NULL,
    ip            TEXT    NOT NULL,
    user_agent    TEXT    NOT NULL,
    result        TEXT    NOT NULL,
    detail        BLOB
) STRICT;

CREATE INDEX audit_events_account ON audit_events (account_id, id);
CREATE INDEX audit_events_event ON audit_events (event, id);
CREATE INDEX audit_events_ip ON audit_events (ip, id);
CREATE INDEX audit_events_time ON audit_events (time);
