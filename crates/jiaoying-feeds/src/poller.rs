//! The feed poller: fetches each source's index on its schedule and takes every new linked CAP
//! document into the tracker, once.
//!
//! One poll of a source:
//! 1. a conditional GET of the index (`If-None-Match` / `If-Modified-Since` from the stored
//!    `feed_state`); a `304` ends the poll, nothing is parsed;
//! 2. [`parse_index`]; for each entry whose key (its URL) is not in `feed_entries`, a GET of the
//!    document (read up to [`MAX_DOCUMENT_BYTES`], no further), `parse_cap`, `to_new_alert`,
//!    `Tracker::accept`, and the entry recorded as `taken`, `repeat` (the tracker had the message
//!    already, e.g. pushed through the API) or `rejected: <reason>` (not CAP, invalid, too large,
//!    a 4xx): a rejected document is not fetched again;
//! 3. a document that could not be had for a passing reason (network, 5xx, 408, 429) is not
//!    recorded and is tried again at the next poll; so is one over the per-poll limit. Then the
//!    index's validators are not kept, so the next poll reads the index again.
//!
//! A poll that fails (network, non-2xx, an index too large or not parsable) increments the
//! source's `failures`, records `last_error` (the URL without query or credentials, and the
//! reason; never a body), and sets `next_poll_at` to the later of the schedule's next time and
//! `now + backoff` (30 s, doubling, at most 1 h by default). A success resets `failures`.
//! Database failures are not the feed's: they leave its state alone and are returned, so the
//! loop retries.
//!
//! A source whose last parsable take (`last_taken_at`, or the poller's start when it has none)
//! is older than its `silent_after` is *silent*: [`FeedPoller::silent_feeds`] lists it, and every
//! [`FeedPoller::step`] logs a warning for it.
//!
//! [`FeedPoller::run`] is the loop, with a heartbeat for the service's `/readyz` (loop `feeds`),
//! until [`FeedPoller::stop`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cron::Schedule;
use jiaoying_core::metric_names::{ALERTS_TOTAL, FEED_POLLS_TOTAL, FEED_POLL_FAILURES_TOTAL};
use jiaoying_core::{Clock, Span, Timestamp};
use jiaoying_store::{FeedEntryRow, FeedStateRow, Store};
use jiaoying_tracker::{beaten, run_loop, Pulse, Step, Tracker};
use reqwest::header::{HeaderMap, ACCEPT, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED};
use reqwest::{Client, Response, StatusCode, Url};
use tokio::sync::{watch, Notify};

use crate::index::{parse_index, FeedEntry, MAX_INDEX_BYTES};
use crate::schedule::{backoff, next_after, parse_schedule};
use crate::FeedError;

/// Largest linked CAP document read; reading stops beyond it. The CAP parser's own limit (real
/// NWS alerts reach 1.7 MB).
pub const MAX_DOCUMENT_BYTES: usize = jiaoying_ingest::MAX_CAP_BYTES;

/// The longest the loop sleeps between two steps, however far the next due poll: a changed
/// source state (another instance polled it) is seen, and a silent feed warned about, about once
/// a minute.
pub const POLL_BACKSTOP: Duration = Duration::from_secs(60);

/// Longest `last_error` and rejection reason stored, in characters.
pub const MAX_ERROR_CHARS: usize = 300;

const MAX_REDIRECTS: usize = 5;
const INDEX_ACCEPT: &str =
    "application/atom+xml, application/rss+xml, application/cap+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1";
const DOCUMENT_ACCEPT: &str = "application/cap+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1";

/// One polled source, as configured by `[[sources]] poll = { url, schedule }`.
#[derive(Debug, Clone)]
pub struct FeedSource {
    /// The source's id: alerts taken from the feed are stored as from this source.
    pub id: String,
    pub url: Url,
    pub schedule: Schedule,
    /// A feed that gives nothing parsable for longer than this is reported silent.
    pub silent_after: Span,
}

impl FeedSource {
    /// Checks the URL (http or https) and the cron schedule, naming the source in the error.
    pub fn new(id: impl Into<String>, url: &str, schedule: &str, silent_after: Span) -> Result<Self, FeedError> {
        let id = id.into();
        let config = |message: String| FeedError::Config { source_id: id.clone(), message };
        let url =
            Url::parse(url.trim()).map_err(|e| config(format!("poll.url {:?} is not a URL: {e}", redact(url))))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(config(format!("poll.url must be http or https, not {:?}", url.scheme())));
        }
        let schedule = parse_schedule(schedule).map_err(|m| config(format!("poll.schedule: {m}")))?;
        Ok(FeedSource { id, url, schedule, silent_after })
    }
}

