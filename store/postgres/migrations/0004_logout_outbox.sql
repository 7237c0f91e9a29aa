-- Durable back-channel logout (Back-Channel Logout 1.0 §2.5, SECURITY.md RL-11) and a stable
-- OP session identity for the sid claim.

-- family names an OP session across id rotations. Existing sessions keep their id as family,
-- which is what the grant trackers of those sessions are keyed by.
ALTER TABLE sessions ADD COLUMN family text NOT NULL DEFAULT '';
UPDATE sessions SET family = id;

-- One row per logout token owed to one client. The token itself is signed at each attempt and
-- never stored. A claimed row stays 'pending' with claim set and next_attempt_at at the end of
-- its lease, so a sender that dies mid-attempt leaves it due again.
CREATE TABLE logout_outbox (
    id              text        NOT NULL PRIMARY KEY,
    client_id       text        NOT NULL,
    uri             text        NOT NULL,
    sid             text        NOT NULL,
    subject         text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('pending', 'delivered', 'abandoned')),
    attempts        integer     NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    last_error      text        NOT NULL,
    claim           text        NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

CREATE INDEX logout_outbox_due ON logout_outbox (status, next_attempt_at);
CREATE INDEX logout_outbox_done ON logout_outbox (updated_at) WHERE status <> 'pending';
