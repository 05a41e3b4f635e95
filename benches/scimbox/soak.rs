//! The soak (issue 19) and the huge-request memory check, two phase groups of the benchmark.
//!
//! `soak`: several IdP clients at once send the mix Okta and Entra send in steady state
//! (matching filters before creates, GETs, PATCHes of `active` in both dialects and of the
//! work e-mail, Okta's PUT of the whole profile, Team membership PATCHes, import pages, Group
//! lookups, creates and deletes in balance), for `--soak <duration>`. Every interval it prints
//! one line: requests, errors, p50/p90/p99/max latency, and the server's RSS and open file
//! descriptors (from `/proc/<pid>/status` and `/proc/<pid>/fd`). At the end it compares the
//! interval after warm-up with the last one and says whether memory and descriptors stayed
//! flat. Each client owns its slice of the preloaded users, its own created users and its own
//! Team, so every status is known in advance and any other status is an error.
//!
//! `memory`: the server's RSS before, at the peak and after each of a few large requests (a
//! refused 16,000-email PATCH, the heaviest PATCH the caps allow, a Bulk request of 1,000
//! creates, an 8 MB PATCH refused after parsing), so "memory comes back" can be rerun.
//! Each PATCH goes to a fresh user without e-mails.

use super::*;
use std::sync::atomic::AtomicBool;

// ---- configuration ------------------------------------------------------------------------

/// How long the soak runs and how it is judged.
pub struct SoakConfig {
    pub duration: Duration,
    pub interval: Duration,
    pub clients: usize,
    /// Requests per second over all clients; 0: as fast as the server answers.
    pub rate: f64,
    /// `--soak` was given: memory growth fails the run too (a short run's RSS is too noisy).
    pub explicit: bool,
}

impl SoakConfig {
    /// `--soak <duration>` (`90s`, `30m`, `1h`, or seconds), `--soak-rate <req/s>` and
    /// `--soak-clients <n>`; without `--soak`, `default` (a short run).
    pub fn from_args(default: Duration) -> SoakConfig {
        let args: Vec<String> = std::env::args().collect();
        let value = |name: &str| -> Option<String> {
            let eq = format!("{name}=");
            args.iter().enumerate().find_map(|(i, a)| {
                if a == name {
                    Some(
                        args.get(i + 1)
                            .cloned()
                            .unwrap_or_else(|| panic!("{name} needs a value")),
                    )
                } else {
                    a.strip_prefix(&eq).map(str::to_string)
                }
            })
        };
        let given = value("--soak").map(|v| {
            parse_duration(&v)
                .unwrap_or_else(|| panic!("--soak {v}: give a duration such as 90s, 30m or 1h"))
        });
        let duration = given.unwrap_or(default);
        // One line a minute on a long run; six lines on a short one.
        let interval = if duration >= Duration::from_secs(600) {
            Duration::from_secs(60)
        } else {
            (duration / 6).max(Duration::from_secs(1))
        };
        let rate = value("--soak-rate").map_or(0.0, |v| {
            v.parse::<f64>()
                .ok()
                .filter(|r| *r >= 0.0)
                .unwrap_or_else(|| panic!("--soak-rate {v}: give requests per second"))
        });
        let clients = value("--soak-clients").map_or(8, |v| {
            v.parse::<usize>()
                .ok()
                .filter(|c| *c > 0)
                .unwrap_or_else(|| panic!("--soak-clients {v}: give a positive count"))
        });
        SoakConfig {
            duration,
            interval,
            clients,
            rate,
            explicit: given.is_some(),
        }
    }
}

