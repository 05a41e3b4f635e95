//! The end-to-end benchmark: `cargo bench --bench scimbox` (add `-- --quick` for a run of a
//! couple of minutes). It starts the real server on a loopback port with a fresh temporary database,
//! drives it over HTTP/1.1 keep-alive connections the way an IdP does, and prints one markdown
//! table: per phase the operations, throughput, p50 and p99 latency (measured per request in the
//! client), the server's CPU per request, and the target from the performance issue with
//! met/missed. After the table: the server's peak RSS and the size of the database files.
//!
//! The server runs as a child process (the release `scimbox serve` binary cargo builds for
//! this bench) rather than inside this process, for three reasons: its peak RSS (`VmHWM` of its
//! own `/proc/<pid>/status`) then excludes the load generator, the latency samples and the
//! preload; its CPU time per phase can be read apart from the generator's; and it runs exactly
//! as deployed (default store options, its own runtime, its request log). The preload of the
//! large directory is the one thing done in-process: it opens the same file through
//! `scimbox::store`, as the CLI does beside a running server, and writes exactly the rows
//! `directory::users::create` writes, in transactions of 10,000 users.
//!
//! The load generator is N tokio tasks, each owning one hyper HTTP/1 client connection, on a
//! runtime of its own. Its ceiling is measured first against a trivial hyper "hello" server in
//! this process (same machine, same client), so a phase that comes close to it is limited by
//! the generator, not by scimbox.
//!
//! The ceiling of the server side is measured the same way (issue 20): after the preload, a
//! minimal hyper + rusqlite server in this process (benches/support/minimal.rs) reads the same
//! database file, and each request type it serves (GET by id, the indexed filters, a durable
//! create) runs on it and on scimbox in alternating rounds; a second table prints both rates,
//! latencies, CPU per request and the ratio scimbox / minimal against the targets.
//!
//! Scale: `--quick` sets `SCIMBOX_BENCH_SCALE=0.05` (1,000,000 users become 50,000, every other
//! count shrinks with it). Other knobs: `SCIMBOX_BENCH_PHASE_SECS` (time cap per phase),
//! `SCIMBOX_BENCH_CLIENT_THREADS` (generator threads, default 2), `SCIMBOX_BENCH_LOG` (the
//! server's log level, default `info`, which writes a line per request as deployed),
//! `SCIMBOX_BENCH_VERSUS_SECS` (length of each round beside the minimal server: 0.8 s at
//! small scales, 3 s in the full run), `SCIMBOX_BENCH_PHASES` (a comma list of phase groups to
//! run: hello, create, read, filter, minimal, page, team, mixed, events, soak, memory; the
//! preload always runs), `SCIMBOX_BENCH_KEEP` (keep the database), `SCIMBOX_BENCH_DB` (an
//! empty PostgreSQL database's URL: the same phases on PostgreSQL; see `scripts/bench-postgres`).
//!
//! The soak (`soak.rs` beside this file) runs last: mixed IdP traffic from several clients for
//! 90 s by default (12 s in the `cargo test` smoke run), one line per interval with latency
//! percentiles and the server's RSS and open file descriptors, and a verdict on whether they
//! stayed flat. `-- --soak 30m` runs it for 30 minutes (one line a minute), `--soak-rate 1000`
//! paces it (requests/s over all clients), `--soak-clients 8` sets the clients. Errors or
//! descriptor growth make the bench exit 1; so does memory growth when `--soak` was given.
//! Then the `memory` phase prints the server's RSS before, at the peak of and after a few large
//! requests.

// A benchmark program: a failure should stop it loudly, not be handled.
#![allow(clippy::unwrap_used, clippy::panic, clippy::expect_used)]

#[path = "support/minimal.rs"]
mod minimal;
#[path = "scimbox/soak.rs"]
mod soak;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use scimbox::directory;
use scimbox::model::schema::USER_TYPE;
use scimbox::store::audit::{self, Entry};
use scimbox::store::{Store, StoreOptions, orgs, users};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

type Body = Full<Bytes>;
/// A filter for user number `n`.
type FilterFor = fn(u64) -> String;

const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
const MIB: f64 = 1024.0 * 1024.0;

// ---- configuration ------------------------------------------------------------------------

struct Config {
    scale: f64,
    phase_cap: Duration,
    client_threads: usize,
    log_level: String,
    /// Which groups of phases run (all when `SCIMBOX_BENCH_PHASES` is unset).
    phases: Option<Vec<String>>,
    soak: soak::SoakConfig,
    /// How long the memory phase waits after each large request before reading RSS.
    settle: Duration,
}

impl Config {
    fn from_env() -> Config {
        // `cargo bench` passes `--bench`; anything but `--quick` is ignored. Without `--bench`
        // this is `cargo test --all-targets` running the bench once as a test: a smoke run
        // at a thousandth of the scale with short phases, which proves every phase still works
        // in CI but whose figures mean nothing.
        let smoke = !std::env::args().any(|a| a == "--bench");
        let quick = std::env::args().any(|a| a == "--quick");
        let env_f64 = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<f64>().ok());
        let scale = if smoke {
            0.001
        } else if quick {
            0.05
        } else {
            env_f64("SCIMBOX_BENCH_SCALE").unwrap_or(1.0)
        };
        let default_cap = if smoke {
            0.3
        } else if scale < 0.5 {
            5.0
        } else {
            15.0
        };
        Config {
            scale,
            phase_cap: Duration::from_secs_f64(
                env_f64("SCIMBOX_BENCH_PHASE_SECS").unwrap_or(default_cap),
            ),
            client_threads: std::env::var("SCIMBOX_BENCH_CLIENT_THREADS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(2),
            log_level: std::env::var("SCIMBOX_BENCH_LOG").unwrap_or_else(|_| "info".into()),
            phases: std::env::var("SCIMBOX_BENCH_PHASES")
                .ok()
                .map(|v| v.split(',').map(|p| p.trim().to_string()).collect()),
            soak: soak::SoakConfig::from_args(Duration::from_secs(if smoke { 12 } else { 90 })),
            settle: Duration::from_secs(if smoke { 1 } else { 3 }),
        }
    }

    fn wants(&self, group: &str) -> bool {
        self.phases
            .as_ref()
            .is_none_or(|p| p.iter().any(|g| g == group))
    }

    /// A count scaled down, never below `min` (percentiles need samples).
    fn n(&self, full: u64, min: u64) -> u64 {
        ((full as f64 * self.scale).round() as u64).max(min)
    }
}

// ---- deterministic test data --------------------------------------------------------------

/// xorshift64*: fast, seedable, and good enough to pick ids.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn mix(n: u64) -> u64 {
    let mut r = Rng::new(n ^ 0x5151_5151);
    r.next()
}

// About one given name in eleven starts with "A", close to English name frequencies.
const GIVEN: &[&str] = &[
    "Aaron", "Alice", "Amir", "Beatriz", "Carlos", "Chloe", "Daniel", "Diana", "Elena", "Ethan",
    "Fatima", "George", "Grace", "Hiro", "Isabel", "Jack", "James", "Julia", "Kenji", "Laura",
    "Liam", "Maria", "Mohammed", "Nina", "Oliver", "Priya", "Rafael", "Sarah", "Sofia", "Tom",
    "Wei", "Yusuf", "Zoe",
];
const FAMILY: &[&str] = &[
    "Nguyen", "Smith", "Garcia", "Müller", "Kim", "Patel", "Rossi", "Tanaka", "Silva", "Brown",
    "Cohen", "Dubois", "Ivanova", "Kowalski", "Larsen", "O'Brien", "Okafor", "Schmidt", "Wang",
];

