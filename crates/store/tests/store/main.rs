//! The store against real database files in temporary directories (or the per-test databases of
//! `#[sqlx::test]`): opening and its errors, the lease table and its group-commit writer, the
//! dashboard's tables, and the log writer. One test binary, so sqlx is linked once.

mod boot_profiles;
mod fleet;
mod hosts;
mod leases;
mod log_writer;
mod missing;
mod open;
mod retention;
mod small_tables;
mod support;
mod transfers;
mod writer;
