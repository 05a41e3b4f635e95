//! Limits and slow clients: a slowloris cannot hold the server, huge headers are refused, and
//! connections beyond the limit wait.

use crate::common::Server;
use scimbox::app::Limits;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn quick_limits() -> Limits {
    Limits {
        header_read_timeout: Duration::from_millis(500),
        body_read_timeout: Duration::from_millis(500),
        max_header_bytes: 16 * 1024,
        max_connections: 2,
        ..Limits::default()
    }
}

/// Reads until the server closes (or 5 s pass); returns what it sent.
fn read_all(mut s: TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_headers_and_idle_connections_are_closed() {
    let s = Server::start_with(quick_limits()).await;
    let addr = s.addr;
    let closed_after = tokio::task::spawn_blocking(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        let start = Instant::now();
        let _ = read_all(c);
        start.elapsed()
    })
    .await
    .unwrap();
    assert!(
        closed_after < Duration::from_secs(3),
        "slowloris held {closed_after:?}"
    );
    let idle_closed = tokio::task::spawn_blocking(move || {
        let c = TcpStream::connect(addr).unwrap();
        let start = Instant::now();
        let _ = read_all(c);
        start.elapsed()
    })
    .await
    .unwrap();
    assert!(
        idle_closed < Duration::from_secs(3),
        "idle connection kept {idle_closed:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slow_body_gets_408_and_huge_headers_get_431() {
    let s = Server::start_with(quick_limits()).await;
    let (addr, base, token) = (s.addr, s.base(), s.token.clone());
    let path = base.split_once(&addr.to_string()).unwrap().1.to_string();
    let reply = tokio::task::spawn_blocking(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        write!(c, "POST {path}/Users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nContent-Type: application/scim+json\r\nContent-Length: 100\r\n\r\n{{\"userName\"").unwrap();
        read_all(c)
    })
    .await
    .unwrap();
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("urn:ietf:params:scim:api:messages:2.0:Error"));
    let big = tokio::task::spawn_blocking(move || {
        let mut c = TcpStream::connect(addr).unwrap();
        let filler = "a".repeat(32 * 1024);
        let _ = write!(
            c,
            "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: {filler}\r\n\r\n"
        );
        read_all(c)
    })
    .await
    .unwrap();
    assert!(
        big.starts_with("HTTP/1.1 431"),
        "{}",
        &big[..big.len().min(80)]
    );
    assert_eq!(
        s.get("/Users").await.json()["totalResults"],
        0,
        "nothing half-written"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let s = Server::start_with(Limits {
        max_connections: 2,
        header_read_timeout: Duration::from_secs(30),
        ..Limits::default()
    })
    .await;
    let addr = s.addr;
    let outcome = tokio::task::spawn_blocking(move || {
        // Two idle connections hold both slots.
        let a = TcpStream::connect(addr).unwrap();
        let b = TcpStream::connect(addr).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let mut c = TcpStream::connect(addr).unwrap();
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        c.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut buf = [0u8; 64];
        let waited = c.read(&mut buf).is_err();
        drop(a);
        let answered = read_all(c);
        drop(b);
        (waited, answered)
    })
    .await
    .unwrap();
    assert!(
        outcome.0,
        "the third connection was served while two held the slots"
    );
    assert!(outcome.1.starts_with("HTTP/1.1 200"), "{}", outcome.1);
}
