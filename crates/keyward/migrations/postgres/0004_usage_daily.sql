-- Usage older than the 30-day windows, per key and UTC day (and per scope):
-- hourly rows are rolled up into these once no usage answer reads them,
-- and these are deleted after usage_retention_days. The hour and day
-- indexes let the roll-up find old rows without scanning every key.
CREATE TABLE usage_daily (
    key_id TEXT NOT NULL,
    day BIGINT NOT NULL,
    allowed BIGINT NOT NULL DEFAULT 0,
    denied BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, day)
);

CREATE TABLE usage_scopes_daily (
    key_id TEXT NOT NULL,
    day BIGINT NOT NULL,
    scope TEXT NOT NULL,
    count BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, day, scope)
);

CREATE INDEX usage_hourly_by_hour ON usage_hourly (hour);
CREATE INDEX usage_scopes_by_hour ON usage_scopes (hour);
CREATE INDEX usage_daily_by_day ON usage_daily (day);
CREATE INDEX usage_scopes_daily_by_day ON usage_scopes_daily (day);
