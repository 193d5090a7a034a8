//! The `leases` table: bound DHCP/BOOTP leases, one row per client.
//!
//! **Invariant:** an address is held by at most one client key. An upsert for an address that
//! another key holds deletes that holder in the same transaction: the DHCP core decided the address
//! moved, and the table follows it rather than refusing the write.

use std::net::Ipv4Addr;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{FromRow, SqliteConnection};

use crate::error::StoreError;
use crate::store::Store;

/// A bound lease as it is stored. Plain data: the DHCP driver converts from and to its own types.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lease {
    /// The DHCP client identifier (option 61) if the client sent one, else the hardware type byte
    /// followed by the hardware address.
    pub client_key: Vec<u8>,
    /// The client's hardware address (chaddr, `hlen` bytes).
    pub mac: Vec<u8>,
    pub address: Ipv4Addr,
    /// Option 12 of the client, if it sent one.
    pub hostname: Option<String>,
    /// Unix seconds when the lease ends; `None` never ends (BOOTP, infinite lease time).
    pub expires_at: Option<i64>,
}

/// One write to the lease table.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LeaseChange {
    /// Insert or replace the lease of `client_key`; whoever else held its address loses it.
    Upsert(Lease),
    /// Forget the lease of `client_key`, if there is one.
    Remove { client_key: Vec<u8> },
}

impl LeaseChange {
    /// The client the change is about.
    pub fn client_key(&self) -> &[u8] {
        match self {
            LeaseChange::Upsert(lease) => &lease.client_key,
            LeaseChange::Remove { client_key } => client_key,
        }
    }
}

/// A row as SQLite returns it, before the address is parsed.
#[derive(FromRow)]
struct LeaseRow {
    client_key: Vec<u8>,
    mac: Vec<u8>,
    address: String,
    hostname: Option<String>,
    expires_at: Option<i64>,
}

impl Store {
    /// Every stored lease, expired ones included, ordered by client key.
    pub async fn load_leases(&self) -> Result<Vec<Lease>, StoreError> {
        let rows: Vec<LeaseRow> =
            sqlx::query_as("SELECT client_key, mac, address, hostname, expires_at FROM leases ORDER BY client_key")
                .fetch_all(self.pool())
                .await
                .map_err(|e| self.error("read the leases", e))?;
        rows.into_iter().map(|row| self.lease_from_row(row)).collect()
    }

    /// Apply `changes` in order, in one transaction: all of them are durable when this returns
    /// `Ok`, none of them when it returns an error.
    pub async fn apply(&self, changes: &[LeaseChange]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let updated_at = unix_now();
        let mut transaction = self.begin_write().await?;
        for change in changes {
            apply_change(&mut transaction, change, updated_at).await.map_err(|e| self.error("save a lease", e))?;
        }
        self.commit(transaction).await
    }

    fn lease_from_row(&self, row: LeaseRow) -> Result<Lease, StoreError> {
        let address = row.address.parse::<Ipv4Addr>().map_err(|_| StoreError::InvalidRow {
            path: self.path_buf(),
            table: "leases",
            detail: format!("address {:?} is not a dotted IPv4 address", row.address),
        })?;
        Ok(Lease {
            client_key: row.client_key,
            mac: row.mac,
            address,
            hostname: row.hostname,
            expires_at: row.expires_at,
        })
    }
}

/// Write one change inside the caller's transaction.
async fn apply_change(
    connection: &mut SqliteConnection,
    change: &LeaseChange,
    updated_at: i64,
) -> Result<(), sqlx::Error> {
    match change {
        LeaseChange::Upsert(lease) => {
            let address = lease.address.to_string();
            sqlx::query("DELETE FROM leases WHERE address = ?1 AND client_key <> ?2")
                .bind(&address)
                .bind(&lease.client_key)
                .execute(&mut *connection)
                .await?;
            sqlx::query(
                "INSERT INTO leases (client_key, mac, address, hostname, expires_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (client_key) DO UPDATE SET mac = excluded.mac, address = excluded.address, \
                 hostname = excluded.hostname, expires_at = excluded.expires_at, updated_at = excluded.updated_at",
            )
            .bind(&lease.client_key)
            .bind(&lease.mac)
            .bind(&address)
            .bind(&lease.hostname)
            .bind(lease.expires_at)
            .bind(updated_at)
            .execute(&mut *connection)
            .await?;
        }
        LeaseChange::Remove { client_key } => {
            sqlx::query("DELETE FROM leases WHERE client_key = ?1").bind(client_key).execute(&mut *connection).await?;
        }
    }
    Ok(())
}

fn unix_now() -> i64 {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
    i64::try_from(seconds).unwrap_or(i64::MAX)
}
