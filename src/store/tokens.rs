//! Bearer tokens at rest: only the argon2id hash of each secret is stored.

use super::sql::{Conn, Row, params};
use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct TokenRow {
    pub pk: i64,
    pub id: String,
    pub org_pk: i64,
    pub org_id: String,
    pub org_scim_enabled: bool,
    pub name: String,
    pub hash: String,
    pub created: String,
    pub expires: Option<String>,
    pub revoked: Option<String>,
    pub last_used: Option<String>,
    pub description: Option<String>,
    /// The address of the latest request made with the token.
    pub last_source: Option<String>,
    /// The CIDR blocks it may be used from, as given (empty: anywhere).
    pub allowed_cidrs: Vec<String>,
    /// After a rotation with a grace period: the old secret's hash and until when it counts.
    pub prev_hash: Option<String>,
    pub prev_until: Option<String>,
    pub rotated: Option<String>,
}

impl TokenRow {
    /// Usable at `now`: not revoked and not expired.
    pub fn is_live(&self, now: &str) -> bool {
        self.revoked.is_none() && self.expires.as_deref().is_none_or(|e| e > now)
    }

    /// What the admin page and `token list` show: `revoked`, `live` or `expired` at `now`.
    pub fn state(&self, now: &str) -> &'static str {
        if self.revoked.is_some() {
            "revoked"
        } else if self.is_live(now) {
            "live"
        } else {
            "expired"
        }
    }
}

const SELECT: &str = "SELECT t.pk, t.id, t.org_pk, o.id, o.scim_enabled, t.name, t.hash, t.created,
    t.expires, t.revoked, t.last_used, t.description, t.last_source, t.allowed_cidrs,
    t.prev_hash, t.prev_until, t.rotated FROM tokens t JOIN orgs o ON o.pk = t.org_pk";

fn from_row(r: &Row<'_>) -> Result<TokenRow> {
    Ok(TokenRow {
        pk: r.get(0)?,
        id: r.get(1)?,
        org_pk: r.get(2)?,
        org_id: r.get(3)?,
        org_scim_enabled: r.get(4)?,
        name: r.get(5)?,
        hash: r.get(6)?,
        created: r.get(7)?,
        expires: r.get(8)?,
        revoked: r.get(9)?,
        last_used: r.get(10)?,
        description: r.get(11)?,
        last_source: r.get(12)?,
        allowed_cidrs: r
            .get::<Option<String>>(13)?
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default(),
        prev_hash: r.get(14)?,
        prev_until: r.get(15)?,
        rotated: r.get(16)?,
    })
}

/// ` FOR UPDATE OF t` inside a PostgreSQL write: locks the token row a [`SELECT`] read (and
/// not the organization's row it joins), nothing otherwise.
fn lock_token(conn: &Conn<'_>) -> &'static str {
    if conn.for_update().is_empty() {
        ""
    } else {
        " FOR UPDATE OF t"
    }
}

/// Inside a PostgreSQL write, takes the organization's row lock that writes checking a name
/// among its live tokens or clients take first, so two servers cannot both find a name free
/// and both use it (a live name cannot be a unique index: expiry depends on the time).
/// `FOR NO KEY UPDATE`: rows referring to the organization are still inserted freely.
/// Nothing on SQLite, whose one writer already runs these writes one after the other.
pub(crate) fn lock_org_names(conn: &Conn<'_>, org_pk: i64) -> Result<()> {
    if conn.for_update().is_empty() {
        return Ok(());
    }
    conn.query_opt(
        "SELECT pk FROM orgs WHERE pk = ? FOR NO KEY UPDATE",
        params![org_pk],
        |r| r.get::<i64>(0),
    )?;
    Ok(())
}

pub struct NewToken<'a> {
    pub id: &'a str,
    pub org_pk: i64,
    pub name: &'a str,
    pub hash: &'a str,
    pub expires: Option<&'a str>,
    pub description: Option<&'a str>,
    /// JSON array text of CIDR blocks, or `None` for anywhere.
    pub allowed_cidrs: Option<&'a str>,
}

