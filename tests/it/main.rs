//! Black-box tests: each starts the real server on an ephemeral port with a fresh temporary
//! database and speaks HTTP to it, as an IdP would. One binary, so it links once.

#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod admin;
mod auth;
mod backup;
mod bulk;
mod cli;
mod common;
mod concurrency;
mod crash;
mod discovery;
mod edge;
mod errors;
mod filters;
mod groups;
mod https;
mod layers;
mod limits;
mod lists;
mod ops;
mod replays;
mod schemas;
mod teams;
mod users;
