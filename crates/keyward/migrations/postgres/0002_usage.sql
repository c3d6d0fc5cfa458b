-- Usage per key and hour, allowed and denied apart, and the scopes each
-- allowed request exercised. Written by additive upserts (safe with several
-- nodes).
CREATE TABLE usage_hourly (
    key_id TEXT NOT NULL,
    hour BIGINT NOT NULL,
    allowed BIGINT NOT NULL DEFAULT 0,
    denied BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, hour)
);

CREATE TABLE usage_scopes (
    key_id TEXT NOT NULL,
    hour BIGINT NOT NULL,
    scope TEXT NOT NULL,
    count BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_id, hour, scope)
);
