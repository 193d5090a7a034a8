//! Numbers between Rust's unsigned types and SQLite's signed 64-bit integers.
//!
//! **Invariant:** writing never fails and never wraps (counts past `i64::MAX`, 8 EiB, are stored as
//! `i64::MAX`); reading a value that does not fit the Rust type is an
//! [`StoreError::InvalidRow`](crate::StoreError::InvalidRow), never a panic or a wrapped number.

use crate::error::StoreError;
use crate::store::Store;

/// `value` as an SQLite integer, saturating at `i64::MAX`.
pub(crate) fn to_sql(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

impl Store {
    /// Column `column` of a row of `table`, read back into an unsigned Rust type.
    pub(crate) fn unsigned<T: TryFrom<i64>>(
        &self,
        table: &'static str,
        column: &str,
        value: i64,
    ) -> Result<T, StoreError> {
        T::try_from(value).map_err(|_| self.invalid_row(table, format!("{column} {value} is out of range")))
    }
}
