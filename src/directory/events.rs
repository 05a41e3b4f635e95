//! Event receivers (RFC 9967 events, pushed per RFC 8935 or polled per RFC 8936): adding,
//! listing, removing and resuming them, with the audit record. The events themselves are
//! written by the store with each change (see `store::outbox`).

use super::Actor;
use crate::auth::secret::{self, Secret};
use crate::error::{Error, Result};
use crate::store::Store;
use crate::store::outbox::{self, NewReceiver, Receiver};

/// How a receiver gets its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Push,
    Poll,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Push => "push",
            Mode::Poll => "poll",
        }
    }

    pub fn parse(s: &str) -> Result<Mode> {
        match s {
            "push" => Ok(Mode::Push),
            "poll" => Ok(Mode::Poll),
            other => Err(Error::InvalidValue(format!(
                "mode {other:?}: use push or poll"
            ))),
        }
    }
}

/// What a receiver is told: the resource (`full`, RFC 9967 `data`) or which attributes
/// changed (`notice`, `attributes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    Full,
    Notice,
}

impl Detail {
    pub fn as_str(self) -> &'static str {
        match self {
            Detail::Full => "full",
            Detail::Notice => "notice",
        }
    }

    pub fn parse(s: &str) -> Result<Detail> {
        match s {
            "full" => Ok(Detail::Full),
            "notice" => Ok(Detail::Notice),
            other => Err(Error::InvalidValue(format!(
                "detail {other:?}: use full or notice"
            ))),
        }
    }
}

/// A receiver URL scimbox will push to: https, or http to a loopback address (a receiver on
/// the same machine); no user info, no fragment.
pub fn check_url(url: &str) -> Result<()> {
    let bad = |why: &str| Err(Error::InvalidValue(format!("receiver URL {url:?}: {why}")));
    if url.len() > 2000 || url.bytes().any(|b| !b.is_ascii_graphic()) {
        return bad("use a plain URL of printable characters");
    }
    let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else {
        return bad("it must start with https://");
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        return bad("it has no host");
    }
    if authority.contains('@') {
        return bad("it must not carry a user name or password");
    }
    if url.contains('#') {
        return bad("it must not have a fragment");
    }
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if !authority.ends_with(']') => {
            if port.parse::<u16>().is_err() {
                return bad("its port is not a number");
            }
            h
        }
        _ => authority,
    };
    let loopback = matches!(host, "localhost" | "[::1]") || host.starts_with("127.");
    if !https && !loopback {
        return bad("it must be https (plain http only to a loopback address)");
    }
    Ok(())
}

/// Adds a receiver; it hears of changes made from now on. A poll receiver gets a bearer
/// token for its poll endpoint, returned here and never again (only its SHA-256 is kept).
pub async fn add(
    store: &Store,
    actor: &Actor,
    org_pk: i64,
    url: String,
    mode: Mode,
    detail: Detail,
    now: String,
) -> Result<(Receiver, Option<Secret>)> {
    let url = url.trim().to_string();
    check_url(&url)?;
    let token = match mode {
        Mode::Poll => Some(Secret::new(format!("sbe_{}", secret::random_hex(32)?))),
        Mode::Push => None,
    };
    let digest = token.as_ref().map(|t| {
        use sha2::Digest;
        secret::hex(&sha2::Sha256::digest(t.expose().as_bytes()))
    });
    let actor = actor.clone();
    let receiver = store
        .write(move |conn| {
            let id = uuid::Uuid::new_v4().to_string();
            let r = outbox::insert_receiver(
                conn,
                &NewReceiver {
                    id: &id,
                    org_pk,
                    url: &url,
                    mode: mode.as_str(),
                    detail: detail.as_str(),
                    token_digest: digest.as_deref(),
                },
                &now,
            )?;
            actor.record(
                conn,
                org_pk,
                ("create", "Receiver", &id),
                None,
                Some(&format!("{} {} {}", mode.as_str(), detail.as_str(), url)),
                &now,
            )?;
            Ok(r)
        })
        .await?;
    Ok((receiver, token))
}

pub async fn list(store: &Store, org_pk: i64) -> Result<Vec<Receiver>> {
    store
        .read(move |conn| outbox::list_receivers(conn, org_pk))
        .await
}

/// Removes a receiver; events only it was waiting for go with the next prune.
pub async fn remove(
    store: &Store,
    actor: &Actor,
    org_pk: i64,
    id: String,
    now: String,
) -> Result<()> {
    let actor = actor.clone();
    store
        .write(move |conn| {
            let r = outbox::get_receiver(conn, org_pk, &id)?
                .ok_or_else(|| Error::NotFound(format!("no receiver {id:?}")))?;
            outbox::delete_receiver(conn, org_pk, &id)?;
            actor.record(
                conn,
                org_pk,
                ("delete", "Receiver", &id),
                Some(&format!("{} {} {}", r.mode, r.detail, r.url)),
                None,
                &now,
            )
        })
        .await
}

/// Puts a failed receiver back to work from the event it failed on.
pub async fn resume(
    store: &Store,
    actor: &Actor,
    org_pk: i64,
    id: String,
    now: String,
) -> Result<()> {
    let actor = actor.clone();
    store
        .write(move |conn| {
            if !outbox::resume(conn, org_pk, &id)? {
                return Err(Error::NotFound(format!("no receiver {id:?}")));
            }
            actor.record(conn, org_pk, ("resume", "Receiver", &id), None, None, &now)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receiver_urls_are_https_or_loopback_http() {
        assert!(check_url("https://app.example.com/events").is_ok());
        assert!(check_url("http://127.0.0.1:9000/set").is_ok());
        assert!(check_url("http://localhost/set").is_ok());
        assert!(check_url("http://app.example.com/set").is_err());
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("https://u:p@x/").is_err());
        assert!(check_url("https://x:99999/").is_err());
        assert!(check_url("https:///path").is_err());
        assert!(check_url("https://x/a b").is_err());
    }
}
