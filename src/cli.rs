//! The subcommands. Each opens the database (creating and migrating it if needed) and works
//! through `directory`, like the SCIM API does, so the same rules and audit apply. They work
//! while a server runs on the same file: SQLite's WAL and busy timeout let them share it.

use crate::config::{OrgCommand, ServeArgs, Switch, TokenCommand};
use crate::directory::{self, Actor};
use crate::store::target::Target;
use crate::store::{Store, StoreOptions};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

mod clients;
pub use clients::client;
pub mod events;

type CliResult = Result<(), String>;

pub(crate) fn cli_actor(what: &str) -> Actor {
    Actor {
        who: "cli".into(),
        why: format!("scimbox {what}"),
        ..Actor::default()
    }
}

pub(crate) fn now() -> String {
    crate::clock::format(crate::clock::now())
}

fn open(db: &Path) -> Result<Store, String> {
    let options = StoreOptions {
        readers: 1,
        ..StoreOptions::default()
    };
    open_with(db, &options)
}

/// Opens what `--db` names (a SQLite file or a PostgreSQL URL); errors name the flag.
fn open_with(db: &Path, options: &StoreOptions) -> Result<Store, String> {
    let target = Target::parse(db).map_err(|e| format!("{e} (set --db or SCIMBOX_DB)"))?;
    Store::open_target(&target, options).map_err(|e| format!("{e} (set --db or SCIMBOX_DB)"))
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

pub fn org(db: &Path, cmd: &OrgCommand) -> CliResult {
    let store = open(db)?;
    let result = runtime()?.block_on(async {
        match cmd {
            OrgCommand::Create { name } => {
                let org =
                    directory::orgs::create(&store, &cli_actor("org create"), name.clone(), now())
                        .await?;
                println!("{}", org.id);
            }
            OrgCommand::List => {
                println!(
                    "{:<34} {:<5} {:>8} {:>7}  NAME",
                    "ID", "SCIM", "USERS", "TEAMS"
                );
                for org in directory::orgs::list(&store).await? {
                    println!(
                        "{:<34} {:<5} {:>8} {:>7}  {}",
                        org.id,
                        if org.scim_enabled { "on" } else { "off" },
                        org.user_count,
                        org.team_count,
                        org.name
                    );
                }
            }
            OrgCommand::Scim { org, state } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                let on = *state == Switch::On;
                directory::orgs::set_scim_enabled(&store, &cli_actor("org scim"), &org, on, now())
                    .await?;
                eprintln!(
                    "SCIM provisioning is {} for {}",
                    if on { "on" } else { "off" },
                    org.name
                );
            }
        }
        Ok::<(), crate::error::Error>(())
    });
    store.close();
    result.map_err(|e| e.to_string())
}

pub fn audit(db: &Path, cmd: &crate::config::AuditCommand) -> CliResult {
    let crate::config::AuditCommand::Export { org, format } = cmd;
    let store = open(db)?;
    let result = runtime()?.block_on(async {
        let org = directory::orgs::find(&store, org.clone()).await?;
        let format = match format {
            crate::config::AuditFormat::Ndjson => "ndjson",
            crate::config::AuditFormat::Csv => "csv",
        };
        let text = directory::history::export(&store, org.pk, Default::default(), format).await?;
        use std::io::Write;
        std::io::stdout()
            .write_all(text.as_bytes())
            .map_err(|e| crate::error::Error::Internal(format!("cannot write: {e}")))?;
        Ok::<(), crate::error::Error>(())
    });
    store.close();
    result.map_err(|e| e.to_string())
}

