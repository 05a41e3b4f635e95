//! Backups taken under write load keep every write acknowledged before they started.

use crate::cli::{BIN, serve};
use crate::common::blocking_request;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[test]
fn a_backup_under_write_load_restores_every_earlier_acknowledged_write() {
    if crate::common::sqlite_only(
        "a_backup_under_write_load_restores_every_earlier_acknowledged_write",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    let out = dir.path().join("copy.db");
    let (mut server, base, token) = serve(&db);
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (base, token, acked, stop) =
                (base.clone(), token.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let name = format!("w{w}-{n}@backup.test");
                    let body = format!(r#"{{"userName":"{name}"}}"#);
                    if let Some((201, _)) =
                        blocking_request(&format!("{base}/Users"), "POST", &token, Some(&body))
                    {
                        acked.lock().unwrap().push(name);
                    }
                }
            })
        })
        .collect();
    while acked.lock().unwrap().len() < 50 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let before: Vec<String> = acked.lock().unwrap().clone();
    let status = Command::new(BIN)
        .arg("backup")
        .arg(&out)
        .arg("--db")
        .arg(&db)
        .status()
        .unwrap();
    assert!(status.success());
    let after = acked.lock().unwrap().len();
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    server.kill().unwrap();
    let _ = server.wait();
    assert!(after > before.len() || after == before.len());
    // Restore = use the copy as the database.
    let conn = rusqlite::Connection::open(&out).unwrap();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    for name in &before {
        let found: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM users WHERE user_name = ?)",
                [name],
                |r| r.get(0),
            )
            .unwrap();
        assert!(found, "{name} was acknowledged before the backup started");
    }
    // Straight to stderr, past the test harness's capture: the count belongs in CI's output.
    let _ = std::io::Write::write_all(
        &mut std::io::stderr(),
        format!(
            "backup: {} writes acknowledged before the backup, all restored\n",
            before.len()
        )
        .as_bytes(),
    );
    // A restored copy serves: the token and users are there.
    let restored = dir.path().join("restored.db");
    std::fs::copy(&out, &restored).unwrap();
    let (ok, list, _) = {
        let o = Command::new(BIN)
            .args(["org", "list", "--db"])
            .arg(&restored)
            .output()
            .unwrap();
        (o.status.success(), String::from_utf8(o.stdout).unwrap(), ())
    };
    assert!(ok && list.contains("default"));
    // Never overwrites.
    let again = Command::new(BIN)
        .arg("backup")
        .arg(&out)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwrites"));
}
