-- Keys, management keys and the audit trail.
-- Timestamps are Unix milliseconds. A key's plaintext is never stored: only
-- its SHA-256 digest (`hash`) and a display prefix (`start`).

CREATE TABLE keys (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    account TEXT NOT NULL,
    name TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    environment TEXT NOT NULL,
    scopes TEXT NOT NULL,
    hash BYTEA NOT NULL UNIQUE CHECK (length(hash) = 32),
    start TEXT NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    expires_at BIGINT,
    revoked_at BIGINT,
    revoked_by TEXT,
    revoke_reason TEXT,
    rotated_to TEXT,
    last_used_at BIGINT
);
CREATE INDEX keys_account_seq ON keys (account, seq);

-- Revocation is permanent: once revoked_at is set, nothing about the key
-- changes again except when it was last used.
CREATE FUNCTION keyward_revocation_is_permanent() RETURNS trigger AS $$
BEGIN
    IF OLD.revoked_at IS NOT NULL AND (
        NEW.revoked_at IS DISTINCT FROM OLD.revoked_at OR NEW.revoked_by IS DISTINCT FROM OLD.revoked_by
        OR NEW.revoke_reason IS DISTINCT FROM OLD.revoke_reason OR NEW.expires_at IS DISTINCT FROM OLD.expires_at
        OR NEW.name IS DISTINCT FROM OLD.name OR NEW.scopes IS DISTINCT FROM OLD.scopes OR NEW.hash IS DISTINCT FROM OLD.hash
        OR NEW.account IS DISTINCT FROM OLD.account OR NEW.rotated_to IS DISTINCT FROM OLD.rotated_to
        OR NEW.metadata IS DISTINCT FROM OLD.metadata OR NEW.id IS DISTINCT FROM OLD.id)
    THEN
        RAISE EXCEPTION 'keyward: a revoked key cannot be changed or reactivated';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER keys_revocation_is_permanent BEFORE UPDATE ON keys
    FOR EACH ROW EXECUTE FUNCTION keyward_revocation_is_permanent();

CREATE FUNCTION keyward_refuse() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0];
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER keys_are_never_deleted BEFORE DELETE ON keys
    FOR EACH ROW EXECUTE FUNCTION keyward_refuse('keyward: keys are never deleted; revoke them');

CREATE TABLE management_keys (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    account TEXT,
    hash BYTEA NOT NULL UNIQUE CHECK (length(hash) = 32),
    start TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    revoked_at BIGINT,
    revoked_by TEXT,
    last_used_at BIGINT
);

CREATE FUNCTION keyward_management_revocation_is_permanent() RETURNS trigger AS $$
BEGIN
    IF OLD.revoked_at IS NOT NULL AND (
        NEW.revoked_at IS DISTINCT FROM OLD.revoked_at OR NEW.revoked_by IS DISTINCT FROM OLD.revoked_by
        OR NEW.hash IS DISTINCT FROM OLD.hash OR NEW.account IS DISTINCT FROM OLD.account
        OR NEW.name IS DISTINCT FROM OLD.name)
    THEN
        RAISE EXCEPTION 'keyward: a revoked management key cannot be changed or reactivated';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER management_keys_revocation_is_permanent BEFORE UPDATE ON management_keys
    FOR EACH ROW EXECUTE FUNCTION keyward_management_revocation_is_permanent();

CREATE TRIGGER management_keys_are_never_deleted BEFORE DELETE ON management_keys
    FOR EACH ROW EXECUTE FUNCTION keyward_refuse('keyward: management keys are never deleted; revoke them');

-- The audit trail is append-only.
CREATE TABLE audit_events (
    seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    account TEXT,
    key_id TEXT,
    before TEXT,
    after TEXT
);
CREATE INDEX audit_events_account ON audit_events (account, seq);
CREATE INDEX audit_events_key ON audit_events (key_id, seq);

CREATE TRIGGER audit_events_are_never_updated BEFORE UPDATE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION keyward_refuse('keyward: audit events are never changed');
CREATE TRIGGER audit_events_are_never_deleted BEFORE DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION keyward_refuse('keyward: audit events are never deleted');
CREATE TRIGGER audit_events_are_never_truncated BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION keyward_refuse('keyward: audit events are never deleted');
CREATE TRIGGER keys_are_never_truncated BEFORE TRUNCATE ON keys
    FOR EACH STATEMENT EXECUTE FUNCTION keyward_refuse('keyward: keys are never deleted; revoke them');
