-- lifeboat's schema on PostgreSQL, for a fleet of lifeboats sharing one database (issue 16). It
-- holds what migrations/sqlite/0001..0004 hold on SQLite, with PostgreSQL's types: BIGINT for
-- every integer (times are Unix ms, lease ends Unix seconds), BYTEA for client keys and MACs.
-- The comments of the SQLite migrations say what each column means; this file says where it
-- differs.

CREATE TABLE leases (
    client_key BYTEA NOT NULL PRIMARY KEY,
    mac BYTEA NOT NULL,
    -- UNIQUE: two instances serving one range can never hold one address for two clients; the
    -- constraint, not a lock, decides which write wins.
    address TEXT NOT NULL UNIQUE,
    hostname TEXT,
    expires_at BIGINT,
    updated_at BIGINT NOT NULL,
    -- The instance that granted or last renewed the lease.
    instance TEXT NOT NULL DEFAULT ''
);

-- What changed since a time: the partner of an HA pair reads the leases written after the last
-- ones it saw.
CREATE INDEX leases_by_update ON leases (updated_at);

CREATE TABLE boot_profiles (
    name TEXT NOT NULL PRIMARY KEY,
    kernel TEXT,
    initrds TEXT NOT NULL DEFAULT '[]' CHECK (json_typeof(initrds::json) = 'array'),
    cmdline TEXT NOT NULL DEFAULT '',
    script TEXT,
    notes TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE hosts (
    -- A sequence never gives a deleted host's id to a new one.
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mac TEXT NOT NULL UNIQUE,
    name TEXT,
    address TEXT UNIQUE,
    image TEXT,
    names TEXT NOT NULL DEFAULT '[]' CHECK (json_typeof(names::json) = 'array'),
    notes TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    -- A foreign key here (SQLite's BEGIN IMMEDIATE serializes the check instead): a profile
    -- deleted by one instance while another gives it to a host fails one of the two.
    boot_profile TEXT REFERENCES boot_profiles (name)
);

CREATE TABLE images (
    file TEXT NOT NULL PRIMARY KEY,
    size BIGINT NOT NULL,
    modified_ns BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    added_at BIGINT NOT NULL
);

CREATE TABLE aliases (
    name TEXT NOT NULL PRIMARY KEY,
    file TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE transfers (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at BIGINT NOT NULL,
    ended_at BIGINT NOT NULL,
    client_ip TEXT NOT NULL,
    client_port BIGINT NOT NULL,
    mac TEXT,
    requested TEXT NOT NULL,
    file TEXT,
    direction TEXT NOT NULL CHECK (direction IN ('read', 'write')),
    bytes BIGINT NOT NULL,
    size BIGINT,
    blksize BIGINT NOT NULL,
    windowsize BIGINT NOT NULL,
    retransmits BIGINT NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT,
    protocol TEXT NOT NULL DEFAULT 'tftp' CHECK (protocol IN ('tftp', 'http')),
    instance TEXT NOT NULL DEFAULT ''
);

-- The history is paged newest first by (ended_at, id). PostgreSQL merges the per-outcome
-- ranges itself (Merge Append), so the indexes end in (ended_at, id) explicitly.
CREATE INDEX transfers_by_outcome ON transfers (outcome, ended_at, id);
CREATE INDEX transfers_by_mac ON transfers (mac, outcome, ended_at, id) INCLUDE (requested, file);
CREATE INDEX transfers_by_requested ON transfers (requested, outcome, ended_at, id);
CREATE INDEX transfers_by_file ON transfers (file, outcome, ended_at, id);
CREATE INDEX transfers_by_instance ON transfers (instance, outcome, ended_at, id);

CREATE TABLE missing_files (
    requested TEXT NOT NULL PRIMARY KEY,
    count BIGINT NOT NULL,
    last_at BIGINT NOT NULL,
    last_client TEXT NOT NULL,
    last_mac TEXT
);

CREATE INDEX missing_files_by_last ON missing_files (last_at, requested);

-- The SQLite trigger of the same name, as a PL/pgSQL function. Two instances inserting
-- not-found transfers of one name at once both land: ON CONFLICT serializes them on the row.
CREATE FUNCTION transfers_count_missing() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO missing_files AS m (requested, count, last_at, last_client, last_mac)
    VALUES (NEW.requested, 1, NEW.ended_at, NEW.client_ip, NEW.mac)
    ON CONFLICT (requested) DO UPDATE SET
        count = m.count + 1,
        last_client = CASE WHEN excluded.last_at >= m.last_at THEN excluded.last_client ELSE m.last_client END,
        last_mac = CASE WHEN excluded.last_at >= m.last_at THEN excluded.last_mac ELSE m.last_mac END,
        last_at = GREATEST(m.last_at, excluded.last_at);
    RETURN NULL;
END;
$$;

CREATE TRIGGER transfers_count_missing AFTER INSERT ON transfers
    FOR EACH ROW WHEN (NEW.outcome = 'not_found') EXECUTE FUNCTION transfers_count_missing();

CREATE TABLE events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    origin TEXT NOT NULL,
    detail TEXT NOT NULL,
    instance TEXT NOT NULL DEFAULT ''
);

CREATE TABLE settings (
    key TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE instances (
    name TEXT NOT NULL PRIMARY KEY,
    started_at BIGINT NOT NULL,
    seen_at BIGINT NOT NULL,
    version TEXT NOT NULL,
    dashboard TEXT NOT NULL DEFAULT '',
    services TEXT NOT NULL DEFAULT '{}' CHECK (json_typeof(services::json) = 'object'),
    dhcp_ranges TEXT NOT NULL DEFAULT ''
);

CREATE TABLE instance_commands (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance TEXT NOT NULL,
    service TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('start', 'stop')),
    origin TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    done_at BIGINT,
    outcome TEXT
);

CREATE INDEX instance_commands_pending ON instance_commands (instance, id) WHERE done_at IS NULL;

-- Changes to what the instances of a fleet share reach the others at once: each statement that
-- changes one of these tables notifies the channel `lifeboat_changes` with the table's name, and
-- every running lifeboat LISTENs on it and reloads that table. Notifications are sent when the
-- transaction commits, never for one that rolls back.
CREATE FUNCTION lifeboat_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('lifeboat_changes', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

CREATE TRIGGER hosts_changed AFTER INSERT OR UPDATE OR DELETE ON hosts
    FOR EACH STATEMENT EXECUTE FUNCTION lifeboat_notify_change();
CREATE TRIGGER aliases_changed AFTER INSERT OR UPDATE OR DELETE ON aliases
    FOR EACH STATEMENT EXECUTE FUNCTION lifeboat_notify_change();
CREATE TRIGGER boot_profiles_changed AFTER INSERT OR UPDATE OR DELETE ON boot_profiles
    FOR EACH STATEMENT EXECUTE FUNCTION lifeboat_notify_change();
CREATE TRIGGER settings_changed AFTER INSERT OR UPDATE OR DELETE ON settings
    FOR EACH STATEMENT EXECUTE FUNCTION lifeboat_notify_change();
CREATE TRIGGER leases_changed AFTER INSERT OR UPDATE OR DELETE ON leases
    FOR EACH STATEMENT EXECUTE FUNCTION lifeboat_notify_change();
-- A command for an instance, and its outcome for the instance that asked.
CREATE TRIGGER instance_commands_changed AFTER INSERT OR UPDATE ON instance_commands
    FOR EACH STATEMENT EXECUTE FUNCTION lifeboat_notify_change();
