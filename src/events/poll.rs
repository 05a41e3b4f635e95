//! Poll delivery (RFC 8936): the receiver POSTs a poll request to its endpoint with its
//! bearer token, acknowledging (`ack`) or rejecting (`setErrs`) SETs it got before, and gets
//! the SETs still open (up to `maxEvents`), at once with `returnImmediately` or after waiting
//! for one (a long poll). SETs not acknowledged come again with the same `jti`.

use super::set;
use crate::store::Store;
use crate::store::outbox::{self, Receiver};
use serde_json::{Map, Value, json};
use std::time::Duration;

/// The most SETs one answer carries (when `maxEvents` is absent or larger), so one request's
/// work stays bounded; `moreAvailable` says there are more.
pub const MAX_EVENTS: i64 = 1000;
/// The most acknowledgements one request may carry.
pub const MAX_ACKS: usize = 10_000;
/// How long a long poll waits for an event before answering with none.
pub const LONG_POLL: Duration = Duration::from_secs(20);

/// The answer: status, JSON body, and whether it is a 401 (which needs `WWW-Authenticate`).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

impl Answer {
    fn error(status: u16, err: &str, description: &str) -> Answer {
        // RFC 8936 §2.4 leaves the body of an error undefined; this one mirrors RFC 8935's.
        Answer {
            status,
            body: json!({"err": err, "description": description}).to_string(),
        }
    }
}

/// A parsed poll request (RFC 8936 §2.2).
#[derive(Debug, Default, PartialEq)]
pub struct PollRequest {
    pub max_events: Option<i64>,
    pub return_immediately: bool,
    pub ack: Vec<String>,
    /// (jti, err, description)
    pub set_errs: Vec<(String, String, String)>,
}

/// Reads a poll request body, or says what is wrong with it.
pub fn parse(body: &[u8]) -> Result<PollRequest, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|_| "the poll request must be a JSON object")?;
    let obj = v
        .as_object()
        .ok_or("the poll request must be a JSON object")?;
    let mut req = PollRequest::default();
    if let Some(m) = obj.get("maxEvents") {
        let n = m
            .as_i64()
            .filter(|n| *n >= 0)
            .ok_or("maxEvents must be a non-negative integer")?;
        req.max_events = Some(n);
    }
    if let Some(r) = obj.get("returnImmediately") {
        req.return_immediately = r
            .as_bool()
            .ok_or("returnImmediately must be true or false")?;
    }
    if let Some(a) = obj.get("ack") {
        let list = a.as_array().ok_or("ack must be an array of jti strings")?;
        for j in list {
            req.ack.push(
                j.as_str()
                    .ok_or("ack must be an array of jti strings")?
                    .into(),
            );
        }
    }
    if let Some(e) = obj.get("setErrs") {
        let map = e
            .as_object()
            .ok_or("setErrs must be an object of jti: {err, description}")?;
        for (jti, detail) in map {
            let err = detail
                .get("err")
                .and_then(Value::as_str)
                .ok_or("each setErrs entry needs an err string")?;
            let description = match detail.get("description") {
                None => "",
                Some(d) => d.as_str().ok_or("a setErrs description must be a string")?,
            };
            req.set_errs
                .push((jti.clone(), err.to_string(), description.to_string()));
        }
    }
    if req.ack.len() + req.set_errs.len() > MAX_ACKS {
        return Err(format!("at most {MAX_ACKS} acknowledgements per request"));
    }
    Ok(req)
}

/// Serves one poll of receiver `receiver_id` of organization `org_id`. `bearer` is the token
/// presented; `root` the server's URL root (the SETs' issuer is the organization's SCIM base).
pub async fn serve(
    store: &Store,
    org_id: String,
    receiver_id: String,
    bearer: Option<&str>,
    body: &[u8],
    root: &str,
) -> Answer {
    match run(store, org_id, receiver_id, bearer, body, root).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = %e, "events: poll failed");
            Answer::error(500, "internal_error", "internal error")
        }
    }
}

