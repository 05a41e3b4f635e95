//! OAuth clients at rest: the client, its argon2id-hashed secrets, and the ids of federated
//! assertions already used (kept until their `exp`, so a replay is refused).

use crate::error::{Error, Result};
use rusqlite::{Connection, OptionalExtension, Row, params};

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

fn from_row(r: &Row<'_>) -> rusqlite::Result<ClientRow> {
    let kind: String = r.get(6)?;
    let kind = if kind == "federated" {
        Kind::Federated(Federation {
            jwks_url: r.get::<_, Option<String>>(7)?.unwrap_or_default(),
            issuer: r.get::<_, Option<String>>(8)?.unwrap_or_default(),
            subject: r.get::<_, Option<String>>(9)?.unwrap_or_default(),
            audience: r.get::<_, Option<String>>(10)?.unwrap_or_default(),
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

fn secret_from_row(r: &Row<'_>) -> rusqlite::Result<SecretRow> {
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

/// Stores a client. A name already used by a live client of the organization is
/// `Uniqueness`, so `client revoke NAME` always means one client.
pub fn insert(
    conn: &Connection,
    id: &str,
    org_pk: i64,
    name: &str,
    kind: &Kind,
    now: &str,
) -> Result<i64> {
    let taken: bool = conn
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM clients WHERE org_pk = ? AND name = ?
             AND revoked IS NULL)",
        )?
        .query_row(params![org_pk, name], |r| r.get(0))?;
    if taken {
        return Err(Error::Uniqueness("client name".into()));
    }
    let (kind_text, fed) = match kind {
        Kind::Secret => ("secret", None),
        Kind::Federated(f) => ("federated", Some(f)),
    };
    conn.prepare_cached(
        "INSERT INTO clients (id, org_pk, name, kind, jwks_url, issuer, subject, audience, created)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )?
    .execute(params![
        id,
        org_pk,
        name,
        kind_text,
        fed.map(|f| &f.jwks_url),
        fed.map(|f| &f.issuer),
        fed.map(|f| &f.subject),
        fed.map(|f| &f.audience),
        now
    ])?;
    Ok(conn.last_insert_rowid())
}

pub fn insert_secret(
    conn: &Connection,
    id: &str,
    client_pk: i64,
    hash: &str,
    expires: &str,
    now: &str,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO client_secrets (id, client_pk, hash, created, expires) VALUES (?, ?, ?, ?, ?)",
    )?
    .execute(params![id, client_pk, hash, now, expires])?;
    Ok(())
}

pub fn by_id(conn: &Connection, id: &str) -> Result<Option<ClientRow>> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE c.id = ?"))?
        .query_row([id], from_row)
        .optional()?)
}

pub fn by_pk(conn: &Connection, pk: i64) -> Result<Option<ClientRow>> {
    Ok(conn
        .prepare_cached(&format!("{SELECT} WHERE c.pk = ?"))?
        .query_row([pk], from_row)
        .optional()?)
}

/// The organization's client with this id, or its live client with this name (a revoked
/// client is found by id only, since a name may be reused after a revocation).
pub fn find(conn: &Connection, org_pk: i64, id_or_name: &str) -> Result<Option<ClientRow>> {
    Ok(conn
        .prepare_cached(&format!(
            "{SELECT} WHERE c.org_pk = ? AND (c.id = ? OR (c.name = ? AND c.revoked IS NULL))
             ORDER BY c.id = ? DESC LIMIT 1"
        ))?
        .query_row(
            params![org_pk, id_or_name, id_or_name, id_or_name],
            from_row,
        )
        .optional()?)
}

/// Live federated clients configured for this issuer and subject (for an assertion sent
/// without `client_id`, RFC 7521 §4.2).
pub fn federated_by_subject(
    conn: &Connection,
    issuer: &str,
    subject: &str,
) -> Result<Vec<ClientRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} WHERE c.issuer = ? AND c.subject = ? AND c.kind = 'federated'
         AND c.revoked IS NULL LIMIT 2"
    ))?;
    let rows = stmt.query_map(params![issuer, subject], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn list(conn: &Connection, org_pk: i64) -> Result<Vec<ClientRow>> {
    let mut stmt = conn.prepare_cached(&format!("{SELECT} WHERE c.org_pk = ? ORDER BY c.pk"))?;
    let rows = stmt.query_map([org_pk], from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// A client's secrets, oldest first (expired ones included, until they are deleted).
pub fn secrets(conn: &Connection, client_pk: i64) -> Result<Vec<SecretRow>> {
    let mut stmt =
        conn.prepare_cached(&format!("{SELECT_SECRET} WHERE client_pk = ? ORDER BY pk"))?;
    let rows = stmt.query_map([client_pk], secret_from_row)?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub fn secret_by_id(conn: &Connection, id: &str) -> Result<Option<SecretRow>> {
    Ok(conn
        .prepare_cached(&format!("{SELECT_SECRET} WHERE id = ?"))?
        .query_row([id], secret_from_row)
        .optional()?)
}

/// Deletes one of the client's secrets; `false` if it has none with this id.
pub fn delete_secret(conn: &Connection, client_pk: i64, secret_id: &str) -> Result<bool> {
    let n = conn
        .prepare_cached("DELETE FROM client_secrets WHERE client_pk = ? AND id = ?")?
        .execute(params![client_pk, secret_id])?;
    Ok(n > 0)
}

/// Revokes a live client; `false` if it was revoked already.
pub fn revoke(conn: &Connection, pk: i64, now: &str) -> Result<bool> {
    let n = conn
        .prepare_cached("UPDATE clients SET revoked = ? WHERE pk = ? AND revoked IS NULL")?
        .execute(params![now, pk])?;
    Ok(n > 0)
}

pub fn touch(conn: &Connection, pk: i64, now: &str) -> Result<()> {
    conn.prepare_cached("UPDATE clients SET last_used = ? WHERE pk = ?")?
        .execute(params![now, pk])?;
    Ok(())
}

/// Records a federated assertion's id until `expires`. `false` when the same id is already
/// recorded and not yet expired: a replay.
pub fn use_jti(
    conn: &Connection,
    client_pk: i64,
    jti: &str,
    expires: &str,
    now: &str,
) -> Result<bool> {
    conn.prepare_cached(
        "DELETE FROM assertion_jtis WHERE client_pk = ? AND jti = ? AND expires <= ?",
    )?
    .execute(params![client_pk, jti, now])?;
    let n = conn
        .prepare_cached(
            "INSERT OR IGNORE INTO assertion_jtis (client_pk, jti, expires) VALUES (?, ?, ?)",
        )?
        .execute(params![client_pk, jti, expires])?;
    Ok(n > 0)
}

/// Forgets assertion ids whose assertions have expired; returns how many.
pub fn prune_jtis(conn: &Connection, now: &str) -> Result<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM assertion_jtis WHERE expires <= ?")?
        .execute([now])?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (Connection, i64) {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrate::migrate(&conn).unwrap();
        conn.execute(
            "INSERT INTO orgs (id, name, created) VALUES ('o1', 'one', 'now')",
            [],
        )
        .unwrap();
        (conn, 1)
    }

    #[test]
    fn a_live_name_is_unique_and_a_revoked_one_is_free_again() {
        let (conn, org) = db();
        let pk = insert(&conn, "c1", org, "entra", &Kind::Secret, "t0").unwrap();
        assert_eq!(
            insert(&conn, "c2", org, "entra", &Kind::Secret, "t0"),
            Err(Error::Uniqueness("client name".into()))
        );
        assert!(revoke(&conn, pk, "t1").unwrap());
        assert!(!revoke(&conn, pk, "t2").unwrap());
        insert(&conn, "c2", org, "entra", &Kind::Secret, "t3").unwrap();
        assert_eq!(find(&conn, org, "entra").unwrap().unwrap().id, "c2");
        assert_eq!(
            find(&conn, org, "c1").unwrap().unwrap().revoked,
            Some("t1".into())
        );
        assert_eq!(find(&conn, 99, "c1").unwrap(), None);
    }

    #[test]
    fn a_jti_is_refused_until_it_expires() {
        let (conn, org) = db();
        let fed = Kind::Federated(Federation {
            jwks_url: "https://x/keys".into(),
            issuer: "iss".into(),
            subject: "sub".into(),
            audience: "aud".into(),
        });
        let pk = insert(&conn, "c1", org, "wif", &fed, "t0").unwrap();
        assert_eq!(by_pk(&conn, pk).unwrap().unwrap().kind, fed);
        assert!(use_jti(&conn, pk, "j1", "t5", "t1").unwrap());
        assert!(!use_jti(&conn, pk, "j1", "t5", "t2").unwrap());
        // Once the first assertion has expired, its id may come again.
        assert!(use_jti(&conn, pk, "j1", "t9", "t6").unwrap());
        assert_eq!(prune_jtis(&conn, "t9").unwrap(), 1);
        assert_eq!(federated_by_subject(&conn, "iss", "sub").unwrap().len(), 1);
    }

    #[test]
    fn clients_and_secrets_move_the_auth_epoch() {
        let (conn, org) = db();
        let epoch = |c: &Connection| {
            crate::store::tokens::auth_epoch(&crate::store::Conn::sqlite(c)).unwrap()
        };
        let e0 = epoch(&conn);
        let pk = insert(&conn, "c1", org, "entra", &Kind::Secret, "t0").unwrap();
        insert_secret(&conn, "s1", pk, "h", "t9", "t0").unwrap();
        let e1 = epoch(&conn);
        assert!(e1 > e0);
        assert!(delete_secret(&conn, pk, "s1").unwrap());
        let e2 = epoch(&conn);
        assert!(e2 > e1);
        revoke(&conn, pk, "t1").unwrap();
        assert!(epoch(&conn) > e2);
    }
}
