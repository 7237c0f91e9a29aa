-- Keyward schema, version 2: saved recovery codes and pending (cooling-off) actions.

-- Only slow salted hashes of the codes; used codes stay (with used_at) until the next set.
CREATE TABLE recovery_codes (
    account_id text        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    id         text        NOT NULL,
    hash       text        NOT NULL,
    created_at timestamptz NOT NULL,
    used_at    timestamptz,
    PRIMARY KEY (account_id, id)
);

-- A status leaves 'pending' exactly once: replicas claim due rows with FOR UPDATE SKIP LOCKED
-- and UPDATE … WHERE status = 'pending'. cancel_token_hash is NULL when an action has no
-- cancel link.
CREATE TABLE pending_actions (
    id                text        NOT NULL PRIMARY KEY,
    account_id        text        NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind              text        NOT NULL,
    payload           bytea,
    actor_id          text        NOT NULL DEFAULT '',
    cancel_token_hash text        UNIQUE,
    status            text        NOT NULL CHECK (status IN ('pending', 'cancelled', 'executed', 'failed')),
    created_at        timestamptz NOT NULL,
    due_at            timestamptz NOT NULL,
    done_at           timestamptz
);

CREATE INDEX pending_actions_due ON pending_actions (status, due_at, id);
CREATE INDEX pending_actions_account ON pending_actions (account_id, created_at, id);
