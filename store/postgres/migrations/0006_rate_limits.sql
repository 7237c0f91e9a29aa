-- Rate-limit buckets shared by every replica (GCRA): tat is the bucket's theoretical arrival
-- time in unix nanoseconds (integer arithmetic in one UPDATE, no interval conversions); a row
-- whose tat is in the past is a full bucket and may be deleted at any time.
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY,
    tat BIGINT NOT NULL
);
CREATE INDEX rate_limits_tat ON rate_limits (tat);
