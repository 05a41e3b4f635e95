//! `scimbox client create|list|revoke|rotate|delete-secret`: an organization's OAuth clients.
//! Output shapes are fixed (scripts read them): `create` prints the client id on the first
//! line and the secret on the second; `rotate` prints the new secret alone.

use super::{cli_actor, now, with_store};
use crate::config::ClientCommand as C;
use crate::directory::clients::{self as c, NewKind};
use crate::directory::orgs;
use crate::store::clients::{Federation, Kind};
use std::path::Path;

pub fn client(db: &Path, cmd: &C) -> Result<(), String> {
    with_store(db, |store| async move {
        match cmd {
            C::Create {
                org,
                name,
                expires_in,
                jwks_url,
                issuer,
                subject,
                audience,
            } => {
                let org = orgs::find(&store, org.clone()).await?;
                let kind = match jwks_url {
                    Some(url) => NewKind::Federated(Federation {
                        jwks_url: url.clone(),
                        issuer: issuer.clone().unwrap_or_default(),
                        subject: subject.clone().unwrap_or_default(),
                        audience: audience.clone().unwrap_or_default(),
                    }),
                    None => NewKind::Secret {
                        days: expires_in.unwrap_or(c::DEFAULT_SECRET_DAYS),
                    },
                };
                let (row, secret) = c::create(
                    &store,
                    &cli_actor("client create"),
                    &org,
                    name.clone(),
                    kind,
                    crate::clock::now(),
                )
                .await?;
                println!("{}", row.id);
                if let Some((_, secret)) = secret {
                    println!("{}", secret.expose());
                }
            }
            C::List { org } => {
                let org = orgs::find(&store, org.clone()).await?;
                println!(
                    "{:<20} {:<9} {:<8} {:<25} {:<25} NAME",
                    "ID", "KIND", "STATE", "CREATED", "LAST USED"
                );
                let now = now();
                for (client, secrets) in c::list(&store, &org).await? {
                    let kind = match &client.kind {
                        Kind::Secret => "secret",
                        Kind::Federated(_) => "federated",
                    };
                    println!(
                        "{:<20} {:<9} {:<8} {:<25} {:<25} {}",
                        client.id,
                        kind,
                        if client.revoked.is_some() {
                            "revoked"
                        } else {
                            "live"
                        },
                        client.created,
                        client.last_used.as_deref().unwrap_or("never"),
                        client.name
                    );
                    for s in secrets {
                        let state = if s.expires.as_str() > now.as_str() {
                            "live"
                        } else {
                            "expired"
                        };
                        println!(
                            "  secret {}  {:<7} created {}  expires {}",
                            s.id, state, s.created, s.expires
                        );
                    }
                    if let Kind::Federated(f) = &client.kind {
                        println!("  jwks-url {}", f.jwks_url);
                        println!("  issuer   {}", f.issuer);
                        println!("  subject  {}", f.subject);
                        println!("  audience {}", f.audience);
                    }
                }
            }
            C::Revoke { org, client } => {
                let org = orgs::find(&store, org.clone()).await?;
                let row = c::revoke(
                    &store,
                    &cli_actor("client revoke"),
                    &org,
                    client.clone(),
                    now(),
                )
                .await?;
                eprintln!("revoked client {} ({})", row.name, row.id);
            }
            C::Rotate {
                org,
                client,
                expires_in,
            } => {
                let org = orgs::find(&store, org.clone()).await?;
                let (id, secret) = c::rotate(
                    &store,
                    &cli_actor("client rotate"),
                    &org,
                    client.clone(),
                    expires_in.unwrap_or(c::DEFAULT_SECRET_DAYS),
                    crate::clock::now(),
                )
                .await?;
                println!("{}", secret.expose());
                eprintln!(
                    "added secret {id}; the older secrets keep working until \
                     `scimbox client delete-secret` or their expiry"
                );
            }
            C::DeleteSecret {
                org,
                client,
                secret,
            } => {
                let org = orgs::find(&store, org.clone()).await?;
                c::delete_secret(
                    &store,
                    &cli_actor("client delete-secret"),
                    &org,
                    client.clone(),
                    secret.clone(),
                    now(),
                )
                .await?;
                eprintln!("deleted secret {secret}");
            }
        }
        Ok(())
    })
}