fn user_name(n: u64) -> String {
    format!("user{n:07}@example.com")
}

/// Okta user ids: `00u` and 17 more alphanumerics.
fn external_id(n: u64) -> String {
    const ALPHA: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let mut out = String::from("00u");
    let mut x = mix(n);
    for i in 0..17 {
        if i == 10 {
            x = mix(x);
        }
        out.push(ALPHA[(x % 62) as usize] as char);
        x /= 62;
    }
    out
}

/// The body Okta POSTs to /Users.
fn okta_user(n: u64) -> Value {
    let h = mix(n);
    let given = GIVEN[(h % GIVEN.len() as u64) as usize];
    let family = FAMILY[((h >> 20) % FAMILY.len() as u64) as usize];
    let email = user_name(n);
    json!({
        "schemas": [USER_SCHEMA],
        "userName": email,
        "name": {"givenName": given, "familyName": family},
        "emails": [{"primary": true, "value": email, "type": "work"}],
        "displayName": format!("{given} {family}"),
        "locale": "en-US",
        "externalId": external_id(n),
        "groups": [],
        "active": true
    })
}

fn uuid_text(id: u128) -> String {
    uuid::Uuid::from_u128(id).hyphenated().to_string()
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

// ---- load generator -----------------------------------------------------------------------

#[derive(Clone)]
struct Target {
    addr: SocketAddr,
    host: String,
    /// `/scim/v2/{org}` (empty for the hello server).
    base: String,
    auth: String,
}

/// One request to send: `kind` separates the operations of a mixed phase.
struct Req {
    method: hyper::Method,
    path: String,
    body: Option<Bytes>,
    expect: u16,
    kind: usize,
}

impl Req {
    fn get(path: String) -> Req {
        Req {
            method: hyper::Method::GET,
            path,
            body: None,
            expect: 200,
            kind: 0,
        }
    }
    fn with(method: hyper::Method, path: String, body: &Value, expect: u16) -> Req {
        Req {
            method,
            path,
            body: Some(Bytes::from(body.to_string())),
            expect,
            kind: 0,
        }
    }
    fn kind(mut self, kind: usize) -> Req {
        self.kind = kind;
        self
    }
}

fn build(target: &Target, req: Req) -> hyper::Request<Body> {
    let mut b = hyper::Request::builder()
        .method(req.method)
        .uri(format!("{}{}", target.base, req.path))
        .header(HOST, &target.host)
        .header(AUTHORIZATION, &target.auth);
    if req.body.is_some() {
        b = b.header(CONTENT_TYPE, "application/scim+json");
    }
    b.body(Full::new(req.body.unwrap_or_default())).unwrap()
}

async fn connect(addr: SocketAddr) -> SendRequest<Body> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
}

/// Sends one request on a connection: (status, body, latency). Reconnects once if the server
/// closed the connection.
async fn send(conn: &mut SendRequest<Body>, target: &Target, req: Req) -> (u16, Bytes, Duration) {
    if conn.ready().await.is_err() {
        *conn = connect(target.addr).await;
    }
    let started = Instant::now();
    match conn.send_request(build(target, req)).await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            (status, body, started.elapsed())
        }
        Err(e) => (0, Bytes::from(e.to_string()), started.elapsed()),
    }
}

/// What a phase measured. Latencies are nanoseconds, one list per request kind.
struct Outcome {
    lat: Vec<Vec<u64>>,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
    server_cpu: Duration,
    client_cpu: Duration,
}

impl Outcome {
    fn ops(&self) -> u64 {
        self.lat.iter().map(|l| l.len() as u64).sum()
    }
}

/// The CPU time (user + system) a process has used so far.
fn cpu_time(pid: &str) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // The command name may hold spaces; fields are counted after its closing parenthesis.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

struct Generator {
    rt: tokio::runtime::Runtime,
    server_pid: Option<u32>,
}

impl Generator {
    /// Runs `conc` connections until `max_ops` requests were sent or `cap` passed. `make` gets
    /// the request's sequence number (0-based, each used once) and the task's RNG.
    fn run<F>(
        &self,
        target: &Target,
        conc: usize,
        max_ops: u64,
        cap: Duration,
        kinds: usize,
        make: F,
    ) -> Outcome
    where
        F: Fn(u64, &mut Rng) -> Req + Send + Sync + 'static,
    {
        let make = Arc::new(make);
        let next = Arc::new(AtomicU64::new(0));
        let server_pid = self.server_pid.map(|p| p.to_string());
        let srv0 = server_pid.as_deref().map(cpu_time).unwrap_or_default();
        let cli0 = cpu_time("self");
        let started = Instant::now();
        let results = self.rt.block_on(async {
            let mut tasks = Vec::with_capacity(conc);
            for t in 0..conc {
                let (target, make, next) = (target.clone(), make.clone(), next.clone());
                tasks.push(tokio::spawn(async move {
                    let mut conn = connect(target.addr).await;
                    let mut rng = Rng::new(t as u64 + 1);
                    let mut lat: Vec<Vec<u64>> = vec![Vec::new(); kinds];
                    let mut errors = 0u64;
                    let mut first_error = None;
                    loop {
                        if started.elapsed() > cap {
                            break;
                        }
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= max_ops {
                            break;
                        }
                        let req = make(i, &mut rng);
                        let (kind, expect) = (req.kind, req.expect);
                        let (status, body, dt) = send(&mut conn, &target, req).await;
                        lat[kind].push(dt.as_nanos() as u64);
                        if status != expect {
                            errors += 1;
                            first_error.get_or_insert_with(|| {
                                format!(
                                    "{status} (expected {expect}): {}",
                                    String::from_utf8_lossy(&body[..body.len().min(300)])
                                )
                            });
                        }
                    }
                    (lat, errors, first_error)
                }));
            }
            let mut all = Vec::new();
            for t in tasks {
                all.push(t.await.unwrap());
            }
            all
        });
        let elapsed = started.elapsed();
        let mut out = Outcome {
            lat: vec![Vec::new(); kinds],
            errors: 0,
            first_error: None,
            elapsed,
            server_cpu: server_pid.as_deref().map(cpu_time).unwrap_or_default() - srv0,
            client_cpu: cpu_time("self") - cli0,
        };
        for (lat, errors, first_error) in results {
            for (k, l) in lat.into_iter().enumerate() {
                out.lat[k].extend(l);
            }
            out.errors += errors;
            if out.first_error.is_none() {
                out.first_error = first_error;
            }
        }
        for l in &mut out.lat {
            l.sort_unstable();
        }
        out
    }

    /// One request on a fresh connection, for setup steps.
    fn one(&self, target: &Target, req: Req) -> (u16, Value) {
        self.rt.block_on(async {
            let mut conn = connect(target.addr).await;
            let (status, body, _) = send(&mut conn, target, req).await;
            (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
        })
    }
}

// ---- the report ---------------------------------------------------------------------------

fn pct(sorted: &[u64], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() as f64 * p / 100.0).ceil() as usize).clamp(1, sorted.len()) - 1;
    Some(Duration::from_nanos(sorted[i]))
}

