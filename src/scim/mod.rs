//! The SCIM protocol layer: maps HTTP-free requests to directory operations and back.

pub mod filter;
