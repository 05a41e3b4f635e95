//! The ground floor: the attribute catalogue, the filter AST and its typing pass, and case
//! folding, shared by `scim` and `store`.

pub mod filter;
pub mod fold;
pub mod matcher;
pub mod roles;
pub mod schema;
pub mod typing;