/// `90s`, `30m`, `1h`, `1.5h` or a plain number of seconds.
fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, unit) = match s.char_indices().find(|(_, c)| c.is_ascii_alphabetic()) {
        Some((i, _)) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .ok()
        .filter(|n: &f64| *n > 0.0 && n.is_finite())?;
    let secs = match unit {
        "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

// ---- latency histogram --------------------------------------------------------------------

/// Log buckets 2 % wide from 1 µs to beyond 100 s: percentiles to 2 %, the maximum exact.
#[derive(Clone)]
struct Hist {
    counts: Vec<u64>,
    n: u64,
    max: u64,
}

const BUCKETS: usize = 1_400;
const STEP: f64 = 1.02;

impl Hist {
    fn new() -> Hist {
        Hist {
            counts: vec![0; BUCKETS],
            n: 0,
            max: 0,
        }
    }
    fn bucket(ns: u64) -> usize {
        if ns <= 1_000 {
            return 0;
        }
        ((((ns as f64) / 1_000.0).ln() / STEP.ln()).ceil() as usize).min(BUCKETS - 1)
    }
    fn add(&mut self, ns: u64) {
        self.counts[Hist::bucket(ns)] += 1;
        self.n += 1;
        self.max = self.max.max(ns);
    }
    fn merge(&mut self, o: &Hist) {
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            *a += b;
        }
        self.n += o.n;
        self.max = self.max.max(o.max);
    }
    fn pct(&self, p: f64) -> Option<Duration> {
        if self.n == 0 {
            return None;
        }
        let rank = ((self.n as f64 * p / 100.0).ceil() as u64).max(1);
        let mut seen = 0;
        for (b, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let upper = (1_000.0 * STEP.powi(b as i32)) as u64;
                return Some(Duration::from_nanos(upper.min(self.max)));
            }
        }
        Some(Duration::from_nanos(self.max))
    }
    fn max(&self) -> Option<Duration> {
        (self.n > 0).then(|| Duration::from_nanos(self.max))
    }
}

// ---- the soak -----------------------------------------------------------------------------

/// The request kinds, for the per-kind table.
const KINDS: &[&str] = &[
    "filter userName eq",
    "GET /Users/{id}",
    "POST /Users",
    "DELETE /Users/{id}",
    "PATCH /Users active (Okta, Entra)",
    "PATCH /Users work e-mail (Entra)",
    "PUT /Users/{id} (Okta profile)",
    "PATCH /Groups members add/remove",
    "list page of 100 (Users, Groups)",
    "GET /Groups (displayName eq, by id)",
];
const FILTER: usize = 0;
const GET: usize = 1;
const CREATE: usize = 2;
const DELETE: usize = 3;
const ACTIVE: usize = 4;
const EMAIL: usize = 5;
const PUT: usize = 6;
const MEMBERS: usize = 7;
const LIST: usize = 8;
const GROUPS: usize = 9;

/// What the clients share with the reporter.
struct Shared {
    /// This interval's latencies (all kinds), and the whole run's per kind.
    lat: Mutex<(Hist, Vec<Hist>)>,
    errors: AtomicU64,
    first_errors: Mutex<Vec<String>>,
    stop: AtomicBool,
}

impl Shared {
    fn record(&self, kind: usize, dt: Duration, status: u16, expect: u16, what: &str, body: &[u8]) {
        let ns = dt.as_nanos() as u64;
        {
            let mut l = self.lat.lock().unwrap();
            l.0.add(ns);
            l.1[kind].add(ns);
        }
        if status != expect {
            self.errors.fetch_add(1, Ordering::Relaxed);
            let mut f = self.first_errors.lock().unwrap();
            if f.len() < 5 {
                f.push(format!(
                    "{what}: {status} (expected {expect}): {}",
                    String::from_utf8_lossy(&body[..body.len().min(300)])
                ));
            }
        }
    }
}

/// One client's view: its connection, pacing and the users and Team it owns.
struct Client {
    t: usize,
    target: Target,
    conn: SendRequest<Body>,
    shared: Arc<Shared>,
    rng: Rng,
    /// Pacing: the time of this client's next request.
    period: Option<Duration>,
    next_at: tokio::time::Instant,
    /// The preloaded users (index i is user number `first_n + i`); this client updates only
    /// those with `i % clients == t`, and reads any.
    pool: Arc<Vec<u128>>,
    first_n: u64,
    clients: usize,
    /// Users this client created and has not deleted: (number, id).
    created: Vec<(u64, String)>,
    next_new: u64,
    team: String,
    team_name: String,
    members: Vec<usize>,
    member_set: std::collections::HashSet<usize>,
}

