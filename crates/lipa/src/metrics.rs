//! Prometheus metrics, hand-rolled: a few mutex-guarded maps and a text renderer (no dependency).
//!
//! Counters made by this process (HTTP requests, Daraja errors, callbacks, refusals, latencies) live here,
//! one set per gateway. Values that are about the whole system (payments by status, the reconciliation and
//! webhook queues, webhook failures) are read from the database at scrape time, so every instance on one
//! database reports the same — sum the per-instance counters, not those.
//!
//! Why not the `metrics` + `metrics-exporter-prometheus` crates: their macros record into one global
//! recorder per process, while lipa keeps one set of counters per gateway (the tests run many gateways in
//! one process and read each one's exact counts); and the database gauges here are read at scrape time
//! from the store, which that exporter has no hook for (they would have to be copied into gauges before
//! each render). Every label comes from a closed set (see [`Metrics::http`], [`method_label`] and
//! `KNOWN_DARAJA_CODES`), so no client can grow this output.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use std::sync::Arc;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::now_ms;
use crate::store::Store;

/// Seconds from a callback's arrival to its committed change.
const CALLBACK_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
/// Seconds from a payment's creation to its final status.
const SETTLE_BUCKETS: &[f64] = &[0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0];

struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram { bounds, counts: vec![0; bounds.len()], sum: 0.0, count: 0 }
    }

    fn observe(&mut self, v: f64) {
        for (i, b) in self.bounds.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (b, c) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {c}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", self.count);
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

#[derive(Default)]
struct Inner {
    http: BTreeMap<(String, &'static str, u16), u64>,
    daraja_errors: BTreeMap<(&'static str, String), u64>,
    callbacks: BTreeMap<&'static str, u64>,
    rate_limited: BTreeMap<&'static str, u64>,
    callback_latency: Option<Histogram>,
    settle: BTreeMap<&'static str, Histogram>,
}

/// The counters of one gateway.
pub struct Metrics {
    inner: Mutex<Inner>,
    started: Instant,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics { inner: Mutex::new(Inner::default()), started: Instant::now() }
    }
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// One answered request. `route` must be a route template of the router (or `unmatched`), never a raw
    /// path; the method becomes one of the standard ones or `other`.
    pub fn http(&self, route: &str, method: &axum::http::Method, status: u16) {
        let method = method_label(method);
        let status = if (100..600).contains(&status) { status } else { 0 };
        self.with(|m| *m.http.entry((route.to_string(), method, status)).or_default() += 1);
    }

    /// A Daraja call (`push`, `query`, `token`) failed; the label is Daraja's error code or the kind.
    pub fn daraja_error(&self, operation: &'static str, e: &daraja::Error) {
        let code = match e {
            daraja::Error::InvalidToken => "invalid_token".to_string(),
            daraja::Error::TransportBeforeSend { .. } => "transport_before_send".to_string(),
            daraja::Error::OutcomeUnknown { .. } => "outcome_unknown".to_string(),
            daraja::Error::UnexpectedResponse { .. } => "unexpected_response".to_string(),
            daraja::Error::InvalidInput { .. } => "invalid_input".to_string(),
            daraja::Error::TokenStore(_) => "token_store".to_string(),
            other => other.error_code().map(str::to_string).unwrap_or_else(|| "auth".to_string()),
        };
        // Codes come from Daraja's answer: only the ones it is known to send become labels.
        let code = if KNOWN_DARAJA_CODES.contains(&code.as_str()) || LOCAL_ERROR_KINDS.contains(&code.as_str()) {
            code
        } else {
            "other".to_string()
        };
        self.with(|m| *m.daraja_errors.entry((operation, code)).or_default() += 1);
    }

    /// What became of a callback: `applied`, `no_change`, `unparseable`, `unknown_secret`, `rejected`.
    pub fn callback(&self, result: &'static str, took: Duration) {
        self.with(|m| {
            *m.callbacks.entry(result).or_default() += 1;
            m.callback_latency.get_or_insert_with(|| Histogram::new(CALLBACK_BUCKETS)).observe(took.as_secs_f64());
        });
    }

    /// A payment reached a final status; `source` is what told us (`callback`, `query`, `push`, `timer`).
    pub fn settled(&self, source: &'static str, created_at_ms: i64) {
        let secs = (now_ms() - created_at_ms).max(0) as f64 / 1000.0;
        self.with(|m| m.settle.entry(source).or_insert_with(|| Histogram::new(SETTLE_BUCKETS)).observe(secs));
    }

    pub fn rate_limited(&self, limit: &'static str) {
        self.with(|m| *m.rate_limited.entry(limit).or_default() += 1);
    }

    fn render_local(&self, out: &mut String) {
        self.with(|m| {
            out.push_str(
                "# HELP lipa_http_requests_total HTTP requests answered, by route pattern, method and status.\n",
            );
            out.push_str("# TYPE lipa_http_requests_total counter\n");
            for ((route, method, status), n) in &m.http {
                let _ = writeln!(
                    out,
                    "lipa_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {n}",
                    label(route)
                );
            }
            out.push_str("# HELP lipa_daraja_errors_total Failed Daraja calls, by operation and error code.\n");
            out.push_str("# TYPE lipa_daraja_errors_total counter\n");
            for ((op, code), n) in &m.daraja_errors {
                let _ = writeln!(out, "lipa_daraja_errors_total{{operation=\"{op}\",code=\"{code}\"}} {n}");
            }
            out.push_str("# HELP lipa_callbacks_total STK callbacks received, by what became of them.\n");
            out.push_str("# TYPE lipa_callbacks_total counter\n");
            for (result, n) in &m.callbacks {
                let _ = writeln!(out, "lipa_callbacks_total{{result=\"{result}\"}} {n}");
            }
            out.push_str("# HELP lipa_rate_limited_total Requests refused by an abuse limit, by limit.\n");
            out.push_str("# TYPE lipa_rate_limited_total counter\n");
            for (limit, n) in &m.rate_limited {
                let _ = writeln!(out, "lipa_rate_limited_total{{limit=\"{limit}\"}} {n}");
            }
            out.push_str("# HELP lipa_callback_settle_seconds From a callback's arrival to its committed change.\n");
            out.push_str("# TYPE lipa_callback_settle_seconds histogram\n");
            m.callback_latency.get_or_insert_with(|| Histogram::new(CALLBACK_BUCKETS)).render(
                out,
                "lipa_callback_settle_seconds",
                "",
            );
            out.push_str(
                "# HELP lipa_payment_settle_seconds From a payment's creation to its final status, by source.\n",
            );
            out.push_str("# TYPE lipa_payment_settle_seconds histogram\n");
            for (source, h) in &m.settle {
                h.render(out, "lipa_payment_settle_seconds", &format!("source=\"{source}\""));
            }
        });
    }
}

/// Daraja error codes that become labels as they are (from Daraja's documentation and observed answers);
/// any other code counts as `other`, so a misbehaving Daraja cannot grow `/metrics`.
const KNOWN_DARAJA_CODES: &[&str] = &[
    "400.002.02",
    "400.002.05",
    "400.003.01",
    "400.008.01",
    "400.008.02",
    "401.002.01",
    "401.003.01",
    "404.001.03",
    "404.001.04",
    "404.002.01",
    "404.003.01",
    "500.001.1001",
    "500.002.1001",
    "500.003.02",
    "500.003.03",
    "500.003.1001",
    // The API gateway's faults.
    "fault",
    "keymanagement.service.invalid_access_token",
    "policies.ratelimit.SpikeArrestViolation",
];

/// Error kinds lipa names itself.
const LOCAL_ERROR_KINDS: &[&str] = &[
    "invalid_token",
    "transport_before_send",
    "outcome_unknown",
    "unexpected_response",
    "invalid_input",
    "token_store",
    "auth",
];

/// The `method` label: the standard methods by name, anything else (a client may send any token) `other`.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    const KNOWN: &[&str] = &["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"];
    KNOWN.iter().find(|k| **k == method.as_str()).copied().unwrap_or("other")
}

fn label(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Counts every answer by route pattern (`/v1/payments/{id}`, never the id itself) and status.
pub async fn track(State(metrics): State<Arc<Metrics>>, req: Request, next: Next) -> Response {
    // The matched route template (a closed set: the router's own), never the path a client sent.
    let route = req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string());
    let method = req.method().clone();
    let resp = next.run(req).await;
    let route = route.unwrap_or_else(|| "unmatched".into());
    metrics.http(&route, &method, resp.status().as_u16());
    resp
}

/// The whole exposition: this process's counters and the database's gauges.
pub async fn render(metrics: &Metrics, store: &dyn Store, daraja: &daraja::Client) -> String {
    let mut out = String::with_capacity(4096);
    out.push_str("# HELP lipa_up 1 while this gateway answers.\n# TYPE lipa_up gauge\nlipa_up 1\n");
    let _ = writeln!(
        out,
        "# HELP lipa_uptime_seconds Seconds since this gateway started.\n# TYPE lipa_uptime_seconds gauge\nlipa_uptime_seconds {}",
        metrics.started.elapsed().as_secs()
    );
    let _ = writeln!(
        out,
        "# HELP lipa_daraja_token_requests_total OAuth token requests this process made to Daraja.\n\
         # TYPE lipa_daraja_token_requests_total counter\nlipa_daraja_token_requests_total {}",
        daraja.oauth_requests()
    );
    metrics.render_local(&mut out);
    let mut db_ok = 1;
    match store.count_by_status().await {
        Ok(rows) => {
            out.push_str("# HELP lipa_payments Payments in the database, by status.\n# TYPE lipa_payments gauge\n");
            let mut seen: BTreeMap<String, i64> =
                ["pending", "succeeded", "failed", "needs_review"].iter().map(|s| (s.to_string(), 0)).collect();
            seen.extend(rows);
            for (status, n) in seen {
                let _ = writeln!(out, "lipa_payments{{status=\"{}\"}} {n}", label(&status));
            }
        }
        Err(e) => {
            db_ok = 0;
            tracing::warn!(error = %e, "metrics: cannot count payments");
        }
    }
    match store.ops_counts(now_ms()).await {
        Ok(c) => {
            let _ = write!(
                out,
                "# HELP lipa_reconcile_due Pending payments whose STK Query check is due now.\n\
                 # TYPE lipa_reconcile_due gauge\nlipa_reconcile_due {}\n\
                 # HELP lipa_webhook_queue Events not yet delivered (and not given up).\n\
                 # TYPE lipa_webhook_queue gauge\nlipa_webhook_queue {}\n\
                 # HELP lipa_webhook_failed_attempts Webhook attempts that did not deliver.\n\
                 # TYPE lipa_webhook_failed_attempts gauge\nlipa_webhook_failed_attempts {}\n\
                 # HELP lipa_webhook_gave_up Events lipa gave up delivering.\n\
                 # TYPE lipa_webhook_gave_up gauge\nlipa_webhook_gave_up {}\n",
                c.checks_due, c.webhooks_queued, c.webhook_failed_attempts, c.webhooks_gave_up
            );
        }
        Err(e) => {
            db_ok = 0;
            tracing::warn!(error = %e, "metrics: cannot read the queues");
        }
    }
    let _ = writeln!(
        out,
        "# HELP lipa_database_up 1 when the database answered this scrape.\n# TYPE lipa_database_up gauge\nlipa_database_up {db_ok}"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_closed_sets() {
        let m = Metrics::default();
        for i in 0..50 {
            let method = axum::http::Method::from_bytes(format!("X{i}{}", "Y".repeat(1000)).as_bytes()).unwrap();
            m.http("unmatched", &method, 405);
            m.daraja_error(
                "push",
                &daraja::Error::Rejected {
                    http_status: 400,
                    error_code: format!("999.{i}"),
                    message: "m".into(),
                    request_id: None,
                },
            );
        }
        m.http("/v1/payments", &axum::http::Method::GET, 200);
        let mut out = String::new();
        m.render_local(&mut out);
        assert!(out.contains("route=\"unmatched\",method=\"other\",status=\"405\"} 50"), "{out}");
        assert!(out.contains("operation=\"push\",code=\"other\"} 50"), "{out}");
        assert!(out.len() < 3000, "{out}");
    }

    #[test]
    fn histogram_is_cumulative() {
        let mut h = Histogram::new(&[1.0, 2.0]);
        h.observe(0.5);
        h.observe(1.5);
        h.observe(9.0);
        let mut out = String::new();
        h.render(&mut out, "x", "");
        assert!(out.contains("x_bucket{le=\"1\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"2\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count 3\n"), "{out}");
    }
}
