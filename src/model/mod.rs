//! The ground floor: the attribute catalogue, the filter AST, its typing pass (both filter
//! engines) and case folding, list queries, shared by `scim` and `store`, and the canonical
//! form of a resource.

pub mod cidr;
pub mod declared;
pub mod events;
pub mod filter;
pub mod fold;
pub mod matcher;
pub mod query;
pub mod resource;
pub mod roles;
pub mod rules;
pub mod schema;
pub mod typing;
