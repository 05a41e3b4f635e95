//! Push delivery (RFC 8935): one worker per receiver with a backlog, each POSTing its events
//! one at a time in outbox order (so in order per resource), moving the receiver's cursor only
//! after a 2xx. A crash between the receiver's answer and the cursor's move sends that event
//! again, with the same `jti`: at least once. Transient trouble (no connection, a timeout, a
//! 5xx, any answer that is not an RFC 8935 error) is retried with exponential backoff, kept in
//! the database so it survives restarts; an RFC 8935 error (§2.4) is permanent: the receiver
//! is marked failed with it, and waits for `scimbox events resume`.

use super::{Options, set};
use crate::store::Store;
use crate::store::outbox;
use std::collections::HashSet;
use std::time::Duration;
use tokio::task::JoinSet;

/// The error codes of RFC 8935 §2.4 (registry §7.1). Each says the SET or the transmitter is
/// unacceptable to the receiver, so sending it again cannot help.
pub const PERMANENT_ERRORS: [&str; 6] = [
    "invalid_request",
    "invalid_key",
    "invalid_issuer",
    "invalid_audience",
    "authentication_failed",
    "access_denied",
];

/// Events a worker reads from the outbox at a time.
const BATCH: i64 = 64;
/// How often the deliverer looks at the outbox without being woken (changes made by another
/// process, a receiver's backoff ending).
const TICK: Duration = Duration::from_secs(1);
/// How often delivered and expired events are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(60);

/// The deliverer: wakes when a commit wrote events (or every second), starts a worker for
/// each active push receiver with a backlog, and prunes the outbox now and then.
pub async fn run(store: Store, client: crate::outbound::Outbound, options: Options) {
    let mut changes = store.outbox_changes();
    let mut workers: JoinSet<i64> = JoinSet::new();
    let mut running: HashSet<i64> = HashSet::new();
    let mut last_prune: Option<tokio::time::Instant> = None;
    loop {
        while let Some(done) = workers.try_join_next() {
            if let Ok(pk) = done {
                running.remove(&pk);
            }
        }
        if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            prune(&store, &options).await;
            last_prune = Some(tokio::time::Instant::now());
        }
        match store.read(outbox::push_receivers).await {
            Ok(receivers) => {
                for r in receivers {
                    if r.backlog > 0 && running.insert(r.pk) {
                        let (store, client, options) =
                            (store.clone(), client.clone(), options.clone());
                        let pk = r.pk;
                        workers.spawn(async move {
                            work(&store, &client, &options, pk).await;
                            pk
                        });
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "events: cannot read the receivers"),
        }
        tokio::select! {
            _ = changes.changed() => {}
            _ = tokio::time::sleep(TICK) => {}
        }
    }
}

async fn prune(store: &Store, options: &Options) {
    let cutoff = options.retention.map(|r| {
        crate::clock::format(crate::clock::now() - time::Duration::seconds(r.as_secs() as i64))
    });
    // Bounded steps, each its own short write, so SCIM writes queue behind none of them.
    let mut expired_total = 0;
    loop {
        let cutoff = cutoff.clone();
        match store
            .write(move |c| outbox::prune(c, cutoff.as_deref()))
            .await
        {
            Ok((done, expired)) => {
                expired_total += expired;
                let step = outbox::PRUNE_STEP as usize;
                if done < step && expired < step {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "events: cannot prune the outbox");
                break;
            }
        }
        tokio::task::yield_now().await;
    }
    if expired_total > 0 {
        tracing::warn!(
            expired = expired_total,
            "events: dropped undelivered events past their retention"
        );
    }
}

/// What one POST came to.
#[derive(Debug, PartialEq)]
pub enum Outcome {
    Delivered,
    /// Try again later; the text says why.
    Retry(String),
    /// An RFC 8935 error: stop.
    Permanent(String),
}

/// Reads a receiver's answer (RFC 8935 §2.2-§2.4).
pub fn outcome(status: u16, body: &[u8]) -> Outcome {
    if (200..300).contains(&status) {
        return Outcome::Delivered;
    }
    let err: Option<(String, String)> = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            let err = v.get("err")?.as_str()?.to_string();
            let description = v
                .get("description")
                .and_then(|d| d.as_str())
                .unwrap_or("")
                .chars()
                .take(200)
                .collect();
            Some((err, description))
        });
    match err {
        Some((err, description)) if status == 400 && PERMANENT_ERRORS.contains(&err.as_str()) => {
            Outcome::Permanent(if description.is_empty() {
                err
            } else {
                format!("{err}: {description}")
            })
        }
        _ => Outcome::Retry(format!("HTTP {status}")),
    }
}

/// The wait after `attempts` failures in a row: 1 s, 2 s, 4 s... up to `max`.
pub fn backoff(attempts: i64, max: Duration) -> Duration {
    let exp = attempts.clamp(0, 20) as u32;
    Duration::from_secs(1u64 << exp).min(max)
}

/// Delivers one receiver's backlog; returns when it is empty, the receiver is gone or failed.
/// This process's name in push leases: random, made once.
fn server_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| crate::auth::secret::random_hex(8).unwrap_or_else(|_| "server".into()))
}

