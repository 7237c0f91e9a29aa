-- Durable back-channel logout (Back-Channel Logout 1.0 §2.5, SECURITY.md RL-11) and a stable
-- OP session identity for the sid claim.

-- family names an OP session across id rotations. Existing sessions keep their id as family,
-- which is what the grant trackers of those sessions are keyed by.
ALTER TABLE sessions ADD COLUMN family TEXT NOT NULL DEFAULT '';
UPDATE sessions SET family = id;

-- One row per logout token owed to one client. The token itself is signed at each attempt and
-- never stored. A claimed row stays 'pending' with claim set and next_attempt_at at the end of
-- its lease, so a sender that dies mid-attempt leaves it due again.
CREATE TABLE logout_outbox (
    id              TEXT    NOT NULL PRIMARY KEY,
    client_id       TEXT    NOT NULL,
    uri             TEXT    NOT NULL,
    sid             TEXT    NOT NULL,
    subject         TEXT    NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('pending', 'delivered', 'abandoned')),
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT    NOT NULL,
    claim           TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE INDEX logout_outbox_due ON logout_outbox (status, next_attempt_at);
CREATE INDEX logout_outbox_done ON logout_outbox (updated_at) WHERE status <> 'pending';