impl Client {
    async fn call(&mut self, kind: usize, req: Req) -> (u16, Bytes) {
        if let Some(p) = self.period {
            self.next_at += p;
            tokio::time::sleep_until(self.next_at).await;
        }
        let expect = req.expect;
        let what = format!("{} {}", req.method, req.path);
        let (status, body, dt) = send(&mut self.conn, &self.target, req).await;
        self.shared.record(kind, dt, status, expect, &what, &body);
        (status, body)
    }

    /// One of this client's preloaded users: (pool index, number, id).
    fn own(&mut self) -> (usize, u64, String) {
        let owned = (self.pool.len() - self.t).div_ceil(self.clients) as u64;
        let i = self.t + self.clients * self.rng.below(owned) as usize;
        (i, self.first_n + i as u64, uuid_text(self.pool[i]))
    }

    /// Any preloaded user: (number, id).
    fn any(&mut self) -> (u64, String) {
        let i = self.rng.below(self.pool.len() as u64) as usize;
        (self.first_n + i as u64, uuid_text(self.pool[i]))
    }

    async fn filter_user_name(&mut self, name: &str) -> (u16, Bytes) {
        let q = enc(&format!("userName eq \"{name}\""));
        let path = format!("/Users?filter={q}&startIndex=1&count=100");
        self.call(FILTER, Req::get(path)).await
    }

    async fn step(&mut self) {
        let r = self.rng.below(100);
        if r < 22 {
            // Lookups by userName: mostly hits, some of this client's own users, and the
            // random-GUID miss of Entra's Test Connection.
            let name = match self.rng.below(10) {
                0 => uuid_text(u128::from(self.rng.next()) << 64 | u128::from(self.rng.next())),
                1 if !self.created.is_empty() => {
                    let k = self.rng.below(self.created.len() as u64) as usize;
                    user_name(self.created[k].0)
                }
                _ => user_name(self.any().0),
            };
            self.filter_user_name(&name).await;
        } else if r < 42 {
            let id = if !self.created.is_empty() && self.rng.below(10) < 3 {
                let k = self.rng.below(self.created.len() as u64) as usize;
                self.created[k].1.clone()
            } else {
                self.any().1
            };
            self.call(GET, Req::get(format!("/Users/{id}"))).await;
        } else if r < 49 || (r < 56 && self.created.is_empty()) {
            self.create().await;
        } else if r < 56 {
            let k = self.rng.below(self.created.len() as u64) as usize;
            let (_, id) = self.created.swap_remove(k);
            let req = Req {
                method: hyper::Method::DELETE,
                path: format!("/Users/{id}"),
                body: None,
                expect: 204,
                kind: 0,
            };
            self.call(DELETE, req).await;
        } else if r < 64 {
            let (_, _, id) = self.own();
            let on = self.rng.below(2) == 0;
            let op = if self.rng.below(2) == 0 {
                // Okta: a path-less replace with a JSON boolean.
                json!({"op": "replace", "value": {"active": on}})
            } else {
                // Entra without the compliance flag: capitalized op, a string boolean.
                json!({"op": "Replace", "path": "active", "value": if on { "True" } else { "False" }})
            };
            let body = json!({"schemas": [PATCH_OP], "Operations": [op]});
            let req = Req::with(hyper::Method::PATCH, format!("/Users/{id}"), &body, 200);
            self.call(ACTIVE, req).await;
        } else if r < 70 {
            let (_, n, id) = self.own();
            let value = if self.rng.below(2) == 0 {
                user_name(n)
            } else {
                format!("user{n:07}@mail.example.com")
            };
            let body = json!({"schemas": [PATCH_OP], "Operations": [
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": value}
            ]});
            let req = Req::with(hyper::Method::PATCH, format!("/Users/{id}"), &body, 200);
            self.call(EMAIL, req).await;
        } else if r < 78 {
            // Okta's profile update: GET, then PUT of the whole user with read-only members.
            let (_, n, id) = self.own();
            self.call(GET, Req::get(format!("/Users/{id}"))).await;
            let mut body = okta_user(n);
            body["id"] = json!(id);
            body["meta"] = json!({"resourceType": "User"});
            body["name"]["middleName"] = json!(format!("M{}", self.rng.below(1000)));
            let req = Req::with(hyper::Method::PUT, format!("/Users/{id}"), &body, 200);
            self.call(PUT, req).await;
        } else if r < 90 {
            self.membership().await;
        } else if r < 95 {
            let path = if self.rng.below(4) == 0 {
                "/Groups?startIndex=1&count=100&excludedAttributes=members".to_string()
            } else {
                let pages = (self.pool.len() as u64 / 100).clamp(1, 50);
                format!(
                    "/Users?startIndex={}&count=100",
                    1 + 100 * self.rng.below(pages)
                )
            };
            self.call(LIST, Req::get(path)).await;
        } else {
            let path = if self.rng.below(2) == 0 {
                let q = enc(&format!("displayName eq \"{}\"", self.team_name));
                format!("/Groups?filter={q}&startIndex=1&count=100")
            } else {
                format!("/Groups/{}?excludedAttributes=members", self.team)
            };
            self.call(GROUPS, Req::get(path)).await;
        }
    }

