//! `scimbox events add|list|remove|resume`: the receivers of an organization's SCIM events.

use super::{CliResult, cli_actor, now, with_store};
use crate::config::{EventMode, EventsCommand};
use crate::directory::{self, events::Detail, events::Mode};
use std::path::Path;

pub fn run(db: &Path, cmd: &EventsCommand) -> CliResult {
    with_store(db, |store| async move {
        match cmd {
            EventsCommand::Add {
                org,
                url,
                mode,
                full,
                notice: _,
            } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                let mode = match mode {
                    EventMode::Push => Mode::Push,
                    EventMode::Poll => Mode::Poll,
                };
                let detail = if *full { Detail::Full } else { Detail::Notice };
                let (r, token) = directory::events::add(
                    &store,
                    &cli_actor("events add"),
                    org.pk,
                    url.clone(),
                    mode,
                    detail,
                    now(),
                )
                .await?;
                println!("{}", r.id);
                if let Some(token) = token {
                    println!("{}", token.expose());
                    eprintln!(
                        "poll at /events/{}/poll/{} with Authorization: Bearer <the token \
                         above>; it is shown only this once",
                        org.id, r.id
                    );
                }
            }
            EventsCommand::List { org } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                println!(
                    "{:<36} {:<4} {:<6} {:<8} {:>7} {:>9}  {:<24}  URL",
                    "ID", "MODE", "DETAIL", "STATE", "BACKLOG", "DELIVERED", "LAST DELIVERY"
                );
                for r in directory::events::list(&store, org.pk).await? {
                    println!(
                        "{:<36} {:<4} {:<6} {:<8} {:>7} {:>9}  {:<24}  {}",
                        r.id,
                        r.mode,
                        r.detail,
                        r.status(),
                        r.backlog,
                        r.delivered,
                        r.last_delivery.as_deref().unwrap_or("-"),
                        r.url
                    );
                    if let Some(err) = &r.last_error {
                        println!("  last error: {err}");
                    }
                }
            }
            EventsCommand::Remove { org, id } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                directory::events::remove(
                    &store,
                    &cli_actor("events remove"),
                    org.pk,
                    id.clone(),
                    now(),
                )
                .await?;
            }
            EventsCommand::Resume { org, id } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                directory::events::resume(
                    &store,
                    &cli_actor("events resume"),
                    org.pk,
                    id.clone(),
                    now(),
                )
                .await?;
            }
        }
        Ok(())
    })
}