/// Takes or renews this server's lease on receiver `pk` for long enough to push one SET
/// (twice the push timeout, plus a margin). `false`: another server pushes it now.
async fn claim(store: &Store, options: &Options, pk: i64) -> bool {
    let now = crate::clock::now();
    let lease = time::Duration::try_from(options.timeout * 2 + Duration::from_secs(10))
        .unwrap_or(time::Duration::minutes(1));
    let (now, until) = (crate::clock::format(now), crate::clock::format(now + lease));
    match store
        .write(move |c| outbox::claim_push(c, pk, server_id(), &now, &until))
        .await
    {
        Ok(held) => held,
        Err(e) => {
            tracing::warn!(error = %e, "events: cannot claim a receiver");
            false
        }
    }
}

async fn work(store: &Store, client: &crate::outbound::Outbound, options: &Options, pk: i64) {
    let limits = crate::outbound::Limits {
        timeout: options.timeout,
        max_bytes: 64 * 1024,
        // Receiver URLs are checked when added: http only to a loopback address.
        allow_http: true,
    };
    loop {
        let r = match store.read(move |c| outbox::receiver_by_pk(c, pk)).await {
            Ok(Some(r)) if r.state == "active" => r,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "events: cannot read a receiver");
                return;
            }
        };
        if let Some(wait) = r
            .next_attempt
            .as_deref()
            .and_then(crate::clock::parse)
            .map(|t| t - crate::clock::now())
            .filter(|d| d.is_positive())
        {
            // Look again at least every few seconds: the receiver may be removed or resumed.
            let wait = Duration::from_millis(wait.whole_milliseconds().clamp(1, 5_000) as u64);
            tokio::time::sleep(wait).await;
            continue;
        }
        let batch = {
            let r = r.clone();
            match store.read(move |c| outbox::pending(c, &r, BATCH)).await {
                Ok(b) if b.is_empty() => return,
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "events: cannot read the outbox");
                    return;
                }
            }
        };
        let key = match super::key(store, r.org_pk).await {
            Ok(k) => k,
            Err(e) => {
                tracing::error!(error = %e, "events: no signing key");
                return;
            }
        };
        let issuer = super::issuer(&options.root, &r.org_id);
        for event in batch {
            // With several servers on one database, one at a time pushes a receiver, so each
            // SET goes out once (and again only after a failure, as with one server).
            if !claim(store, options, pk).await {
                return;
            }
            let iat = crate::clock::now().unix_timestamp();
            let token = match set::claims(&event, &r, &issuer, iat).and_then(|c| key.sign(&c)) {
                Ok(t) => t,
                Err(e) => {
                    tracing::error!(error = %e, seq = event.seq, "events: cannot build a SET");
                    return;
                }
            };
            let answer = client
                .post(
                    &r.url,
                    set::MEDIA_TYPE,
                    token.into_bytes(),
                    &[("accept", "application/json")],
                    &limits,
                )
                .await;
            let outcome = match answer {
                Ok(resp) => outcome(resp.status, &resp.body),
                Err(e) => Outcome::Retry(e.to_string()),
            };
            let now_t = crate::clock::now();
            let now = crate::clock::format(now_t);
            let (seq, attempts) = (event.seq, r.attempts);
            let result = match &outcome {
                Outcome::Delivered => {
                    store
                        .write(move |c| outbox::delivered(c, pk, seq, &now))
                        .await
                }
                Outcome::Retry(why) => {
                    let wait = backoff(attempts, options.max_backoff);
                    let next = crate::clock::format(
                        now_t + time::Duration::milliseconds(wait.as_millis() as i64),
                    );
                    let why = why.clone();
                    tracing::info!(receiver = %r.id, error = %why, retry_in_s = wait.as_secs(),
                                   "events: push failed; retrying");
                    store
                        .write(move |c| outbox::failed(c, pk, &why, Some(&next), false))
                        .await
                }
                Outcome::Permanent(why) => {
                    let why = why.clone();
                    tracing::warn!(receiver = %r.id, error = %why,
                                   "events: the receiver refused a SET; marked failed");
                    store
                        .write(move |c| outbox::failed(c, pk, &why, None, true))
                        .await
                }
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "events: cannot record a delivery");
                return;
            }
            if outcome != Outcome::Delivered {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_8935_errors_are_permanent_and_everything_else_is_retried() {
        assert_eq!(outcome(202, b""), Outcome::Delivered);
        assert_eq!(
            outcome(
                400,
                br#"{"err":"invalid_key","description":"Key ID 12345 has been revoked."}"#
            ),
            Outcome::Permanent("invalid_key: Key ID 12345 has been revoked.".into())
        );
        assert_eq!(
            outcome(400, br#"{"err":"access_denied"}"#),
            Outcome::Permanent("access_denied".into())
        );
        assert_eq!(outcome(503, b""), Outcome::Retry("HTTP 503".into()));
        assert_eq!(outcome(400, b"nope"), Outcome::Retry("HTTP 400".into()));
        assert_eq!(
            outcome(400, br#"{"err":"something_else"}"#),
            Outcome::Retry("HTTP 400".into())
        );
    }

    #[test]
    fn backoff_doubles_up_to_its_limit() {
        let max = Duration::from_secs(60);
        assert_eq!(backoff(0, max), Duration::from_secs(1));
        assert_eq!(backoff(3, max), Duration::from_secs(8));
        assert_eq!(backoff(40, max), max);
    }
}
