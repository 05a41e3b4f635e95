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
    /// The database: a SQLite file path, or a PostgreSQL URL
    /// (postgres://user:password@host:port/dbname; its password is never printed).
    #[arg(
        long,
        global = true,
        env = "SCIMBOX_DB",
        default_value = "scimbox.db",
        hide_env_values = true
    )]
    pub db: PathBuf,

    /// Log level: error, warn, info, debug or trace (or a tracing filter).
    #[arg(long, global = true, env = "SCIMBOX_LOG_LEVEL", default_value = "info",
          value_parser = log_level)]
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
    /// Manage an organization's OAuth clients (client credentials for Entra and other IdPs).
    #[command(subcommand)]
    Client(ClientCommand),
    /// Manage Teams locally: roles always; creating Teams and adding members only while SCIM
    /// provisioning is off.
    #[command(subcommand)]
    Team(TeamCommand),
    /// Manage Workspaces (Teams get roles in them).
    #[command(subcommand)]
    Workspace(WorkspaceCommand),
    /// Manage Deployments (each in a Workspace; Teams and users get Deployment roles on them).
    #[command(subcommand)]
    Deployment(crate::config_access::DeploymentCommand),
    /// Manage custom Deployment roles: named sets of Astro's Deployment permissions.
    #[command(subcommand)]
    DeploymentRole(crate::config_access::DeploymentRoleCommand),
    /// Manage role rules: the role template a Team gets when the IdP creates it, matched on
    /// its displayName.
    #[command(subcommand)]
    TeamRule(crate::config_access::TeamRuleCommand),
    /// Look at users.
    #[command(subcommand)]
    User(UserCommand),
    /// Declare an organization's schema extensions (RFC 7643 §7), e.g. the custom extension
    /// an Entra attribute mapping sends (`urn:…:CustomExtensionName:2.0:User:costCenter`).
    #[command(subcommand)]
    Schema(SchemaCommand),
    /// Copy the database, consistently, while servers keep using it. Restore: stop the server,
    /// put the copy in place of the database file (removing its -wal and -shm), start again.
    Backup {
        /// Where to write the copy (must not exist).
        out: std::path::PathBuf,
    },
    /// Manage the admin page's account.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Manage the receivers of an organization's SCIM events (RFC 9967 Security Event Tokens,
    /// pushed per RFC 8935 or polled per RFC 8936).
    #[command(subcommand)]
    Events(EventsCommand),
    /// Read an organization's audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Write an organization's users, Teams, Workspaces and memberships to standard output
    /// (or --out): JSON that `scimbox import` reads, or CSV for people.
    Export {
        /// The organization's id or name.
        #[arg(long)]
        org: String,
        #[arg(long, value_enum, default_value_t = ExportFormat::Json)]
        format: ExportFormat,
        /// Write to this file instead of standard output (must not exist).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Load a JSON export into an empty organization, checked like SCIM requests, in one
    /// transaction: all of it or nothing.
    Import {
        /// The organization's id or name (created if no organization has this name).
        #[arg(long)]
        org: String,
        /// The export file (`-` reads standard input).
        file: PathBuf,
        /// Give every user, Team and Workspace a new id instead of keeping the file's (needed
        /// when the ids are already used in this database, e.g. by the exported organization).
        #[arg(long)]
        new_ids: bool,
    },
    /// Seed an empty organization with demo data: a few hundred users, Teams, Workspaces and
    /// roles, the same on every run.
    Demo {
        /// The organization's id or name (created if no organization has this name).
        #[arg(long, default_value = "demo")]
        org: String,
        /// How many users.
        #[arg(long, default_value_t = 300,
              value_parser = clap::value_parser!(u32).range(1..=100_000))]
        users: u32,
    },
    /// Check that a server answers GET /healthz with 200 (exit 0) or not (exit 1); for a
    /// container HEALTHCHECK, as it needs no curl. Plain HTTP only.
    Health {
        /// The URL to check; without it, /healthz on --listen (SCIMBOX_LISTEN), with an
        /// unspecified address (0.0.0.0) taken as loopback.
        #[arg(long, env = "SCIMBOX_HEALTH_URL")]
        url: Option<String>,
        /// The server's listen address, as `serve` takes it.
        #[arg(long, env = "SCIMBOX_LISTEN", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Seconds to wait for the answer.
        #[arg(long, default_value_t = 3)]
        timeout: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    Json,
    Csv,
}

