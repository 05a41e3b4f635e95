//! scimbox: a self-contained SCIM 2.0 service provider (RFC 7643 / RFC 7644).
//!
//! Module map (calls flow one way: `http` → `scim`/`admin`/`auth` → `directory` → `store` →
//! `model`; `tests/it/layers.rs` checks it):
//! - `model`: the ground floor: the attribute catalogue, the filter AST, its typing pass
//!   (`typing`, used by both filter engines) and its in-memory matcher, Unicode case folding
//!   (`fold`), list queries (filter, sort, window), and the canonical form of a resource.
//! - `store`: the one storage seam: SQLite schema, the group-commit writer, read connections,
//!   the filter-to-SQL compiler and all SQL. Callers get a `store::Conn` and never the engine.
//! - `directory`: the operations every edge shares (users, Teams, orgs, tokens, audit, whole
//!   organizations); it normalises every resource it writes and records the audit entry.
//! - `auth`: bearer tokens (argon2id at rest, a digest cache in memory), admin passwords,
//!   throttling and rate limits; `auth::secret` and `auth::token` are leaves any layer may use.
//! - `app`: what every edge shares: store, authenticator, limits, cursor key, rate limits,
//!   edge URLs. Nothing of the HTTP layer or the admin page.
//! - `scim`: the SCIM protocol: routes, filters, PATCH, lists, discovery, errors. Builds on
//!   `app` alone.
//! - `admin`: the embedded admin page and its JSON API (`admin::api`, one file per resource),
//!   with its own state (sessions, sign-in throttle, request inspector).
//! - `http`: hyper, routing, body limits, responses; `http::State` adds request ids, metrics
//!   and the admin state to `app`. `server`: `start` (the one start-up, for the binary and the
//!   tests), the accept loop and graceful shutdown. `tls`: certificates, reloaded live.
//!   `metrics`: Prometheus counters and the `/metrics` exposition.
//! - `config`: the command line; `cli`: the subcommands; `logs`: log output.
//! - `export`, `import`, `demo`: the export formats, reading an export into an import plan,
//!   the demo organization.
//! - `error`: the one error type (`scim::error` maps it to SCIM responses); `clock`: time,
//!   read once per request.

pub mod admin;
pub mod app;
pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod directory;
pub mod error;
pub mod export;
pub mod http;
pub mod import;
pub mod logs;
pub mod metrics;
pub mod model;
pub mod rng;
pub mod scim;
pub mod server;
pub mod store;
pub mod tls;
