//! Black-box tests: each starts the real server on an ephemeral port with a fresh temporary
//! database and speaks HTTP to it, as an IdP would. One binary, so it links once.

#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

mod access;
mod access_admin;
mod access_cli;
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
mod events;
mod filters;
mod groups;
mod hardening;
mod https;
mod layers;
mod limits;
mod lists;
mod multi;
mod oauth;
mod ops;
mod postgres;
mod replays;
mod schemas;
mod storage;
mod teams;
mod users;