pub fn token(db: &Path, cmd: &TokenCommand) -> CliResult {
    let store = open(db)?;
    let result = runtime()?.block_on(async {
        match cmd {
            TokenCommand::Create {
                org,
                name,
                expires_in,
                description,
                allow,
            } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                let expires = expires_in.map(|days| {
                    crate::clock::format(
                        crate::clock::now() + time::Duration::days(i64::from(days)),
                    )
                });
                let spec = directory::orgs::TokenSpec {
                    name: name.clone(),
                    expires,
                    description: description.clone(),
                    allow: allow.clone(),
                };
                let (_, bearer) = directory::orgs::create_token_with(
                    &store,
                    &cli_actor("token create"),
                    &org,
                    spec,
                    now(),
                )
                .await?;
                println!("{}", bearer.expose());
            }
            TokenCommand::List { org } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                println!(
                    "{:<17} {:<8} {:<25} {:<25} {:<25} {:<40} NAME",
                    "ID", "STATE", "CREATED", "EXPIRES", "LAST USED", "LAST SOURCE"
                );
                let now = now();
                let soon = crate::clock::format(
                    crate::clock::now()
                        + time::Duration::days(crate::directory::tokens::EXPIRY_WARNING_DAYS),
                );
                for t in directory::orgs::list_tokens(&store, &org).await? {
                    let state = t.state(&now);
                    let state = match &t.expires {
                        Some(e) if state == "live" && *e <= soon => "expiring",
                        _ => state,
                    };
                    println!(
                        "{:<17} {:<8} {:<25} {:<25} {:<25} {:<40} {}{}",
                        t.id,
                        state,
                        t.created,
                        t.expires.as_deref().unwrap_or("never"),
                        t.last_used.as_deref().unwrap_or("never"),
                        t.last_source.as_deref().unwrap_or("-"),
                        t.name,
                        t.description
                            .as_deref()
                            .map(|d| format!(" ({d})"))
                            .unwrap_or_default()
                    );
                }
            }
            TokenCommand::Rotate { org, token, grace } => {
                crate::cli_access::token_rotate_in(&store, org, token, *grace).await?;
            }
            TokenCommand::Revoke { org, token } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                directory::orgs::revoke_token(
                    &store,
                    &cli_actor("token revoke"),
                    &org,
                    token.clone(),
                    now(),
                )
                .await?;
                eprintln!("revoked {token}");
            }
        }
        Ok::<(), crate::error::Error>(())
    });
    store.close();
    result.map_err(|e| e.to_string())
}

/// The URL a person can paste: an unspecified listen address becomes loopback.
pub fn display_addr(addr: SocketAddr) -> SocketAddr {
    let mut a = addr;
    if a.ip().is_unspecified() {
        a.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    a
}

pub fn serve(db: &Path, args: &ServeArgs) -> CliResult {
    // Certificates first: a missing or unreadable file is a startup error naming the flag.
    let certs = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(Arc::new(crate::tls::Certs::load(cert, key)?)),
        _ => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(async {
        let options = StoreOptions {
            external_checkpoints: args.litestream,
            ..StoreOptions::default()
        };
        let store = open_with(db, &options)?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| {
                format!(
                    "cannot listen on {} ({e}); set --listen or SCIMBOX_LISTEN",
                    args.listen
                )
            })?;
        let metrics_listener = match args.metrics_listen {
            Some(addr) => Some(tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                format!(
                    "cannot listen on {addr} ({e}); set --metrics-listen or SCIMBOX_METRICS_LISTEN"
                )
            })?),
            None => None,
        };
        let addr = display_addr(listener.local_addr().map_err(|e| e.to_string())?);
        let edge = crate::app::Edge {
            public_url: args.public_url.clone(),
            tls: certs.is_some(),
            metrics_token: args
                .metrics_token
                .clone()
                .map(crate::auth::secret::Secret::new),
        };
        let root = edge.root(&addr.to_string(), false);
        first_run(&store, &root).await.map_err(|e| e.to_string())?;
        first_admin(&store, &root)
            .await
            .map_err(|e| e.to_string())?;
        if args.demo {
            seed_first_org(&store).await?;
        }
        let lifetimes = crate::admin::session::Lifetimes {
            idle: time::Duration::minutes(i64::from(args.session_idle_minutes)),
            max: time::Duration::hours(i64::from(args.session_max_hours)),
        };
        let options = crate::server::Options {
            limits: args.limits(),
            admin: crate::admin::AdminState::with_inspector(
                lifetimes,
                crate::admin::inspector::Inspector::with_days(
                    args.request_log_size as usize,
                    args.request_log_days,
                ),
            ),
            edge,
            certs,
            metrics_listener,
            audit_retention_days: args.audit_retention_days,
            oauth: crate::auth::clients::Settings {
                access_token_minutes: args.access_token_minutes,
                extra_ca: args.outbound_ca.clone(),
                ..crate::auth::clients::Settings::default()
            },
            events_retention: args.events_retention(),
            events_max_backoff: std::time::Duration::from_secs(args.events_max_backoff),
            events_ca_file: args.events_ca_file.clone(),
        };
        let tls = options.certs.is_some();
        let running = crate::server::start(store.clone(), listener, options, shutdown_signal())
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(%addr, db = %db.display(), tls, "scimbox is serving");
        let _ = running.done.await;
        tracing::info!("stopped accepting; closing the database");
        store.close();
        Ok(())
    })
}

