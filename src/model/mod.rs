//! The ground floor: the attribute catalogue and the filter AST, shared by `scim` and `store`.

pub mod events;
pub mod filter;
pub mod matcher;
pub mod roles;
pub mod schema;