/// Stores a token's hash. A name already used by a live token of the organization is
/// `Uniqueness`, so `token revoke NAME` always means one token.
pub fn insert(conn: &Conn<'_>, t: &NewToken<'_>, now: &str) -> Result<()> {
    lock_org_names(conn, t.org_pk)?;
    let taken: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM tokens WHERE org_pk = ? AND name = ? AND revoked IS NULL
         AND (expires IS NULL OR expires > ?))",
        params![t.org_pk, t.name, now],
        |r| r.get(0),
    )?;
    if taken {
        return Err(Error::Uniqueness("token name".into()));
    }
    conn.execute(
        "INSERT INTO tokens (id, org_pk, name, hash, created, expires, description, allowed_cidrs)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        params![
            t.id,
            t.org_pk,
            t.name,
            t.hash,
            now,
            t.expires,
            t.description,
            t.allowed_cidrs
        ],
    )?;
    Ok(())
}

pub fn by_id(conn: &Conn<'_>, id: &str) -> Result<Option<TokenRow>> {
    conn.query_opt(&format!("{SELECT} WHERE t.id = ?"), params![id], from_row)
}

pub fn list(conn: &Conn<'_>, org_pk: i64) -> Result<Vec<TokenRow>> {
    conn.query_map(
        &format!("{SELECT} WHERE t.org_pk = ? ORDER BY t.pk"),
        params![org_pk],
        from_row,
    )
}

/// Revokes the organization's live token with this id or name; `false` if there was none.
/// One statement: on PostgreSQL the row is locked and `revoked IS NULL` checked again after
/// any concurrent revocation committed, so only one of two revocations counts.
pub fn revoke(conn: &Conn<'_>, org_pk: i64, id_or_name: &str, now: &str) -> Result<bool> {
    let n = conn.execute(
        "UPDATE tokens SET revoked = ? WHERE org_pk = ? AND revoked IS NULL
         AND (id = ? OR name = ?)",
        params![now, org_pk, id_or_name, id_or_name],
    )?;
    Ok(n > 0)
}

/// Records a use: when (to the minute) and from which address (one statement, which locks
/// the row it changes).
pub fn touch(conn: &Conn<'_>, pk: i64, now: &str, source: Option<&str>) -> Result<()> {
    conn.execute(
        "UPDATE tokens SET last_used = ?, last_source = COALESCE(?, last_source) WHERE pk = ?",
        params![now, source, pk],
    )?;
    Ok(())
}

/// The organization's live token with this id or name. Inside a PostgreSQL write its row is
/// locked until the transaction ends, so what the write decides from it still holds.
pub fn find_live(
    conn: &Conn<'_>,
    org_pk: i64,
    id_or_name: &str,
    now: &str,
) -> Result<Option<TokenRow>> {
    conn.query_opt(
        &format!(
            "{SELECT} WHERE t.org_pk = ?1 AND (t.id = ?2 OR t.name = ?2) AND t.revoked IS NULL
             AND (t.expires IS NULL OR t.expires > ?3){}",
            lock_token(conn)
        ),
        params![org_pk, id_or_name, now],
        from_row,
    )
}

/// Gives a token a new secret's hash. With `prev_until`, the old hash keeps counting until
/// then; without, it is gone. Either way the auth epoch moves (trigger), so a running server
/// forgets the old secret from its next request. Callers find the token with [`find_live`]
/// in the same write, which locks it on PostgreSQL.
pub fn rotate(
    conn: &Conn<'_>,
    pk: i64,
    hash: &str,
    prev_until: Option<&str>,
    now: &str,
) -> Result<()> {
    conn.execute(
        "UPDATE tokens SET prev_hash = CASE WHEN CAST(?2 AS TEXT) IS NULL THEN NULL ELSE hash END,
             prev_until = ?2, hash = ?1, rotated = ?3 WHERE pk = ?4",
        params![hash, prev_until, now, pk],
    )?;
    Ok(())
}