/// How the poller behaves; the defaults suit public alert feeds.
#[derive(Debug, Clone)]
pub struct PollerConfig {
    /// Whole-request timeout (connect, send, read the body).
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// First wait after a failed poll; it doubles with each further failure in a row ...
    pub backoff_base: Span,
    /// ... up to this.
    pub backoff_cap: Span,
    /// Documents fetched in one poll of one source; the rest wait for the next poll.
    pub max_documents_per_poll: usize,
    pub user_agent: String,
    /// The tier and event tables of the config, the same the push API uses.
    pub normaliser: jiaoying_ingest::Normaliser,
}

impl Default for PollerConfig {
    fn default() -> Self {
        PollerConfig {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            backoff_base: Span::from_secs(30),
            backoff_cap: Span::from_mins(60),
            max_documents_per_poll: 200,
            user_agent: concat!("jiaoying/", env!("CARGO_PKG_VERSION"), " (CAP feed poller)").to_string(),
            normaliser: jiaoying_ingest::Normaliser::default(),
        }
    }
}

/// What one poll of one source did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollReport {
    /// The index answered `304 Not Modified`: nothing was parsed or fetched.
    pub not_modified: bool,
    /// Entries in the index.
    pub entries: usize,
    /// New documents taken into the tracker.
    pub taken: usize,
    /// New documents whose message the tracker already had.
    pub repeats: usize,
    /// New documents refused (recorded, not fetched again).
    pub rejected: usize,
    /// New documents left for the next poll (a passing failure, or over the per-poll limit).
    pub deferred: usize,
    /// When the source is due again.
    pub next_poll_at: Option<Timestamp>,
}

/// Counters since the poller started, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedStats {
    /// Polls of an index, whatever their outcome.
    pub polls: u64,
    /// Polls that failed (network, non-2xx, unparsable index).
    pub failures: u64,
    /// Index fetches answered `304 Not Modified`.
    pub not_modified: u64,
    /// Documents taken into the tracker as new messages.
    pub taken: u64,
    /// Documents whose message the tracker already had.
    pub repeats: u64,
    /// Documents refused.
    pub rejected: u64,
}

#[derive(Default)]
struct Counters {
    polls: AtomicU64,
    failures: AtomicU64,
    not_modified: AtomicU64,
    taken: AtomicU64,
    repeats: AtomicU64,
    rejected: AtomicU64,
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// A source that has given nothing parsable for longer than its `silent_after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SilentFeed {
    pub source: String,
    /// The last parsable take; `None` when there has been none.
    pub last_taken_at: Option<Timestamp>,
    /// How long it has been silent (since its last take, or since the poller started).
    pub silent_for: Span,
    /// Failed polls in a row, and the last one's reason: often why it is silent.
    pub failures: i64,
    pub last_error: Option<String>,
}

/// Polls the configured sources; see the module documentation.
pub struct FeedPoller {
    client: Client,
    store: Arc<dyn Store>,
    tracker: Tracker,
    clock: Arc<dyn Clock>,
    sources: Vec<FeedSource>,
    config: PollerConfig,
    started_at: Timestamp,
    counters: Counters,
    /// `true` once [`FeedPoller::stop`] was called: the loop ends after its current step.
    stopping: watch::Sender<bool>,
}

/// A document's bytes and validators.
struct Document {
    body: Vec<u8>,
    etag: Option<String>,
    last_modified: Option<String>,
}

/// Why a document could not be had.
enum DocumentError {
    /// Recorded as `rejected: <reason>`; not fetched again.
    Permanent(String),
    /// Left for the next poll.
    Passing(String),
}

/// What became of a fetched document.
enum Outcome {
    New,
    Repeat,
    Rejected(String),
}

