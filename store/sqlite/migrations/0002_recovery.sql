-- Keyward schema, version 2: saved recovery codes and pending (cooling-off) actions.

-- Only slow salted hashes of the codes; used codes stay (with used_at) until the next set.
CREATE TABLE recovery_codes (
    account_id TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id         TEXT    NOT NULL,
    hash       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    used_at    INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, id)
) WITHOUT ROWID;

-- A status leaves 'pending' exactly once; the scheduler claims due rows by UPDATE … WHERE
-- status = 'pending'. cancel_token_hash is NULL when an action has no cancel link.
CREATE TABLE pending_actions (
    id                TEXT    NOT NULL PRIMARY KEY,
    account_id        TEXT    NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind              TEXT    NOT NULL,
    payload           BLOB,
    actor_id          TEXT    NOT NULL DEFAULT '',
    cancel_token_hash TEXT    UNIQUE,
    status            TEXT    NOT NULL CHECK (status IN ('pending', 'cancelled', 'executed', 'failed')),
    created_at        INTEGER NOT NULL,
    due_at            INTEGER NOT NULL,
    done_at           INTEGER NOT NULL DEFAULT 0
);

CREATE INDEX pending_actions_due ON pending_actions (status, due_at);
CREATE INDEX pending_actions_account ON pending_actions (account_id, created_at);
