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