impl FeedPoller {
    /// Builds the poller and its HTTP client: timeouts from `config`, redirects followed only on
    /// the same host (and port, or from http to https), at most 5.
    pub fn new(
        store: Arc<dyn Store>,
        tracker: Tracker,
        clock: Arc<dyn Clock>,
        sources: Vec<FeedSource>,
        config: PollerConfig,
    ) -> Result<Self, FeedError> {
        let client = Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(config.user_agent.clone())
            .redirect(reqwest::redirect::Policy::custom(same_host_redirects))
            .build()
            .map_err(|e| FeedError::Config { source_id: String::new(), message: format!("HTTP client: {e}") })?;
        let started_at = clock.now();
        Ok(FeedPoller {
            client,
            store,
            tracker,
            clock,
            sources,
            config,
            started_at,
            counters: Counters::default(),
            stopping: watch::channel(false).0,
        })
    }

    pub fn sources(&self) -> &[FeedSource] {
        &self.sources
    }

    pub fn stats(&self) -> FeedStats {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        FeedStats {
            polls: get(&c.polls),
            failures: get(&c.failures),
            not_modified: get(&c.not_modified),
            taken: get(&c.taken),
            repeats: get(&c.repeats),
            rejected: get(&c.rejected),
        }
    }

    /// Polls one source now, whatever its schedule, and records the outcome in `feed_state`.
    pub async fn poll_once(&self, source: &FeedSource) -> Result<PollReport, FeedError> {
        let unwatched: Pulse = Arc::new(|| {});
        self.poll(source, &unwatched).await
    }

    /// [`FeedPoller::poll_once`], calling `pulse` before each request (each may take up to the
    /// timeout).
    async fn poll(&self, source: &FeedSource, pulse: &Pulse) -> Result<PollReport, FeedError> {
        bump(&self.counters.polls);
        metrics::counter!(FEED_POLLS_TOTAL, "source" => source.id.clone()).increment(1);
        let now = self.clock.now();
        let mut state = self
            .store
            .feed_state(&source.id)
            .await?
            .unwrap_or_else(|| FeedStateRow { source: source.id.clone(), ..FeedStateRow::default() });
        state.last_poll_at = Some(now.millis());
        let scheduled = next_after(&source.schedule, now);
        match self.poll_index(source, &mut state, now, pulse).await {
            Ok(mut report) => {
                state.failures = 0;
                state.last_error = None;
                state.last_success_at = Some(now.millis());
                state.next_poll_at = scheduled.map(Timestamp::millis);
                report.next_poll_at = scheduled;
                self.store.put_feed_state(&state).await?;
                tracing::debug!(source = %source.id, ?report, "feed polled");
                Ok(report)
            }
            Err(e) if e.is_internal() => Err(e),
            Err(e) => {
                bump(&self.counters.failures);
                metrics::counter!(FEED_POLL_FAILURES_TOTAL, "source" => source.id.clone()).increment(1);
                state.failures = state.failures.saturating_add(1);
                let retry = now.plus(backoff(self.config.backoff_base, self.config.backoff_cap, state.failures));
                let next = scheduled.map_or(retry, |s| s.max(retry));
                state.last_error = Some(clip(&e.to_string()));
                state.next_poll_at = Some(next.millis());
                self.store.put_feed_state(&state).await?;
                tracing::warn!(source = %source.id, failures = state.failures, error = %e,
                    next_poll_at = %next.to_rfc3339(), "feed poll failed");
                Err(e)
            }
        }
    }

