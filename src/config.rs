//! The command line: subcommands and flags, each flag also readable from a `SCIMBOX_*`
//! environment variable, so `--help` documents everything.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "scimbox",
    version,
    about = "A self-contained SCIM 2.0 service provider for an organization's users and Teams"
)]
pub struct Cli {
    /// The SQLite database file.
    #[arg(long, global = true, env = "SCIMBOX_DB", default_value = "scimbox.db")]
    pub db: PathBuf,

    /// Log level: error, warn, info, debug or trace (or a tracing filter).
    #[arg(long, global = true, env = "SCIMBOX_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// Log format.
    #[arg(long, global = true, env = "SCIMBOX_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the SCIM API (and create a first organization and token on an empty database).
    Serve(ServeArgs),
    /// Manage organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage an organization's SCIM bearer tokens.
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, env = "SCIMBOX_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The largest request body accepted, in bytes (larger ones get 413).
    #[arg(long, env = "SCIMBOX_MAX_BODY_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_body_bytes: usize,
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization; prints its id alone on stdout.
    Create {
        /// The organization's name (unique, case-insensitive).
        name: String,
    },
    /// List organizations with their SCIM state and counts.
    List,
    /// Switch SCIM provisioning on or off. While off, the SCIM API answers 403, and while on,
    /// local tools cannot create Teams or add members (the IdP is the source of truth).
    Scim {
        /// The organization's id or name.
        org: String,
        #[arg(value_enum)]
        state: Switch,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token; prints the bearer token alone on stdout. It is shown only this once.
    Create {
        /// The organization's id or name.
        #[arg(long)]
        org: String,
        /// A name to recognise the token by (unique among the organization's live tokens).
        #[arg(long)]
        name: String,
        /// Days until the token expires; without it, it never does.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=36500))]
        expires_in: Option<u32>,
    },
    /// List an organization's tokens (never their secrets).
    List {
        #[arg(long)]
        org: String,
    },
    /// Revoke a token by id or name; a running server refuses it from its next request.
    Revoke {
        #[arg(long)]
        org: String,
        /// The token's id or name.
        token: String,
    },
}
