//! Regression tests for holes found by probing from outside (issue 19): concurrent guesses
//! past the throttle, clients that never read, requests without `Host`.

use crate::common::Server;
use scimbox::app::Limits;
use std::sync::Arc;

#[tokio::test]
async fn a_burst_of_wrong_tokens_from_one_address_gets_at_most_the_free_checks() {
    let s = Arc::new(
        Server::start_with(Limits {
            auth_free_failures: 5,
            ..Limits::default()
        })
        .await,
    );
    let mut tasks = Vec::new();
    for i in 0..40 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            // Well-formed guesses at the real token's id, so each one costs a hash check.
            let id = &s.token["sbx_".len().."sbx_".len() + 16];
            let guess = format!("Bearer sbx_{id}_{:064x}", i);
            let url = format!("{}/Users", s.base());
            s.raw("GET", &url, &[("authorization", &guess)], None).await
        }));
    }
    let mut checked = 0;
    for t in tasks {
        let r = t.await.unwrap();
        match r.status {
            401 => checked += 1,
            429 => {
                let v = r.assert_error(429, None);
                assert!(r.header("retry-after").is_some());
                assert!(
                    v["detail"]
                        .as_str()
                        .unwrap()
                        .contains("failed token checks"),
                    "{v}"
                );
            }
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert!(checked <= 5, "{checked} guesses were checked");
}

#[tokio::test]
async fn many_connections_with_the_right_token_wait_for_each_other_instead_of_a_429() {
    // An IdP after a restart: many requests at once, before its token is cached.
    let s = Arc::new(
        Server::start_with(Limits {
            auth_free_failures: 2,
            ..Limits::default()
        })
        .await,
    );
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move { s.get("/Users").await.status }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn clients_that_never_read_lose_their_slots_and_healthz_still_answers() {
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = Server::start_with(Limits {
        max_connections: 4,
        write_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(3),
        ..Limits::default()
    })
    .await;
    // Four clients fill every slot: each sends pipelined GETs of a 40 KB asset and never
    // reads, with a tiny receive buffer, so the server's writes stall.
    let mut stuck = Vec::new();
    for _ in 0..4 {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut c = socket.connect(s.addr).await.unwrap();
        let one = format!("GET /admin/app.js HTTP/1.1\r\nHost: {}\r\n\r\n", s.addr);
        let many = one.repeat(300);
        // Write what the server takes; it stops reading once its writes stall.
        let _ =
            tokio::time::timeout(Duration::from_millis(500), c.write_all(many.as_bytes())).await;
        stuck.push(c);
    }
    // A fifth client is served once the stalled ones time out.
    let healthz = tokio::time::timeout(Duration::from_secs(20), async {
        let mut c = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        c.read_to_string(&mut out).await.unwrap();
        out
    })
    .await
    .expect("/healthz did not answer while non-reading clients held the slots");
    assert!(healthz.starts_with("HTTP/1.1 200"), "{healthz}");
    // The stalled connections were closed by the server: reading them now ends.
    for mut c in stuck {
        let ended = tokio::time::timeout(Duration::from_secs(20), async {
            let mut sink = vec![0u8; 1 << 16];
            loop {
                match c.read(&mut sink).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(ended.is_ok(), "a stalled connection was left open");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_that_neither_sends_nor_receives_is_closed_after_the_idle_timeout() {
    use std::time::Duration;
    use tokio::io::AsyncReadExt;
    let s = Server::start_with(Limits {
        header_read_timeout: Duration::from_secs(600),
        idle_timeout: Duration::from_secs(1),
        ..Limits::default()
    })
    .await;
    let mut c = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let mut sink = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(20), c.read(&mut sink)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "an idle connection was kept: {closed:?}"
    );
}

/// Sends raw bytes on a fresh connection and returns the status line.
async fn raw_status(s: &Server, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    c.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    let _ = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        c.read_to_string(&mut out),
    )
    .await
    .expect("no answer");
    out.lines().next().unwrap_or("").to_string()
}

#[tokio::test]
async fn an_http11_request_without_exactly_one_valid_host_is_400() {
    let s = Server::start().await;
    // RFC 9112 §3.2: no Host, two Hosts, or a Host that is not a host is a 400.
    for request in [
        "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n".to_string(),
        "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n".to_string(),
        "GET /healthz HTTP/1.1\r\nHost: a b/c\r\nConnection: close\r\n\r\n".to_string(),
        format!(
            "GET /scim/v2/{}/Users HTTP/1.1\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
            s.org_id, s.token
        ),
        "GET /admin/ HTTP/1.1\r\nConnection: close\r\n\r\n".to_string(),
    ] {
        let status = raw_status(&s, &request).await;
        assert!(
            status.starts_with("HTTP/1.1 400"),
            "{request:?} got {status}"
        );
    }
    // With one Host it is served, and HTTP/1.0 may leave Host out.
    let ok = raw_status(
        &s,
        "GET /healthz HTTP/1.1\r\nHost: x:1\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    let old = raw_status(&s, "GET /healthz HTTP/1.0\r\n\r\n").await;
    assert!(old.contains(" 200"), "{old}");
}

fn emails(n: usize, tag: &str) -> Vec<serde_json::Value> {
    (0..n)
        .map(|i| serde_json::json!({"value": format!("{tag}{i}@x.io"), "type": "work"}))
        .collect()
}

#[tokio::test]
async fn a_multi_valued_attribute_is_capped_so_one_request_cannot_hold_the_writer() {
    use crate::common::patch_op;
    use serde_json::json;
    let s = Server::start().await;
    let id = s.create_user("many@x.io").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/Users/{id}");
    // 16,000 e-mails in one PATCH (a 0.5 MB body, well under the body limit): refused with a
    // clear error before it becomes work for the shared writer.
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op":"add","path":"emails","value": emails(16_000, "a")}])),
        )
        .await;
    let v = r.assert_error(413, None);
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains("at most 10000 values"),
        "{v}"
    );
    // 1,001 in one attribute is over the per-attribute cap.
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op":"add","path":"emails","value": emails(1001, "a")}])),
        )
        .await;
    let v = r.assert_error(400, Some("invalidValue"));
    assert!(
        v["detail"].as_str().unwrap().contains("at most 1000"),
        "{v}"
    );
    // So is a request of many operations whose values add up past the request's cap.
    let ops: Vec<_> = (0..11)
        .map(|k| json!({"op":"add","path":"emails","value": emails(1000, &format!("z{k}-"))}))
        .collect();
    s.patch(&path, &patch_op(json!(ops)))
        .await
        .assert_error(413, None);
    // Many operations that each stay under the cap cannot add up past it either.
    let ops: Vec<_> = (0..3)
        .map(|k| json!({"op":"add","path":"emails","value": emails(400, &format!("b{k}-"))}))
        .collect();
    let r = s.patch(&path, &patch_op(json!(ops))).await;
    r.assert_error(400, Some("invalidValue"));
    // Nor can a create or a replace.
    let r = s
        .post(
            "/Users",
            &json!({"userName":"big@x.io","emails": emails(1001, "c")}),
        )
        .await;
    r.assert_error(400, Some("invalidValue"));
    // At the cap it works, and removing by a value list takes them all out again.
    let full = emails(1000, "d");
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op":"replace","path":"emails","value": full}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["emails"].as_array().unwrap().len(), 1000);
    // Re-adding the same values (any case) merges them instead of growing the list.
    let upper: Vec<_> = (0..1000)
        .map(|i| json!({"value": format!("D{i}@X.IO"), "type": "work"}))
        .collect();
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op":"add","path":"emails","value": upper}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["emails"].as_array().unwrap().len(), 1000);
    let gone: Vec<_> = (0..1000)
        .map(|i| json!({"value": format!("d{i}@x.io")}))
        .collect();
    let r = s
        .patch(
            &path,
            &patch_op(json!([{"op":"remove","path":"emails","value": gone}])),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.json().get("emails").is_none(), "{}", r.text);
}
