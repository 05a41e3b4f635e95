//! Concurrency: many clients on one Team and one user. The final state equals a serial order
//! of the acknowledged requests: no lost update, no deadlock, no `database is locked`.

use crate::common::{Server, patch_op};
use serde_json::json;
use std::sync::Arc;

const CLIENTS: usize = 16;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_clients_adding_and_removing_members_of_one_team() {
    let s = Arc::new(Server::start().await);
    let team = s
        .post("/Groups", &json!({"displayName":"Contended"}))
        .await
        .json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut users = Vec::new();
    for i in 0..CLIENTS {
        users.push(
            s.create_user(&format!("m{i}@x.io")).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let mut tasks = Vec::new();
    for (i, user) in users.iter().cloned().enumerate() {
        let (s, team) = (s.clone(), team.clone());
        tasks.push(tokio::spawn(async move {
            // Each client owns one member: its last acknowledged operation decides the end.
            let mut last_add = None;
            for round in 0..(6 + i % 3) {
                let add = round % 2 == 0;
                let op = if add {
                    json!([{"op":"add","path":"members","value":[{"value":user}]}])
                } else {
                    json!([{"op":"remove","path":format!("members[value eq \"{user}\"]")}])
                };
                let r = s.patch(&format!("/Groups/{team}"), &patch_op(op)).await;
                assert_eq!(r.status, 204, "{}", r.text);
                last_add = Some(add);
            }
            (user, last_add.unwrap())
        }));
    }
    let mut expected = Vec::new();
    for t in tasks {
        let (user, present) = t.await.unwrap();
        if present {
            expected.push(user);
        }
    }
    expected.sort();
    let g = s.get(&format!("/Groups/{team}")).await.json();
    let mut got: Vec<String> = g["members"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| m["value"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default();
    got.sort();
    assert_eq!(got, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_clients_updating_one_user_lose_nothing() {
    let s = Arc::new(Server::start().await);
    let id = s.create_user("hot@x.io").await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("/Users/{id}");
    // Without If-Match: every client adds its own values; all of them must be there.
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let (s, path) = (s.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0..5 {
                let op = json!([{"op":"add","path":"entitlements","value":[{"value":format!("c{i}-{n}")}]}]);
                let r = s.patch(&path, &patch_op(op)).await;
                assert_eq!(r.status, 200, "{}", r.text);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let u = s.get(&path).await.json();
    assert_eq!(u["entitlements"].as_array().unwrap().len(), CLIENTS * 5);
    let version_before: u64 = u["meta"]["version"]
        .as_str()
        .unwrap()
        .trim_start_matches("W/\"")
        .trim_end_matches('"')
        .parse()
        .unwrap();

    // With If-Match: read, then write conditionally; a stale version is 412 and changes
    // nothing, so the version counts exactly the successful writes.
    let mut tasks = Vec::new();
    for i in 0..CLIENTS {
        let (s, path) = (s.clone(), path.clone());
        tasks.push(tokio::spawn(async move {
            let mut won = Vec::new();
            for n in 0..5 {
                let etag = s.get(&path).await.header("etag").unwrap();
                let value = format!("c{i}-{n}");
                let op = patch_op(json!([{"op":"replace","path":"title","value":value}]));
                let r = s
                    .call_with("PATCH", &path, Some(&op), &[("if-match", &etag)])
                    .await;
                match r.status {
                    200 => won.push((
                        r.json()["meta"]["version"].as_str().unwrap().to_string(),
                        value,
                    )),
                    412 => {}
                    other => panic!("unexpected {other}: {}", r.text),
                }
            }
            won
        }));
    }
    let mut wins = Vec::new();
    for t in tasks {
        wins.extend(t.await.unwrap());
    }
    assert!(!wins.is_empty());
    let u = s.get(&path).await.json();
    let version: u64 = u["meta"]["version"]
        .as_str()
        .unwrap()
        .trim_start_matches("W/\"")
        .trim_end_matches('"')
        .parse()
        .unwrap();
    assert_eq!(
        version,
        version_before + wins.len() as u64,
        "one version per acknowledged write"
    );
    let last = wins
        .iter()
        .find(|(v, _)| *v == format!("W/\"{version}\""))
        .unwrap();
    assert_eq!(
        u["title"], last.1,
        "the last acknowledged write is the state"
    );
}
