//! The store against real database files in temporary directories: opening and its errors, the
//! lease table, and the group-commit writer. One test binary, so sqlx is linked once.

mod leases;
mod open;
mod support;
mod writer;
