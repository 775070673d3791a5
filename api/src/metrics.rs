//! Prometheus text exposition, hand-rolled: a handful of counters and one
//! latency histogram per route need no framework.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use mingzhang_ledger::store::{SYNC_BATCH_BUCKETS, SyncStats};
use parking_lot::Mutex;

/// Upper bounds of the latency buckets, in seconds.
const LATENCY_BUCKETS_S: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Default)]
struct RouteStats {
    count_by_status: BTreeMap<u16, u64>,
    bucket_counts: [u64; LATENCY_BUCKETS_S.len()],
    latency_sum_s: f64,
    count: u64,
}

#[derive(Default)]
pub struct Metrics {
    /// By route template, then method: looked up by `&str`, allocated once.
    routes: Mutex<BTreeMap<String, BTreeMap<String, RouteStats>>>,
    appended_records: AtomicU64,
    projection_lag_records: AtomicU64,
}

impl Metrics {
    pub fn record_request(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let mut routes = self.routes.lock();
        if !routes.contains_key(route) {
            routes.insert(route.to_owned(), BTreeMap::new());
        }
        let methods = routes.get_mut(route).expect("just made sure");
        if !methods.contains_key(method) {
            methods.insert(method.to_owned(), RouteStats::default());
        }
        let stats = methods.get_mut(method).expect("just made sure");
        *stats.count_by_status.entry(status).or_default() += 1;
        for (bucket, bound) in LATENCY_BUCKETS_S.iter().enumerate() {
            if seconds <= *bound {
                stats.bucket_counts[bucket] += 1;
            }
        }
        stats.latency_sum_s += seconds;
        stats.count += 1;
    }

    pub fn record_appends(&self, records: u64) {
        self.appended_records.fetch_add(records, Ordering::Relaxed);
    }

    pub fn set_projection_lag(&self, records: u64) {
        self.projection_lag_records
            .store(records, Ordering::Relaxed);
    }

    pub fn render(&self, log_len: u64, applied_len: u64, sync_stats: Option<SyncStats>) -> String {
        let mut out = String::new();
        out.push_str("# HELP mingzhang_http_requests_total HTTP requests by route and status.\n");
        out.push_str("# TYPE mingzhang_http_requests_total counter\n");
        let routes = self.routes.lock();
        for (route, method, stats) in by_method_and_route(&routes) {
            for (status, count) in &stats.count_by_status {
                let _ = writeln!(
                    out,
                    "mingzhang_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {count}"
                );
            }
        }
        out.push_str("# HELP mingzhang_http_request_duration_seconds HTTP request latency.\n");
        out.push_str("# TYPE mingzhang_http_request_duration_seconds histogram\n");
        for (route, method, stats) in by_method_and_route(&routes) {
            let labels = format!("method=\"{method}\",route=\"{route}\"");
            for (bucket, bound) in LATENCY_BUCKETS_S.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "mingzhang_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                    stats.bucket_counts[bucket]
                );
            }
            let _ = writeln!(
                out,
                "mingzhang_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                stats.count
            );
            let _ = writeln!(
                out,
                "mingzhang_http_request_duration_seconds_sum{{{labels}}} {}",
                stats.latency_sum_s
            );
            let _ = writeln!(
                out,
                "mingzhang_http_request_duration_seconds_count{{{labels}}} {}",
                stats.count
            );
        }
        drop(routes);
        let appended = self.appended_records.load(Ordering::Relaxed);
        let lag = self.projection_lag_records.load(Ordering::Relaxed);
        let _ = write!(
            out,
            "# HELP mingzhang_appended_records_total Records this process appended.\n\
             # TYPE mingzhang_appended_records_total counter\n\
             mingzhang_appended_records_total {appended}\n\
             # HELP mingzhang_log_records Durable records in the log.\n\
             # TYPE mingzhang_log_records gauge\n\
             mingzhang_log_records {log_len}\n\
             # HELP mingzhang_projection_applied_records Records the projections have applied.\n\
             # TYPE mingzhang_projection_applied_records gauge\n\
             mingzhang_projection_applied_records {applied_len}\n\
             # HELP mingzhang_projection_lag_records Durable records not yet in the projections.\n\
             # TYPE mingzhang_projection_lag_records gauge\n\
             mingzhang_projection_lag_records {lag}\n"
        );
        if let Some(stats) = sync_stats {
            render_sync_stats(&mut out, &stats);
        }
        out
    }
}

fn by_method_and_route(
    routes: &BTreeMap<String, BTreeMap<String, RouteStats>>,
) -> impl Iterator<Item = (&String, &String, &RouteStats)> {
    routes.iter().flat_map(|(route, methods)| {
        methods
            .iter()
            .map(move |(method, stats)| (route, method, stats))
    })
}

/// Group commit: how many records each fsync made durable.
fn render_sync_stats(out: &mut String, stats: &SyncStats) {
    out.push_str(
        "# HELP mingzhang_log_fsync_batch_records Records made durable by one fdatasync (group commit).\n\
         # TYPE mingzhang_log_fsync_batch_records histogram\n",
    );
    let mut cumulative = 0;
    for (bound, count) in SYNC_BATCH_BUCKETS.iter().zip(stats.batch_records) {
        cumulative += count;
        let _ = writeln!(
            out,
            "mingzhang_log_fsync_batch_records_bucket{{le=\"{bound}\"}} {cumulative}"
        );
    }
    let _ = write!(
        out,
        "mingzhang_log_fsync_batch_records_bucket{{le=\"+Inf\"}} {}\n\
         mingzhang_log_fsync_batch_records_sum {}\n\
         mingzhang_log_fsync_batch_records_count {}\n",
        stats.syncs, stats.records, stats.syncs
    );
}

/// Middleware: counts and times every request by its route template.
pub async fn track(
    State(metrics): State<std::sync::Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    metrics.record_request(
        method.as_str(),
        route.as_ref().map_or("unmatched", |path| path.as_str()),
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