    /// Fetches the index and takes its new entries; updates the validators and `last_taken_at`
    /// in `state` (the caller records the rest).
    async fn poll_index(
        &self,
        source: &FeedSource,
        state: &mut FeedStateRow,
        now: Timestamp,
        pulse: &Pulse,
    ) -> Result<PollReport, FeedError> {
        pulse();
        let mut request = self.client.get(source.url.clone()).header(ACCEPT, INDEX_ACCEPT);
        if let Some(etag) = &state.etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(since) = &state.last_modified {
            request = request.header(IF_MODIFIED_SINCE, since);
        }
        let response = request.send().await.map_err(|e| fetch_error(&source.url, e))?;
        if response.status() == StatusCode::NOT_MODIFIED {
            bump(&self.counters.not_modified);
            return Ok(PollReport { not_modified: true, ..PollReport::default() });
        }
        if !response.status().is_success() {
            return Err(FeedError::Status { url: redact(source.url.as_str()), status: response.status().as_u16() });
        }
        let (etag, last_modified) = validators(response.headers());
        let base = response.url().clone();
        let body = read_limited(response, MAX_INDEX_BYTES).await.map_err(|e| match e {
            ReadError::TooLarge => FeedError::TooLarge(format!(
                "the index at {} is larger than {MAX_INDEX_BYTES} bytes",
                redact(source.url.as_str())
            )),
            ReadError::Http(e) => fetch_error(&source.url, e),
        })?;
        let entries = parse_index(&body, &base)?;

        let mut report = PollReport { entries: entries.len(), ..PollReport::default() };
        let mut fetched = 0;
        for entry in &entries {
            let key = entry.key();
            if self.store.feed_entry(&source.id, &key).await?.is_some() {
                continue;
            }
            if fetched >= self.config.max_documents_per_poll {
                report.deferred += 1;
                continue;
            }
            fetched += 1;
            pulse();
            let document = if entry.inline {
                Ok(Document { body: body.clone(), etag: etag.clone(), last_modified: last_modified.clone() })
            } else {
                self.fetch_document(entry).await
            };
            let (result, doc_etag, doc_modified) = match document {
                Ok(doc) => {
                    let result = match self.take(source, &doc.body).await? {
                        Outcome::New => {
                            report.taken += 1;
                            bump(&self.counters.taken);
                            "taken".to_string()
                        }
                        Outcome::Repeat => {
                            report.repeats += 1;
                            bump(&self.counters.repeats);
                            "repeat".to_string()
                        }
                        Outcome::Rejected(reason) => rejected(&mut report, &self.counters, &reason),
                    };
                    (result, doc.etag, doc.last_modified)
                }
                Err(DocumentError::Permanent(reason)) => (rejected(&mut report, &self.counters, &reason), None, None),
                Err(DocumentError::Passing(reason)) => {
                    report.deferred += 1;
                    tracing::warn!(source = %source.id, url = %redact(entry.url.as_str()), %reason,
                        "feed document not fetched; trying again at the next poll");
                    continue;
                }
            };
            if result.starts_with("rejected") {
                metrics::counter!(ALERTS_TOTAL, "source" => source.id.clone(), "tier" => "unknown", "result" => "rejected")
                    .increment(1);
                tracing::warn!(source = %source.id, url = %redact(entry.url.as_str()), %result, "feed document refused");
            }
            let row = FeedEntryRow {
                source: source.id.clone(),
                url: key,
                etag: doc_etag,
                last_modified: doc_modified,
                taken_at: now.millis(),
                result,
            };
            self.store.put_feed_entry(&row).await?;
        }
        if report.taken + report.repeats > 0 {
            state.last_taken_at = Some(now.millis());
        }
        // Keep the validators only when every entry was dealt with: otherwise the next poll would
        // get a 304 and never see the deferred entries again.
        if report.deferred == 0 {
            state.etag = etag;
            state.last_modified = last_modified;
        } else {
            state.etag = None;
            state.last_modified = None;
        }
        Ok(report)
    }

    async fn fetch_document(&self, entry: &FeedEntry) -> Result<Document, DocumentError> {
        let shown = redact(entry.url.as_str());
        let response = self
            .client
            .get(entry.url.clone())
            .header(ACCEPT, DOCUMENT_ACCEPT)
            .send()
            .await
            .map_err(|e| classify_fetch_error(&entry.url, e))?;
        let status = response.status();
        if !status.is_success() {
            let passing = status.is_server_error()
                || status == StatusCode::REQUEST_TIMEOUT
                || status == StatusCode::TOO_MANY_REQUESTS;
            let reason = format!("{shown} answered HTTP {}", status.as_u16());
            return Err(if passing { DocumentError::Passing(reason) } else { DocumentError::Permanent(reason) });
        }
        let (etag, last_modified) = validators(response.headers());
        let body = read_limited(response, MAX_DOCUMENT_BYTES).await.map_err(|e| match e {
            ReadError::TooLarge => DocumentError::Permanent(format!("too large: more than {MAX_DOCUMENT_BYTES} bytes")),
            ReadError::Http(e) => classify_fetch_error(&entry.url, e),
        })?;
        Ok(Document { body, etag, last_modified })
    }

    /// CAP bytes into the tracker.
    async fn take(&self, source: &FeedSource, body: &[u8]) -> Result<Outcome, FeedError> {
        let alert = match self.config.normaliser.cap_alert(body) {
            Ok(alert) => alert,
            Err(e) => return Ok(Outcome::Rejected(e.to_string())),
        };
        let text = String::from_utf8_lossy(body);
        let accepted = self.tracker.accept(&alert, &source.id, &text).await?;
        tracing::info!(source = %source.id, alert_id = accepted.id, created = accepted.created,
            calls = accepted.calls, "alert taken from feed");
        Ok(if accepted.created { Outcome::New } else { Outcome::Repeat })
    }

