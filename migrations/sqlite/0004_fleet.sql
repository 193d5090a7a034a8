-- A fleet (issue 16): several lifeboats may share one database (on PostgreSQL; a SQLite file has
-- one). Each names itself; the history and the leases say which instance wrote them, and each
-- instance keeps a row of its own up to date while it runs. On SQLite the name is recorded too,
-- so a history moved to a fleet keeps its origin.

-- '' for rows written before instances had names.
ALTER TABLE transfers ADD COLUMN instance TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN instance TEXT NOT NULL DEFAULT '';
ALTER TABLE leases ADD COLUMN instance TEXT NOT NULL DEFAULT '';

-- One row per lifeboat that has run on this database.
CREATE TABLE instances (
    name TEXT NOT NULL PRIMARY KEY,
    -- Unix ms of the start of the running (or last) process.
    started_at INTEGER NOT NULL,
    -- Unix ms of its last heartbeat: an instance that has not beaten for a while is gone.
    seen_at INTEGER NOT NULL,
    -- The lifeboat version it runs.
    version TEXT NOT NULL,
    -- Its dashboard's address as it listens, e.g. `0.0.0.0:8080`; '' without a dashboard.
    dashboard TEXT NOT NULL DEFAULT '',
    -- JSON object: each service's name and state, e.g. {"dhcp": "running", "tftp": "stopped"}.
    services TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(services) AND json_type(services) = 'object'),
    -- The DHCP ranges it serves, `start-end` separated by spaces: instances serving a range in
    -- common share its clients (an HA pair).
    dhcp_ranges TEXT NOT NULL DEFAULT ''
) STRICT, WITHOUT ROWID;

-- A change of a service on another instance, asked for on any instance's dashboard: the named
-- instance carries it out and writes the outcome. Rows are kept as a record of who did what.
CREATE TABLE instance_commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The instance that is to carry it out.
    instance TEXT NOT NULL,
    -- tftp, dhcp or http.
    service TEXT NOT NULL,
    -- start or stop.
    action TEXT NOT NULL CHECK (action IN ('start', 'stop')),
    -- Who asked, e.g. `web 10.0.0.5 (admin) on rack-1`.
    origin TEXT NOT NULL,
    issued_at INTEGER NOT NULL,
    -- NULL until the instance carried it out; then when, and what came of it ('' when it worked).
    done_at INTEGER,
    outcome TEXT
) STRICT;

CREATE INDEX instance_commands_pending ON instance_commands (instance, id) WHERE done_at IS NULL;
