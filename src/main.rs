//! The `scimbox` binary: parse the command line, set up logs, run the command.

use clap::Parser;
use scimbox::config::{Cli, Command};
use std::process::ExitCode;

/// jemalloc instead of glibc malloc: after a large request (a big Bulk, a refused huge PATCH)
/// glibc kept the freed memory in its arenas; jemalloc's background threads give it back
/// within seconds (the bench's memory phase prints RSS before, at the peak and after).
#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Held to the end: dropping it writes the log lines still queued.
    let logs = scimbox::logs::init(&cli.log_level, cli.log_format);
    let result = match &cli.command {
        Command::Serve(args) => scimbox::cli::serve(&cli.db, args),
        Command::Org(cmd) => scimbox::cli::org(&cli.db, cmd),
        Command::Token(cmd) => scimbox::cli::token(&cli.db, cmd),
        Command::Client(cmd) => scimbox::cli::client(&cli.db, cmd),
        Command::Team(cmd) => scimbox::cli::team(&cli.db, cmd),
        Command::Workspace(cmd) => scimbox::cli::workspace(&cli.db, cmd),
        Command::User(cmd) => scimbox::cli::user(&cli.db, cmd),
        Command::Deployment(cmd) => scimbox::cli_access::deployment(&cli.db, cmd),
        Command::DeploymentRole(cmd) => scimbox::cli_access::deployment_role(&cli.db, cmd),
        Command::TeamRule(cmd) => scimbox::cli_access::team_rule(&cli.db, cmd),
        Command::Schema(cmd) => scimbox::cli::schema(&cli.db, cmd),
        Command::Backup { out } => scimbox::cli::backup(&cli.db, out),
        Command::Admin(cmd) => scimbox::cli::admin(&cli.db, cmd),
        Command::Events(cmd) => scimbox::cli::events::run(&cli.db, cmd),
        Command::Audit(cmd) => scimbox::cli::audit(&cli.db, cmd),
        Command::Export { org, format, out } => {
            scimbox::cli::export(&cli.db, org, *format, out.as_deref())
        }
        Command::Import { org, file, new_ids } => {
            scimbox::cli::import(&cli.db, org, file, *new_ids)
        }
        Command::Demo { org, users } => scimbox::cli::demo(&cli.db, org, *users),
        Command::Health {
            url,
            listen,
            timeout,
        } => scimbox::cli::health(url.as_deref(), *listen, *timeout),
    };
    drop(logs);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("scimbox: {message}");
            ExitCode::FAILURE
        }
    }
}
