//! `GET /metrics`: Prometheus text for operators.
//!
//! Counters and histograms are recorded where things happen, with the `metrics` macros (an atomic
//! add on the hot path), into the process's one recorder, installed here on first use without a
//! listener of its own. Gauges that describe the database (calls by state, the outbox backlog and
//! its drain estimate, pool use) and the loops' heartbeats are read when scraped and written
//! straight into the answer: each instance reports its own view, no loop polls the database for
//! them, and nothing stale lingers between scrapes. One exception: the calls by state are a
//! grouped count over the whole `calls` table, so a count is served again to the scrapes of the
//! next [`CALLS_COUNT_REUSE`] rather than scanning the table for each of several scrapers.
//!
//! Access: open, unless `[metrics] token` is set; then `Authorization: Bearer <token>` is needed
//! (see docs/adr/0015-observability.md). The series carry no person, number or secret.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use jiaoying_core::metric_names as m;
use jiaoying_core::{CallState, Span, Timestamp};
use jiaoying_store::{CallStateTotal, Store, StoreError};
use metrics::Unit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::auth;
use crate::error::ApiError;
use crate::state::AppState;

/// Prometheus text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Gateway requests: from a fast local webhook to a provider at its timeout.
const GATEWAY_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Scheduler lateness: the loop polls every couple of seconds; minutes late means trouble.
const LATENESS_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0];

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder: installed as the global `metrics` recorder on the first call (every
/// application built in one process, as in the tests, shares it), with its histograms' buckets.
fn recorder() -> PrometheusHandle {
    RECORDER
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(m::GATEWAY_REQUEST_SECONDS.into()), GATEWAY_BUCKETS)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(m::SCHEDULER_LATENESS_SECONDS.into()), LATENESS_BUCKETS)
                });
            let builder = match builder {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: histogram buckets refused; summaries instead");
                    PrometheusBuilder::new()
                }
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if let Err(e) = metrics::set_global_recorder(recorder) {
                // Someone installed another recorder first (an embedding program): /metrics then
                // shows only the gauges read on scrape.
                tracing::warn!(error = %e, "metrics: a recorder is already installed; counters are not exported");
            }
            describe();
            handle
        })
        .clone()
}

/// HELP texts and units of what the recorder holds.
fn describe() {
    metrics::describe_counter!(
        m::ALERTS_TOTAL,
        Unit::Count,
        "Alert messages by source, tier and result (accepted, duplicate, rejected)."
    );
    metrics::describe_counter!(
        m::MESSAGES_TOTAL,
        Unit::Count,
        "Send attempts by channel and outcome (sent, retry, failed, failover)."
    );
    metrics::describe_histogram!(
        m::GATEWAY_REQUEST_SECONDS,
        Unit::Seconds,
        "One gateway request (a message or a provider batch), by channel."
    );
    metrics::describe_histogram!(
        m::SCHEDULER_LATENESS_SECONDS,
        Unit::Seconds,
        "How late the timer step handled a due call, after its next_action_at."
    );
    metrics::describe_counter!(m::ANSWERS_TOTAL, Unit::Count, "Answers recorded, by path (sms, voice, link, officer).");
    metrics::describe_counter!(m::FEED_POLLS_TOTAL, Unit::Count, "Feed polls, by source.");
    metrics::describe_counter!(
        m::FEED_POLL_FAILURES_TOTAL,
        Unit::Count,
        "Feed polls that failed (network, HTTP status, unreadable index), by source."
    );
}

/// How long one count of the calls by state answers the scrapes that follow it.
pub const CALLS_COUNT_REUSE: Span = Span::from_secs(5);

/// The last count of the calls by state and when it was made, by the service's clock (which the
/// tests move by hand). A failed count is not kept: the next scrape tries again.
#[derive(Clone, Default)]
struct CallsCount(Arc<Mutex<Option<Counted>>>);

/// A count and when it was made.
type Counted = (Timestamp, Vec<CallStateTotal>);