    /// Okta's assign flow: the userName lookup misses, then the create.
    async fn create(&mut self) {
        let n = self.next_new;
        self.next_new += 1;
        self.filter_user_name(&user_name(n)).await;
        let mut body = okta_user(n);
        body["password"] = json!(format!("pw-{}", self.rng.next()));
        let (status, resp) = self
            .call(
                CREATE,
                Req::with(hyper::Method::POST, "/Users".into(), &body, 201),
            )
            .await;
        if status == 201 {
            let v: Value = serde_json::from_slice(&resp).unwrap_or(Value::Null);
            if let Some(id) = v["id"].as_str() {
                self.created.push((n, id.to_string()));
            }
        }
    }

    /// Okta's membership PATCH: an add, a remove by filter, or both in one request; the Team
    /// is kept between 20 and 200 members.
    async fn membership(&mut self) {
        let mut ops = Vec::new();
        let size = self.members.len();
        let remove = size > 200 || (size > 20 && self.rng.below(2) == 0);
        if remove || (size > 20 && self.rng.below(4) == 0) {
            let k = self.rng.below(size as u64) as usize;
            let i = self.members.swap_remove(k);
            self.member_set.remove(&i);
            ops.push(json!({"op": "remove",
                "path": format!("members[value eq \"{}\"]", uuid_text(self.pool[i]))}));
        }
        if !remove || ops.len() == 1 && self.rng.below(2) == 0 {
            let (i, n, id) = self.own();
            if self.member_set.insert(i) {
                self.members.push(i);
                ops.push(json!({"op": "add", "path": "members",
                    "value": [{"value": id, "display": user_name(n)}]}));
            }
        }
        if ops.is_empty() {
            return;
        }
        let body = json!({"schemas": [PATCH_OP], "Operations": ops});
        let req = Req::with(
            hyper::Method::PATCH,
            format!("/Groups/{}", self.team),
            &body,
            204,
        );
        self.call(MEMBERS, req).await;
    }
}

/// One interval's line.
struct Interval {
    at: Duration,
    requests: u64,
    errors: u64,
    p50: Option<Duration>,
    p90: Option<Duration>,
    p99: Option<Duration>,
    max: Option<Duration>,
    rss: f64,
    anon: f64,
    fds: usize,
}

/// Open file descriptors of a process.
fn fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// What the run ends with: the report's text and why it fails, if it does.
pub struct Verdict {
    pub text: String,
    pub failures: Vec<String>,
}

