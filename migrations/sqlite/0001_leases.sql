-- Bound DHCP/BOOTP leases: one row per client, written by lifeboat-store's lease writer before the
-- ACK that grants the lease leaves, and read back at start-up.

CREATE TABLE leases (
    -- DHCP client identifier (option 61) when the client sent one, else the hardware type byte
    -- followed by the hardware address (RFC 2131 section 4.2).
    client_key BLOB NOT NULL PRIMARY KEY,
    -- The client's hardware address (chaddr, hlen bytes).
    mac BLOB NOT NULL,
    -- Dotted-quad IPv4 address. UNIQUE: an address is held by at most one client; the unique
    -- index also serves the "who holds this address" lookup of an upsert.
    address TEXT NOT NULL UNIQUE,
    -- Option 12 of the client, if it sent one.
    hostname TEXT,
    -- Unix seconds when the lease ends; NULL means it never ends (BOOTP, infinite lease time).
    expires_at INTEGER,
    -- Unix seconds of the last write of this row.
    updated_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
