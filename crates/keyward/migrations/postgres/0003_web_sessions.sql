-- Sessions of the pages (DESIGN.md section 6) and single-use portal links.
-- Neither a session id nor a portal token is stored: only its SHA-256
-- digest. Timestamps are Unix milliseconds.
CREATE TABLE web_sessions (
    id_hash BYTEA PRIMARY KEY CHECK (length(id_hash) = 32),
    kind TEXT NOT NULL CHECK (kind IN ('operator', 'portal')),
    actor TEXT NOT NULL,
    -- Operators: the key signed in with; portal: the key that asked for
    -- the link. Either's revocation ends the session.
    management_key_id TEXT NOT NULL,
    account TEXT,
    return_url TEXT,
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX web_sessions_expiry ON web_sessions (expires_at);
CREATE INDEX web_sessions_idle ON web_sessions (last_seen_at);

CREATE TABLE portal_tokens (
    token_hash BYTEA PRIMARY KEY CHECK (length(token_hash) = 32),
    account TEXT NOT NULL,
    return_url TEXT,
    -- The management key that asked for the link: its revocation ends the
    -- link and the sessions opened with it.
    management_key_id TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX portal_tokens_expiry ON portal_tokens (expires_at);