/// Runs the soak against the server; `pool` holds the preloaded users' ids, user number
/// `first_n` first.
pub fn run(
    gen_: &Generator,
    target: &Target,
    pid: u32,
    cfg: &SoakConfig,
    pool: &Arc<Vec<u128>>,
    first_n: u64,
) -> Verdict {
    let clients = cfg.clients.min(pool.len()).max(1);
    let shared = Arc::new(Shared {
        lat: Mutex::new((Hist::new(), vec![Hist::new(); KINDS.len()])),
        errors: AtomicU64::new(0),
        first_errors: Mutex::new(Vec::new()),
        stop: AtomicBool::new(false),
    });
    let period = (cfg.rate > 0.0).then(|| Duration::from_secs_f64(clients as f64 / cfg.rate));
    eprintln!(
        "  soak: {clients} clients, {:?} in intervals of {:?}, {}",
        cfg.duration,
        cfg.interval,
        if cfg.rate > 0.0 {
            format!("paced at {:.0} requests/s", cfg.rate)
        } else {
            "unpaced".to_string()
        }
    );
    // Each client's Team, made before the clock starts.
    let mut setup = Vec::new();
    for t in 0..clients {
        let name = format!("Soak Team {t}");
        let (status, team) = gen_.one(
            target,
            Req::with(
                hyper::Method::POST,
                "/Groups".into(),
                &json!({"schemas": [GROUP_SCHEMA], "displayName": name, "members": []}),
                201,
            ),
        );
        assert_eq!(status, 201, "create the soak's Team: {team}");
        setup.push((name, team["id"].as_str().unwrap().to_string()));
    }
    let started = Instant::now();
    let tasks: Vec<_> = setup
        .into_iter()
        .enumerate()
        .map(|(t, (team_name, team))| {
            let (target, shared, pool) = (target.clone(), shared.clone(), pool.clone());
            gen_.rt.spawn(async move {
                let conn = connect(target.addr).await;
                let mut c = Client {
                    t,
                    target,
                    conn,
                    shared,
                    rng: Rng::new(0x50a4 + t as u64),
                    period,
                    next_at: tokio::time::Instant::now(),
                    pool,
                    first_n,
                    clients,
                    created: Vec::new(),
                    next_new: 1_000_000_000 + t as u64 * 100_000_000,
                    team,
                    team_name,
                    members: Vec::new(),
                    member_set: std::collections::HashSet::new(),
                };
                // Until the reporter has taken its last sample, so the last interval is full.
                while !c.shared.stop.load(Ordering::Relaxed) {
                    c.step().await;
                }
            })
        })
        .collect();

    // The reporter: one line per interval, read from the shared histogram and /proc.
    let mut rows: Vec<Interval> = Vec::new();
    let mut errors_seen = 0;
    let mut k = 1u32;
    loop {
        let due = (cfg.interval * k).min(cfg.duration);
        if let Some(wait) = (started + due).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let hist = std::mem::replace(&mut shared.lat.lock().unwrap().0, Hist::new());
        let errors = shared.errors.load(Ordering::Relaxed);
        let s = proc_status(pid);
        let g = |k: &str| s.get(k).copied().unwrap_or(0.0);
        let row = Interval {
            at: due,
            requests: hist.n,
            errors: errors - errors_seen,
            p50: hist.pct(50.0),
            p90: hist.pct(90.0),
            p99: hist.pct(99.0),
            max: hist.max(),
            rss: g("VmRSS"),
            anon: g("RssAnon"),
            fds: fds(pid),
        };
        errors_seen = errors;
        eprintln!(
            "  soak {:>6}  {:>8} req {:>7.0}/s  err {:<4} p50 {:>9}  p90 {:>9}  p99 {:>9}  max {:>9}  RSS {:>6.1} MiB (anon {:>6.1})  fds {}",
            format_at(row.at),
            row.requests,
            row.requests as f64
                / (due - rows.last().map_or(Duration::ZERO, |r| r.at)).as_secs_f64(),
            row.errors,
            ms(row.p50),
            ms(row.p90),
            ms(row.p99),
            ms(row.max),
            row.rss,
            row.anon,
            row.fds
        );
        rows.push(row);
        if due >= cfg.duration {
            break;
        }
        k += 1;
    }
    shared.stop.store(true, Ordering::Relaxed);
    gen_.rt.block_on(async {
        for t in tasks {
            t.await.unwrap();
        }
    });
    judge(cfg, clients, &rows, &shared)
}

fn format_at(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 && s % 60 == 0 {
        format!("{}m", s / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}s", s)
    }
}

