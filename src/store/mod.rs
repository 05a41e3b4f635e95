//! SQLite storage.

pub mod filter_sql;
#[cfg(test)]
mod filter_sql_tests;
