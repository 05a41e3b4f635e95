//! scimbox: a self-contained SCIM 2.0 service provider (RFC 7643 / RFC 7644).
//!
//! Module map (calls flow one way: `http` → `scim`/`admin`/`auth` → `directory` → `store` →
//! `model`):
//! - `config`: command line and environment → validated settings.
//! - `error`: the one error type; `scim::error` maps it to SCIM error responses.
//! - `model`: the attribute catalogue and the filter AST, shared by parser and SQL compiler.
//! - `store`: SQLite: schema, the group-commit writer, read connections, all SQL.
//! - `directory`: the operations every edge shares (users, Teams, tokens, audit).
//! - `auth`: bearer tokens (argon2id at rest, a digest cache in memory).
//! - `scim`: the SCIM protocol: resources, filters, PATCH, discovery, errors.
//! - `http`: routing, body limits, responses; `server`: accept loop and graceful shutdown.

pub mod error;
pub mod model;
pub mod scim;
pub mod store;