/// `serve --demo`: seeds the first organization (`default` on a new database) when it is
/// empty, so a fresh container shows data at once; later starts leave it alone.
async fn seed_first_org(store: &Store) -> CliResult {
    let Some(org) = directory::orgs::list(store)
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
    else {
        return Ok(());
    };
    let contents = directory::orgs::contents(store, org.pk)
        .await
        .map_err(|e| e.to_string())?;
    if contents != (0, 0, 0) {
        tracing::info!(org = %org.name, "--demo: the organization is not empty; not seeding it");
        return Ok(());
    }
    let (_, done) = seed_demo(
        store,
        directory::transfer::Target::Existing(org.clone()),
        DEMO_USERS,
    )
    .await?;
    tracing::info!(org = %org.name, users = done.users, teams = done.teams, "--demo: seeded demo data");
    Ok(())
}

const DEMO_USERS: u32 = 300;

async fn seed_demo(
    store: &Store,
    target: directory::transfer::Target,
    users: u32,
) -> Result<(crate::store::orgs::Org, directory::transfer::Imported), String> {
    let name = match &target {
        directory::transfer::Target::Existing(org) => org.name.clone(),
        directory::transfer::Target::New(name) => name.clone(),
    };
    let doc = crate::demo::demo(users as usize, &name);
    let plan = crate::import::plan(&doc, false)?;
    // Ids come from the organization's name, so screenshots stay the same from run to run;
    // if this database already uses them (a second demo of that name), they are made new.
    let actor = cli_actor("demo");
    match directory::transfer::import(store, &actor, target.clone(), plan, now()).await {
        Err(crate::error::Error::Uniqueness(what)) if what.contains(" id ") => {
            let fresh = crate::import::plan(&doc, true)?;
            directory::transfer::import(store, &actor, target, fresh, now())
                .await
                .map_err(|e| e.to_string())
        }
        other => other.map_err(|e| e.to_string()),
    }
}

/// On an empty database: a default organization and a first token, printed once so a new
/// user can paste both into an IdP.
async fn first_run(store: &Store, root: &str) -> crate::error::Result<()> {
    if !directory::orgs::list(store).await?.is_empty() {
        return Ok(());
    }
    let actor = cli_actor("serve (first run)");
    let org = match directory::orgs::create(store, &actor, "default".into(), now()).await {
        Ok(org) => org,
        // Another server on the same (PostgreSQL) database made it a moment ago.
        Err(crate::error::Error::Uniqueness(_)) => return Ok(()),
        Err(e) => return Err(e),
    };
    let (_, bearer) =
        directory::orgs::create_token(store, &actor, &org, "initial".into(), None, now()).await?;
    // Written, not println!'d: a closed stdout (`scimbox serve | head -3`) must not take the
    // server down.
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "scimbox: this is a new database, so it has one organization and one token.\n  \
         SCIM base URL: {root}/scim/v2/{}\n  Bearer token:  {}\n  \
         The token is shown only this once. More: scimbox token create --org default --name NAME",
        org.id,
        bearer.expose()
    );
    let _ = out.flush();
    Ok(())
}