/// A level name, or a tracing filter with a `=` or `,` in it. A lone word that is not a level
/// would be read as a target name and silence every log, which is never what a typo meant.
fn log_level(s: &str) -> Result<String, String> {
    const LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];
    let plain = !s.contains(['=', ',']);
    if plain && !LEVELS.iter().any(|l| l.eq_ignore_ascii_case(s.trim())) {
        return Err(format!(
            "use one of {} or a filter like warn,scimbox::request=info",
            LEVELS.join(", ")
        ));
    }
    tracing_subscriber::EnvFilter::try_new(s)
        .map(|_| s.to_string())
        .map_err(|e| format!("not a log filter ({e})"))
}

fn public_url(s: &str) -> Result<String, String> {
    crate::app::parse_public_url(s)
}

fn metrics_token(s: &str) -> Result<String, String> {
    if s.len() < 16 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "use at least 16 printable characters without spaces (e.g. from `openssl rand -hex 24`)"
                .into(),
        );
    }
    Ok(s.to_string())
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Write an organization's audit log (newest first) to standard output: one JSON object
    /// a line (ndjson), or CSV, with the names of the users and Teams each entry touches.
    Export {
        /// The organization's id or name.
        #[arg(long)]
        org: String,
        #[arg(long, value_enum, default_value_t = AuditFormat::Ndjson)]
        format: AuditFormat,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    Ndjson,
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Set a new password for the admin page (creating the account if needed) and end every
    /// session of the account. Prints a generated password unless --stdin gives one.
    SetPassword {
        /// The admin account's name.
        #[arg(long, default_value = "admin")]
        name: String,
        /// Read the new password from the first line of standard input instead.
        #[arg(long)]
        stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Add a receiver; it hears of every change made from now on. Prints its id alone on the
    /// first line; a poll receiver's bearer token follows on the second, shown only this once.
    Add {
        /// The organization's id or name.
        #[arg(long)]
        org: String,
        /// Where SETs are pushed (https, or http to a loopback address); for a poll receiver,
        /// the audience (`aud`) its SETs name.
        #[arg(long)]
        url: String,
        /// push: scimbox POSTs each SET to --url (RFC 8935); poll: the receiver fetches them
        /// from its poll endpoint with its token (RFC 8936).
        #[arg(long, value_enum, default_value_t = EventMode::Push)]
        mode: EventMode,
        /// Events carry the resource itself (RFC 9967 `full` events).
        #[arg(long, conflicts_with = "notice")]
        full: bool,
        /// Events say only which attributes changed (RFC 9967 `notice` events; the default).
        #[arg(long)]
        notice: bool,
    },
    /// List the organization's receivers with their backlog, last delivery and last error.
    List {
        #[arg(long)]
        org: String,
    },
    /// Remove a receiver.
    Remove {
        #[arg(long)]
        org: String,
        /// The receiver's id.
        id: String,
    },
    /// Put a receiver marked failed (it answered an RFC 8935 error) back to work, from the
    /// event it refused.
    Resume {
        #[arg(long)]
        org: String,
        /// The receiver's id.
        id: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EventMode {
    Push,
    Poll,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, env = "SCIMBOX_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The largest request body accepted, in bytes (larger ones get 413). Also the Bulk
    /// maxPayloadSize.
    #[arg(long, env = "SCIMBOX_MAX_BODY_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// How many of the latest SCIM requests the admin page's request inspector keeps (in
    /// the database; 0 turns it off).
    #[arg(long, env = "SCIMBOX_REQUEST_LOG_SIZE", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub request_log_size: u32,

    /// Days the request inspector keeps a request (0: only --request-log-size bounds it).
    #[arg(long, env = "SCIMBOX_REQUEST_LOG_DAYS", default_value_t = 7,
          value_parser = clap::value_parser!(u32).range(0..=3650))]
    pub request_log_days: u32,

    /// Days the audit log keeps an entry; older ones are deleted hourly (0 keeps them forever).
    #[arg(long, env = "SCIMBOX_AUDIT_RETENTION_DAYS", default_value_t = 365)]
    pub audit_retention_days: u32,

    /// Minutes an unused admin session lasts.
    #[arg(long, env = "SCIMBOX_SESSION_IDLE_MINUTES", default_value_t = 120,
          value_parser = clap::value_parser!(u32).range(1..=10_080))]
    pub session_idle_minutes: u32,

    /// Hours an admin session lasts at most, used or not.
    #[arg(long, env = "SCIMBOX_SESSION_MAX_HOURS", default_value_t = 12,
          value_parser = clap::value_parser!(u32).range(1..=720))]
    pub session_max_hours: u32,

    /// The most bytes of request line and headers (more gets 431); at least 8192.
    #[arg(long, env = "SCIMBOX_MAX_HEADER_BYTES", default_value_t = 64 * 1024)]
    pub max_header_bytes: usize,

    /// Connections served at once; more wait to be accepted.
    #[arg(long, env = "SCIMBOX_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,

    /// Seconds a client may take to send its headers; idle keep-alive connections close
    /// after the same time.
    #[arg(long, env = "SCIMBOX_HEADER_TIMEOUT", default_value_t = 10)]
    pub header_timeout: u64,

    /// Seconds a client may take to send its body (slower gets 408).
    #[arg(long, env = "SCIMBOX_BODY_TIMEOUT", default_value_t = 30)]
    pub body_timeout: u64,

    /// Seconds a response may wait for the client to read it; a client that does not read
    /// (pipelined requests, never reading) has its connection closed after that.
    #[arg(long, env = "SCIMBOX_WRITE_TIMEOUT", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub write_timeout: u64,

    /// Seconds a connection may neither send nor receive a byte (a request being worked on
    /// included) before it is closed.
    #[arg(long, env = "SCIMBOX_IDLE_TIMEOUT", default_value_t = 120,
          value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub idle_timeout: u64,

    /// Serve HTTPS with this PEM certificate chain (needs --tls-key). Reloaded on SIGHUP and
    /// when the file changes.
    #[arg(long, env = "SCIMBOX_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// The PEM private key of --tls-cert.
    #[arg(long, env = "SCIMBOX_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// The URL clients reach the server at (behind a reverse proxy or a tunnel), e.g.
    /// https://scim.example.com: the base of every meta.location, Location, $ref and URL the
    /// admin page shows. Without it they are built from the request's Host.
    #[arg(long, env = "SCIMBOX_PUBLIC_URL", value_parser = public_url)]
    pub public_url: Option<String>,

    /// Serve /metrics (Prometheus) and /healthz on this separate address, e.g. 127.0.0.1:9090.
    /// Off by default.
    #[arg(long, env = "SCIMBOX_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Require this bearer token for /metrics; with it, /metrics is also served on the main
    /// port (without it, never there).
    #[arg(long, env = "SCIMBOX_METRICS_TOKEN", hide_env_values = true, value_parser = metrics_token)]
    pub metrics_token: Option<String>,

    /// Requests per second each SCIM token may make (0: no limit); more get 429 with
    /// Retry-After.
    #[arg(long, env = "SCIMBOX_RATE_LIMIT", default_value_t = crate::auth::ratelimit::DEFAULT_RATE)]
    pub rate_limit: u32,

    /// Requests each SCIM token may make at once after a quiet spell (at least --rate-limit).
    #[arg(long, env = "SCIMBOX_RATE_BURST", default_value_t = crate::auth::ratelimit::DEFAULT_BURST)]
    pub rate_burst: u32,

    /// Minutes an OAuth access token from /oauth/token lives (60 to 360).
    #[arg(long, env = "SCIMBOX_ACCESS_TOKEN_MINUTES",
          default_value_t = crate::auth::clients::DEFAULT_ACCESS_MINUTES,
          value_parser = clap::value_parser!(u32).range(60..=360))]
    pub access_token_minutes: u32,

    /// A PEM file of extra CA certificates to trust for outbound HTTPS (federated clients'
    /// JWKS URLs), beside the bundled public roots.
    #[arg(long, env = "SCIMBOX_OUTBOUND_CA")]
    pub outbound_ca: Option<PathBuf>,
    /// Hours an undelivered SCIM event waits for a receiver that does not take it before it
    /// is dropped (0: until every receiver had it).
    #[arg(long, env = "SCIMBOX_EVENTS_RETENTION_HOURS", default_value_t = 168)]
    pub events_retention_hours: u32,

    /// The longest wait, in seconds, between two attempts to push events to a receiver that
    /// is down or answers an error (waits double from 1 second up to this).
    #[arg(long, env = "SCIMBOX_EVENTS_MAX_BACKOFF", default_value_t = 300,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub events_max_backoff: u64,

    /// Trust the CA certificates in this PEM file for https event receivers, besides the
    /// bundled Mozilla roots (a receiver behind a private CA).
    #[arg(long, env = "SCIMBOX_EVENTS_CA_FILE")]
    pub events_ca_file: Option<PathBuf>,

    /// Leave WAL checkpoints to Litestream, which replicates the database file continuously:
    /// scimbox then runs none (as Litestream's documentation asks of applications), and the
    /// write-ahead log is copied back into the file by Litestream alone.
    #[arg(long, env = "SCIMBOX_LITESTREAM")]
    pub litestream: bool,

    /// Seed the first organization with demo data when it is empty (see `scimbox demo`).
    #[arg(long, env = "SCIMBOX_DEMO")]
    pub demo: bool,
}

