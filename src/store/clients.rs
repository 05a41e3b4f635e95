//! OAuth clients at rest: the client, its argon2id-hashed secrets, and the ids of federated
//! assertions already used (kept until their `exp`, so a replay is refused).

use super::sql::{Conn, Row, params};
use crate::error::{Error, Result};

/// How a client authenticates at the token endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A client id and one of its secrets (RFC 6749 §2.3.1).
    Secret,
    /// A JWT signed by the identity provider (RFC 7523 §2.2), checked against these values.
    Federated(Federation),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Federation {
    pub jwks_url: String,
    pub issuer: String,
    pub subject: String,
    pub audience: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ClientRow {
    pub pk: i64,
    pub id: String,
    pub org_pk: i64,
    pub org_id: String,
    pub org_scim_enabled: bool,
    pub name: String,
    pub kind: Kind,
    pub created: String,
    pub revoked: Option<String>,
    pub last_used: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SecretRow {
    pub pk: i64,
    pub id: String,
    pub client_pk: i64,
    pub hash: String,
    pub created: String,
    pub expires: String,
}

const SELECT: &str = "SELECT c.pk, c.id, c.org_pk, o.id, o.scim_enabled, c.name, c.kind,
    c.jwks_url, c.issuer, c.subject, c.audience, c.created, c.revoked, c.last_used
    FROM clients c JOIN orgs o ON o.pk = c.org_pk";

fn from_row(r: &Row<'_>) -> Result<ClientRow> {
    let kind: String = r.get(6)?;
    let kind = if kind == "federated" {
        Kind::Federated(Federation {
            jwks_url: r.get::<Option<String>>(7)?.unwrap_or_default(),
            issuer: r.get::<Option<String>>(8)?.unwrap_or_default(),
            subject: r.get::<Option<String>>(9)?.unwrap_or_default(),
            audience: r.get::<Option<String>>(10)?.unwrap_or_default(),
        })
    } else {
        Kind::Secret
    };
    Ok(ClientRow {
        pk: r.get(0)?,
        id: r.get(1)?,
        org_pk: r.get(2)?,
        org_id: r.get(3)?,
        org_scim_enabled: r.get(4)?,
        name: r.get(5)?,
        kind,
        created: r.get(11)?,
        revoked: r.get(12)?,
        last_used: r.get(13)?,
    })
}

fn secret_from_row(r: &Row<'_>) -> Result<SecretRow> {
    Ok(SecretRow {
        pk: r.get(0)?,
        id: r.get(1)?,
        client_pk: r.get(2)?,
        hash: r.get(3)?,
        created: r.get(4)?,
        expires: r.get(5)?,
    })
}

const SELECT_SECRET: &str = "SELECT pk, id, client_pk, hash, created, expires FROM client_secrets";

/// ` FOR UPDATE OF c` inside a PostgreSQL write: locks the client row a [`SELECT`] read (not
/// the organization's row it joins), nothing otherwise.
fn lock_client(conn: &Conn<'_>) -> &'static str {
    if conn.for_update().is_empty() {
        ""
    } else {
        " FOR UPDATE OF c"
    }
}

/// Stores a client. A name already used by a live client of the organization is
/// `Uniqueness`, so `client revoke NAME` always means one client.
pub fn insert(
    conn: &Conn<'_>,
    id: &str,
    org_pk: i64,
    name: &str,
    kind: &Kind,
    now: &str,
) -> Result<i64> {
    super::tokens::lock_org_names(conn, org_pk)?;
    let taken: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM clients WHERE org_pk = ? AND name = ?
         AND revoked IS NULL)",
        params![org_pk, name],
        |r| r.get(0),
    )?;
    if taken {
        return Err(Error::Uniqueness("client name".into()));
    }
    let (kind_text, fed) = match kind {
        Kind::Secret => ("secret", None),
        Kind::Federated(f) => ("federated", Some(f)),
    };
    conn.query_row(
        "INSERT INTO clients (id, org_pk, name, kind, jwks_url, issuer, subject, audience, created)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING pk",
        params![
            id,
            org_pk,
            name,
            kind_text,
            fed.map(|f| &f.jwks_url),
            fed.map(|f| &f.issuer),
            fed.map(|f| &f.subject),
            fed.map(|f| &f.audience),
            now
        ],
        |r| r.get(0),
    )
}

pub fn insert_secret(
    conn: &Conn<'_>,
    id: &str,
    client_pk: i64,
    hash: &str,
    expires: &str,
    now: &str,
) -> Result<()> {
    conn.execute(
        "INSERT INTO client_secrets (id, client_pk, hash, created, expires) VALUES (?, ?, ?, ?, ?)",
        params![id, client_pk, hash, now, expires],
    )?;
    Ok(())
}

pub fn by_id(conn: &Conn<'_>, id: &str) -> Result<Option<ClientRow>> {
    conn.query_opt(&format!("{SELECT} WHERE c.id = ?"), params![id], from_row)
}

/// The client with this pk. Inside a PostgreSQL write its row is locked until the
/// transaction ends (what a write adds to a client, such as a secret, is decided on it).
pub fn by_pk(conn: &Conn<'_>, pk: i64) -> Result<Option<ClientRow>> {
    conn.query_opt(
        &format!("{SELECT} WHERE c.pk = ?{}", lock_client(conn)),
        params![pk],
        from_row,
    )
}

/// The organization's client with this id, or its live client with this name (a revoked
/// client is found by id only, since a name may be reused after a revocation). Inside a
/// PostgreSQL write its row is locked, so two revocations do not both see it live.
pub fn find(conn: &Conn<'_>, org_pk: i64, id_or_name: &str) -> Result<Option<ClientRow>> {
    conn.query_opt(
        &format!(
            "{SELECT} WHERE c.org_pk = ? AND (c.id = ? OR (c.name = ? AND c.revoked IS NULL))
             ORDER BY c.id = ? DESC LIMIT 1{}",
            lock_client(conn)
        ),
        params![org_pk, id_or_name, id_or_name, id_or_name],
        from_row,
    )
}

/// Live federated clients configured for this issuer and subject (for an assertion sent
/// without `client_id`, RFC 7521 §4.2).
pub fn federated_by_subject(
    conn: &Conn<'_>,
    issuer: &str,
    subject: &str,
) -> Result<Vec<ClientRow>> {
    conn.query_map(
        &format!(
            "{SELECT} WHERE c.issuer = ? AND c.subject = ? AND c.kind = 'federated'
             AND c.revoked IS NULL LIMIT 2"
        ),
        params![issuer, subject],
        from_row,
    )
}

pub fn list(conn: &Conn<'_>, org_pk: i64) -> Result<Vec<ClientRow>> {
    conn.query_map(
        &format!("{SELECT} WHERE c.org_pk = ? ORDER BY c.pk"),
        params![org_pk],
        from_row,
    )
}

/// A client's secrets, oldest first (expired ones included, until they are deleted).
pub fn secrets(conn: &Conn<'_>, client_pk: i64) -> Result<Vec<SecretRow>> {
    conn.query_map(
        &format!("{SELECT_SECRET} WHERE client_pk = ? ORDER BY pk"),
        params![client_pk],
        secret_from_row,
    )
}

pub fn secret_by_id(conn: &Conn<'_>, id: &str) -> Result<Option<SecretRow>> {
    conn.query_opt(
        &format!("{SELECT_SECRET} WHERE id = ?"),
        params![id],
        secret_from_row,
    )
}

/// Deletes one of the client's secrets; `false` if it has none with this id.
pub fn delete_secret(conn: &Conn<'_>, client_pk: i64, secret_id: &str) -> Result<bool> {
    let n = conn.execute(
        "DELETE FROM client_secrets WHERE client_pk = ? AND id = ?",
        params![client_pk, secret_id],
    )?;
    Ok(n > 0)
}

/// Revokes a live client; `false` if it was revoked already (one statement: of two
/// concurrent revocations on PostgreSQL only one changes the row).
pub fn revoke(conn: &Conn<'_>, pk: i64, now: &str) -> Result<bool> {
    let n = conn.execute(
        "UPDATE clients SET revoked = ? WHERE pk = ? AND revoked IS NULL",
        params![now, pk],
    )?;
    Ok(n > 0)
}

pub fn touch(conn: &Conn<'_>, pk: i64, now: &str) -> Result<()> {
    conn.execute(
        "UPDATE clients SET last_used = ? WHERE pk = ?",
        params![now, pk],
    )?;
    Ok(())
}

/// Records a federated assertion's id until `expires`. `false` when the same id is already
/// recorded and not yet expired: a replay. The primary key decides: of two servers inserting
/// one id at the same moment, PostgreSQL makes the second wait for the first to commit and
/// then inserts nothing, so exactly one sees a changed row.
pub fn use_jti(
    conn: &Conn<'_>,
    client_pk: i64,
    jti: &str,
    expires: &str,
    now: &str,
) -> Result<bool> {
    conn.execute(
        "DELETE FROM assertion_jtis WHERE client_pk = ? AND jti = ? AND expires <= ?",
        params![client_pk, jti, now],
    )?;
    let n = conn.execute(
        "INSERT INTO assertion_jtis (client_pk, jti, expires) VALUES (?, ?, ?)
         ON CONFLICT DO NOTHING",
        params![client_pk, jti, expires],
    )?;
    Ok(n > 0)
}

/// Forgets assertion ids whose assertions have expired; returns how many.
pub fn prune_jtis(conn: &Conn<'_>, now: &str) -> Result<usize> {
    conn.execute(
        "DELETE FROM assertion_jtis WHERE expires <= ?",
        params![now],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::testing;
    use crate::store::tokens::auth_epoch;
    use crate::store::tokens::tests::{org, postgres_pair};

    fn fed() -> Kind {
        Kind::Federated(Federation {
            jwks_url: "https://x/keys".into(),
            issuer: "iss".into(),
            subject: "sub".into(),
            audience: "aud".into(),
        })
    }

    fn new_client(store: &Store, id: &str, org_pk: i64, name: &str, kind: Kind) -> Result<i64> {
        let (id, name) = (id.to_string(), name.to_string());
        store.write_blocking(move |c| insert(c, &id, org_pk, &name, &kind, "t0"))
    }

    #[test]
    fn a_live_name_is_unique_and_a_revoked_one_is_free_again() {
        let (_dir, stores) = testing::stores();
        for (engine, store) in stores {
            let org = org(&store, "o1");
            let pk = new_client(&store, "c1", org, "entra", Kind::Secret).unwrap();
            assert_eq!(
                new_client(&store, "c2", org, "entra", Kind::Secret),
                Err(Error::Uniqueness("client name".into())),
                "{engine}"
            );
            let revoke_at =
                |at: &'static str| store.write_blocking(move |c| revoke(c, pk, at)).unwrap();
            assert!(revoke_at("t1"), "{engine}");
            assert!(!revoke_at("t2"), "{engine}");
            new_client(&store, "c2", org, "entra", Kind::Secret).unwrap();
            let find_as = |org_pk: i64, what: &'static str| {
                store.read_blocking(move |c| find(c, org_pk, what)).unwrap()
            };
            assert_eq!(find_as(org, "entra").unwrap().id, "c2", "{engine}");
            let old = find_as(org, "c1").unwrap();
            assert_eq!(old.revoked, Some("t1".into()), "{engine}");
            assert_eq!(
                (old.org_id.as_str(), old.kind.clone(), old.org_scim_enabled),
                ("o1", Kind::Secret, true),
                "{engine}"
            );
            assert_eq!(find_as(99, "c1"), None, "{engine}");
            let ids: Vec<String> = store
                .read_blocking(move |c| list(c, org))
                .unwrap()
                .into_iter()
                .map(|c| c.id)
                .collect();
            assert_eq!(ids, ["c1", "c2"], "{engine}");
            assert_eq!(
                store
                    .read_blocking(|c| by_id(c, "c2"))
                    .unwrap()
                    .map(|c| c.name),
                Some("entra".into()),
                "{engine}"
            );
            assert_eq!(
                store.read_blocking(|c| by_id(c, "c9")),
                Ok(None),
                "{engine}"
            );
            store.close();
        }
    }

    #[test]
    fn secrets_are_added_found_and_deleted() {
        let (_dir, stores) = testing::stores();
        for (engine, store) in stores {
            let org = org(&store, "o1");
            let pk = new_client(&store, "c1", org, "entra", Kind::Secret).unwrap();
            store
                .write_blocking(move |c| {
                    insert_secret(c, "s1", pk, "h1", "t5", "t0")?;
                    insert_secret(c, "s2", pk, "h2", "t6", "t1")?;
                    touch(c, pk, "t2")
                })
                .unwrap();
            let all = store.read_blocking(move |c| secrets(c, pk)).unwrap();
            assert_eq!(
                all.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
                ["s1", "s2"],
                "{engine}"
            );
            let s = store
                .read_blocking(|c| secret_by_id(c, "s2"))
                .unwrap()
                .unwrap();
            assert_eq!(
                (
                    s.client_pk,
                    s.hash.as_str(),
                    s.created.as_str(),
                    s.expires.as_str()
                ),
                (pk, "h2", "t1", "t6"),
                "{engine}"
            );
            assert_eq!(store.read_blocking(|c| secret_by_id(c, "s9")), Ok(None));
            // A duplicate secret id is a uniqueness failure, never a second row.
            assert!(matches!(
                store.write_blocking(move |c| insert_secret(c, "s1", pk, "h", "t9", "t3")),
                Err(Error::Uniqueness(_))
            ));
            let delete = |sid: &'static str| {
                store
                    .write_blocking(move |c| delete_secret(c, pk, sid))
                    .unwrap()
            };
            assert!(delete("s1"), "{engine}");
            assert!(!delete("s1"), "{engine}");
            let row = store.read_blocking(move |c| by_pk(c, pk)).unwrap().unwrap();
            assert_eq!(row.last_used.as_deref(), Some("t2"), "{engine}");
            assert_eq!(store.read_blocking(|c| by_pk(c, 999)), Ok(None));
            store.close();
        }
    }

    #[test]
    fn a_jti_is_refused_until_it_expires() {
        let (_dir, stores) = testing::stores();
        for (engine, store) in stores {
            let org = org(&store, "o1");
            let pk = new_client(&store, "c1", org, "wif", fed()).unwrap();
            assert_eq!(
                store
                    .read_blocking(move |c| by_pk(c, pk))
                    .unwrap()
                    .unwrap()
                    .kind,
                fed(),
                "{engine}"
            );
            let jti = |j: &'static str, exp: &'static str, now: &'static str| {
                store
                    .write_blocking(move |c| use_jti(c, pk, j, exp, now))
                    .unwrap()
            };
            assert!(jti("j1", "t5", "t1"), "{engine}");
            assert!(!jti("j1", "t5", "t2"), "{engine}");
            assert!(jti("j2", "t5", "t2"), "{engine}");
            // Once the first assertion has expired, its id may come again.
            assert!(jti("j1", "t9", "t6"), "{engine}");
            assert_eq!(store.write_blocking(|c| prune_jtis(c, "t9")), Ok(2));
            assert_eq!(store.write_blocking(|c| prune_jtis(c, "t9")), Ok(0));
            let found = store
                .read_blocking(|c| federated_by_subject(c, "iss", "sub"))
                .unwrap();
            assert_eq!(found.len(), 1, "{engine}");
            assert_eq!(
                store.read_blocking(|c| federated_by_subject(c, "iss", "other")),
                Ok(vec![]),
                "{engine}"
            );
            store.write_blocking(move |c| revoke(c, pk, "t7")).unwrap();
            assert_eq!(
                store.read_blocking(|c| federated_by_subject(c, "iss", "sub")),
                Ok(vec![]),
                "{engine}: a revoked client is not found by subject"
            );
            store.close();
        }
    }

    #[test]
    fn clients_and_secrets_move_the_auth_epoch() {
        let (_dir, stores) = testing::stores();
        for (engine, store) in stores {
            let org = org(&store, "o1");
            let epoch = || store.read_blocking(auth_epoch).unwrap();
            let e0 = epoch();
            let pk = new_client(&store, "c1", org, "entra", Kind::Secret).unwrap();
            store
                .write_blocking(move |c| insert_secret(c, "s1", pk, "h", "t9", "t0"))
                .unwrap();
            let e1 = epoch();
            assert!(e1 > e0, "{engine}");
            store
                .write_blocking(move |c| delete_secret(c, pk, "s1"))
                .unwrap();
            let e2 = epoch();
            assert!(e2 > e1, "{engine}");
            store.write_blocking(move |c| revoke(c, pk, "t1")).unwrap();
            assert!(epoch() > e2, "{engine}");
            store.close();
        }
    }

    /// Two servers on one PostgreSQL database receiving the same assertion at the same
    /// moment: exactly one accepts it, whoever commits first.
    #[test]
    fn a_jti_sent_to_two_servers_at_once_is_accepted_once() {
        let Some((a, b)) = postgres_pair() else {
            return;
        };
        let org = org(&a, "o1");
        let pk = new_client(&a, "c1", org, "wif", fed()).unwrap();
        // An expired record of some ids first: the delete-then-insert races too.
        a.write_blocking(move |c| {
            for i in 0..10 {
                use_jti(c, pk, &format!("j{i}"), "t1", "t0")?;
            }
            Ok(())
        })
        .unwrap();
        for round in 0..20 {
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
            let run = |store: &Store| {
                let (store, barrier) = (store.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    store.write_blocking(move |c| use_jti(c, pk, &format!("j{round}"), "t9", "t5"))
                })
            };
            let one = run(&a);
            let two = run(&b);
            let fresh = [one.join().unwrap().unwrap(), two.join().unwrap().unwrap()];
            assert_eq!(
                fresh.iter().filter(|f| **f).count(),
                1,
                "round {round}: {fresh:?}"
            );
        }
        a.close();
        b.close();
    }

    /// Two servers revoking one client at once: one revocation counts, the other finds the
    /// client no longer live (its row is locked by `find`).
    #[test]
    fn two_servers_revoke_a_client_once() {
        let Some((a, b)) = postgres_pair() else {
            return;
        };
        let org = org(&a, "o1");
        for round in 0..6 {
            let id = format!("c{round}");
            new_client(&a, &id, org, &id, Kind::Secret).unwrap();
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
            let run = |store: &Store| {
                let (store, barrier, id) = (store.clone(), barrier.clone(), id.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    store.write_blocking(move |c| {
                        let Some(client) = find(c, org, &id)?.filter(|c| c.revoked.is_none())
                        else {
                            return Ok(false);
                        };
                        // As directory::clients::revoke: what `find` saw decides.
                        revoke(c, client.pk, "t1")?;
                        Ok(true)
                    })
                })
            };
            let one = run(&a);
            let two = run(&b);
            let done = [one.join().unwrap().unwrap(), two.join().unwrap().unwrap()];
            assert_eq!(done.iter().filter(|d| **d).count(), 1, "round {round}");
        }
        a.close();
        b.close();
    }
}
