//! scimbox: a self-contained SCIM 2.0 service provider (RFC 7643 / RFC 7644).
//!
//! Module map (calls flow one way: `http` → `scim`/`admin`/`auth` → `directory` → `store` →
//! `model`):
//! - `config`: the command line; `cli`: the subcommands; `logs`: log output.
//! - `error`: the one error type; `scim::error` maps it to SCIM error responses.
//! - `model`: the attribute catalogue and the filter AST, shared by parser and SQL compiler.
//! - `store`: SQLite: schema, the group-commit writer, read connections, all SQL.
//! - `directory`: the operations every edge shares (users, Teams, orgs, tokens, audit).
//! - `auth`: bearer tokens (argon2id at rest, a digest cache in memory) and admin passwords.
//! - `admin`: the embedded admin page and its JSON API (sessions, CSRF, request inspector).
//! - `scim`: the SCIM protocol: resources, filters, PATCH, discovery, errors.
//! - `http`: routing, body limits, responses, request ids; `server`: accept loop and graceful
//!   shutdown; `deadline`: write and idle timeouts under hyper; `tls`: certificates for
//!   HTTPS, reloaded without a restart.
//! - `metrics`: Prometheus counters and the `/metrics` exposition.
//! - `transfer`: export and import of an organization, and the demo data.
//! - `app`: what handlers share; `clock`: time, read once per request.

pub mod admin;
pub mod app;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod deadline;
pub mod directory;
pub mod error;
pub mod http;
pub mod logs;
pub mod metrics;
pub mod model;
pub mod scim;
pub mod server;
pub mod store;
pub mod tls;
pub mod transfer;
