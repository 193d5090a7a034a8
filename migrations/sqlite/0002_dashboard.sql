-- The dashboard's tables: hosts configured by MAC, the image digest cache, name aliases, the
-- transfer history, the event log and settings. Times are Unix milliseconds; MACs are lowercase
-- text `aa:bb:cc:dd:ee:ff`; image paths are relative to the TFTP root, `/`-separated.

-- Devices known by MAC: the address DHCP gives them, the image DHCP offers and TFTP serves them.
CREATE TABLE hosts (
    -- AUTOINCREMENT: the id of a deleted host is never given to a new one, so a stale edit form
    -- or link cannot change another host.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mac TEXT NOT NULL UNIQUE,
    name TEXT,
    -- Dotted-quad IPv4 address. UNIQUE: two hosts never share one (NULLs do not conflict).
    address TEXT UNIQUE,
    -- The boot file, relative to the TFTP root.
    image TEXT,
    -- JSON array of the filenames the device asks for; TFTP serves `image` under these names.
    names TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(names) AND json_type(names) = 'array'),
    notes TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

-- Digest cache of the files under the TFTP root: a row is valid while the file's size and
-- modification time (nanoseconds) still match.
CREATE TABLE images (
    file TEXT NOT NULL PRIMARY KEY,
    size INTEGER NOT NULL,
    modified_ns INTEGER NOT NULL,
    -- Lowercase hex.
    sha256 TEXT NOT NULL,
    added_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- "Serve image `file` under the name `name`", for any client.
CREATE TABLE aliases (
    name TEXT NOT NULL PRIMARY KEY,
    file TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- Finished TFTP transfers, one row each, written in batches by the log writer.
CREATE TABLE transfers (
    id INTEGER PRIMARY KEY,
    started_at INTEGER NOT NULL,
    ended_at INTEGER NOT NULL,
    client_ip TEXT NOT NULL,
    client_port INTEGER NOT NULL,
    -- The client's MAC when lifeboat knows it (from a DHCP lease or the neighbour table).
    mac TEXT,
    -- The name the client asked for, as it sent it.
    requested TEXT NOT NULL,
    -- The file served or written, relative to the TFTP root; NULL when none was opened.
    file TEXT,
    direction TEXT NOT NULL CHECK (direction IN ('read', 'write')),
    bytes INTEGER NOT NULL,
    -- The file's size when known (a read, or a write with the tsize option).
    size INTEGER,
    blksize INTEGER NOT NULL,
    windowsize INTEGER NOT NULL,
    retransmits INTEGER NOT NULL,
    -- complete, failed, refused, not_found or options_declined.
    outcome TEXT NOT NULL,
    error TEXT
) STRICT;

-- The history is paged newest first by (ended_at, id), and every filter has an index that
-- yields its rows in that order, so a page reads about `limit` index entries and never sorts.
-- `outcome` comes second in each index: a query without an outcome filter merges one ordered
-- range per outcome (five). An index ends in the rowid (`id`) implicitly; where columns follow
-- `ended_at`, `id` is listed so that they do not break the order.
CREATE INDEX transfers_by_outcome ON transfers (outcome, ended_at);
-- `requested` and `file` ride along so that "this MAC and this file" is filtered inside the
-- index, without reading the table rows of the MAC's other transfers.
CREATE INDEX transfers_by_mac ON transfers (mac, outcome, ended_at, id, requested, file);
CREATE INDEX transfers_by_requested ON transfers (requested, outcome, ended_at);
CREATE INDEX transfers_by_file ON transfers (file, outcome, ended_at);

-- Names clients asked for that did not exist: one row per name, kept up to date by the trigger
-- below, so the missing-files page reads a row per name instead of every not_found transfer.
CREATE TABLE missing_files (
    requested TEXT NOT NULL PRIMARY KEY,
    count INTEGER NOT NULL,
    -- ended_at, client and MAC of the newest not_found transfer of this name.
    last_at INTEGER NOT NULL,
    last_client TEXT NOT NULL,
    last_mac TEXT
) STRICT, WITHOUT ROWID;

-- Newest first for the page; the index ends in the primary key, which orders ties.
CREATE INDEX missing_files_by_last ON missing_files (last_at);

CREATE TRIGGER transfers_count_missing AFTER INSERT ON transfers WHEN NEW.outcome = 'not_found'
BEGIN
    INSERT INTO missing_files (requested, count, last_at, last_client, last_mac)
    VALUES (NEW.requested, 1, NEW.ended_at, NEW.client_ip, NEW.mac)
    ON CONFLICT (requested) DO UPDATE SET
        count = count + 1,
        -- Every right-hand side sees the row as it was before this update.
        last_client = CASE WHEN excluded.last_at >= last_at THEN excluded.last_client ELSE last_client END,
        last_mac = CASE WHEN excluded.last_at >= last_at THEN excluded.last_mac ELSE last_mac END,
        last_at = max(last_at, excluded.last_at);
END;

-- What happened, for the events page: services started and stopped, refusals, configuration
-- changes with who made them. Paged newest first by id.
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    -- snake_case name of lifeboat_store::EventKind.
    kind TEXT NOT NULL,
    -- Who or what caused it, e.g. `web 10.0.0.5 (admin)` or `tftp`.
    origin TEXT NOT NULL,
    detail TEXT NOT NULL
) STRICT;

-- Key/value settings of the dashboard, e.g. `web_password_hash`.
CREATE TABLE settings (
    key TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
) STRICT, WITHOUT ROWID;
