//! Prometheus metrics (text exposition format 0.0.4): requests by route, method and status,
//! latency histograms per route, SCIM errors by `scimType`, and, read at scrape time, users
//! and Teams per organization, the database's size and the writer's queue and batches.
//!
//! The request path pays three relaxed atomic increments into fixed arrays; no lock, no
//! allocation. Routes are a fixed set of templates (never raw paths, which hold ids), so the
//! number of series is bounded whatever clients send.
//!
//! `/metrics` is never open on the SCIM port by default: it is served on its own
//! `--metrics-listen` address, or on the main port only with `--metrics-token`.

use crate::store::orgs::Org;
use crate::store::{BATCH_BUCKETS, WriterStats};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Route templates, as the `route` label shows them.
pub const ROUTES: [&str; 13] = [
    "/healthz",
    "/metrics",
    "/Users",
    "/Users/{id}",
    "/Groups",
    "/Groups/{id}",
    "/.search",
    "/Bulk",
    "/discovery",
    "/scim/other",
    "/admin",
    "/admin/api",
    "other",
];
const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OTHER"];
/// Statuses counted one by one; anything else is counted under its class (`2xx`...).
const STATUSES: [u16; 20] = [
    200, 201, 204, 304, 308, 400, 401, 403, 404, 405, 408, 409, 412, 413, 415, 429, 431, 500, 501,
    503,
];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
const STATUS_SLOTS: usize = STATUSES.len() + CLASSES.len();
/// Latency histogram bounds in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const SLOTS: usize = BUCKETS.len() + 1;

/// The counters the request path updates.
pub struct Metrics {
    requests: Box<[AtomicU64]>,
    latency: Box<[AtomicU64]>,
    latency_sum_us: Box<[AtomicU64]>,
    /// (scimType or "none", status) → count. Only error answers take this lock.
    errors: Mutex<BTreeMap<(&'static str, u16), u64>>,
    rate_limited: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        let zeros = |n: usize| (0..n).map(|_| AtomicU64::new(0)).collect();
        Metrics {
            requests: zeros(ROUTES.len() * METHODS.len() * STATUS_SLOTS),
            latency: zeros(ROUTES.len() * SLOTS),
            latency_sum_us: zeros(ROUTES.len()),
            errors: Mutex::new(BTreeMap::new()),
            rate_limited: AtomicU64::new(0),
        }
    }
}

/// The route template of a path: an index into [`ROUTES`]. Never allocates.
pub fn route_of(path: &str) -> usize {
    let mut parts = path.split('/').filter(|s| !s.is_empty());
    let first = parts.next();
    let index = |name: &str| ROUTES.iter().position(|r| *r == name).unwrap_or(12);
    match first {
        Some("healthz") => return 0,
        Some("metrics") => return 1,
        Some("admin") => {
            return if parts.next() == Some("api") {
                index("/admin/api")
            } else {
                index("/admin")
            };
        }
        Some("scim") => {}
        _ => return index("other"),
    }
    // /scim/v2/{org}/...
    let (_v2, _org) = (parts.next(), parts.next());
    let resource = parts.next();
    let id = parts.next();
    let more = parts.next().is_some();
    match (resource, id, more) {
        (Some(r), None, false) if r.eq_ignore_ascii_case("Users") => index("/Users"),
        (Some(r), None, false) if r.eq_ignore_ascii_case("Groups") => index("/Groups"),
        (Some(".search"), None, false) => index("/.search"),
        (Some(_), Some(".search"), false) => index("/.search"),
        (Some(r), Some(_), false) if r.eq_ignore_ascii_case("Users") => index("/Users/{id}"),
        (Some(r), Some(_), false) if r.eq_ignore_ascii_case("Groups") => index("/Groups/{id}"),
        (Some(r), None, false) if r.eq_ignore_ascii_case("Bulk") => index("/Bulk"),
        (Some(r), _, false)
            if ["ServiceProviderConfig", "ResourceTypes", "Schemas"]
                .iter()
                .any(|d| r.eq_ignore_ascii_case(d)) =>
        {
            index("/discovery")
        }
        _ => index("/scim/other"),
    }
}

fn method_index(method: &str) -> usize {
    METHODS
        .iter()
        .position(|m| *m == method)
        .unwrap_or(METHODS.len() - 1)
}

fn status_index(status: u16) -> usize {
    match STATUSES.iter().position(|s| *s == status) {
        Some(i) => i,
        None => STATUSES.len() + usize::from((status / 100).clamp(1, 5) - 1),
    }
}