/// Live tokens of every organization that expire before `until`: (org id, token id, name,
/// expires).
pub fn expiring(
    conn: &Conn<'_>,
    now: &str,
    until: &str,
) -> Result<Vec<(String, String, String, String)>> {
    conn.query_map(
        "SELECT o.id, t.id, t.name, t.expires FROM tokens t JOIN orgs o ON o.pk = t.org_pk
         WHERE t.revoked IS NULL AND t.expires IS NOT NULL AND t.expires > ?1
           AND t.expires <= ?2 ORDER BY t.expires",
        params![now, until],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
}

/// The counter that triggers bump on every change that matters to authentication.
pub fn auth_epoch(conn: &Conn<'_>) -> Result<i64> {
    conn.query_row(
        "SELECT value FROM auth_epoch WHERE id = 1",
        params![],
        |r| r.get(0),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::testing;
    use crate::store::{Store, StoreOptions, target::Target};

    /// Two stores (two servers) on one fresh PostgreSQL database, when a test server is set.
    pub(crate) fn postgres_pair() -> Option<(Store, Store)> {
        let url = testing::fresh_postgres()?;
        let options = StoreOptions {
            readers: 2,
            pg_pool: 4,
            ..StoreOptions::default()
        };
        let target = Target::Postgres(url);
        let a = Store::open_target(&target, &options).expect("open postgres");
        let b = Store::open_target(&target, &options).expect("open postgres again");
        Some((a, b))
    }

    /// A new organization (SQL of its own: orgs.rs is not what is tested here).
    pub(crate) fn org(store: &Store, id: &str) -> i64 {
        let id = id.to_string();
        store
            .write_blocking(move |c| {
                c.query_row(
                    "INSERT INTO orgs (id, name, created) VALUES (?, ?, 'now') RETURNING pk",
                    params![id, id],
                    |r| r.get(0),
                )
            })
            .unwrap()
    }

    fn new_token(
        store: &Store,
        org_pk: i64,
        id: &str,
        name: &str,
        expires: Option<&str>,
        now: &str,
    ) -> Result<()> {
        let (id, name, expires, now) = (
            id.to_string(),
            name.to_string(),
            expires.map(str::to_string),
            now.to_string(),
        );
        store.write_blocking(move |c| {
            let t = NewToken {
                id: &id,
                org_pk,
                name: &name,
                hash: "h1",
                expires: expires.as_deref(),
                description: Some("for Okta"),
                allowed_cidrs: Some(r#"["10.0.0.0/8"]"#),
            };
            insert(c, &t, &now)
        })
    }

    #[test]
    fn tokens_are_stored_found_listed_and_revoked_on_every_engine() {
        let (_dir, stores) = testing::stores();
        for (engine, store) in stores {
            let org_pk = org(&store, "o1");
            let other = org(&store, "o2");
            new_token(
                &store,
                org_pk,
                "t1",
                "okta",
                Some("2026-06-01"),
                "2026-01-01",
            )
            .unwrap();
            // A live name is taken; another organization may use it.
            assert_eq!(
                new_token(&store, org_pk, "t2", "okta", None, "2026-01-02"),
                Err(Error::Uniqueness("token name".into())),
                "{engine}"
            );
            new_token(&store, other, "t3", "okta", None, "2026-01-02").unwrap();
            // Once the first has expired, its name is free again.
            new_token(&store, org_pk, "t4", "okta", None, "2026-07-01").unwrap();

            let row = store.read_blocking(|c| by_id(c, "t1")).unwrap().unwrap();
            assert_eq!(
                (row.org_id.as_str(), row.name.as_str(), row.hash.as_str()),
                ("o1", "okta", "h1"),
                "{engine}"
            );
            assert!(row.org_scim_enabled, "{engine}");
            assert_eq!(row.expires.as_deref(), Some("2026-06-01"), "{engine}");
            assert_eq!(row.description.as_deref(), Some("for Okta"), "{engine}");
            assert_eq!(
                row.allowed_cidrs,
                vec!["10.0.0.0/8".to_string()],
                "{engine}"
            );
            assert_eq!(
                (&row.revoked, &row.last_used, &row.prev_hash),
                (&None, &None, &None)
            );
            assert_eq!(row.state("2026-01-01"), "live");
            assert_eq!(row.state("2026-06-02"), "expired");
            assert_eq!(store.read_blocking(|c| by_id(c, "nope")).unwrap(), None);

            let ids: Vec<String> = store
                .read_blocking(move |c| list(c, org_pk))
                .unwrap()
                .into_iter()
                .map(|t| t.id)
                .collect();
            assert_eq!(ids, ["t1", "t4"], "{engine}");

            // find_live: by id or name, live only, this organization only.
            let live = |lookup: &'static str, now: &'static str, org: i64| {
                store
                    .read_blocking(move |c| find_live(c, org, lookup, now))
                    .unwrap()
                    .map(|t| t.id)
            };
            assert_eq!(live("okta", "2026-07-02", org_pk).as_deref(), Some("t4"));
            assert_eq!(live("t1", "2026-01-02", org_pk).as_deref(), Some("t1"));
            assert_eq!(live("t1", "2026-06-02", org_pk), None, "{engine}");
            assert_eq!(live("t3", "2026-01-02", org_pk), None, "{engine}");

            // expiring: live tokens of every organization in the window, soonest first.
            let soon = store
                .read_blocking(|c| expiring(c, "2026-01-01", "2026-12-31"))
                .unwrap();
            assert_eq!(
                soon,
                vec![(
                    "o1".to_string(),
                    "t1".to_string(),
                    "okta".to_string(),
                    "2026-06-01".to_string()
                )],
                "{engine}"
            );

            // touch keeps the last source when a use brings none.
            store
                .write_blocking(move |c| {
                    touch(c, row.pk, "2026-01-03T10:00", Some("10.1.2.3"))?;
                    touch(c, row.pk, "2026-01-03T10:01", None)
                })
                .unwrap();
            let row = store.read_blocking(|c| by_id(c, "t1")).unwrap().unwrap();
            assert_eq!(
                row.last_used.as_deref(),
                Some("2026-01-03T10:01"),
                "{engine}"
            );
            assert_eq!(row.last_source.as_deref(), Some("10.1.2.3"), "{engine}");

            // revoke: by id or name, once, and not another organization's.
            let revoke_as = |org: i64, what: &'static str| {
                store
                    .write_blocking(move |c| revoke(c, org, what, "2026-02-01"))
                    .unwrap()
            };
            assert!(!revoke_as(other, "t1"), "{engine}");
            assert!(revoke_as(org_pk, "t1"), "{engine}");
            assert!(!revoke_as(org_pk, "t1"), "{engine}");
            assert!(revoke_as(org_pk, "okta"), "{engine}");
            let row = store.read_blocking(|c| by_id(c, "t4")).unwrap().unwrap();
            assert_eq!(row.state("2026-02-02"), "revoked", "{engine}");
            assert_eq!(
                store.read_blocking(|c| expiring(c, "2026-01-01", "2026-12-31")),
                Ok(vec![]),
                "{engine}"
            );
            store.close();
        }
    }

    #[test]
    fn rotation_keeps_the_old_hash_only_for_a_grace_period_on_every_engine() {
        let (_dir, stores) = testing::stores();
        for (engine, store) in stores {
            let org_pk = org(&store, "o1");
            new_token(&store, org_pk, "t1", "okta", None, "t0").unwrap();
            let pk = store.read_blocking(|c| by_id(c, "t1")).unwrap().unwrap().pk;
            let e0 = store.read_blocking(auth_epoch).unwrap();
            store
                .write_blocking(move |c| {
                    let t = find_live(c, org_pk, "t1", "t1")?.expect("live");
                    rotate(c, t.pk, "h2", Some("t9"), "t1")
                })
                .unwrap();
            let row = store.read_blocking(|c| by_id(c, "t1")).unwrap().unwrap();
            assert_eq!(
                (row.hash.as_str(), row.prev_hash.as_deref()),
                ("h2", Some("h1")),
                "{engine}"
            );
            assert_eq!(row.prev_until.as_deref(), Some("t9"), "{engine}");
            assert_eq!(row.rotated.as_deref(), Some("t1"), "{engine}");
            let e1 = store.read_blocking(auth_epoch).unwrap();
            assert!(e1 > e0, "{engine}: a rotation moves the epoch");
            // Without a grace period the old hash is gone at once.
            store
                .write_blocking(move |c| rotate(c, pk, "h3", None, "t2"))
                .unwrap();
            let row = store.read_blocking(|c| by_id(c, "t1")).unwrap().unwrap();
            assert_eq!(
                (row.hash.as_str(), row.prev_hash, row.prev_until),
                ("h3", None, None),
                "{engine}"
            );
            assert!(store.read_blocking(auth_epoch).unwrap() > e1, "{engine}");
            store.close();
        }
    }

    /// Two servers on one PostgreSQL database: a token revoked through one is revoked, and
    /// the epoch moved, when the other looks.
    #[test]
    fn a_revocation_through_one_server_is_seen_by_another() {
        let Some((a, b)) = postgres_pair() else {
            return;
        };
        let org_pk = org(&a, "o1");
        new_token(&a, org_pk, "t1", "okta", None, "t0").unwrap();
        let seen = b.read_blocking(|c| by_id(c, "t1")).unwrap().unwrap();
        assert!(seen.is_live("t1"));
        let epoch = b.read_blocking(auth_epoch).unwrap();
        assert!(
            a.write_blocking(move |c| revoke(c, org_pk, "t1", "t2"))
                .unwrap()
        );
        let seen = b.read_blocking(|c| by_id(c, "t1")).unwrap().unwrap();
        assert_eq!(seen.revoked.as_deref(), Some("t2"));
        assert!(b.read_blocking(auth_epoch).unwrap() > epoch);
        // The second server cannot revoke it again.
        assert!(
            !b.write_blocking(move |c| revoke(c, org_pk, "t1", "t3"))
                .unwrap()
        );
        a.close();
        b.close();
    }

    /// Two servers creating a token of one name at the same moment: one gets it, the other
    /// is told the name is taken (the organization's name lock), never two live tokens.
    #[test]
    fn two_servers_never_both_take_a_live_name() {
        let Some((a, b)) = postgres_pair() else {
            return;
        };
        let org_pk = org(&a, "o1");
        for round in 0..8 {
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
            let name = format!("n{round}");
            let run = |store: &Store, id: String| {
                let (store, barrier, name) = (store.clone(), barrier.clone(), name.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    new_token(&store, org_pk, &id, &name, None, "t0")
                })
            };
            let one = run(&a, format!("a{round}"));
            let two = run(&b, format!("b{round}"));
            let mut results = [one.join().unwrap(), two.join().unwrap()];
            results.sort_by_key(|r| r.is_err());
            assert_eq!(results[0], Ok(()), "round {round}");
            assert_eq!(
                results[1],
                Err(Error::Uniqueness("token name".into())),
                "round {round}"
            );
        }
        let live = a.read_blocking(move |c| list(c, org_pk)).unwrap().len();
        assert_eq!(live, 8);
        a.close();
        b.close();
    }

    /// Two servers rotating one token at once: both rotations land, one after the other (the
    /// second keeps the first's new hash as its previous one), none is lost.
    #[test]
    fn concurrent_rotations_take_turns() {
        let Some((a, b)) = postgres_pair() else {
            return;
        };
        let org_pk = org(&a, "o1");
        new_token(&a, org_pk, "t1", "okta", None, "t0").unwrap();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let run = |store: &Store, hash: &'static str| {
            let (store, barrier) = (store.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                store.write_blocking(move |c| {
                    let t = find_live(c, org_pk, "t1", "t1")?.expect("live");
                    rotate(c, t.pk, hash, Some("t9"), "t1")?;
                    Ok(t.hash)
                })
            })
        };
        let one = run(&a, "ha");
        let two = run(&b, "hb");
        let mut seen = [one.join().unwrap().unwrap(), two.join().unwrap().unwrap()];
        seen.sort();
        let row = a.read_blocking(|c| by_id(c, "t1")).unwrap().unwrap();
        // Each rotation read the hash the other left (or the first one): a chain, no fork.
        let (first, second) = if row.hash == "hb" {
            ("ha", "hb")
        } else {
            ("hb", "ha")
        };
        assert_eq!(row.hash, second);
        assert_eq!(row.prev_hash.as_deref(), Some(first));
        let mut want = ["h1".to_string(), first.to_string()];
        want.sort();
        assert_eq!(seen, want);
        a.close();
        b.close();
    }
}
