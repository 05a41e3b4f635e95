//! The ground floor: the attribute catalogue and the filter AST, shared by `scim` and `store`.

pub mod cidr;
pub mod filter;
pub mod matcher;
pub mod roles;
pub mod rules;
pub mod schema;