fn ms(d: Option<Duration>) -> String {
    match d {
        None => "-".into(),
        Some(d) => {
            let ms = d.as_secs_f64() * 1e3;
            if ms < 10.0 {
                format!("{ms:.2} ms")
            } else {
                format!("{ms:.1} ms")
            }
        }
    }
}

/// How a row is judged against its target.
enum Goal {
    None,
    /// ops/s at least this.
    Rate(f64),
    /// p99 at most this many ms.
    P99(f64),
    /// both.
    RateP99(f64, f64),
    /// p99 at most `ms`, and at most `factor` × the p99 of the row named `base`.
    P99Relative(f64, f64, &'static str),
}

struct Row {
    name: String,
    conc: usize,
    ops: u64,
    rate: f64,
    p50: Option<Duration>,
    p99: Option<Duration>,
    errors: u64,
    server_us: f64,
    client_us: f64,
    goal: Goal,
}

#[derive(Default)]
struct Report {
    rows: Vec<Row>,
    notes: Vec<String>,
    /// The comparisons with the minimal server.
    versus: Vec<Versus>,
}

impl Report {
    fn add(&mut self, name: &str, conc: usize, o: &Outcome, kind: Option<usize>, goal: Goal) {
        let lat: Vec<u64> = match kind {
            Some(k) => o.lat[k].clone(),
            None => {
                let mut all: Vec<u64> = o.lat.iter().flatten().copied().collect();
                all.sort_unstable();
                all
            }
        };
        let ops = lat.len() as u64;
        let secs = o.elapsed.as_secs_f64().max(1e-9);
        let total = o.ops().max(1) as f64;
        if let Some(e) = &o.first_error {
            self.notes
                .push(format!("{name}: {} errors, first: {e}", o.errors));
        }
        let row = Row {
            name: name.into(),
            conc,
            ops,
            rate: ops as f64 / secs,
            p50: pct(&lat, 50.0),
            p99: pct(&lat, 99.0),
            errors: if kind.is_some_and(|k| k > 0) {
                0
            } else {
                o.errors
            },
            server_us: o.server_cpu.as_secs_f64() * 1e6 / total,
            client_us: o.client_cpu.as_secs_f64() * 1e6 / total,
            goal,
        };
        eprintln!(
            "  {:<48} c={:<3} {:>8} ops {:>10.0}/s  p50 {:>9}  p99 {:>9}  err {}",
            row.name,
            row.conc,
            row.ops,
            row.rate,
            ms(row.p50),
            ms(row.p99),
            row.errors
        );
        self.rows.push(row);
    }

    fn judge(&self, row: &Row) -> (String, &'static str) {
        let p99 = row
            .p99
            .map(|d| d.as_secs_f64() * 1e3)
            .unwrap_or(f64::INFINITY);
        let ok = |b: bool| if b { "met" } else { "**missed**" };
        match row.goal {
            Goal::None => (String::new(), ""),
            Goal::Rate(r) => (format!("≥ {r:.0}/s"), ok(row.rate >= r)),
            Goal::P99(t) => (format!("p99 ≤ {t} ms"), ok(p99 <= t)),
            Goal::RateP99(r, t) => (
                format!("≥ {r:.0}/s, p99 ≤ {t} ms"),
                ok(row.rate >= r && p99 <= t),
            ),
            Goal::P99Relative(t, factor, base) => {
                let base_p99 = self
                    .rows
                    .iter()
                    .find(|r| r.name == base)
                    .and_then(|r| r.p99)
                    .map(|d| d.as_secs_f64() * 1e3)
                    .unwrap_or(0.0);
                (
                    format!("p99 ≤ {t} ms and ≤ {factor}× {base_p99:.2} ms"),
                    ok(p99 <= t && p99 <= factor * base_p99),
                )
            }
        }
    }

    fn print(&self) {
        println!();
        println!(
            "| phase | c | ops | ops/s | p50 | p99 | errors | server CPU/op | client CPU/op | target | result |"
        );
        println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|---|---|");
        for row in &self.rows {
            let (target, result) = self.judge(row);
            println!(
                "| {} | {} | {} | {:.0} | {} | {} | {} | {:.1} µs | {:.1} µs | {} | {} |",
                row.name,
                row.conc,
                row.ops,
                row.rate,
                ms(row.p50),
                ms(row.p99),
                row.errors,
                row.server_us,
                row.client_us,
                target,
                result
            );
        }
        println!();
    }
}

// ---- the server under test ----------------------------------------------------------------

struct Server {
    child: Child,
    pid: u32,
    target: Target,
    org_id: String,
    db: PathBuf,
}

impl Drop for Server {
    /// A bench that panics half-way must not leave its server running.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Starts `scimbox serve` on an empty database; on first run it prints the organization's
/// base URL and a token, which is all a client needs.
fn start_server(dir: &Path, log_level: &str) -> Server {
    // `SCIMBOX_BENCH_DB`: an empty PostgreSQL database's URL runs every phase on PostgreSQL
    // (scripts/bench-postgres makes one on a throwaway cluster); a fresh SQLite file otherwise.
    let db = std::env::var_os("SCIMBOX_BENCH_DB")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("bench.db"));
    let log = dir.join("server.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_scimbox"))
        .arg("--db")
        .arg(&db)
        .args(["--log-level", log_level, "serve", "--listen"])
        .arg(format!("{}:0", std::net::Ipv4Addr::LOCALHOST))
        // The load generator is one client with one token, far above any IdP's rate.
        .args(["--rate-limit", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start the scimbox binary cargo built for this bench");
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut base_url, mut token) = (None, None);
    while base_url.is_none() || token.is_none() {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("the server exited; see {}", log.display()))
            .unwrap();
        if let Some(v) = line.split("SCIM base URL:").nth(1) {
            base_url = Some(v.trim().to_string());
        }
        if let Some(v) = line.split("Bearer token:").nth(1) {
            token = Some(v.trim().to_string());
        }
    }
    // Keep draining stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    let base_url = base_url.unwrap();
    let rest = base_url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let org_id = path.rsplit('/').next().unwrap().to_string();
    Server {
        pid: child.id(),
        child,
        target: Target {
            addr: host.parse().unwrap(),
            host: host.to_string(),
            base: format!("/{path}"),
            auth: format!("Bearer {}", token.unwrap()),
        },
        org_id,
        db,
    }
}

fn proc_status(pid: u32) -> HashMap<String, f64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            let kb: f64 = v.trim().strip_suffix(" kB")?.trim().parse().ok()?;
            Some((k.to_string(), kb * 1024.0 / MIB))
        })
        .collect()
}

fn rss_line(pid: u32) -> String {
    let s = proc_status(pid);
    let g = |k: &str| s.get(k).copied().unwrap_or(0.0);
    format!(
        "peak {:.1} MiB (now {:.1} MiB: anonymous {:.1}, file-backed/mmap {:.1})",
        g("VmHWM"),
        g("VmRSS"),
        g("RssAnon"),
        g("RssFile") + g("RssShmem")
    )
}

/// Samples the server's RSS every 20 ms: the peak of each part, which `VmHWM` alone does not
/// tell (file-backed pages are the readers' mmap of the database, shared with the page cache).
#[derive(Default, Clone, Copy)]
struct RssPeak {
    total: f64,
    anon: f64,
    file: f64,
}