fn judge(cfg: &SoakConfig, clients: usize, rows: &[Interval], shared: &Shared) -> Verdict {
    let mut text = String::new();
    let mut failures = Vec::new();
    let (lat_all, kinds) = {
        let l = shared.lat.lock().unwrap();
        let mut all = Hist::new();
        for h in &l.1 {
            all.merge(h);
        }
        (all, l.1.clone())
    };
    let errors = shared.errors.load(Ordering::Relaxed);
    let _ = writeln!(
        text,
        "\nsoak: {} with {clients} IdP clients ({}), one line per {}:\n",
        format_at(cfg.duration),
        if cfg.rate > 0.0 {
            format!("paced at {:.0} requests/s", cfg.rate)
        } else {
            "unpaced".to_string()
        },
        format_at(cfg.interval)
    );
    let _ = writeln!(
        text,
        "| at | requests | errors | p50 | p90 | p99 | max | server RSS | anonymous | open fds |"
    );
    let _ = writeln!(text, "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for r in rows {
        let _ = writeln!(
            text,
            "| {} | {} | {} | {} | {} | {} | {} | {:.1} MiB | {:.1} MiB | {} |",
            format_at(r.at),
            r.requests,
            r.errors,
            ms(r.p50),
            ms(r.p90),
            ms(r.p99),
            ms(r.max),
            r.rss,
            r.anon,
            r.fds
        );
    }
    let _ = writeln!(text, "\n| request | count | p50 | p99 | max |");
    let _ = writeln!(text, "|---|--:|--:|--:|--:|");
    for (name, h) in KINDS.iter().zip(&kinds) {
        let _ = writeln!(
            text,
            "| {name} | {} | {} | {} | {} |",
            h.n,
            ms(h.pct(50.0)),
            ms(h.pct(99.0)),
            ms(h.max())
        );
    }
    let _ = writeln!(
        text,
        "| all | {} | {} | {} | {} |\n",
        lat_all.n,
        ms(lat_all.pct(50.0)),
        ms(lat_all.pct(99.0)),
        ms(lat_all.max())
    );
    // Warm-up: the first tenth of the run (at least one interval); the interval after it is
    // the baseline the last one is compared with.
    let warm = (rows.len() / 10).max(1).min(rows.len() - 1);
    let (base, last) = (&rows[warm], &rows[rows.len() - 1]);
    let rss_growth = last.rss - base.rss;
    let rss_flat = rss_growth <= (0.10 * base.rss).max(4.0);
    let fd_growth = last.fds as i64 - base.fds as i64;
    let fds_flat = fd_growth <= 4;
    let hours = (last.at - base.at).as_secs_f64() / 3600.0;
    let _ = writeln!(
        text,
        "- soak memory: server RSS {:.1} MiB after warm-up (at {}) -> {:.1} MiB at the end ({:+.1} MiB, {:+.1}%{}): {}",
        base.rss,
        format_at(base.at),
        last.rss,
        rss_growth,
        100.0 * rss_growth / base.rss.max(1e-9),
        if hours >= 1.0 / 6.0 {
            format!(", {:+.1} MiB/hour", rss_growth / hours)
        } else {
            String::new()
        },
        if rss_flat {
            "flat (within 10% or 4 MiB)"
        } else {
            "**grew** (more than 10% and 4 MiB)"
        }
    );
    let _ = writeln!(
        text,
        "- soak file descriptors: {} after warm-up -> {} at the end ({fd_growth:+}): {}",
        base.fds,
        last.fds,
        if fds_flat {
            "flat (within 4)"
        } else {
            "**grew** (more than 4)"
        }
    );
    let _ = writeln!(
        text,
        "- soak errors: {errors} of {} requests (a status other than the one the request must get)",
        lat_all.n
    );
    for e in shared.first_errors.lock().unwrap().iter() {
        let _ = writeln!(text, "  - {e}");
    }
    if errors > 0 {
        failures.push(format!("the soak had {errors} errors"));
    }
    if !fds_flat {
        failures.push(format!(
            "the server's open file descriptors grew from {} to {} during the soak",
            base.fds, last.fds
        ));
    }
    if !rss_flat && cfg.explicit {
        failures.push(format!(
            "the server's RSS grew from {:.1} to {:.1} MiB during the soak",
            base.rss, last.rss
        ));
    }
    if lat_all.n == 0 {
        failures.push("the soak sent no request".into());
    }
    Verdict { text, failures }
}

// ---- memory after huge requests -----------------------------------------------------------