/// On a database without an admin account: an `admin` account with a generated password,
/// printed once (after the SCIM lines that scripts parse). `scimbox admin set-password` resets
/// it.
async fn first_admin(store: &Store, root: &str) -> crate::error::Result<()> {
    use crate::auth::password;
    if password::any(store).await? {
        return Ok(());
    }
    let secret = password::generate()?;
    password::set(store, password::DEFAULT_ADMIN, secret.clone(), now()).await?;
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "scimbox: the admin page has a new account.\n  \
         Admin page:    {root}/admin/\n  \
         Admin user:    {}\n  \
         Admin password: {}\n  \
         The password is shown only this once. New one: scimbox admin set-password",
        password::DEFAULT_ADMIN,
        secret.expose()
    );
    let _ = out.flush();
    Ok(())
}

/// Hourly upkeep: drops audit entries past their retention (0 days keeps them) and sessions
/// that have ended.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutdown requested; draining requests");
}

/// Runs one CLI action on a freshly opened store, closing it afterwards.
pub(crate) fn with_store<F, Fut>(db: &Path, action: F) -> CliResult
where
    F: FnOnce(Store) -> Fut,
    Fut: std::future::Future<Output = crate::error::Result<()>>,
{
    let store = open(db)?;
    let result = runtime()?.block_on(action(store.clone()));
    store.close();
    result.map_err(|e| e.to_string())
}

fn print_access(access: &directory::teams::Access) {
    println!("organization role: {}", access.org_role);
    for (id, name, role) in &access.workspaces {
        println!("workspace {name} ({id}): {role}");
    }
    for g in &access.deployments {
        let d = &g.deployment;
        println!(
            "deployment {} ({}) in {}: {}",
            d.name, d.id, d.workspace_name, g.role
        );
    }
}

pub fn team(db: &Path, cmd: &crate::config::TeamCommand) -> CliResult {
    use crate::config::TeamCommand as T;
    use directory::teams::{self as t, MemberOp, Origin};
    with_store(db, |store| async move {
        match cmd {
            T::List { org } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                let all = crate::model::query::ListQuery::first(i64::MAX);
                let (_, list) = t::list(&store, org.pk, all, false).await?;
                println!(
                    "{:<36} {:<6} {:>8} {:<28} NAME",
                    "ID", "ORIGIN", "MEMBERS", "ORG ROLE"
                );
                for team in list {
                    let r = &team.row;
                    println!(
                        "{:<36} {:<6} {:>8} {:<28} {}",
                        r.id,
                        if r.scim_managed { "scim" } else { "local" },
                        r.member_count,
                        r.org_role,
                        r.display_name
                    );
                }
            }
            T::Show { org, team } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                let (team, access) = t::show(&store, org.pk, team.clone()).await?;
                println!("{} ({})", team.row.display_name, team.row.id);
                println!(
                    "origin: {}",
                    if team.row.scim_managed {
                        "SCIM (the IdP)"
                    } else {
                        "local"
                    }
                );
                if let Some((id, name)) = directory::rules::of_team(&store, team.row.pk).await? {
                    println!("rule: {} ({id})", name.as_deref().unwrap_or("deleted"));
                }
                print_access(&access);
                for (id, display) in team.members.unwrap_or_default() {
                    println!("member {display} ({id})");
                }
            }
            T::Create {
                org,
                name,
                description,
            } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                let mut body = serde_json::json!({"displayName": name});
                if let Some(d) = description {
                    body[crate::model::schema::TEAM_GROUP_SCHEMA] =
                        serde_json::json!({"description": d});
                }
                let team = t::create(
                    &store,
                    &cli_actor("team create"),
                    org.pk,
                    body,
                    Vec::new(),
                    Origin::Local,
                    now(),
                )
                .await?;
                println!("{}", team.row.id);
            }
            T::Delete { org, team } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                let (found, _) = t::show(&store, org.pk, team.clone()).await?;
                t::delete(
                    &store,
                    &cli_actor("team delete"),
                    org.pk,
                    found.row.id,
                    None,
                    Origin::Local,
                    now(),
                )
                .await?;
            }
            T::AddMember { org, team, user } | T::RemoveMember { org, team, user } => {
                let adding = matches!(cmd, T::AddMember { .. });
                let org = directory::orgs::find(&store, org.clone()).await?;
                let (found, _) = t::show(&store, org.pk, team.clone()).await?;
                let user_id = directory::users::resolve(&store, org.pk, user.clone()).await?;
                let op = if adding {
                    MemberOp::Add(vec![user_id])
                } else {
                    MemberOp::Remove(vec![user_id])
                };
                t::update(
                    &store,
                    &cli_actor(if adding {
                        "team add-member"
                    } else {
                        "team remove-member"
                    }),
                    org.pk,
                    found.row.id,
                    None,
                    vec![op],
                    Origin::Local,
                    false,
                    now(),
                    |_, data| Ok(data),
                )
                .await?;
            }
            T::SetRole { org, team, role } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                let change = crate::cli_access::team_change(role)?;
                let access = t::set_role(
                    &store,
                    &cli_actor("team set-role"),
                    org.pk,
                    team.clone(),
                    change,
                    now(),
                )
                .await?;
                print_access(&access);
            }
        }
        Ok(())
    })
}