impl CallsCount {
    async fn read(&self, store: &dyn Store, now: Timestamp) -> Result<Vec<CallStateTotal>, StoreError> {
        {
            let last = self.0.lock().unwrap_or_else(|e| e.into_inner());
            // A clock set back (before the count) counts again rather than trusting it.
            if let Some((at, rows)) = last.as_ref().filter(|(at, _)| *at <= now && now < at.plus(CALLS_COUNT_REUSE)) {
                tracing::trace!(counted_at = at.millis(), "metrics: calls by state reused");
                return Ok(rows.clone());
            }
        }
        // Not holding the lock across the query: two scrapes that miss at once both count, which
        // is rare and harmless, while a slow database never holds up the other gauges' scrapes.
        let rows = store.calls_by_state().await?;
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((now, rows.clone()));
        Ok(rows)
    }
}

/// What `/metrics` needs: the recorder's handle, the scrape token, if any (only its SHA-256), and
/// the last count of the calls by state.
#[derive(Clone)]
pub struct MetricsEndpoint {
    handle: PrometheusHandle,
    token_sha256: Option<String>,
    calls: CallsCount,
}

impl MetricsEndpoint {
    /// Installs the recorder if this is the first endpoint of the process.
    pub fn new(token: Option<&SecretString>) -> MetricsEndpoint {
        MetricsEndpoint {
            handle: recorder(),
            token_sha256: token.map(|t| auth::token_hash(t.expose_secret())),
            calls: CallsCount::default(),
        }
    }

    /// Drains the recorder's histogram samples into their buckets every few seconds until `stop`
    /// turns true, so that memory stays flat however rarely Prometheus scrapes.
    pub async fn upkeep(&self, mut stop: tokio::sync::watch::Receiver<bool>) {
        while !*stop.borrow() {
            self.handle.run_upkeep();
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = stop.changed() => {}
            }
        }
    }

    fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(want) = &self.token_sha256 else { return true };
        auth::bearer(headers).is_some_and(|t| bool::from(auth::token_hash(t).as_bytes().ct_eq(want.as_bytes())))
    }
}

impl Default for MetricsEndpoint {
    fn default() -> Self {
        MetricsEndpoint::new(None)
    }
}

