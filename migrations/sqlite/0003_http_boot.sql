-- HTTP boot (issue 15): transfers say which protocol carried them, boot profiles say what a
-- machine boots after its loader (kernel, initrds, command line or an iPXE script template), and
-- a host may boot a profile.

-- `tftp` for every earlier row. HTTP rows have blksize and windowsize 0 and retransmits 0.
ALTER TABLE transfers ADD COLUMN protocol TEXT NOT NULL DEFAULT 'tftp' CHECK (protocol IN ('tftp', 'http'));

-- What a machine boots over HTTP once iPXE runs. Paths are relative to the boot root,
-- `/`-separated. The profile named `default` is what machines without a profile of their own
-- boot.
CREATE TABLE boot_profiles (
    name TEXT NOT NULL PRIMARY KEY,
    kernel TEXT,
    -- JSON array of paths, in the order iPXE loads them.
    initrds TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(initrds) AND json_type(initrds) = 'array'),
    -- The kernel's command line; a template like `script`.
    cmdline TEXT NOT NULL DEFAULT '',
    -- An iPXE script template; NULL: the script is made from kernel, initrds and cmdline.
    script TEXT,
    notes TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

-- The boot profile a host boots (a name in boot_profiles; a profile in use cannot be deleted).
ALTER TABLE hosts ADD COLUMN boot_profile TEXT;