pub fn workspace(db: &Path, cmd: &crate::config::WorkspaceCommand) -> CliResult {
    use crate::config::WorkspaceCommand as W;
    with_store(db, |store| async move {
        match cmd {
            W::Create { org, name } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                let ws = directory::teams::create_workspace(
                    &store,
                    &cli_actor("workspace create"),
                    org.pk,
                    name.clone(),
                    now(),
                )
                .await?;
                println!("{}", ws.id);
            }
            W::List { org } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                for (ws, teams) in directory::teams::workspace_teams(&store, org.pk).await? {
                    println!("{} ({})", ws.name, ws.id);
                    for (team, role) in teams {
                        println!("  {team}: {role}");
                    }
                }
            }
        }
        Ok(())
    })
}

pub fn schema(db: &Path, cmd: &crate::config::SchemaCommand) -> CliResult {
    use crate::config::SchemaCommand as S;
    // Read (and check) the file before opening the database, so a bad file changes nothing.
    let text = match cmd {
        S::Add { file, .. } if file.as_os_str() == "-" => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .map_err(|e| format!("cannot read the schema from standard input: {e}"))?;
            Some(s)
        }
        S::Add { file, .. } => Some(
            std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read {}: {e}", file.display()))?,
        ),
        _ => None,
    };
    if let (S::Add { resource_type, .. }, Some(text)) = (cmd, &text) {
        crate::model::declared::parse(text, resource_type)?;
    }
    with_store(db, |store| async move {
        match cmd {
            S::Add {
                org, resource_type, ..
            } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                let d = directory::schemas::add(
                    &store,
                    &cli_actor("schema add"),
                    org.pk,
                    text.unwrap_or_default(),
                    resource_type.clone(),
                    now(),
                )
                .await?;
                println!("{}", d.urn);
            }
            S::List { org } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                println!("{:<8} {:<8} {:>9} URN", "TYPE", "REQUIRED", "CARRIERS");
                for s in directory::schemas::list(&store, org.pk).await? {
                    let d = &s.declared;
                    println!(
                        "{:<8} {:<8} {:>9} {}",
                        d.resource_type,
                        if d.required { "yes" } else { "no" },
                        s.carriers,
                        d.urn
                    );
                }
            }
            S::Show { org, urn } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                let s = directory::schemas::show(&store, org.pk, urn.clone()).await?;
                let v: serde_json::Value = serde_json::from_str(&s.declared.body)
                    .map_err(|e| crate::error::Error::Internal(e.to_string()))?;
                println!(
                    "{}",
                    serde_json::to_string_pretty(&v)
                        .map_err(|e| crate::error::Error::Internal(e.to_string()))?
                );
            }
            S::Remove { org, urn, force } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                let n = directory::schemas::remove(
                    &store,
                    &cli_actor("schema remove"),
                    org.pk,
                    urn.clone(),
                    *force,
                    now(),
                )
                .await?;
                if n > 0 {
                    println!("removed {urn}; dropped its values from {n} resources");
                } else {
                    println!("removed {urn}");
                }
            }
        }
        Ok(())
    })
}