fn status_label(slot: usize) -> String {
    match STATUSES.get(slot) {
        Some(s) => s.to_string(),
        None => CLASSES[slot - STATUSES.len()].to_string(),
    }
}

impl Metrics {
    /// Counts one answered request.
    pub fn request(&self, route: usize, method: &str, status: u16, took: Duration) {
        let route = route.min(ROUTES.len() - 1);
        let i =
            (route * METHODS.len() + method_index(method)) * STATUS_SLOTS + status_index(status);
        self.requests[i].fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(BUCKETS.len());
        self.latency[route * SLOTS + bucket].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us[route].fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    /// Counts a SCIM error answer by its `scimType` (RFC 7644 §3.12).
    pub fn error(&self, scim_type: Option<&'static str>, status: u16) {
        if let Ok(mut map) = self.errors.lock() {
            *map.entry((scim_type.unwrap_or("none"), status))
                .or_insert(0) += 1;
        }
    }

    pub fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// The whole exposition: the counters plus what `gauges` read at scrape time.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(8 * 1024);
        let _ = self.render_into(&mut out, gauges);
        out
    }

    fn render_into(&self, out: &mut String, g: &Gauges) -> std::fmt::Result {
        writeln!(
            out,
            "# HELP scimbox_requests_total HTTP requests answered, by route template, method and status."
        )?;
        writeln!(out, "# TYPE scimbox_requests_total counter")?;
        for (r, route) in ROUTES.iter().enumerate() {
            for (m, method) in METHODS.iter().enumerate() {
                for s in 0..STATUS_SLOTS {
                    let i = (r * METHODS.len() + m) * STATUS_SLOTS + s;
                    let n = self.requests[i].load(Ordering::Relaxed);
                    if n > 0 {
                        writeln!(
                            out,
                            "scimbox_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{}\"}} {n}",
                            status_label(s)
                        )?;
                    }
                }
            }
        }
        writeln!(
            out,
            "# HELP scimbox_request_duration_seconds Time from request to answer, by route template."
        )?;
        writeln!(out, "# TYPE scimbox_request_duration_seconds histogram")?;
        for (r, route) in ROUTES.iter().enumerate() {
            let counts: Vec<u64> = (0..SLOTS)
                .map(|b| self.latency[r * SLOTS + b].load(Ordering::Relaxed))
                .collect();
            let total: u64 = counts.iter().sum();
            if total == 0 {
                continue;
            }
            let mut cumulative = 0;
            for (b, bound) in BUCKETS.iter().enumerate() {
                cumulative += counts[b];
                writeln!(
                    out,
                    "scimbox_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                )?;
            }
            writeln!(
                out,
                "scimbox_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {total}"
            )?;
            let sum = self.latency_sum_us[r].load(Ordering::Relaxed) as f64 / 1e6;
            writeln!(
                out,
                "scimbox_request_duration_seconds_sum{{route=\"{route}\"}} {sum}"
            )?;
            writeln!(
                out,
                "scimbox_request_duration_seconds_count{{route=\"{route}\"}} {total}"
            )?;
        }
        writeln!(
            out,
            "# HELP scimbox_scim_errors_total SCIM error answers, by scimType (\"none\" when the error has none) and status."
        )?;
        writeln!(out, "# TYPE scimbox_scim_errors_total counter")?;
        if let Ok(map) = self.errors.lock() {
            for ((scim_type, status), n) in map.iter() {
                writeln!(
                    out,
                    "scimbox_scim_errors_total{{scim_type=\"{scim_type}\",status=\"{status}\"}} {n}"
                )?;
            }
        }
        gauge_header(
            out,
            "scimbox_rate_limited_total",
            "Requests refused because their token was over its rate limit.",
            "counter",
        )?;
        writeln!(
            out,
            "scimbox_rate_limited_total {}",
            self.rate_limited.load(Ordering::Relaxed)
        )?;
        gauge_header(
            out,
            "scimbox_log_lines_dropped_total",
            "Log lines dropped because the queue to stderr was full (whatever reads it fell behind).",
            "counter",
        )?;
        writeln!(
            out,
            "scimbox_log_lines_dropped_total {}",
            crate::logs::dropped_lines()
        )?;
        gauge_header(
            out,
            "scimbox_token_source_refused_total",
            "Requests refused because they came from outside their token's address ranges.",
            "counter",
        )?;
        writeln!(
            out,
            "scimbox_token_source_refused_total {}",
            g.refused_by_source
        )?;
        gauge_header(
            out,
            "scimbox_token_expiring_soon",
            "Live tokens that expire within 14 days (1 each, labelled with when).",
            "gauge",
        )?;
        for (org, id, name, expires) in &g.expiring {
            writeln!(
                out,
                "scimbox_token_expiring_soon{{org_id=\"{org}\",token=\"{id}\",name=\"{}\",expires=\"{expires}\"}} 1",
                escape(name)
            )?;
        }
        gauge_header(
            out,
            "scimbox_storage_degraded",
            "1 while writes fail (disk full, read-only, I/O errors); reads still work.",
            "gauge",
        )?;
        writeln!(
            out,
            "scimbox_storage_degraded {}",
            u8::from(g.storage.fault.is_some())
        )?;
        gauge_header(
            out,
            "scimbox_storage_refused_writes_total",
            "Writes refused by the storage, by fault.",
            "counter",
        )?;
        for (fault, n) in g.storage.counts() {
            writeln!(
                out,
                "scimbox_storage_refused_writes_total{{fault=\"{}\"}} {n}",
                fault.name()
            )?;
        }
        gauge_header(out, "scimbox_users", "Users per organization.", "gauge")?;
        for org in &g.orgs {
            writeln!(
                out,
                "scimbox_users{{org_id=\"{}\",org=\"{}\"}} {}",
                org.id,
                escape(&org.name),
                org.user_count
            )?;
        }
        gauge_header(out, "scimbox_teams", "Teams per organization.", "gauge")?;
        for org in &g.orgs {
            writeln!(
                out,
                "scimbox_teams{{org_id=\"{}\",org=\"{}\"}} {}",
                org.id,
                escape(&org.name),
                org.team_count
            )?;
        }
        gauge_header(
            out,
            "scimbox_database_bytes",
            "Size of the database files: the main file and its write-ahead log.",
            "gauge",
        )?;
        writeln!(out, "scimbox_database_bytes{{file=\"db\"}} {}", g.db_bytes)?;
        writeln!(
            out,
            "scimbox_database_bytes{{file=\"wal\"}} {}",
            g.wal_bytes
        )?;
        let w = &g.writer;
        gauge_header(
            out,
            "scimbox_writer_queue_depth",
            "Writes waiting for the writer thread.",
            "gauge",
        )?;
        writeln!(out, "scimbox_writer_queue_depth {}", w.queue_depth)?;
        gauge_header(
            out,
            "scimbox_writer_last_batch_size",
            "Writes in the latest group-commit transaction.",
            "gauge",
        )?;
        writeln!(out, "scimbox_writer_last_batch_size {}", w.last_batch)?;
        gauge_header(
            out,
            "scimbox_writer_batch_size",
            "Writes per group-commit transaction.",
            "histogram",
        )?;
        let mut cumulative = 0;
        for (i, bound) in BATCH_BUCKETS.iter().enumerate() {
            cumulative += w.batch_sizes[i];
            if i + 1 < BATCH_BUCKETS.len() {
                writeln!(
                    out,
                    "scimbox_writer_batch_size_bucket{{le=\"{bound}\"}} {cumulative}"
                )?;
            }
        }
        writeln!(
            out,
            "scimbox_writer_batch_size_bucket{{le=\"+Inf\"}} {}",
            w.transactions
        )?;
        writeln!(out, "scimbox_writer_batch_size_sum {}", w.writes)?;
        writeln!(out, "scimbox_writer_batch_size_count {}", w.transactions)?;
        let e = &g.events;
        gauge_header(
            out,
            "scimbox_events_outbox_depth",
            "SCIM events in the outbox: waiting for a receiver, or delivered and not pruned yet.",
            "gauge",
        )?;
        writeln!(out, "scimbox_events_outbox_depth {}", e.depth)?;
        gauge_header(
            out,
            "scimbox_events_backlog",
            "SCIM events waiting for delivery, summed over receivers.",
            "gauge",
        )?;
        writeln!(out, "scimbox_events_backlog {}", e.backlog)?;
        gauge_header(
            out,
            "scimbox_events_receivers",
            "Event receivers by state (failed: a permanent RFC 8935 error).",
            "gauge",
        )?;
        writeln!(
            out,
            "scimbox_events_receivers{{state=\"active\"}} {}",
            e.receivers_active
        )?;
        writeln!(
            out,
            "scimbox_events_receivers{{state=\"failed\"}} {}",
            e.receivers_failed
        )?;
        Ok(())
    }
}

fn gauge_header(out: &mut String, name: &str, help: &str, kind: &str) -> std::fmt::Result {
    writeln!(out, "# HELP {name} {help}")?;
    writeln!(out, "# TYPE {name} {kind}")
}

/// A label value as the text format wants it: backslash, quote and newline escaped.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// What is read at scrape time rather than counted.
pub struct Gauges {
    pub orgs: Vec<Org>,
    pub db_bytes: u64,
    pub wal_bytes: u64,
    pub writer: WriterStats,
    /// Requests refused for coming from outside their token's address ranges.
    pub refused_by_source: u64,
    /// Live tokens expiring within `EXPIRY_WARNING_DAYS`: (org id, token id, name, expires).
    pub expiring: Vec<(String, String, String, String)>,
    /// The event outbox and its receivers.
    pub events: crate::store::outbox::Gauges,
    pub storage: crate::store::StorageHealth,
}

/// Tokens expiring within this many days are warned about (here and on the admin page).
pub use crate::directory::tokens::EXPIRY_WARNING_DAYS;

impl Gauges {
    /// Reads the organizations' counters, the files' sizes and the writer's stats.
    pub async fn read(store: &crate::store::Store) -> crate::error::Result<Gauges> {
        let orgs = crate::directory::orgs::list(store).await?;
        let (db_bytes, wal_bytes) = store.disk_usage();
        let now = crate::clock::now();
        let (from, until) = (
            crate::clock::format(now),
            crate::clock::format(now + time::Duration::days(EXPIRY_WARNING_DAYS)),
        );
        let expiring = store
            .read(move |conn| crate::store::tokens::expiring(conn, &from, &until))
            .await?;
        Ok(Gauges {
            refused_by_source: 0,
            expiring,
            orgs,
            db_bytes,
            wal_bytes,
            writer: store.writer_stats(),
            events: store.read(crate::store::outbox::gauges).await?,
            storage: store.health(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_a_fixed_set_of_routes() {
        let r = |p: &str| ROUTES[route_of(p)];
        assert_eq!(r("/healthz"), "/healthz");
        assert_eq!(r("/scim/v2/o1/Users"), "/Users");
        assert_eq!(r("/scim/v2/o1/users/abc"), "/Users/{id}");
        assert_eq!(r("/scim/v2/o1/Groups/abc"), "/Groups/{id}");
        assert_eq!(r("/scim/v2/o1/Users/.search"), "/.search");
        assert_eq!(r("/scim/v2/o1/.search"), "/.search");
        assert_eq!(r("/scim/v2/o1/Bulk"), "/Bulk");
        assert_eq!(r("/scim/v2/o1/Schemas/urn:x"), "/discovery");
        assert_eq!(r("/scim/v2/o1/Users/a/b"), "/scim/other");
        assert_eq!(r("/admin/api/orgs"), "/admin/api");
        assert_eq!(r("/admin/"), "/admin");
        assert_eq!(r("/wp-login.php"), "other");
    }

    #[test]
    fn the_exposition_has_counters_histograms_and_gauges() {
        let m = Metrics::default();
        m.request(
            route_of("/scim/v2/o/Users"),
            "POST",
            201,
            Duration::from_millis(3),
        );
        m.request(
            route_of("/scim/v2/o/Users"),
            "POST",
            418,
            Duration::from_millis(3),
        );
        m.error(Some("uniqueness"), 409);
        let text = m.render(&Gauges {
            orgs: Vec::new(),
            db_bytes: 10,
            wal_bytes: 0,
            writer: WriterStats::default(),
            refused_by_source: 3,
            expiring: vec![(
                "o1".into(),
                "t1".into(),
                "okta".into(),
                "2026-12-10T00:00:00.000Z".into(),
            )],
            events: crate::store::outbox::Gauges {
                depth: 4,
                ..Default::default()
            },
            storage: crate::store::StorageHealth::default(),
        });
        assert!(
            text.contains("scimbox_token_source_refused_total 3"),
            "{text}"
        );
        assert!(
            text.contains("scimbox_token_expiring_soon{org_id=\"o1\",token=\"t1\",name=\"okta\""),
            "{text}"
        );
        assert!(
            text.contains(
                "scimbox_requests_total{route=\"/Users\",method=\"POST\",status=\"201\"} 1"
            )
        );
        assert!(text.contains("status=\"4xx\"} 1"), "{text}");
        assert!(
            text.contains(
                "scimbox_request_duration_seconds_bucket{route=\"/Users\",le=\"0.005\"} 2"
            )
        );
        assert!(
            text.contains(
                "scimbox_request_duration_seconds_bucket{route=\"/Users\",le=\"0.0025\"} 0"
            )
        );
        assert!(
            text.contains("scimbox_scim_errors_total{scim_type=\"uniqueness\",status=\"409\"} 1")
        );
        assert!(text.contains("scimbox_database_bytes{file=\"db\"} 10"));
        assert!(text.contains("scimbox_events_outbox_depth 4"), "{text}");
    }
}