    /// Polls every source that is due at `now` (a source never polled is due at once), logs a
    /// warning for each silent feed, and reports the earliest next poll. A feed's failure is
    /// recorded in its state and does not fail the step; a database failure does. `pulse` is
    /// called before each request (the loop's heartbeat: a poll of many slow documents is a long
    /// step, not a stuck loop).
    pub async fn step(&self, now: Timestamp, pulse: &Pulse) -> Result<Step, FeedError> {
        let mut next_due: Option<i64> = None;
        for source in &self.sources {
            let state = self.store.feed_state(&source.id).await?;
            let due = match &state {
                None => true,
                Some(s) => match s.next_poll_at {
                    Some(t) => t <= now.millis(),
                    // No next time: never polled (due), or a schedule that has ended (never).
                    None => s.last_poll_at.is_none(),
                },
            };
            let next = if !due {
                state.and_then(|s| s.next_poll_at)
            } else {
                match self.poll(source, pulse).await {
                    Ok(report) => report.next_poll_at.map(Timestamp::millis),
                    Err(e) if e.is_internal() => return Err(e),
                    // Already logged and recorded, with its next time.
                    Err(_) => self.store.feed_state(&source.id).await?.and_then(|s| s.next_poll_at),
                }
            };
            if let Some(t) = next {
                next_due = Some(next_due.map_or(t, |n| n.min(t)));
            }
        }
        for silent in self.silent_feeds(now).await? {
            tracing::warn!(source = %silent.source, silent_for = %silent.silent_for,
                last_taken_at = ?silent.last_taken_at.map(Timestamp::to_rfc3339),
                failures = silent.failures, last_error = ?silent.last_error,
                "feed silent: nothing parsable taken from it for longer than silent_after");
        }
        Ok(Step::Empty { next_due })
    }

    /// The sources whose last parsable take (or, with none, the poller's start) is longer than
    /// their `silent_after` ago: the board's "feed silent" warning.
    pub async fn silent_feeds(&self, now: Timestamp) -> Result<Vec<SilentFeed>, FeedError> {
        let mut out = Vec::new();
        for source in &self.sources {
            let state = self.store.feed_state(&source.id).await?.unwrap_or_default();
            let last_taken_at = state.last_taken_at.map(Timestamp::from_millis);
            let since = last_taken_at.unwrap_or(self.started_at);
            let silent_for = now.millis().saturating_sub(since.millis());
            if silent_for > source.silent_after.millis() {
                out.push(SilentFeed {
                    source: source.id.clone(),
                    last_taken_at,
                    silent_for: Span::from_millis(silent_for),
                    failures: state.failures,
                    last_error: state.last_error,
                });
            }
        }
        Ok(out)
    }

    /// Runs [`FeedPoller::step`] in the tracker's loop shape until [`FeedPoller::stop`]: it
    /// sleeps until the next due poll or [`POLL_BACKSTOP`], whichever comes first. The loop asks
    /// `pulse` for its heartbeat (as `Linker::run` does) by name, `feeds`, and the longest it may
    /// rightly stay quiet: a backstop's sleep, however far the next cron time, or one request.
    pub async fn run(&self, pulse: impl Fn(&str, Duration) -> Pulse) {
        let beat = pulse("feeds", POLL_BACKSTOP.max(self.config.timeout));
        let idle = Notify::new();
        let clock = self.clock.clone();
        let beat = &beat;
        run_loop(
            "feeds",
            || beaten(beat, self.step(self.clock.now(), beat)),
            move || clock.now().millis(),
            &idle,
            POLL_BACKSTOP,
            self.stopping.subscribe(),
        )
        .await;
    }

    /// Shutdown: the loop ends after its current step; a later [`FeedPoller::run`] returns at once.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
    }
}

fn rejected(report: &mut PollReport, counters: &Counters, reason: &str) -> String {
    report.rejected += 1;
    bump(&counters.rejected);
    format!("rejected: {}", clip(reason))
}

