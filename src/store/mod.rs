//! SQLite storage.

pub mod filter_sql;
