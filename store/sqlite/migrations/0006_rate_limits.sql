-- Rate-limit buckets shared by everything on this database (GCRA): tat is the bucket's
-- theoretical arrival time in unix nanoseconds; a row whose tat is in the past is a full
-- bucket and may be deleted at any time.
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    tat INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX rate_limits_tat ON rate_limits (tat);
