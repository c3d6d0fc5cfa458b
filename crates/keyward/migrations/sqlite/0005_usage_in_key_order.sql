-- Usage rows stored in key order (WITHOUT ROWID: the primary key is the
-- table). A flush writes its keys sorted, so each transaction's rows land
-- on neighbouring pages instead of a rowid table plus an index elsewhere:
-- with 100,000 keys in use a flush costs about a tenth of what it did
-- (docs/BENCHMARKS.md). Same columns and keys as before: older keyward
-- binaries read and write these tables unchanged. The copy takes time and
-- room (the tables twice, plus the WAL) once, at the first start.
CREATE TABLE usage_hourly_by_key (
    key_id TEXT NOT NULL,
    hour INTEGER NOT NULL,
    allowed INTEGER NOT NULL DEFAULT 0,
    denied INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, hour)
) WITHOUT ROWID;
INSERT INTO usage_hourly_by_key (key_id, hour, allowed, denied)
    SELECT key_id, hour, allowed, denied FROM usage_hourly ORDER BY key_id, hour;
DROP TABLE usage_hourly;
ALTER TABLE usage_hourly_by_key RENAME TO usage_hourly;
CREATE INDEX usage_hourly_by_hour ON usage_hourly (hour);

CREATE TABLE usage_scopes_by_key (
    key_id TEXT NOT NULL,
    hour INTEGER NOT NULL,
    scope TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, hour, scope)
) WITHOUT ROWID;
INSERT INTO usage_scopes_by_key (key_id, hour, scope, count)
    SELECT key_id, hour, scope, count FROM usage_scopes ORDER BY key_id, hour, scope;
DROP TABLE usage_scopes;
ALTER TABLE usage_scopes_by_key RENAME TO usage_scopes;
CREATE INDEX usage_scopes_by_hour ON usage_scopes (hour);

CREATE TABLE usage_daily_by_key (
    key_id TEXT NOT NULL,
    day INTEGER NOT NULL,
    allowed INTEGER NOT NULL DEFAULT 0,
    denied INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, day)
) WITHOUT ROWID;
INSERT INTO usage_daily_by_key (key_id, day, allowed, denied)
    SELECT key_id, day, allowed, denied FROM usage_daily ORDER BY key_id, day;
DROP TABLE usage_daily;
ALTER TABLE usage_daily_by_key RENAME TO usage_daily;
CREATE INDEX usage_daily_by_day ON usage_daily (day);

CREATE TABLE usage_scopes_daily_by_key (
    key_id TEXT NOT NULL,
    day INTEGER NOT NULL,
    scope TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, day, scope)
) WITHOUT ROWID;
INSERT INTO usage_scopes_daily_by_key (key_id, day, scope, count)
    SELECT key_id, day, scope, count FROM usage_scopes_daily ORDER BY key_id, day, scope;
DROP TABLE usage_scopes_daily;
ALTER TABLE usage_scopes_daily_by_key RENAME TO usage_scopes_daily;
CREATE INDEX usage_scopes_daily_by_day ON usage_scopes_daily (day);