async fn run(
    store: &Store,
    org_id: String,
    receiver_id: String,
    bearer: Option<&str>,
    body: &[u8],
    root: &str,
) -> crate::error::Result<Answer> {
    let unauthorized = || {
        Answer::error(
            401,
            "authentication_failed",
            "present this receiver's poll token as a bearer token",
        )
    };
    // Unknown organization, unknown receiver, push receiver, wrong token: all the same 401,
    // so the endpoint tells nobody which receivers exist.
    let Some(org_pk) = super::org_pk(store, org_id.clone()).await? else {
        return Ok(unauthorized());
    };
    let digest = {
        let id = receiver_id.clone();
        store
            .read(move |c| outbox::token_digest(c, org_pk, &id))
            .await?
    };
    let given = bearer.map(|t| {
        use sha2::Digest;
        crate::auth::secret::hex(&sha2::Sha256::digest(t.trim().as_bytes()))
    });
    let ok = match (&digest, &given) {
        (Some(d), Some(g)) => {
            use subtle::ConstantTimeEq;
            bool::from(d.as_bytes().ct_eq(g.as_bytes()))
        }
        _ => false,
    };
    if !ok {
        return Ok(unauthorized());
    }
    let req = match parse(body) {
        Ok(r) => r,
        Err(why) => return Ok(Answer::error(400, "invalid_request", &why)),
    };
    let receiver = |store: &Store| {
        let id = receiver_id.clone();
        let store = store.clone();
        async move {
            store
                .read(move |c| outbox::get_receiver(c, org_pk, &id))
                .await?
                .ok_or_else(|| crate::error::Error::NotFound("the receiver is gone".into()))
        }
    };
    let r = receiver(store).await?;
    if !req.ack.is_empty() || !req.set_errs.is_empty() {
        acknowledge(store, &r, &req).await?;
    }
    let limit = req.max_events.unwrap_or(MAX_EVENTS).min(MAX_EVENTS);
    if limit == 0 {
        // An acknowledge-only request (RFC 8936 §2.2).
        return Ok(Answer {
            status: 200,
            body: json!({"sets": {}}).to_string(),
        });
    }
    let mut changes = store.outbox_changes();
    let deadline = tokio::time::Instant::now() + LONG_POLL;
    let (r, events) = loop {
        let r = receiver(store).await?;
        let events = {
            let r = r.clone();
            store
                .read(move |c| outbox::pending(c, &r, limit + 1))
                .await?
        };
        if !events.is_empty() || req.return_immediately || tokio::time::Instant::now() >= deadline {
            break (r, events);
        }
        // Wait for a commit that wrote events, or a second (writes from another process).
        tokio::select! {
            _ = changes.changed() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = tokio::time::sleep_until(deadline) => {}
        }
    };
    let more = events.len() as i64 > limit;
    let mut sets = Map::new();
    if !events.is_empty() {
        let key = super::key(store, org_pk).await?;
        let issuer = super::issuer(root, &org_id);
        let iat = crate::clock::now().unix_timestamp();
        for event in events.iter().take(limit as usize) {
            let token = key.sign(&set::claims(event, &r, &issuer, iat)?)?;
            sets.insert(set::jti(event, &r), token.into());
        }
    }
    let mut body = json!({"sets": sets});
    if more {
        body["moreAvailable"] = true.into();
    }
    Ok(Answer {
        status: 200,
        body: body.to_string(),
    })
}

/// Applies `ack` and `setErrs`: both take the SET off the queue (a rejected SET would be
/// rejected again); the last rejection is shown with the receiver.
async fn acknowledge(store: &Store, r: &Receiver, req: &PollRequest) -> crate::error::Result<()> {
    let txns: Vec<String> = req
        .ack
        .iter()
        .chain(req.set_errs.iter().map(|(j, _, _)| j))
        .filter_map(|jti| set::parse_jti(jti, r).map(str::to_string))
        .collect();
    let error = req
        .set_errs
        .last()
        .map(|(jti, err, d)| format!("setErrs {jti}: {err} {d}").trim().to_string());
    let (org_pk, id) = (r.org_pk, r.id.clone());
    let now = crate::clock::format(crate::clock::now());
    store
        .write(move |c| {
            let Some(r) = outbox::get_receiver(c, org_pk, &id)? else {
                return Ok(());
            };
            let mut seqs = Vec::with_capacity(txns.len());
            for txn in &txns {
                if let Some(seq) = outbox::seq_of(c, org_pk, txn)? {
                    seqs.push(seq);
                }
            }
            outbox::acknowledge(c, &r, &seqs, error.as_deref(), &now)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_8936_poll_requests_parse() {
        // RFC 8936 §2.4 Figure 5 (shape).
        let r = parse(
            br#"{"ack":["4d3559ec67504aaba65d40b0363faad8"],"maxEvents":10,
                         "returnImmediately":false}"#,
        )
        .unwrap();
        assert_eq!(r.max_events, Some(10));
        assert_eq!(r.ack.len(), 1);
        let r =
            parse(br#"{"setErrs":{"4d35":{"err":"invalid_request","description":"x"}}}"#).unwrap();
        assert_eq!(r.set_errs[0].1, "invalid_request");
        assert_eq!(parse(b"{}").unwrap(), PollRequest::default());
    }

    #[test]
    fn bad_poll_requests_say_what_is_wrong() {
        assert!(parse(b"").is_err());
        assert!(parse(b"[]").is_err());
        assert!(
            parse(br#"{"maxEvents":-1}"#)
                .unwrap_err()
                .contains("maxEvents")
        );
        assert!(parse(br#"{"maxEvents":"5"}"#).is_err());
        assert!(parse(br#"{"returnImmediately":"yes"}"#).is_err());
        assert!(parse(br#"{"ack":"x"}"#).is_err());
        assert!(parse(br#"{"ack":[1]}"#).is_err());
        assert!(parse(br#"{"setErrs":{"x":{}}}"#).is_err());
    }
}