/// `GET /metrics`.
pub async fn render(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !state.metrics.allows(&headers) {
        let mut r = ApiError::Unauthorized("send Authorization: Bearer <metrics token>".into()).into_response();
        r.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        return r;
    }
    let mut text = state.metrics.handle.render();
    scrape_gauges(&state, &mut text).await;
    (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

/// The gauges read now, appended as Prometheus text. A database that does not answer leaves its
/// gauges out and says so in `jiaoying_database_up`; the counters are served regardless.
async fn scrape_gauges(state: &AppState, out: &mut String) {
    let mut database_up = true;

    match state.metrics.calls.read(state.store().as_ref(), state.tracker.clock().now()).await {
        Ok(rows) => {
            let mut g =
                Gauge::new(out, m::CALLS, "Calls by state, over every alert (counted on scrape, at most every 5 s).");
            for s in CallState::ALL {
                let n = rows.iter().filter(|r| r.state == s).map(|r| r.n).sum::<i64>();
                g.sample(&[("state", s.as_str())], n as f64);
            }
        }
        Err(e) => {
            database_up = false;
            tracing::debug!(error = %e, "metrics: calls by state not read");
        }
    }

    match state.outbox.backlog().await {
        Ok(channels) => {
            let now = state.tracker.clock().now().millis();
            let per_channel =
                |out: &mut String,
                 name: &str,
                 help: &str,
                 value: &dyn Fn(&jiaoying_dispatch::outbox::ChannelBacklog) -> f64| {
                    let mut g = Gauge::new(out, name, help);
                    for c in &channels {
                        g.sample(&[("channel", &c.channel)], value(c));
                    }
                };
            per_channel(out, m::OUTBOX_QUEUED, "Messages queued, by channel (read on scrape).", &|c| c.queued as f64);
            per_channel(
                out,
                m::OUTBOX_SENDING,
                "Messages claimed and being sent, by channel (read on scrape).",
                &|c| c.sending as f64,
            );
            per_channel(
                out,
                m::OUTBOX_DRAIN_SECONDS,
                "Seconds until the channel's queue is empty at its recent or configured rate; NaN when unknown.",
                &|c| c.drain_secs.unwrap_or(f64::NAN),
            );
            per_channel(
                out,
                m::OUTBOX_OLDEST_DUE_SECONDS,
                "How long the oldest queued message has been due, by channel.",
                &|c| c.oldest_due.map_or(0.0, |t| (now - t).max(0) as f64 / 1000.0),
            );
            per_channel(
                out,
                m::OUTBOX_BREAKER_OPEN,
                "1 while the channel's circuit breaker is open (this instance).",
                &|c| f64::from(u8::from(c.breaker_open)),
            );
        }
        Err(e) => {
            database_up = false;
            tracing::debug!(error = %e, "metrics: outbox backlog not read");
        }
    }

    let pools = state.store().pool_stats();
    let mut g = Gauge::new(out, m::DB_POOL_CONNECTIONS, "Database connections open, by pool and state (idle, in_use).");
    for p in &pools {
        g.sample(&[("pool", p.pool), ("state", "idle")], f64::from(p.idle));
        g.sample(&[("pool", p.pool), ("state", "in_use")], f64::from(p.size.saturating_sub(p.idle)));
    }
    let mut g = Gauge::new(out, m::DB_POOL_MAX_CONNECTIONS, "The most connections each pool opens.");
    for p in &pools {
        g.sample(&[("pool", p.pool)], f64::from(p.max));
    }

    let mut g = Gauge::new(out, m::LOOP_LAST_STEP_AGE_SECONDS, "Seconds since each background loop last showed life.");
    for (name, age) in state.liveness.ages() {
        g.sample(&[("loop", &name)], age.as_secs_f64());
    }

    let mut g = Gauge::new(out, m::DATABASE_UP, "1 when this scrape's database reads answered.");
    g.sample(&[], f64::from(u8::from(database_up)));
}

/// Writes one gauge family: its HELP and TYPE lines, then its samples.
struct Gauge<'a> {
    out: &'a mut String,
    name: &'a str,
}

impl<'a> Gauge<'a> {
    fn new(out: &'a mut String, name: &'a str, help: &str) -> Gauge<'a> {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} gauge");
        Gauge { out, name }
    }

    fn sample(&mut self, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", number(value));
    }
}

/// A label value as the text format wants it: backslash, quote and newline escaped.
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// A sample value as the text format writes it (`NaN`, `+Inf`, `-Inf`, or the number).
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauges_are_written_in_the_text_format() {
        let mut out = String::new();
        let mut g = Gauge::new(&mut out, "jiaoying_x", "An example.");
        g.sample(&[("channel", "s\"m\\s\n")], 3.0);
        g.sample(&[("a", "1"), ("b", "2")], f64::NAN);
        g.sample(&[], 0.25);
        assert_eq!(
            out,
            "# HELP jiaoying_x An example.\n# TYPE jiaoying_x gauge\n\
             jiaoying_x{channel=\"s\\\"m\\\\s\\n\"} 3\njiaoying_x{a=\"1\",b=\"2\"} NaN\njiaoying_x 0.25\n"
        );
        assert_eq!(
            (number(f64::INFINITY), number(f64::NEG_INFINITY), number(12.5)),
            ("+Inf".into(), "-Inf".into(), "12.5".into())
        );
    }

    #[test]
    fn a_token_when_configured_is_required() {
        let open = MetricsEndpoint::new(None);
        assert!(open.allows(&HeaderMap::new()));
        let closed = MetricsEndpoint::new(Some(&SecretString::from("metrics-scrape-token-0123")));
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, v.parse().unwrap());
            h
        };
        assert!(!closed.allows(&HeaderMap::new()));
        assert!(!closed.allows(&with("Bearer wrong-token")));
        assert!(closed.allows(&with("Bearer metrics-scrape-token-0123")));
    }
}