fn start_rss_sampler(pid: u32) -> Arc<Mutex<RssPeak>> {
    let peak = Arc::new(Mutex::new(RssPeak::default()));
    let p = peak.clone();
    std::thread::spawn(move || {
        loop {
            let s = proc_status(pid);
            if s.is_empty() {
                return;
            }
            let g = |k: &str| s.get(k).copied().unwrap_or(0.0);
            if let Ok(mut m) = p.lock() {
                m.total = m.total.max(g("VmRSS"));
                m.anon = m.anon.max(g("RssAnon"));
                m.file = m.file.max(g("RssFile") + g("RssShmem"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    peak
}

fn take_peak(p: &Arc<Mutex<RssPeak>>) -> RssPeak {
    std::mem::take(&mut *p.lock().unwrap())
}

fn peak_line(p: RssPeak) -> String {
    format!(
        "sampled peaks: total {:.1} MiB, anonymous {:.1} MiB, file-backed (mmap of the db, wal-index) {:.1} MiB",
        p.total, p.anon, p.file
    )
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

fn db_size(db: &Path) -> String {
    let main = file_size(db);
    let wal = file_size(&PathBuf::from(format!("{}-wal", db.display())));
    format!(
        "{:.1} MiB (db {:.1} MiB + wal {:.1} MiB)",
        (main + wal) as f64 / MIB,
        main as f64 / MIB,
        wal as f64 / MIB
    )
}

// ---- the preload --------------------------------------------------------------------------

/// Writes users `from..to` through the store, exactly as `directory::users::create` would
/// (normalized resource, `active` defaulted, indexed columns, email rows, audit record), but
/// 10,000 per transaction. Two threads on SQLite: one builds a batch while the writer commits
/// the other.
/// Returns the ids in user order.
fn preload(db: &Path, org_id: &str, from: u64, to: u64) -> Vec<u128> {
    const BATCH: u64 = 10_000;
    let target = scimbox::store::target::Target::parse(db).unwrap();
    let store = Store::open_target(
        &target,
        &StoreOptions {
            readers: 1,
            max_batch: 4,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    let org = org_id.to_string();
    let org_pk = store
        .read_blocking(move |c| orgs::by_id(c, &org))
        .unwrap()
        .expect("the server's organization")
        .pk;
    let batches = (to - from).div_ceil(BATCH) as usize;
    let ids: Mutex<Vec<Vec<u128>>> = Mutex::new(vec![Vec::new(); batches]);
    let next = AtomicUsize::new(0);
    // On PostgreSQL the two transactions would queue on the organization's counter row (each
    // insert bumps it), the second waiting out the first's 10,000 rows: one writer there.
    let writers = match store.engine() {
        scimbox::store::Engine::Sqlite => 2,
        scimbox::store::Engine::Postgres => 1,
    };
    std::thread::scope(|s| {
        for _ in 0..writers {
            s.spawn(|| {
                loop {
                    let b = next.fetch_add(1, Ordering::Relaxed);
                    if b >= batches {
                        return;
                    }
                    let lo = from + b as u64 * BATCH;
                    let hi = (lo + BATCH).min(to);
                    let mut rows = Vec::with_capacity((hi - lo) as usize);
                    let mut batch_ids = Vec::with_capacity(rows.capacity());
                    for n in lo..hi {
                        let mut data =
                            scimbox::model::resource::normalize(&USER_TYPE, &okta_user(n)).unwrap();
                        data.entry("active").or_insert(Value::Bool(true));
                        let cols = directory::users::columns(&USER_TYPE, &data);
                        let text = serde_json::to_string(&data).unwrap();
                        let id = directory::new_id();
                        batch_ids.push(uuid::Uuid::parse_str(&id).unwrap().as_u128());
                        rows.push((id, cols, text));
                    }
                    let now = scimbox::clock::format(scimbox::clock::now());
                    store
                        .write_blocking(move |conn| {
                            for (id, cols, text) in &rows {
                                users::insert(conn, org_pk, id, cols, text, &now)?;
                                audit::insert(
                                    conn,
                                    &Entry {
                                        org_pk,
                                        actor: "token:initial",
                                        action: "create",
                                        resource_type: "User",
                                        resource_id: id,
                                        reason: Some("SCIM POST /Users"),
                                        before: None,
                                        after: Some(text),
                                        ..Entry::default()
                                    },
                                    &now,
                                )?;
                            }
                            Ok(())
                        })
                        .unwrap();
                    ids.lock().unwrap()[b] = batch_ids;
                }
            });
        }
    });
    store.close();
    ids.into_inner().unwrap().into_iter().flatten().collect()
}

// ---- the hello server (the generator's ceiling) -------------------------------------------

fn start_hello() -> (tokio::runtime::Runtime, SocketAddr) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind((
            std::net::Ipv4Addr::LOCALHOST,
            0,
        )))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                        Bytes::from_static(b"{\"hello\":\"world\"}"),
                    )))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (rt, addr)
}

/// An event receiver that answers every SET with 202 after `delay`, counting them.
fn start_slow_receiver(delay: Duration) -> (tokio::runtime::Runtime, SocketAddr, Arc<AtomicU64>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind((
            std::net::Ipv4Addr::LOCALHOST,
            0,
        )))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let got = Arc::new(AtomicU64::new(0));
    let count = got.clone();
    rt.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let count = count.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_req| {
                    let count = count.clone();
                    async move {
                        tokio::time::sleep(delay).await;
                        count.fetch_add(1, Ordering::Relaxed);
                        let mut resp = hyper::Response::new(Full::new(Bytes::new()));
                        *resp.status_mut() = hyper::StatusCode::ACCEPTED;
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (rt, addr, got)
}

// ---- the phases ---------------------------------------------------------------------------

fn main() {
    let cfg = Config::from_env();
    // Enough for the Team phases (5,000 members and outsiders to add) at the smallest scale.
    let users_total = cfg.n(1_000_000, 6_500);
    let cap = cfg.phase_cap;
    let dir = tempfile::tempdir().unwrap();
    let kept = std::env::var_os("SCIMBOX_BENCH_KEEP").is_some();
    let mut report = Report::default();

    eprintln!(
        "scimbox bench: scale {} ({} users), {} generator threads, phase cap {:?}, server log level {}, {} cores",
        cfg.scale,
        users_total,
        cfg.client_threads,
        cap,
        cfg.log_level,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );

    let mut gen_ = Generator {
        rt: tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cfg.client_threads)
            .enable_all()
            .build()
            .unwrap(),
        server_pid: None,
    };

    // The generator's own ceiling, before the server exists.
    if cfg.wants("hello") {
        let (hello_rt, addr) = start_hello();
        let hello = Target {
            addr,
            host: addr.to_string(),
            base: String::new(),
            auth: "Bearer -".into(),
        };
        let o = gen_.run(&hello, 16, cfg.n(1_000_000, 100_000), cap, 1, |_, _| {
            Req::get("/".into())
        });
        report.add("generator ceiling: hyper hello", 16, &o, None, Goal::None);
        let o = gen_.run(&hello, 1, cfg.n(100_000, 20_000), cap, 1, |_, _| {
            Req::get("/".into())
        });
        report.add("generator ceiling: hyper hello", 1, &o, None, Goal::None);
        hello_rt.shutdown_background();
    }

    let mut server = start_server(dir.path(), &cfg.log_level);
    gen_.server_pid = Some(server.pid);
    let t = server.target.clone();
    eprintln!("  server pid {}", server.pid);
    let rss_idle = rss_line(server.pid);
    let sampler = start_rss_sampler(server.pid);

    // The first request verifies the token with argon2; later ones hit the digest cache.
    let (status, spc) = gen_.one(&t, Req::get("/ServiceProviderConfig".into()));
    assert_eq!(status, 200, "ServiceProviderConfig: {spc}");
    let cursor_supported = spc
        .get("pagination")
        .and_then(|p| p.get("cursor"))
        .and_then(Value::as_bool)
        .unwrap_or(false);

    // ---- creates over HTTP (durable: each answered after its COMMIT)
    let next_user = Arc::new(AtomicU64::new(0));
    let c1_creates = if cfg.wants("create") {
        cfg.n(10_000, 1_000)
    } else {
        0
    };
    let c16_creates = if cfg.wants("create") {
        cfg.n(10_000, 5_000)
    } else {
        0
    };
    let create = |next: Arc<AtomicU64>| {
        move |_: u64, _: &mut Rng| {
            let n = next.fetch_add(1, Ordering::Relaxed);
            Req::with(hyper::Method::POST, "/Users".into(), &okta_user(n), 201)
        }
    };
    if c1_creates > 0 {
        let o = gen_.run(&t, 1, c1_creates, cap, 1, create(next_user.clone()));
        report.add("POST /Users (create)", 1, &o, None, Goal::None);
        let o = gen_.run(&t, 16, c16_creates, cap, 1, create(next_user.clone()));
        report.add("POST /Users (create)", 16, &o, None, Goal::Rate(8_000.0));
    }
    let created = next_user.load(Ordering::Relaxed);

    // ---- a small directory: RSS while serving about 10,000 users
    if created > 0 {
        let n = created;
        let o = gen_.run(&t, 16, cfg.n(50_000, 10_000), cap, 1, move |_, rng| {
            Req::get(format!(
                "/Users?filter={}",
                enc(&format!("userName eq \"{}\"", user_name(rng.below(n))))
            ))
        });
        report.add(&format!("userName eq, {n} users"), 16, &o, None, Goal::None);
    }
    let rss_small = rss_line(server.pid);
    let peak_small = proc_status(server.pid).get("VmHWM").copied().unwrap_or(0.0);
    let db_small = db_size(&server.db);
    let sampled_small = take_peak(&sampler);
    // Reset the peak so the next figure is the large directory's own.
    let _ = std::fs::write(format!("/proc/{}/clear_refs", server.pid), "5");

    // ---- the preload
    eprintln!("  preloading users {created}..{users_total} through the store (batches of 10,000)");
    let started = Instant::now();
    let ids = Arc::new(preload(&server.db, &server.org_id, created, users_total));
    let preload_time = started.elapsed();
    let preloaded = ids.len() as u64;
    eprintln!(
        "  preload: {preloaded} users in {:.1} s ({:.0}/s); {}",
        preload_time.as_secs_f64(),
        preloaded as f64 / preload_time.as_secs_f64(),
        db_size(&server.db)
    );
    // A preloaded user's index in `ids` is `n - created`.
    let random_user = {
        let ids = ids.clone();
        move |rng: &mut Rng| -> (u64, String) {
            let i = rng.below(ids.len() as u64);
            (created + i, uuid_text(ids[i as usize]))
        }
    };

    // ---- side by side with the minimal server (issue 20)
    if cfg.wants("minimal") {
        versus_phases(
            &gen_,
            &t,
            &mut report,
            &cfg,
            &server,
            &random_user,
            users_total,
        );
    }

    // ---- reads at 1M
    let big = format!("{}M users", users_total as f64 / 1e6);
    if cfg.wants("read") {
        for conc in [1, 16] {
            let pick = random_user.clone();
            let ops = if conc == 1 {
                cfg.n(50_000, 10_000)
            } else {
                cfg.n(600_000, 50_000)
            };
            let o = gen_.run(&t, conc, ops, cap, 1, move |_, rng| {
                Req::get(format!("/Users/{}", pick(rng).1))
            });
            let goal = if conc == 16 {
                Goal::RateP99(40_000.0, 2.0)
            } else {
                Goal::None
            };
            report.add(&format!("GET /Users/{{id}}, {big}"), conc, &o, None, goal);
        }
    }
    if cfg.wants("filter") {
        let filters: [(&str, FilterFor); 3] = [
            ("userName eq", |n| {
                format!("userName eq \"{}\"", user_name(n))
            }),
            ("emails[type eq \"work\"].value eq", |n| {
                format!("emails[type eq \"work\"].value eq \"{}\"", user_name(n))
            }),
            ("externalId eq", |n| {
                format!("externalId eq \"{}\"", external_id(n))
            }),
        ];
        for (name, filter) in filters {
            let o = gen_.run(&t, 16, cfg.n(400_000, 50_000), cap, 1, move |_, rng| {
                let n = rng.below(users_total);
                Req::get(format!("/Users?filter={}", enc(&filter(n))))
            });
            report.add(
                &format!("filter {name}, {big}"),
                16,
                &o,
                None,
                Goal::RateP99(40_000.0, 2.0),
            );
        }
    }
    // ---- paging: walks of pages of 100, one client as an IdP import does
    if cfg.wants("page") {
        let deep = (users_total as f64 * 0.9) as u64 + 1;
        for start in [1, deep] {
            let o = gen_.run(&t, 1, cfg.n(2_000, 200), cap, 1, move |i, _| {
                Req::get(format!(
                    "/Users?startIndex={}&count=100",
                    start + (i * 100) % (users_total - start).max(100)
                ))
            });
            report.add(
                &format!("page of 100 by index, walk from startIndex={start}"),
                1,
                &o,
                None,
                Goal::None,
            );
        }
        if cursor_supported {
            cursor_phases(&gen_, &t, &mut report, cap, &cfg);
        } else {
            report.notes.push(
                "cursor pagination (RFC 9865): not advertised in /ServiceProviderConfig, so its \
             phase did not run; target p99 ≤ 10 ms per page"
                    .into(),
            );
        }
        let o = gen_.run(&t, 16, cfg.n(20_000, 2_000), cap, 1, |_, _| {
            Req::get(format!(
                "/Users?filter={}&count=100",
                enc("displayName sw \"A\"")
            ))
        });
        report.add(
            &format!("filter displayName sw \"A\", count=100, {big}"),
            16,
            &o,
            None,
            Goal::None,
        );
    }
    // ---- a Team grown to 100,000 members
    if cfg.wants("team") {
        team_phases(&gen_, &t, &mut report, &cfg, &ids);
    }
    // ---- a mixed IdP-like load
    if cfg.wants("mixed") {
        let pick = random_user.clone();
        let next = next_user.clone();
        next.store(users_total, Ordering::Relaxed);
        let o = gen_.run(&t, 16, cfg.n(300_000, 30_000), cap, 4, move |i, rng| {
            let r = rng.below(100);
            if r < 35 {
                Req::get(format!("/Users/{}", pick(rng).1)).kind(0)
            } else if r < 70 {
                let (n, _) = pick(rng);
                Req::get(format!(
                    "/Users?filter={}",
                    enc(&format!("userName eq \"{}\"", user_name(n)))
                ))
                .kind(1)
            } else if r < 90 {
                let (_, id) = pick(rng);
                let body = json!({
                    "schemas": [PATCH_OP],
                    "Operations": [{"op": "replace", "path": "title", "value": format!("Engineer {i}")}]
                });
                Req::with(hyper::Method::PATCH, format!("/Users/{id}"), &body, 200).kind(2)
            } else {
                let n = next.fetch_add(1, Ordering::Relaxed);
                Req::with(hyper::Method::POST, "/Users".into(), &okta_user(n), 201).kind(3)
            }
        });
        report.add("mixed 70/20/10: all", 16, &o, None, Goal::None);
        report.add("mixed: GET /Users/{id}", 16, &o, Some(0), Goal::None);
        report.add("mixed: filter userName eq", 16, &o, Some(1), Goal::None);
        report.add("mixed: PATCH replace title", 16, &o, Some(2), Goal::None);
        report.add("mixed: POST /Users", 16, &o, Some(3), Goal::None);
    }

    // ---- SCIM writes beside a slow event receiver (issue 18): the event is one more row in
    // the change's transaction and delivery runs in a task of its own, so a receiver that takes
    // 200 ms per SET should leave write latency where it was. Measured here, not asserted.
    if cfg.wants("events") {
        let next = next_user.clone();
        next.store(users_total * 2 + 10_000_000, Ordering::Relaxed);
        let writes = cfg.n(20_000, 2_000);
        let o = gen_.run(&t, 16, writes, cap, 1, create(next.clone()));
        report.add("POST /Users, no event receiver", 16, &o, None, Goal::None);
        let (slow_rt, slow_addr, got) = start_slow_receiver(Duration::from_millis(200));
        let added = Command::new(env!("CARGO_BIN_EXE_scimbox"))
            .args(["events", "add", "--org", &server.org_id, "--full", "--url"])
            .arg(format!("http://{slow_addr}/set"))
            .arg("--db")
            .arg(&server.db)
            .output()
            .unwrap();
        assert!(
            added.status.success(),
            "{}",
            String::from_utf8_lossy(&added.stderr)
        );
        // The server sees a receiver the CLI added within a second: wait for its first SET.
        let started = Instant::now();
        while got.load(Ordering::Relaxed) == 0 {
            let _ = gen_.one(&t, create(next.clone())(0, &mut Rng::new(1)));
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the receiver got nothing"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let o = gen_.run(&t, 16, writes, cap, 1, create(next.clone()));
        report.add(
            "POST /Users, slow receiver (200 ms/SET)",
            16,
            &o,
            None,
            Goal::None,
        );
        let o = gen_.run(&t, 1, writes / 4, cap, 1, create(next.clone()));
        report.add(
            "POST /Users, slow receiver (200 ms/SET)",
            1,
            &o,
            None,
            Goal::None,
        );
        eprintln!(
            "  events: the slow receiver took {} SETs; the rest waits in the outbox",
            got.load(Ordering::Relaxed)
        );
        slow_rt.shutdown_background();
    }

    // ---- the report
    let rss_big = rss_line(server.pid);
    let peak_big = proc_status(server.pid).get("VmHWM").copied().unwrap_or(0.0);
    let db_big = db_size(&server.db);
    let sampled_big = take_peak(&sampler);

    // ---- the soak, then memory after large requests (both after the figures above, so the
    // large requests' peaks stay out of the run's RSS)
    let soaked = cfg
        .wants("soak")
        .then(|| soak::run(&gen_, &t, server.pid, &cfg.soak, &ids, created));
    let memory = cfg
        .wants("memory")
        .then(|| soak::huge_requests(&gen_, &t, server.pid, &sampler, cfg.settle));

    println!(
        "scimbox bench: {users_total} users (scale {}), {} generator threads, phase cap {:?}, server log level {}, {} cores",
        cfg.scale,
        cfg.client_threads,
        cap,
        cfg.log_level,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    report.print();
    print_versus(&mut report.versus);
    let ceiling = report
        .rows
        .iter()
        .filter(|r| r.name.starts_with("generator ceiling") && r.conc == 16)
        .map(|r| r.rate)
        .fold(0.0, f64::max);
    let fastest = report
        .rows
        .iter()
        .filter(|r| !r.name.starts_with("generator ceiling"))
        .map(|r| r.rate)
        .fold(0.0, f64::max);
    if ceiling > 0.0 {
        println!(
            "- generator ceiling (hello, c=16): {ceiling:.0}/s; the fastest scimbox phase reached {fastest:.0}/s ({:.0}% of it)",
            100.0 * fastest / ceiling
        );
    }
    let ok = |b: bool| if b { "met" } else { "**missed**" };
    println!("- server RSS at start, before any request: {rss_idle}");
    println!(
        "- server RSS serving {created} users: {rss_small} — target ≤ 40 MiB: {}",
        ok(peak_small <= 40.0)
    );
    println!("  - {}", peak_line(sampled_small));
    println!(
        "- server RSS during the {users_total}-user run: {rss_big} — target ≤ 200 MiB: {}",
        ok(peak_big <= 200.0)
    );
    println!("  - {}", peak_line(sampled_big));
    println!(
        "- preload: {preloaded} users in {:.1} s ({:.0} users/s), through the store in transactions of 10,000",
        preload_time.as_secs_f64(),
        preloaded as f64 / preload_time.as_secs_f64()
    );
    println!("- database at {created} users: {db_small}");
    println!("- database at the end: {db_big}");
    println!(
        "- ceilings: client CPU/op is this process (generator + hello server in the first rows); \
         server CPU/op is the scimbox process, both from /proc/<pid>/stat at 10 ms resolution"
    );
    for n in &report.notes {
        println!("- {n}");
    }
    if let Some(v) = &soaked {
        print!("{}", v.text);
    }
    if let Some(m) = &memory {
        print!("{m}");
    }

    // SIGTERM: the server drains and checkpoints, as in production.
    let _ = Command::new("kill")
        .args(["-TERM", &server.pid.to_string()])
        .status();
    let _ = server.child.wait();
    if kept {
        let path = dir.keep();
        eprintln!("kept the database and server log in {}", path.display());
    }
    let failures = soaked.map(|v| v.failures).unwrap_or_default();
    for f in &failures {
        eprintln!("scimbox bench: FAILED: {f}");
    }
    if !failures.is_empty() {
        std::process::exit(1);
    }
}

/// First page and a walk by cursor (RFC 9865), when the server advertises it.
fn cursor_phases(gen_: &Generator, t: &Target, report: &mut Report, cap: Duration, cfg: &Config) {
    let o = gen_.run(t, 1, cfg.n(2_000, 200), cap, 1, |_, _| {
        Req::get("/Users?cursor=&count=100".into())
    });
    report.add(
        "page of 100 by cursor: first page",
        1,
        &o,
        None,
        Goal::P99(10.0),
    );
    // A walk follows nextCursor, so it is sequential: one connection, timed page by page.
    let (mut lat, mut last, mut errors) = (Vec::new(), None, 0u64);
    let srv0 = cpu_time(&gen_.server_pid.unwrap_or(0).to_string());
    let started = Instant::now();
    gen_.rt.block_on(async {
        let mut conn = connect(t.addr).await;
        let mut cursor = String::new();
        while started.elapsed() < cap * 2 {
            let (status, body, dt) = send(
                &mut conn,
                t,
                Req::get(format!("/Users?cursor={}&count=100", enc(&cursor))),
            )
            .await;
            lat.push(dt.as_nanos() as u64);
            if status != 200 {
                errors += 1;
                break;
            }
            let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            match v.get("nextCursor").and_then(Value::as_str) {
                Some(c) if !c.is_empty() => cursor = c.to_string(),
                _ => {
                    last = Some(dt.as_nanos() as u64);
                    break;
                }
            }
        }
    });
    let elapsed = started.elapsed();
    let server_cpu = cpu_time(&gen_.server_pid.unwrap_or(0).to_string()) - srv0;
    lat.sort_unstable();
    let o = Outcome {
        lat: vec![lat],
        errors,
        first_error: (errors > 0).then(|| "a cursor page failed".into()),
        elapsed,
        server_cpu,
        client_cpu: Duration::ZERO,
    };
    report.add("page of 100 by cursor: walk", 1, &o, None, Goal::P99(10.0));
    match last {
        Some(ns) => report.notes.push(format!(
            "cursor walk reached the last page: {}",
            ms(Some(Duration::from_nanos(ns)))
        )),
        None => report
            .notes
            .push("cursor walk stopped at its time cap before the last page".into()),
    }
}

/// A Team grown by PATCHes of 1,000 members; one-member add and remove, and a GET without
/// members, at 10, 10,000 and 100,000 members.
fn team_phases(
    gen_: &Generator,
    t: &Target,
    report: &mut Report,
    cfg: &Config,
    ids: &Arc<Vec<u128>>,
) {
    let cap = cfg.phase_cap;
    let (status, team) = gen_.one(
        t,
        Req::with(
            hyper::Method::POST,
            "/Groups".into(),
            &json!({"schemas": [GROUP_SCHEMA], "displayName": "Bench Team", "members": []}),
            201,
        ),
    );
    assert_eq!(status, 201, "create Team: {team}");
    let team_id = team["id"].as_str().unwrap().to_string();
    let sizes = [10, cfg.n(10_000, 500), cfg.n(100_000, 5_000)];
    // Members are the first preloaded users; the users added and removed one at a time come
    // after them, so they are never members already.
    let outsiders_from = sizes[2] as usize;
    let outsiders = 1_000usize.min(ids.len().saturating_sub(outsiders_from));
    assert!(outsiders > 0, "too few users for the Team phases");
    let mut members = 0usize;
    let mut growth = Outcome {
        lat: vec![Vec::new()],
        errors: 0,
        first_error: None,
        elapsed: Duration::ZERO,
        server_cpu: Duration::ZERO,
        client_cpu: Duration::ZERO,
    };
    let patch_members = |op: &str, values: &[u128]| -> Value {
        let value: Vec<Value> = values
            .iter()
            .map(|id| json!({"value": uuid_text(*id)}))
            .collect();
        json!({"schemas": [PATCH_OP], "Operations": [{"op": op, "path": "members", "value": value}]})
    };
    for (step, &size) in sizes.iter().enumerate() {
        let size = size as usize;
        // Grow in PATCHes of at most 1,000 members, one at a time as an IdP pushes them.
        let chunks: Vec<(usize, usize)> = (members..size)
            .step_by(1_000)
            .map(|lo| (lo, (lo + 1_000).min(size)))
            .collect();
        if !chunks.is_empty() {
            let (ids2, tid) = (ids.clone(), team_id.clone());
            let chunks = Arc::new(chunks);
            let n = chunks.len() as u64;
            let ch = chunks.clone();
            let o = gen_.run(t, 1, n, Duration::from_secs(600), 1, move |i, _| {
                let (lo, hi) = ch[i as usize];
                let body = patch_members("add", &ids2[lo..hi]);
                Req::with(hyper::Method::PATCH, format!("/Groups/{tid}"), &body, 204)
            });
            if step > 0 {
                growth.lat[0].extend(o.lat[0].iter().copied());
                growth.errors += o.errors;
                growth.first_error = growth.first_error.or(o.first_error);
                growth.elapsed += o.elapsed;
                growth.server_cpu += o.server_cpu;
                growth.client_cpu += o.client_cpu;
            }
            members = size;
        }
        let label = if size >= 1_000 {
            format!("{}k", size / 1_000)
        } else {
            size.to_string()
        };
        // One member in, then out again: alternate add and remove of outsiders.
        let (ids2, tid) = (ids.clone(), team_id.clone());
        let o = gen_.run(t, 1, cfg.n(2_000, 1_000), cap, 2, move |i, _| {
            let u = ids2[outsiders_from + (i as usize / 2) % outsiders];
            let (op, kind) = if i % 2 == 0 {
                ("add", 0)
            } else {
                ("remove", 1)
            };
            let body = patch_members(op, &[u]);
            Req::with(hyper::Method::PATCH, format!("/Groups/{tid}"), &body, 204).kind(kind)
        });
        let base_add = "Team PATCH add 1 member, 10 members";
        let base_remove = "Team PATCH remove 1 member, 10 members";
        let (goal_add, goal_remove) = if step == 2 {
            (
                Goal::P99Relative(2.0, 2.0, base_add),
                Goal::P99Relative(2.0, 2.0, base_remove),
            )
        } else {
            (Goal::None, Goal::None)
        };
        report.add(
            &format!("Team PATCH add 1 member, {label} members"),
            1,
            &o,
            Some(0),
            goal_add,
        );
        report.add(
            &format!("Team PATCH remove 1 member, {label} members"),
            1,
            &o,
            Some(1),
            goal_remove,
        );
        let tid = team_id.clone();
        let o = gen_.run(t, 1, cfg.n(5_000, 2_000), cap, 1, move |_, _| {
            Req::get(format!("/Groups/{tid}?excludedAttributes=members"))
        });
        report.add(
            &format!("GET /Groups/{{id}}?excludedAttributes=members, {label} members"),
            1,
            &o,
            None,
            Goal::P99(1.0),
        );
    }
    growth.lat[0].sort_unstable();
    report.add(
        "Team PATCH add 1,000 members (growth)",
        1,
        &growth,
        None,
        Goal::None,
    );
}

// ---- beside the minimal server ------------------------------------------------------------

/// What one server measured over the rounds of one comparison.
#[derive(Default)]
struct Side {
    ops: u64,
    secs: f64,
    cpu: Duration,
    lat: Vec<u64>,
    errors: u64,
    /// ops/s of each round.
    rounds: Vec<f64>,
}

impl Side {
    fn add(&mut self, o: &Outcome, cpu: Duration) {
        self.ops += o.ops();
        self.secs += o.elapsed.as_secs_f64();
        self.cpu += cpu;
        self.errors += o.errors;
        self.rounds
            .push(o.ops() as f64 / o.elapsed.as_secs_f64().max(1e-9));
        self.lat.extend(o.lat.iter().flatten().copied());
    }
    fn rate(&self) -> f64 {
        self.ops as f64 / self.secs.max(1e-9)
    }
    fn cpu_us(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.ops.max(1) as f64
    }
    fn mean_ms(&self) -> f64 {
        if self.lat.is_empty() {
            return 0.0;
        }
        self.lat.iter().sum::<u64>() as f64 / self.lat.len() as f64 / 1e6
    }
}

/// One request type measured on both servers, and the target for the ratio.
struct Versus {
    name: &'static str,
    conc: usize,
    minimal: Side,
    scimbox: Side,
    /// scimbox's rate at least this fraction of the minimal server's (at one connection,
    /// the same as a mean latency at most 1/fraction times the minimal server's).
    target: f64,
}

impl Versus {
    fn ratio(&self) -> f64 {
        self.scimbox.rate() / self.minimal.rate().max(1e-9)
    }
}

fn print_versus(rows: &mut [Versus]) {
    if rows.is_empty() {
        return;
    }
    println!(
        "Beside the minimal server (hyper + rusqlite, thread-local read connections, prepared \
         statements, no auth, no logging, no rendering; creates: one transaction and one fsync \
         each), same database, same run, rounds alternating minimal / scimbox:"
    );
    println!();
    println!(
        "| request | c | minimal ops/s | scimbox ops/s | scimbox / minimal (per round) | minimal p50 / p99 | scimbox p50 / p99 | server CPU/op minimal / scimbox | target | result |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|---|---|");
    for v in rows.iter_mut() {
        v.minimal.lat.sort_unstable();
        v.scimbox.lat.sort_unstable();
        let per_round: Vec<String> = v
            .scimbox
            .rounds
            .iter()
            .zip(&v.minimal.rounds)
            .map(|(s, m)| format!("{:.2}", s / m.max(1e-9)))
            .collect();
        let target = if v.conc == 1 && v.name.starts_with("POST") {
            format!(
                "mean latency ≤ {:.0}× minimal ({:.2} vs {:.2} ms)",
                1.0 / v.target,
                v.scimbox.mean_ms(),
                v.minimal.mean_ms()
            )
        } else {
            format!("≥ {:.2}", v.target)
        };
        let errors = v.minimal.errors + v.scimbox.errors;
        let result = if errors > 0 {
            format!("**{errors} errors**")
        } else if v.ratio() >= v.target {
            "met".into()
        } else {
            "**missed**".into()
        };
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.2} ({}) | {} / {} | {} / {} | {:.1} / {:.1} µs | {} | {} |",
            v.name,
            v.conc,
            v.minimal.rate(),
            v.scimbox.rate(),
            v.ratio(),
            per_round.join(" / "),
            ms(pct(&v.minimal.lat, 50.0)),
            ms(pct(&v.minimal.lat, 99.0)),
            ms(pct(&v.scimbox.lat, 50.0)),
            ms(pct(&v.scimbox.lat, 99.0)),
            v.minimal.cpu_us(),
            v.scimbox.cpu_us(),
            target,
            result
        );
    }
    println!();
}

/// Measures scimbox beside the minimal server on the same database, request type by request
/// type: minimal, scimbox, minimal, scimbox (so drift of the machine falls on both alike),
/// each round bounded by time rather than count.
fn versus_phases(
    gen_: &Generator,
    t: &Target,
    report: &mut Report,
    cfg: &Config,
    server: &Server,
    random_user: &(impl Fn(&mut Rng) -> (u64, String) + Clone + Send + Sync + 'static),
    users_total: u64,
) {
    let secs = std::env::var("SCIMBOX_BENCH_VERSUS_SECS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(if cfg.scale <= 0.001 {
            0.1
        } else if cfg.scale < 0.5 {
            0.8
        } else {
            3.0
        });
    let round = Duration::from_secs_f64(secs);
    let org_pk: i64 = rusqlite::Connection::open(&server.db)
        .unwrap()
        .query_row("SELECT pk FROM orgs WHERE id = ?", [&server.org_id], |r| {
            r.get(0)
        })
        .unwrap();
    let create_db = server.db.with_file_name("minimal-creates.db");
    let min = minimal::start(&server.db, org_pk, &create_db);
    let mt = Target {
        addr: min.addr,
        host: min.addr.to_string(),
        base: t.base.clone(),
        auth: t.auth.clone(),
    };
    eprintln!(
        "  beside the minimal server at {}, rounds of {secs} s",
        min.addr
    );
    type Make = Arc<dyn Fn(&mut Rng) -> Req + Send + Sync>;
    let get: Make = {
        let pick = random_user.clone();
        Arc::new(move |rng| Req::get(format!("/Users/{}", pick(rng).1)))
    };
    let filter = |f: FilterFor| -> Make {
        Arc::new(move |rng| {
            let n = rng.below(users_total);
            Req::get(format!("/Users?filter={}", enc(&f(n))))
        })
    };
    let user_name_eq = filter(|n| format!("userName eq \"{}\"", user_name(n)));
    // Creates take user numbers no other phase uses (the minimal server writes its own file,
    // so the two never collide either).
    let next = Arc::new(AtomicU64::new(90_000_000 + users_total * 4));
    let create: Make = Arc::new(move |_| {
        let n = next.fetch_add(1, Ordering::Relaxed);
        Req::with(hyper::Method::POST, "/Users".into(), &okta_user(n), 201)
    });
    let cases: Vec<(&'static str, usize, Make, f64)> = vec![
        ("GET /Users/{id}", 16, get.clone(), 0.60),
        ("GET /Users/{id}", 1, get.clone(), 0.75),
        ("filter userName eq", 16, user_name_eq.clone(), 0.60),
        ("filter userName eq", 1, user_name_eq, 0.75),
        (
            "filter emails[type eq \"work\"].value eq",
            16,
            filter(|n| format!("emails[type eq \"work\"].value eq \"{}\"", user_name(n))),
            0.50,
        ),
        (
            "filter externalId eq",
            16,
            filter(|n| format!("externalId eq \"{}\"", external_id(n))),
            0.50,
        ),
        ("POST /Users, durable", 1, create, 0.50),
    ];
    let run = |target: &Target, conc: usize, make: &Make, cap: Duration| {
        let make = make.clone();
        gen_.run(target, conc, u64::MAX, cap, 1, move |_, rng| make(rng))
    };
    // Both servers' caches warm before anything counts.
    for target in [&mt, t] {
        let _ = run(target, 16, &get, round / 3);
    }
    let cpu_pid = server.pid.to_string();
    for (name, conc, make, goal) in cases {
        let mut v = Versus {
            name,
            conc,
            minimal: Side::default(),
            scimbox: Side::default(),
            target: goal,
        };
        for _ in 0..2 {
            let c0 = minimal::cpu_time();
            let o = run(&mt, conc, &make, round);
            v.minimal.add(&o, minimal::cpu_time() - c0);
            if let Some(e) = &o.first_error {
                report
                    .notes
                    .push(format!("minimal server, {name} c={conc}: {e}"));
            }
            let c0 = cpu_time(&cpu_pid);
            let o = run(t, conc, &make, round);
            v.scimbox.add(&o, cpu_time(&cpu_pid) - c0);
            if let Some(e) = &o.first_error {
                report.notes.push(format!("scimbox, {name} c={conc}: {e}"));
            }
        }
        eprintln!(
            "  versus {name:<40} c={conc:<3} minimal {:>8.0}/s  scimbox {:>8.0}/s  ratio {:.2}",
            v.minimal.rate(),
            v.scimbox.rate(),
            v.ratio()
        );
        report.versus.push(v);
    }
    min.rt.shutdown_background();
}
