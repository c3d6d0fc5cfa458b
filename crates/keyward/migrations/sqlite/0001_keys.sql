-- Keys, management keys and the audit trail.
-- Timestamps are Unix milliseconds. A key's plaintext is never stored: only
-- its SHA-256 digest (`hash`) and a display prefix (`start`).

CREATE TABLE keys (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    environment TEXT NOT NULL,
    scopes TEXT NOT NULL,
    hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),
    start TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    expires_at INTEGER,
    revoked_at INTEGER,
    revoked_by TEXT,
    revoke_reason TEXT,
    rotated_to TEXT,
    last_used_at INTEGER
);
CREATE INDEX keys_account_seq ON keys (account, seq);

-- Revocation is permanent: once revoked_at is set, nothing about the key
-- changes again except when it was last used.
CREATE TRIGGER keys_revocation_is_permanent
BEFORE UPDATE ON keys
WHEN OLD.revoked_at IS NOT NULL AND (
    NEW.revoked_at IS NOT OLD.revoked_at OR NEW.revoked_by IS NOT OLD.revoked_by
    OR NEW.revoke_reason IS NOT OLD.revoke_reason OR NEW.expires_at IS NOT OLD.expires_at
    OR NEW.name IS NOT OLD.name OR NEW.scopes IS NOT OLD.scopes OR NEW.hash IS NOT OLD.hash
    OR NEW.account IS NOT OLD.account OR NEW.rotated_to IS NOT OLD.rotated_to
    OR NEW.metadata IS NOT OLD.metadata OR NEW.id IS NOT OLD.id)
BEGIN
    SELECT RAISE(ABORT, 'keyward: a revoked key cannot be changed or reactivated');
END;

-- Keys stay for audit: they are revoked, never deleted.
CREATE TRIGGER keys_are_never_deleted
BEFORE DELETE ON keys
BEGIN
    SELECT RAISE(ABORT, 'keyward: keys are never deleted; revoke them');
END;

CREATE TABLE management_keys (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    account TEXT,
    hash BLOB NOT NULL UNIQUE CHECK (length(hash) = 32),
    start TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at INTEGER,
    revoked_by TEXT,
    last_used_at INTEGER
);

CREATE TRIGGER management_keys_revocation_is_permanent
BEFORE UPDATE ON management_keys
WHEN OLD.revoked_at IS NOT NULL AND (
    NEW.revoked_at IS NOT OLD.revoked_at OR NEW.revoked_by IS NOT OLD.revoked_by
    OR NEW.hash IS NOT OLD.hash OR NEW.account IS NOT OLD.account OR NEW.name IS NOT OLD.name)
BEGIN
    SELECT RAISE(ABORT, 'keyward: a revoked management key cannot be changed or reactivated');
END;

CREATE TRIGGER management_keys_are_never_deleted
BEFORE DELETE ON management_keys
BEGIN
    SELECT RAISE(ABORT, 'keyward: management keys are never deleted; revoke them');
END;

-- The audit trail is append-only.
CREATE TABLE audit_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    at INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    account TEXT,
    key_id TEXT,
    before TEXT,
    after TEXT
);
CREATE INDEX audit_events_account ON audit_events (account, seq);
CREATE INDEX audit_events_key ON audit_events (key_id, seq);

CREATE TRIGGER audit_events_are_never_updated
BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'keyward: audit events are never changed');
END;

CREATE TRIGGER audit_events_are_never_deleted
BEFORE DELETE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'keyward: audit events are never deleted');
END;