fn same_host_redirects(attempt: reqwest::redirect::Attempt) -> reqwest::redirect::Action {
    if attempt.previous().len() > MAX_REDIRECTS {
        return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
    }
    let Some(first) = attempt.previous().first() else { return attempt.follow() };
    let next = attempt.url();
    let same_host = first.host_str().map(str::to_ascii_lowercase) == next.host_str().map(str::to_ascii_lowercase);
    let same_origin = first.scheme() == next.scheme() && first.port_or_known_default() == next.port_or_known_default();
    let upgrade = first.scheme() == "http" && next.scheme() == "https";
    if same_host && (same_origin || upgrade) {
        attempt.follow()
    } else {
        let to = format!("{}://{}", next.scheme(), next.host_str().unwrap_or("?"));
        attempt.error(format!("a redirect to another host or port ({to}) is refused"))
    }
}

fn validators(headers: &HeaderMap) -> (Option<String>, Option<String>) {
    let get = |name| headers.get(name).and_then(|v: &reqwest::header::HeaderValue| v.to_str().ok()).map(str::to_string);
    (get(ETAG), get(LAST_MODIFIED))
}

enum ReadError {
    TooLarge,
    Http(reqwest::Error),
}

/// Reads the body, stopping as soon as it is known to exceed `limit` (by `Content-Length`, or
/// once more than `limit` bytes have arrived).
async fn read_limited(mut response: Response, limit: usize) -> Result<Vec<u8>, ReadError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(ReadError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Http)? {
        if body.len() + chunk.len() > limit {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn fetch_error(url: &Url, e: reqwest::Error) -> FeedError {
    FeedError::Fetch { url: redact(url.as_str()), message: describe(e) }
}

fn classify_fetch_error(url: &Url, e: reqwest::Error) -> DocumentError {
    let permanent = e.is_redirect() || e.is_builder();
    let reason = format!("fetching {} failed: {}", redact(url.as_str()), describe(e));
    if permanent {
        DocumentError::Permanent(reason)
    } else {
        DocumentError::Passing(reason)
    }
}

/// The error and its causes, without the URL (which may carry a query with credentials).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut message = if e.is_timeout() { "timed out".to_string() } else { e.to_string() };
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = c.source();
    }
    message
}

/// A URL as shown in errors and logs: scheme, host, port and path; no user info, query or
/// fragment.
pub(crate) fn redact(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("");
            match u.port() {
                Some(p) => format!("{}://{host}:{p}{}", u.scheme(), u.path()),
                None => format!("{}://{host}{}", u.scheme(), u.path()),
            }
        }
        Err(_) => "<not a URL>".to_string(),
    }
}

fn clip(s: &str) -> String {
    if s.chars().count() <= MAX_ERROR_CHARS {
        return s.to_string();
    }
    let mut out: String = s.chars().take(MAX_ERROR_CHARS - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_errors_lose_credentials_and_queries() {
        assert_eq!(
            redact("https://user:pw@feeds.example:8443/a/b.atom?token=s3cret#x"),
            "https://feeds.example:8443/a/b.atom"
        );
        assert_eq!(redact("http://feeds.example/a"), "http://feeds.example/a");
        assert_eq!(redact("::"), "<not a URL>");
    }

    #[test]
    fn long_errors_are_clipped() {
        let long = "错".repeat(1000);
        let clipped = clip(&long);
        assert_eq!(clipped.chars().count(), MAX_ERROR_CHARS);
        assert!(clipped.ends_with('…'));
        assert_eq!(clip("short"), "short");
    }

    #[test]
    fn sources_check_their_url_and_schedule() {
        let ok = FeedSource::new("cma", "http://feeds.example/cap.atom", "0 */2 * * * *", Span::from_mins(60)).unwrap();
        assert_eq!(ok.url.as_str(), "http://feeds.example/cap.atom");
        let e = FeedSource::new("cma", "ftp://x/y", "0 */2 * * * *", Span::ZERO).unwrap_err().to_string();
        assert!(e.contains("cma") && e.contains("http or https"), "{e}");
        let e = FeedSource::new("cma", "http://x/y", "*/2 * * * *", Span::ZERO).unwrap_err().to_string();
        assert!(e.contains("poll.schedule") && e.contains("5 fields"), "{e}");
        let e = FeedSource::new("cma", "not a url?token=s3cret", "* * * * * *", Span::ZERO).unwrap_err().to_string();
        assert!(!e.contains("s3cret"), "{e}");
    }
}
