//! The feed poller against a real HTTP server (axum on 127.0.0.1:0) serving an Atom index and CAP
//! documents, with a real SQLite store and tracker and a manual clock. Nothing sleeps: every poll
//! is a direct `poll_once` or `step`, except the loop's, whose heartbeat is awaited.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::header::{CONTENT_TYPE, ETAG, IF_NONE_MATCH, LOCATION};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use jiaoying_core::token::TokenSigner;
use jiaoying_core::{Clock, ManualClock, Policies, Span, Timestamp};
use jiaoying_dispatch::AddressKind;
use jiaoying_feeds::{
    parse_index, FeedError, FeedPoller, FeedSource, PollerConfig, Url, MAX_ERROR_CHARS, MAX_INDEX_BYTES, POLL_BACKSTOP,
};
use jiaoying_store::{AlertFilter, Store};
use jiaoying_tracker::{Composer, Pulse, Step, Tracker, TrackerConfig};
use tokio::sync::Notify;

const CN01: &str = include_str!("fixtures/cn-01-rainstorm-red-jiangbei.xml");
const CN02: &str = include_str!("fixtures/cn-02-geohazard-orange-circle.xml");
const INDEX: &str = include_str!("fixtures/index.atom");
const INDEX_PATH: &str = "/feed/index.atom";
const CN01_PATH: &str = "/feed/cap/cn-01-rainstorm-red-jiangbei.xml";
const CN02_PATH: &str = "/feed/cap/cn-02-geohazard-orange-circle.xml";
/// 2026-07-01T08:00:00+08:00, an even minute.
const START: Timestamp = Timestamp(1_782_864_000_000);

/// What the server answers on a path other than the index.
#[derive(Clone)]
enum Reply {
    Body(u16, Vec<u8>),
    Redirect(String),
}

struct Served {
    index: Vec<u8>,
    etag: String,
    index_status: u16,
    docs: HashMap<String, Reply>,
    hits: HashMap<String, usize>,
}

type Shared = Arc<Mutex<Served>>;