/// RSS before, at the peak and after each of a few large requests. Each request goes to a
/// fresh user; "after" is the RSS once it has settled (sampled for `settle`).
pub fn huge_requests(
    gen_: &Generator,
    target: &Target,
    pid: u32,
    sampler: &Arc<Mutex<RssPeak>>,
    settle: Duration,
) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "\nmemory after large requests (server RSS, MiB; \"after\" is {:.0} s after the answer):\n",
        settle.as_secs_f64()
    );
    let _ = writeln!(
        text,
        "| request | body | status | time | before | peak | after | after - before |"
    );
    let _ = writeln!(text, "|---|--:|--:|--:|--:|--:|--:|--:|");
    type Case = (&'static str, u16, fn() -> Value);
    let cases: [Case; 4] = [
        (
            "PATCH adding 16,000 e-mails (over the per-PATCH cap)",
            413,
            || huge_patch(1, 16_000, false),
        ),
        (
            "PATCH of 10 ops x the same 1,000 e-mails (the heaviest allowed)",
            200,
            || huge_patch(10, 1_000, true),
        ),
        ("Bulk of 1,000 user creates", 200, huge_bulk),
        (
            "PATCH of 150 ops x 1,000 e-mails (8 MB, refused after parsing)",
            413,
            || huge_patch(150, 1_000, false),
        ),
    ];
    let rss = || proc_status(pid).get("VmRSS").copied().unwrap_or(0.0);
    for (i, (name, expect, make)) in cases.into_iter().enumerate() {
        let body = make();
        let path = if name.starts_with("Bulk") {
            "/Bulk".to_string()
        } else {
            let (status, user) = gen_.one(
                target,
                Req::with(
                    hyper::Method::POST,
                    "/Users".into(),
                    &json!({"schemas": [USER_SCHEMA], "userName": user_name(3_000_000_000 + i as u64)}),
                    201,
                ),
            );
            assert_eq!(status, 201, "create a user for the large PATCH: {user}");
            format!("/Users/{}", user["id"].as_str().unwrap())
        };
        let method = if name.starts_with("Bulk") {
            hyper::Method::POST
        } else {
            hyper::Method::PATCH
        };
        let req = Req::with(method, path, &body, expect);
        let size = req.body.as_ref().map_or(0, |b| b.len());
        drop(body);
        let before = rss();
        take_peak(sampler);
        let started = Instant::now();
        let (status, answer) = gen_.one(target, req);
        let took = started.elapsed();
        // Settle: the lowest RSS seen while waiting (an allocator may return memory in steps).
        let until = Instant::now() + settle;
        let mut after = rss();
        while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(100));
            after = after.min(rss());
        }
        let peak = take_peak(sampler).total.max(before).max(after);
        let shown = if status == expect {
            status.to_string()
        } else {
            format!("**{status}** (expected {expect}: {})", answer["detail"])
        };
        let _ = writeln!(
            text,
            "| {name} | {:.2} MB | {shown} | {:.2} s | {before:.1} | {peak:.1} | {after:.1} | {:+.1} |",
            size as f64 / 1e6,
            took.as_secs_f64(),
            after - before
        );
        eprintln!(
            "  memory: {name}: {status} in {:.2} s, RSS {before:.1} -> peak {peak:.1} -> {after:.1} MiB",
            took.as_secs_f64()
        );
    }
    text
}

/// `n` distinct e-mails from number `from`.
fn huge_emails(from: usize, n: usize) -> Value {
    Value::Array(
        (from..from + n)
            .map(|i| json!({"value": format!("e{i}@huge.example.com"), "type": format!("t{i}")}))
            .collect(),
    )
}

/// A PATCH of `ops` operations that each add `each` e-mails (the same ones when `same`).
fn huge_patch(ops: usize, each: usize, same: bool) -> Value {
    let ops: Vec<Value> = (0..ops)
        .map(|o| {
            let from = if same { 0 } else { o * each };
            json!({"op": "add", "path": "emails", "value": huge_emails(from, each)})
        })
        .collect();
    json!({"schemas": [PATCH_OP], "Operations": ops})
}

/// A Bulk request of 1,000 creates (its most operations).
fn huge_bulk() -> Value {
    let ops: Vec<Value> = (0..1_000u64)
        .map(|i| {
            json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"),
                   "data": okta_user(2_000_000_000 + i)})
        })
        .collect();
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops})
}