pub fn user(db: &Path, cmd: &crate::config::UserCommand) -> CliResult {
    use crate::config::UserCommand as U;
    with_store(db, |store| async move {
        match cmd {
            U::Access { org, user } => {
                let org = directory::orgs::find(&store, org.clone()).await?;
                let (row, access) = directory::users::access(&store, org.pk, user.clone()).await?;
                println!("user {}", row.id);
                crate::cli_access::print_effective(&access);
            }
            U::SetRole { org, user, role } => {
                return crate::cli_access::user_set_role_in(&store, org, user, role).await;
            }
        }
        Ok(())
    })
}

pub fn backup(db: &Path, out: &Path) -> CliResult {
    if let Target::Postgres(url) = Target::parse(db).map_err(|e| e.to_string())? {
        // The same checks as every command first, so a wrong URL is named as such.
        crate::store::postgres::prepare(&url).map_err(|e| e.to_string())?;
        return Err(format!(
            "scimbox backup copies SQLite files; back up the PostgreSQL database {url} with \
             PostgreSQL's own tools (pg_dump, or pg_basebackup and WAL archiving)"
        ));
    }
    let pages = crate::store::backup::run(db, out).map_err(|e| e.to_string())?;
    eprintln!(
        "backed up {} ({pages} pages) to {}",
        db.display(),
        out.display()
    );
    Ok(())
}

pub fn admin(db: &Path, cmd: &crate::config::AdminCommand) -> CliResult {
    use crate::auth::password;
    use crate::auth::secret::Secret;
    use crate::config::AdminCommand as A;
    match cmd {
        A::SetPassword { name, stdin } => {
            let (secret, generated) = if *stdin {
                let mut line = String::new();
                std::io::stdin()
                    .read_line(&mut line)
                    .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
                let line = line.trim_end_matches(['\r', '\n']).to_string();
                password::check_strength(&line).map_err(|e| e.to_string())?;
                (Secret::new(line), false)
            } else {
                (password::generate().map_err(|e| e.to_string())?, true)
            };
            let shown = secret.clone();
            with_store(db, |store| async move {
                password::set(&store, name, secret, now()).await
            })?;
            if generated {
                println!("{}", shown.expose());
            }
            eprintln!("the password of admin account {name:?} is set; its sessions have ended");
            Ok(())
        }
    }
}

/// The organization `--org` names, or a new one of that name if none has it.
async fn target(
    store: &Store,
    id_or_name: &str,
) -> crate::error::Result<directory::transfer::Target> {
    match directory::orgs::find(store, id_or_name.to_string()).await {
        Ok(org) => Ok(directory::transfer::Target::Existing(org)),
        Err(crate::error::Error::NotFound(_)) => {
            Ok(directory::transfer::Target::New(id_or_name.to_string()))
        }
        Err(e) => Err(e),
    }
}

pub fn export(
    db: &Path,
    org: &str,
    format: crate::config::ExportFormat,
    out: Option<&Path>,
) -> CliResult {
    let store = open(db)?;
    let result = runtime()?.block_on(async {
        let org = directory::orgs::find(&store, org.to_string())
            .await
            .map_err(|e| match e {
                crate::error::Error::NotFound(_) => format!(
                    "no organization {org:?} to export; `scimbox org list` shows their ids and names"
                ),
                other => other.to_string(),
            })?;
        let snap = directory::transfer::snapshot(&store, org.pk)
            .await
            .map_err(|e| e.to_string())?;
        let text = match format {
            crate::config::ExportFormat::Json => {
                let doc = crate::export::to_json(&org, &snap, &now());
                let mut text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
                text.push('\n');
                text
            }
            crate::config::ExportFormat::Csv => crate::export::csv(&snap),
        };
        Ok::<_, String>((org, snap, text))
    });
    store.close();
    let (org, snap, text) = result?;
    use std::io::Write;
    match out {
        Some(path) => {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
                .map_err(|e| {
                    format!(
                        "cannot create {} ({e}); --out must be a new file",
                        path.display()
                    )
                })?;
            file.write_all(text.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|e| format!("cannot write the export: {e}"))?;
        }
    }
    let members: usize = snap.teams.iter().map(|t| t.members.len()).sum();
    eprintln!(
        "exported {}: {} users, {} Teams, {} Workspaces, {} memberships",
        org.name,
        snap.users.len(),
        snap.teams.len(),
        snap.workspaces.len(),
        members
    );
    Ok(())
}