async fn serve(State(served): State<Shared>, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path().to_string();
    let mut s = served.lock().unwrap();
    *s.hits.entry(path.clone()).or_default() += 1;
    if path == INDEX_PATH {
        if s.index_status != 200 {
            let status = StatusCode::from_u16(s.index_status).unwrap();
            return (status, "<html>internal secret stack trace</html>").into_response();
        }
        let etag = s.etag.clone();
        if headers.get(IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
            return (StatusCode::NOT_MODIFIED, [(ETAG, etag)]).into_response();
        }
        return (StatusCode::OK, [(CONTENT_TYPE, "application/atom+xml".to_string()), (ETAG, etag)], s.index.clone())
            .into_response();
    }
    match s.docs.get(&path).cloned() {
        Some(Reply::Body(status, body)) => {
            (StatusCode::from_u16(status).unwrap(), [(CONTENT_TYPE, "application/cap+xml")], body).into_response()
        }
        Some(Reply::Redirect(to)) => (StatusCode::FOUND, [(LOCATION, to)]).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

struct Harness {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    clock: ManualClock,
    tracker: Tracker,
    served: Shared,
    /// `http://127.0.0.1:PORT`
    origin: String,
    port: u16,
}

impl Harness {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = jiaoying_store::connect(&format!("sqlite://{}", dir.path().join("f.db").display())).await.unwrap();
        store.migrate().await.unwrap();
        let clock = ManualClock::new(START);
        let addressing = BTreeMap::from([("console".to_string(), AddressKind::Mobile)]);
        let composer = Composer::new(TokenSigner::new(b"feeds-test"), "http://test", "叫应", addressing);
        let policies = Policies::new(BTreeMap::new(), &["console".to_string()]);
        let clock_arc: Arc<dyn Clock> = Arc::new(clock.clone());
        let tracker = Tracker::new(
            store.clone(),
            clock_arc,
            TrackerConfig { policies, composer, batch: 100, late_answer_closes_escalation: true, directives: vec![] },
            Arc::new(tokio::sync::Notify::new()),
        );

        let docs = HashMap::from([
            (CN01_PATH.to_string(), Reply::Body(200, CN01.as_bytes().to_vec())),
            (CN02_PATH.to_string(), Reply::Body(200, CN02.as_bytes().to_vec())),
        ]);
        let served = Arc::new(Mutex::new(Served {
            index: INDEX.as_bytes().to_vec(),
            etag: "\"v1\"".to_string(),
            index_status: 200,
            docs,
            hits: HashMap::new(),
        }));
        let app = Router::new().fallback(serve).with_state(served.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Harness { _dir: dir, store, clock, tracker, served, origin: format!("http://127.0.0.1:{port}"), port }
    }

    fn source(&self, id: &str, path_and_query: &str, schedule: &str, silent_after: Span) -> FeedSource {
        FeedSource::new(id, &format!("{}{path_and_query}", self.origin), schedule, silent_after).unwrap()
    }

    fn index_source(&self) -> FeedSource {
        self.source("cma", INDEX_PATH, "0 */2 * * * *", Span::from_mins(60))
    }

    fn poller(&self, sources: Vec<FeedSource>) -> FeedPoller {
        let clock: Arc<dyn Clock> = Arc::new(self.clock.clone());
        FeedPoller::new(self.store.clone(), self.tracker.clone(), clock, sources, PollerConfig::default()).unwrap()
    }

    fn hits(&self, path: &str) -> usize {
        self.served.lock().unwrap().hits.get(path).copied().unwrap_or(0)
    }

    fn set_index(&self, index: &str, etag: &str) {
        let mut s = self.served.lock().unwrap();
        s.index = index.as_bytes().to_vec();
        s.etag = etag.to_string();
    }

    fn set_doc(&self, path: &str, reply: Reply) {
        self.served.lock().unwrap().docs.insert(path.to_string(), reply);
    }

    fn set_index_status(&self, status: u16) {
        self.served.lock().unwrap().index_status = status;
    }

    async fn alerts(&self) -> i64 {
        let filter = AlertFilter { state: None, limit: 100, offset: 0 };
        self.store.list_alerts(&filter).await.unwrap().1
    }

    async fn entry_result(&self, source: &str, path: &str) -> Option<String> {
        let url = format!("{}{path}", self.origin);
        self.store.feed_entry(source, &url).await.unwrap().map(|e| e.result)
    }
}

/// The fixture index with more entries before `</feed>`, linking the given relative hrefs.
fn index_with(extra: &[&str]) -> String {
    let entries: String = extra
        .iter()
        .map(|href| {
            format!(
                "<entry><id>urn:test:{href}</id><updated>2026-07-03T00:00:00Z</updated>\
                 <link type=\"application/cap+xml\" href=\"{href}\"/></entry>\n"
            )
        })
        .collect();
    INDEX.replace("<!-- more entries -->", &entries)
}

/// A third valid CAP message: the rainstorm one under a new identifier.
fn cn03() -> String {
    CN01.replace("50010541600000_20260701080000", "50010541600000_20260703080000")
        .replace("<sent>2026-07-01T08:00:00+08:00</sent>", "<sent>2026-07-03T08:00:00+08:00</sent>")
}

/// A heartbeat nobody watches, for steps run by hand.
fn unwatched() -> Pulse {
    Arc::new(|| {})
}

#[tokio::test]
async fn takes_each_linked_document_once_and_honours_not_modified() {
    let h = Harness::new().await;
    let source = h.index_source();
    let poller = h.poller(vec![source.clone()]);

    let first = poller.poll_once(&source).await.unwrap();
    assert_eq!((first.entries, first.taken, first.rejected, first.deferred), (2, 2, 0, 0));
    assert!(!first.not_modified);
    assert_eq!(h.alerts().await, 2);
    assert_eq!(h.entry_result("cma", CN01_PATH).await.as_deref(), Some("taken"));
    assert_eq!(h.entry_result("cma", CN02_PATH).await.as_deref(), Some("taken"));
    let state = h.store.feed_state("cma").await.unwrap().unwrap();
    assert_eq!(state.etag.as_deref(), Some("\"v1\""));
    assert_eq!(state.last_taken_at, Some(START.millis()));
    assert_eq!(state.last_success_at, Some(START.millis()));
    assert_eq!(state.failures, 0);
    // The schedule "0 */2 * * * *" from an even minute: two minutes on.
    assert_eq!(state.next_poll_at, Some(START.millis() + 120_000));
    assert_eq!(first.next_poll_at, Some(Timestamp(START.millis() + 120_000)));

    // Unchanged index: 304, nothing parsed or fetched.
    h.clock.advance(Span::from_mins(2));
    let second = poller.poll_once(&source).await.unwrap();
    assert!(second.not_modified);
    assert_eq!((second.entries, second.taken), (0, 0));
    assert_eq!(h.hits(INDEX_PATH), 2);
    assert_eq!(h.hits(CN01_PATH), 1);
    assert_eq!(h.hits(CN02_PATH), 1);
    assert_eq!(h.alerts().await, 2);
    let state = h.store.feed_state("cma").await.unwrap().unwrap();
    assert_eq!(state.last_taken_at, Some(START.millis()), "a 304 takes nothing");

    // A third entry and a new ETag: only the new document is fetched.
    h.set_doc("/feed/cap/cn-03.xml", Reply::Body(200, cn03().into_bytes()));
    h.set_index(&index_with(&["cap/cn-03.xml"]), "\"v2\"");
    h.clock.advance(Span::from_mins(2));
    let third = poller.poll_once(&source).await.unwrap();
    assert_eq!((third.entries, third.taken, third.repeats), (3, 1, 0));
    assert_eq!(h.hits("/feed/cap/cn-03.xml"), 1);
    assert_eq!(h.hits(CN01_PATH), 1);
    assert_eq!(h.hits(CN02_PATH), 1);
    assert_eq!(h.alerts().await, 3);
    assert_eq!(h.store.feed_state("cma").await.unwrap().unwrap().etag.as_deref(), Some("\"v2\""));

    let stats = poller.stats();
    assert_eq!((stats.polls, stats.not_modified, stats.taken, stats.rejected, stats.failures), (3, 1, 3, 0, 0));
}

#[tokio::test]
async fn a_message_already_pushed_is_recorded_as_a_repeat() {
    let h = Harness::new().await;
    let alert = jiaoying_ingest::parse_cap(CN01.as_bytes()).unwrap().to_new_alert().unwrap();
    h.tracker.accept(&alert, "cma", CN01).await.unwrap();
    let source = h.index_source();
    let poller = h.poller(vec![source.clone()]);
    let report = poller.poll_once(&source).await.unwrap();
    assert_eq!((report.taken, report.repeats), (1, 1));
    assert_eq!(h.entry_result("cma", CN01_PATH).await.as_deref(), Some("repeat"));
    assert_eq!(h.alerts().await, 2);
}

#[tokio::test]
async fn broken_documents_are_rejected_once_and_passing_failures_retried() {
    let h = Harness::new().await;
    h.set_doc(
        "/feed/cap/broken.xml",
        Reply::Body(200, b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><oops".to_vec()),
    );
    h.set_doc("/feed/cap/not-cap.xml", Reply::Body(200, b"<html><body>hello</body></html>".to_vec()));
    h.set_doc("/feed/cap/down.xml", Reply::Body(503, b"busy".to_vec()));
    h.set_index(&index_with(&["cap/broken.xml", "cap/not-cap.xml", "cap/gone.xml", "cap/down.xml"]), "\"v1\"");
    let source = h.index_source();
    let poller = h.poller(vec![source.clone()]);

    let report = poller.poll_once(&source).await.unwrap();
    assert_eq!((report.entries, report.taken, report.rejected, report.deferred), (6, 2, 3, 1));
    let broken = h.entry_result("cma", "/feed/cap/broken.xml").await.unwrap();
    assert!(broken.starts_with("rejected: malformed input"), "{broken}");
    let not_cap = h.entry_result("cma", "/feed/cap/not-cap.xml").await.unwrap();
    assert!(not_cap.starts_with("rejected: "), "{not_cap}");
    let gone = h.entry_result("cma", "/feed/cap/gone.xml").await.unwrap();
    assert!(gone.starts_with("rejected: ") && gone.contains("HTTP 404"), "{gone}");
    assert!(broken.chars().count() <= "rejected: ".len() + MAX_ERROR_CHARS);
    // The 503 is not recorded, and the index's ETag is not kept, so the next poll reads it again.
    assert_eq!(h.entry_result("cma", "/feed/cap/down.xml").await, None);
    let state = h.store.feed_state("cma").await.unwrap().unwrap();
    assert_eq!(state.etag, None);
    assert_eq!(state.failures, 0, "a document's passing failure is not the index's");

    h.set_doc("/feed/cap/down.xml", Reply::Body(200, cn03().into_bytes()));
    h.clock.advance(Span::from_mins(2));
    let again = poller.poll_once(&source).await.unwrap();
    assert!(!again.not_modified);
    assert_eq!((again.taken, again.rejected, again.deferred), (1, 0, 0));
    assert_eq!(h.entry_result("cma", "/feed/cap/down.xml").await.as_deref(), Some("taken"));
    for rejected in ["/feed/cap/broken.xml", "/feed/cap/not-cap.xml", "/feed/cap/gone.xml"] {
        assert_eq!(h.hits(rejected), 1, "{rejected} is not fetched again");
    }
    assert_eq!(h.hits("/feed/cap/down.xml"), 2);
    assert_eq!(h.store.feed_state("cma").await.unwrap().unwrap().etag.as_deref(), Some("\"v1\""));
    assert_eq!(h.alerts().await, 3);
    assert_eq!(poller.stats().rejected, 3);
}

#[tokio::test]
async fn index_failures_count_and_back_off_then_recover() {
    let h = Harness::new().await;
    // A query carrying a credential, which must not show in the stored error.
    let source = h.source("cma", &format!("{INDEX_PATH}?token=s3cret"), "0 */2 * * * *", Span::from_mins(60));
    let poller = h.poller(vec![source.clone()]);
    h.set_index_status(500);

    // The schedule's next time (2 min) wins over the backoff (30 s, 60 s, 120 s), then the
    // backoff (240 s) wins.
    let expected = [(1, 120_000), (2, 120_000), (3, 120_000), (4, 240_000)];
    for (failures, wait) in expected {
        let err = poller.poll_once(&source).await.unwrap_err();
        assert!(matches!(err, FeedError::Status { status: 500, .. }), "{err}");
        let state = h.store.feed_state("cma").await.unwrap().unwrap();
        assert_eq!(state.failures, failures);
        assert_eq!(state.next_poll_at, Some(h.clock.now().millis() + wait), "after {failures} failures");
        let error = state.last_error.unwrap();
        assert!(error.contains("HTTP 500") && error.contains(INDEX_PATH), "{error}");
        assert!(!error.contains("s3cret") && !error.contains("stack trace"), "{error}");
        assert_eq!(state.last_success_at, None);
    }
    assert_eq!(poller.stats().failures, 4);

    // Not due yet: step polls nothing and names the due time.
    let due = h.store.feed_state("cma").await.unwrap().unwrap().next_poll_at.unwrap();
    let hits = h.hits(INDEX_PATH);
    h.clock.advance(Span::from_secs(239));
    assert_eq!(poller.step(h.clock.now(), &unwatched()).await.unwrap(), Step::Empty { next_due: Some(due) });
    assert_eq!(h.hits(INDEX_PATH), hits);

    // Due and the server is back: taken, failures reset.
    h.set_index_status(200);
    h.clock.advance(Span::from_secs(1));
    let now = h.clock.now();
    let step = poller.step(now, &unwatched()).await.unwrap();
    let state = h.store.feed_state("cma").await.unwrap().unwrap();
    assert_eq!(step, Step::Empty { next_due: state.next_poll_at });
    assert_eq!(state.failures, 0);
    assert_eq!(state.last_error, None);
    assert_eq!(state.last_success_at, Some(now.millis()));
    assert!(state.next_poll_at.unwrap() > now.millis());
    assert_eq!(h.alerts().await, 2);
}

#[tokio::test]
async fn a_network_failure_is_recorded_with_backoff() {
    let h = Harness::new().await;
    // A port nothing listens on: bind one, then close it.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let source =
        FeedSource::new("dead", &format!("http://127.0.0.1:{closed}/index.atom"), "* * * * * *", Span::from_mins(60))
            .unwrap();
    let poller = h.poller(vec![source.clone()]);
    let err = poller.poll_once(&source).await.unwrap_err();
    assert!(matches!(err, FeedError::Fetch { .. }), "{err}");
    let state = h.store.feed_state("dead").await.unwrap().unwrap();
    assert_eq!(state.failures, 1);
    // Every second by schedule, so the backoff (30 s) decides.
    assert_eq!(state.next_poll_at, Some(START.millis() + 30_000));
    assert!(state.last_error.unwrap().starts_with("fetching http://127.0.0.1:"));
}

#[tokio::test]
async fn step_polls_what_is_due_and_reports_the_earliest_next_poll() {
    let h = Harness::new().await;
    let every_two = h.index_source();
    let hourly = h.source("hourly", INDEX_PATH, "0 0 * * * *", Span::from_mins(60 * 24));
    let poller = h.poller(vec![every_two, hourly]);

    // Never polled: both due at once.
    let step = poller.step(h.clock.now(), &unwatched()).await.unwrap();
    assert_eq!(step, Step::Empty { next_due: Some(START.millis() + 120_000) });
    assert_eq!(h.hits(INDEX_PATH), 2);
    assert_eq!(h.alerts().await, 2, "the same messages from two sources are one set of alerts");
    assert_eq!(h.entry_result("hourly", CN01_PATH).await.as_deref(), Some("repeat"));

    // Nothing due a minute later.
    h.clock.advance(Span::from_mins(1));
    assert_eq!(
        poller.step(h.clock.now(), &unwatched()).await.unwrap(),
        Step::Empty { next_due: Some(START.millis() + 120_000) }
    );
    assert_eq!(h.hits(INDEX_PATH), 2);

    // At two minutes only the first is due again.
    h.clock.advance(Span::from_mins(1));
    assert_eq!(
        poller.step(h.clock.now(), &unwatched()).await.unwrap(),
        Step::Empty { next_due: Some(START.millis() + 240_000) }
    );
    assert_eq!(h.hits(INDEX_PATH), 3);
    let hourly = h.store.feed_state("hourly").await.unwrap().unwrap();
    assert_eq!(hourly.next_poll_at, Some(START.millis() + 3_600_000));
}

#[tokio::test]
async fn a_feed_that_takes_nothing_for_too_long_is_silent() {
    let h = Harness::new().await;
    let busy = h.index_source();
    let empty_index = "<feed xmlns='http://www.w3.org/2005/Atom'><id>x</id></feed>";
    h.set_doc("/empty.atom", Reply::Body(200, empty_index.as_bytes().to_vec()));
    let quiet = h.source("quiet", "/empty.atom", "0 */2 * * * *", Span::from_mins(30));
    let poller = h.poller(vec![busy, quiet]);

    poller.step(h.clock.now(), &unwatched()).await.unwrap();
    assert!(poller.silent_feeds(h.clock.now()).await.unwrap().is_empty());

    // After 40 minutes the feed that never gave anything is silent (counted from the start).
    h.clock.advance(Span::from_mins(40));
    poller.step(h.clock.now(), &unwatched()).await.unwrap();
    let silent = poller.silent_feeds(h.clock.now()).await.unwrap();
    assert_eq!(silent.len(), 1);
    assert_eq!(silent[0].source, "quiet");
    assert_eq!(silent[0].last_taken_at, None);
    assert_eq!(silent[0].silent_for, Span::from_mins(40));

    // After two hours of 304s the busy feed is silent too, since its last take.
    h.clock.advance(Span::from_mins(80));
    poller.step(h.clock.now(), &unwatched()).await.unwrap();
    let silent = poller.silent_feeds(h.clock.now()).await.unwrap();
    let names: Vec<&str> = silent.iter().map(|s| s.source.as_str()).collect();
    assert_eq!(names, ["cma", "quiet"]);
    assert_eq!(silent[0].last_taken_at, Some(START));
    assert_eq!(silent[0].silent_for, Span::from_mins(120));
    assert_eq!(silent[0].failures, 0);

    // A new entry ends the silence.
    h.set_doc("/feed/cap/cn-03.xml", Reply::Body(200, cn03().into_bytes()));
    h.set_index(&index_with(&["cap/cn-03.xml"]), "\"v2\"");
    h.clock.advance(Span::from_mins(2));
    poller.step(h.clock.now(), &unwatched()).await.unwrap();
    let names: Vec<String> = poller.silent_feeds(h.clock.now()).await.unwrap().into_iter().map(|s| s.source).collect();
    assert_eq!(names, ["quiet"]);
}

#[tokio::test]
async fn hostile_indexes_are_refused_without_panic() {
    let h = Harness::new().await;
    let source = h.index_source();
    let poller = h.poller(vec![source.clone()]);
    let laughs = "<?xml version='1.0'?><!DOCTYPE feed [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;'>\
                  <!ENTITY c '&b;&b;&b;&b;&b;&b;'>]><feed><entry><id>&c;</id></entry></feed>";
    let external = "<?xml version='1.0'?><!DOCTYPE feed SYSTEM 'file:///etc/passwd'><feed/>";
    let undeclared = "<feed><entry><id>&xxe;</id><link href='cap/x.xml'/></entry></feed>";
    let deep = format!("<feed>{}", "<entry>".repeat(200_000));
    let oversized = format!("<feed>{}</feed>", " ".repeat(MAX_INDEX_BYTES));
    let html = "<html><body>not a feed</body></html>";
    let cases: [(&str, &str); 6] = [
        (laughs, "unsafe feed"),
        (external, "unsafe feed"),
        (undeclared, "entity &xxe;"),
        (&deep, "nested more than"),
        (&oversized, "too large"),
        (html, "not a feed"),
    ];
    for (i, (index, want)) in cases.iter().enumerate() {
        h.set_index(index, &format!("\"bad-{i}\""));
        let err = poller.poll_once(&source).await.unwrap_err().to_string();
        assert!(err.contains(want), "case {i}: {err:?} should contain {want:?}");
        let state = h.store.feed_state("cma").await.unwrap().unwrap();
        assert_eq!(state.failures, i as i64 + 1);
        assert!(state.last_error.unwrap().chars().count() <= MAX_ERROR_CHARS);
        assert_eq!(state.etag, None, "a refused index's ETag is not kept");
    }
    assert_eq!(h.alerts().await, 0);
    assert_eq!(h.hits("/feed/cap/x.xml"), 0);

    // The parser on its own, too.
    let base = Url::parse("http://127.0.0.1/feed/index.atom").unwrap();
    for (index, want) in cases {
        let err = parse_index(index.as_bytes(), &base).unwrap_err().to_string();
        assert!(err.contains(want), "{err:?} should contain {want:?}");
    }
}

#[tokio::test]
async fn oversized_documents_are_rejected_and_redirects_stay_on_the_host() {
    let h = Harness::new().await;
    let huge = vec![b' '; jiaoying_feeds::MAX_DOCUMENT_BYTES + 1];
    h.set_doc("/feed/cap/huge.xml", Reply::Body(200, huge));
    h.set_doc("/feed/cap/moved.xml", Reply::Redirect(CN01_PATH.to_string()));
    let elsewhere = format!("http://localhost:{}{CN02_PATH}", h.port);
    h.set_doc("/feed/cap/away.xml", Reply::Redirect(elsewhere));
    let index = "<feed xmlns='http://www.w3.org/2005/Atom'>\
        <entry><id>1</id><link href='cap/huge.xml'/></entry>\
        <entry><id>2</id><link href='cap/moved.xml'/></entry>\
        <entry><id>3</id><link href='cap/away.xml'/></entry></feed>";
    h.set_index(index, "\"r\"");
    let source = h.index_source();
    let poller = h.poller(vec![source.clone()]);
    let report = poller.poll_once(&source).await.unwrap();
    assert_eq!((report.taken, report.rejected, report.deferred), (1, 2, 0));
    let huge = h.entry_result("cma", "/feed/cap/huge.xml").await.unwrap();
    assert!(huge.starts_with("rejected: too large"), "{huge}");
    assert_eq!(h.entry_result("cma", "/feed/cap/moved.xml").await.as_deref(), Some("taken"));
    assert_eq!(h.hits(CN01_PATH), 1, "a same-host redirect is followed");
    let away = h.entry_result("cma", "/feed/cap/away.xml").await.unwrap();
    assert!(away.contains("another host"), "{away}");
    assert_eq!(h.hits(CN02_PATH), 0, "a cross-host redirect is not followed");
}

#[tokio::test]
async fn a_feed_that_is_itself_a_cap_document_is_taken_once() {
    let h = Harness::new().await;
    let source = h.source("direct", CN01_PATH, "0 */2 * * * *", Span::from_mins(60));
    let poller = h.poller(vec![source.clone()]);
    let first = poller.poll_once(&source).await.unwrap();
    assert_eq!((first.entries, first.taken), (1, 1));
    assert_eq!(h.hits(CN01_PATH), 1, "the document is not fetched a second time");
    h.clock.advance(Span::from_mins(2));
    let second = poller.poll_once(&source).await.unwrap();
    assert_eq!((second.entries, second.taken, second.repeats), (1, 0, 0));

    // The same URL now serving a new message: taken.
    h.set_doc(CN01_PATH, Reply::Body(200, cn03().into_bytes()));
    h.clock.advance(Span::from_mins(2));
    let third = poller.poll_once(&source).await.unwrap();
    assert_eq!(third.taken, 1);
    assert_eq!(h.alerts().await, 2);
}

#[tokio::test]
async fn a_document_of_unknown_length_stops_being_read_past_the_limit() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // A server that sends no Content-Length and streams until the client goes away (at most 8 MiB).
    let raw = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let raw_port = raw.local_addr().unwrap().port();
    tokio::spawn(async move {
        let (mut socket, _) = raw.accept().await.unwrap();
        let mut request = [0u8; 4096];
        let _ = socket.read(&mut request).await;
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/cap+xml\r\nConnection: close\r\n\r\n";
        if socket.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = vec![b' '; 64 * 1024];
        for _ in 0..128 {
            if socket.write_all(&chunk).await.is_err() {
                return;
            }
        }
    });
    let h = Harness::new().await;
    let index = format!(
        "<feed xmlns='http://www.w3.org/2005/Atom'><entry><id>1</id>\
         <link href='http://127.0.0.1:{raw_port}/endless.xml'/></entry></feed>"
    );
    h.set_index(&index, "\"e\"");
    let source = h.index_source();
    let poller = h.poller(vec![source.clone()]);
    let report = poller.poll_once(&source).await.unwrap();
    assert_eq!(report.rejected, 1);
    let url = format!("http://127.0.0.1:{raw_port}/endless.xml");
    let result = h.store.feed_entry("cma", &url).await.unwrap().unwrap().result;
    assert!(result.starts_with("rejected: too large"), "{result}");
}

/// The loop asks for its heartbeat as `feeds`, with room for a backstop's sleep (it waits up to a
/// minute however far the next cron time); it beats as each step starts and ends and before each
/// request, so a long poll is not taken for a stuck loop; `stop` ends it, and it does not start
/// again.
#[tokio::test]
async fn the_loop_beats_before_each_request_and_ends_when_stopped() {
    let h = Harness::new().await;
    let poller = Arc::new(h.poller(vec![h.index_source()]));
    let beats = Arc::new(AtomicUsize::new(0));
    let bell = Arc::new(Notify::new());
    let asked = Arc::new(Mutex::new(Vec::new()));
    let running = tokio::spawn({
        let (poller, beats, bell, asked) = (poller.clone(), beats.clone(), bell.clone(), asked.clone());
        async move {
            poller
                .run(move |name: &str, quiet: Duration| {
                    asked.lock().unwrap().push((name.to_string(), quiet));
                    let (beats, bell) = (beats.clone(), bell.clone());
                    Arc::new(move || {
                        beats.fetch_add(1, Ordering::SeqCst);
                        bell.notify_waiters();
                    }) as Pulse
                })
                .await
        }
    });

    // The first step: a beat as it starts, before the index and each of its two documents, and
    // as it ends. The deadline is a safety net; the beats are what is awaited.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let rang = bell.notified();
        tokio::pin!(rang);
        rang.as_mut().enable();
        if beats.load(Ordering::SeqCst) >= 5 {
            break;
        }
        tokio::time::timeout_at(deadline, rang).await.expect("the loop stopped beating");
    }
    assert_eq!(h.alerts().await, 2);
    assert_eq!(h.hits(INDEX_PATH), 1);
    assert_eq!(beats.load(Ordering::SeqCst), 5, "the next poll is two minutes away: the loop sleeps");
    assert_eq!(*asked.lock().unwrap(), vec![("feeds".to_string(), POLL_BACKSTOP)]);

    poller.stop();
    tokio::time::timeout(Duration::from_secs(30), running).await.expect("the loop ends when stopped").unwrap();
    poller.run(|_: &str, _: Duration| unwatched()).await;
    assert_eq!(h.hits(INDEX_PATH), 1, "a stopped poller polls no more");
}
