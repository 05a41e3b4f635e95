//! Unit tests of the store on both engines: a fresh SQLite file always, and a fresh
//! PostgreSQL database when `SCIMBOX_TEST_POSTGRES` names a server (a superuser's URL, as
//! `scripts/postgres start` writes it; `scripts/test` sets it).

use super::target::{PgUrl, Target};
use super::{Store, StoreOptions};

/// A store on each engine available, each on a database of its own, with the name of the
/// engine for assertion messages. The SQLite file lives as long as the returned folder.
pub fn stores() -> (tempfile::TempDir, Vec<(&'static str, Store)>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = StoreOptions {
        readers: 2,
        pg_pool: 4,
        ..StoreOptions::default()
    };
    let mut out = vec![(
        "sqlite",
        Store::open(&dir.path().join("t.db"), &options).expect("open sqlite"),
    )];
    if let Some(url) = fresh_postgres() {
        out.push((
            "postgres",
            Store::open_target(&Target::Postgres(url), &options).expect("open postgres"),
        ));
    }
    (dir, out)
}

/// A new, empty PostgreSQL database on the test server, or `None` without one.
pub fn fresh_postgres() -> Option<PgUrl> {
    fresh_postgres_with("")
}

/// [`fresh_postgres`] created with `options` after its name (`TEMPLATE template0 LOCALE_PROVIDER
/// icu ...`, for a default collation that is not code-point order).
pub fn fresh_postgres_with(options: &str) -> Option<PgUrl> {
    let admin = std::env::var("SCIMBOX_TEST_POSTGRES").ok()?;
    let name = format!("scimbox_u_{}", uuid::Uuid::new_v4().simple());
    let admin_url = PgUrl::parse(&admin).expect("SCIMBOX_TEST_POSTGRES is a URL");
    let config = admin_url.config().clone();
    let create = format!("CREATE DATABASE {name} {options}");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let (client, conn) = config
                .connect(tokio_postgres::NoTls)
                .await
                .expect("connect");
            tokio::spawn(conn);
            client
                .batch_execute(&create)
                .await
                .expect("create database");
        });
    })
    .join()
    .expect("create thread");
    let (base, _) = admin.rsplit_once('/').expect("URL has a database");
    Some(PgUrl::parse(&format!("{base}/{name}")).expect("URL"))
}