pub fn import(db: &Path, org: &str, file: &Path, new_ids: bool) -> CliResult {
    let text = if file == Path::new("-") {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
            .map_err(|e| format!("cannot read the export from standard input: {e}"))?;
        s
    } else {
        std::fs::read_to_string(file).map_err(|e| {
            format!(
                "cannot read {} ({e}); give the file `scimbox export` wrote",
                file.display()
            )
        })?
    };
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} is not JSON ({e}); give the JSON file `scimbox export` wrote (not the CSV)",
            file.display()
        )
    })?;
    // Everything that can be checked without the database is checked before it is opened.
    let plan = crate::import::plan(&doc, new_ids)
        .map_err(|e| format!("{}: {e}; nothing was imported", file.display()))?;
    let store = open(db)?;
    let result = runtime()?.block_on(async {
        let target = target(&store, org).await.map_err(|e| e.to_string())?;
        directory::transfer::import(&store, &cli_actor("import"), target, plan, now())
            .await
            .map_err(|e| format!("{e}; nothing was imported"))
    });
    store.close();
    let (org, done) = result?;
    eprintln!(
        "imported into {}: {} users, {} Teams, {} Workspaces, {} memberships",
        org.name, done.users, done.teams, done.workspaces, done.memberships
    );
    Ok(())
}

pub fn demo(db: &Path, org: &str, users: u32) -> CliResult {
    let store = open(db)?;
    let result = runtime()?.block_on(async {
        let target = target(&store, org).await.map_err(|e| e.to_string())?;
        seed_demo(&store, target, users)
            .await
            .map_err(|e| format!("{e}; the demo seeds only an empty organization"))
    });
    store.close();
    let (org, done) = result?;
    eprintln!(
        "seeded {} ({}): {} users, {} Teams, {} Workspaces, {} memberships",
        org.name, org.id, done.users, done.teams, done.workspaces, done.memberships
    );
    println!("{}", org.id);
    Ok(())
}

/// `scimbox health`: GET /healthz over plain HTTP with the standard library; `Ok` only on 200.
pub fn health(url: Option<&str>, listen: SocketAddr, timeout: u64) -> CliResult {
    use std::io::{Read, Write};
    use std::net::ToSocketAddrs;
    let url = match url {
        Some(u) => u.to_string(),
        None => format!("http://{}/healthz", display_addr(listen)),
    };
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        format!(
            "--url {url:?}: health speaks plain http:// only (with --tls-cert, check the \
             --metrics-listen address, which serves /healthz over HTTP)"
        )
    })?;
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/healthz" } else { path };
    let wait = std::time::Duration::from_secs(timeout.max(1));
    let addr = host
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| format!("--url {url:?}: cannot resolve {host:?} (give host:port)"))?;
    let mut stream = std::net::TcpStream::connect_timeout(&addr, wait)
        .map_err(|e| format!("{url}: cannot connect ({e})"))?;
    let _ = stream.set_read_timeout(Some(wait));
    let _ = stream.set_write_timeout(Some(wait));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: scimbox-health\r\nConnection: close\r\n\r\n"
    )
    .map_err(|e| format!("{url}: cannot send the request ({e})"))?;
    let mut head = [0u8; 64];
    let n = stream
        .read(&mut head)
        .map_err(|e| format!("{url}: no answer ({e})"))?;
    let line = String::from_utf8_lossy(&head[..n]);
    let status = line.split(' ').nth(1).unwrap_or("");
    if status == "200" {
        Ok(())
    } else {
        Err(format!(
            "{url}: answered {:?}, not 200",
            line.lines().next().unwrap_or("")
        ))
    }
}