impl ServeArgs {
    /// How long an undelivered event is kept (`None`: until every receiver had it).
    pub fn events_retention(&self) -> Option<std::time::Duration> {
        (self.events_retention_hours > 0)
            .then(|| std::time::Duration::from_secs(u64::from(self.events_retention_hours) * 3600))
    }

    pub fn limits(&self) -> crate::app::Limits {
        use std::time::Duration;
        crate::app::Limits {
            max_body_bytes: self.max_body_bytes,
            max_header_bytes: self.max_header_bytes,
            max_connections: self.max_connections,
            header_read_timeout: Duration::from_secs(self.header_timeout.max(1)),
            body_read_timeout: Duration::from_secs(self.body_timeout.max(1)),
            write_timeout: Duration::from_secs(self.write_timeout),
            idle_timeout: Duration::from_secs(self.idle_timeout),
            rate_limit: self.rate_limit,
            rate_burst: self.rate_burst,
            ..crate::app::Limits::default()
        }
    }
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
        /// What the token is for (shown in the token list and on the admin page).
        #[arg(long)]
        description: Option<String>,
        /// Accept the token only from this address range (CIDR, IPv4 or IPv6; repeatable).
        /// Requests from elsewhere get 401.
        #[arg(long = "allow", value_name = "CIDR")]
        allow: Vec<String>,
    },
    /// Issue a new secret for a token (same id, name and limits); prints the new bearer token
    /// alone on stdout, only this once. The old secret is refused from the next request, or
    /// after --grace.
    Rotate {
        #[arg(long)]
        org: String,
        /// The token's id or name.
        token: String,
        /// Keep accepting the old secret this long (e.g. 30m, 2h; at most 24h).
        #[arg(long, value_parser = crate::config_access::grace)]
        grace: Option<u64>,
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

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create an OAuth client. Prints the client id on the first line and the client secret
    /// on the second, shown only this once. With --jwks-url (and --issuer, --subject,
    /// --audience) the client is federated: it has no secret, and its identity provider signs
    /// its assertions.
    Create {
        /// The organization's id or name.
        #[arg(long)]
        org: String,
        /// A name to recognise the client by (unique among the organization's live clients).
        #[arg(long)]
        name: String,
        /// Days until the secret expires (default 365, at most 1095).
        #[arg(long, conflicts_with = "jwks_url",
              value_parser = clap::value_parser!(u32).range(1..=1095))]
        expires_in: Option<u32>,
        /// Federated: the HTTPS URL of the identity provider's signing keys (JWKS).
        #[arg(long, requires_all = ["issuer", "subject", "audience"])]
        jwks_url: Option<String>,
        /// Federated: the `iss` its assertions carry.
        #[arg(long, requires = "jwks_url")]
        issuer: Option<String>,
        /// Federated: the `sub` its assertions carry.
        #[arg(long, requires = "jwks_url")]
        subject: Option<String>,
        /// Federated: the `aud` its assertions carry (Entra: the app's URI, like api://...).
        #[arg(long, requires = "jwks_url")]
        audience: Option<String>,
    },
    /// List an organization's clients and their secrets' ids and expiry (never a secret).
    List {
        #[arg(long)]
        org: String,
    },
    /// Revoke a client by id or name: no more access tokens, and the ones it holds are refused
    /// from their next request.
    Revoke {
        #[arg(long)]
        org: String,
        /// The client's id or name.
        client: String,
    },
    /// Add a secret to a client and print it (shown only this once); the old one keeps
    /// working until `client delete-secret` or its own expiry.
    Rotate {
        #[arg(long)]
        org: String,
        /// The client's id or name.
        client: String,
        /// Days until the new secret expires (default 365, at most 1095).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1095))]
        expires_in: Option<u32>,
    },
    /// Delete one of a client's secrets (its id, as `client list` shows it).
    DeleteSecret {
        #[arg(long)]
        org: String,
        /// The client's id or name.
        client: String,
        /// The secret's id.
        secret: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TeamCommand {
    /// List Teams with their origin (SCIM or local), member count and Organization role.
    List {
        #[arg(long)]
        org: String,
    },
    /// Show a Team: members and roles.
    Show {
        #[arg(long)]
        org: String,
        /// The Team's id or name.
        team: String,
    },
    /// Create a local Team (refused while SCIM provisioning is on).
    Create {
        #[arg(long)]
        org: String,
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete a Team (while SCIM is on, only Teams that did not come from the IdP).
    Delete {
        #[arg(long)]
        org: String,
        team: String,
    },
    /// Add a user (id or userName) to a Team (refused while SCIM provisioning is on).
    AddMember {
        #[arg(long)]
        org: String,
        team: String,
        user: String,
    },
    /// Remove a user (id or userName) from a Team.
    RemoveMember {
        #[arg(long)]
        org: String,
        team: String,
        user: String,
    },
    /// Set a Team's Organization role, its role in a Workspace or its role on a Deployment
    /// (`--role none` removes it).
    SetRole {
        #[arg(long)]
        org: String,
        team: String,
        #[command(flatten)]
        role: crate::config_access::RoleArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum SchemaCommand {
    /// Declare a schema extension from a file in the RFC 7643 §7 representation (`id` = the
    /// extension URN, `attributes`); prints its URN.
    Add {
        #[arg(long)]
        org: String,
        /// The schema file (JSON); `-` reads standard input.
        file: std::path::PathBuf,
        /// The resource type it extends.
        #[arg(long, default_value = "User", value_parser = ["User", "Group"])]
        resource_type: String,
    },
    /// List the declared extensions, with how many resources carry values for each.
    List {
        #[arg(long)]
        org: String,
    },
    /// Print a declared extension as /Schemas publishes it.
    Show {
        #[arg(long)]
        org: String,
        urn: String,
    },
    /// Remove a declared extension; refused while resources carry values for it.
    Remove {
        #[arg(long)]
        org: String,
        urn: String,
        /// Drop the values from every resource (each change is audited).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum WorkspaceCommand {
    /// Create a Workspace; prints its id alone on stdout.
    Create {
        #[arg(long)]
        org: String,
        name: String,
    },
    /// List Workspaces with the Teams that have a role in each.
    List {
        #[arg(long)]
        org: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Set a user's own Organization role, Workspace role or Deployment role (`--role none`
    /// removes it); its Teams' roles add to these.
    SetRole {
        #[arg(long)]
        org: String,
        /// The user's id or userName.
        user: String,
        #[command(flatten)]
        role: crate::config_access::RoleArgs,
    },
    /// A user's effective access per Organization, Workspace and Deployment, each with where
    /// it comes from (own, a Team, an implied Accessor, Owner-inherits).
    Access {
        #[arg(long)]
        org: String,
        /// The user's id or userName.
        user: String,
    },
}
