//! The delivery step of one subscriber: claim its next deliveries in order under a lease and
//! commit; POST them one by one outside any transaction, each signed like the SPEC's sms-webhook
//! (`X-Jiaoying-Signature: sha256=<hex HMAC-SHA256 of the body>`); then record the outcomes in one
//! transaction, each only if the claim is still ours.
//!
//! Order: a subscriber gets its events in the order they happened. A delivery that fails in a way
//! that may pass (no answer, 5xx, 408, 425, 429) is retried with exponential backoff and jitter,
//! and the deliveries behind it wait: nothing is sent past it. One the subscriber refuses (any
//! other 4xx, or a redirect, which is never followed) fails at once and the queue moves on; so
//! does one still failing `retry_for` after it was queued (after at least [`MIN_ATTEMPTS`] tries).
//! Failed deliveries stay in the log and can be queued again by an officer.
//!
//! Shutdown (issue 8): a stopping linker claims nothing and starts no POST; the step in progress
//! returns the rest of its batch when its POST ends, and whatever a step still holds when the
//! grace period runs out is settled by [`Linker::release_held`], so that another instance sends
//! it at once instead of after the lease.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jiaoying_core::Span;
use jiaoying_dispatch::sms_webhook::{sign, SIGNATURE_HEADER};
use jiaoying_store::{LinkDeliveryRow, LinkResult, StoreResult};
use jiaoying_tracker::Step;
use rand::Rng;
use reqwest::{redirect, StatusCode};
use secrecy::ExposeSecret;

use crate::config::Subscriber;
use crate::{Linker, Pulse};

/// Names the event of a delivery.
pub const EVENT_HEADER: &str = "X-Jiaoying-Event";
/// The delivery's id: the same on every retry of it, so a receiver can drop a repeat.
pub const DELIVERY_HEADER: &str = "X-Jiaoying-Delivery";
/// Deliveries claimed per step.
pub const DELIVER_BATCH: i64 = 50;
/// How long a claim is ours; a batch stops taking new sends when less than one timeout is left.
pub const LEASE: Span = Span::from_secs(120);
/// First retry after this long, doubling per attempt (±20 % jitter), up to [`MAX_BACKOFF`].
pub const BASE_BACKOFF: Span = Span::from_secs(1);
pub const MAX_BACKOFF: Span = Span::from_mins(10);
/// A delivery is given up for age only after this many tries.
pub const MIN_ATTEMPTS: i64 = 3;
/// How much of a refusal's body is kept in the log.
const ERROR_EXCERPT: usize = 200;

/// One reused client per subscriber: its timeout, no redirects (a signed body goes only where it
/// was configured to go).
pub fn client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(redirect::Policy::none())
        .user_agent(concat!("jiaoying/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The wait before attempt `attempt + 1`, after `attempt` failed ones (1-based), with jitter.
pub fn backoff(attempt: i64) -> Span {
    let exp = (attempt - 1).clamp(0, 20) as u32;
    let base = BASE_BACKOFF.millis().saturating_mul(1i64 << exp).min(MAX_BACKOFF.millis());
    let jitter = rand::thread_rng().gen_range(0.8..1.2);
    Span::from_millis((base as f64 * jitter) as i64)
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Delivered(u16),
    /// May pass later: no answer, or an answer that says "later".
    Transient {
        status: Option<u16>,
        error: String,
    },
    /// The subscriber said no.
    Refused {
        status: u16,
        error: String,
    },
}

/// Sorts an HTTP answer.
pub fn classify(status: StatusCode, excerpt: &str) -> Attempt {
    let code = status.as_u16();
    if status.is_success() {
        return Attempt::Delivered(code);
    }
    let error = if excerpt.is_empty() { format!("HTTP {code}") } else { format!("HTTP {code}: {excerpt}") };
    if status.is_server_error() || matches!(code, 408 | 425 | 429) {
        Attempt::Transient { status: Some(code), error }
    } else {
        Attempt::Refused { status: code, error }
    }
}

fn scrub(text: String, secret: &str) -> String {
    if secret.is_empty() || !text.contains(secret) {
        text
    } else {
        text.replace(secret, "[REDACTED]")
    }
}

impl Linker {
    /// POSTs one delivery.
    async fn post(&self, s: &Subscriber, d: &LinkDeliveryRow) -> Attempt {
        let Some(client) = self.clients.get(&s.name) else {
            return Attempt::Transient { status: None, error: "no client for this subscriber".into() };
        };
        let secret = s.secret.expose_secret();
        let sent = client
            .post(s.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, sign(secret.as_bytes(), d.body.as_bytes()))
            .header(EVENT_HEADER, d.event.as_str())
            .header(DELIVERY_HEADER, d.id.to_string())
            .body(d.body.clone())
            .send()
            .await;
        match sent {
            Err(e) => Attempt::Transient {
                status: None,
                error: scrub(jiaoying_dispatch::describe_request_error(&s.target(), &e), secret),
            },
            Ok(mut resp) => {
                let status = resp.status();
                let mut excerpt = String::new();
                if !status.is_success() {
                    // A capped slice of the answer: enough to see the reason, never the whole body.
                    while excerpt.len() < ERROR_EXCERPT {
                        match resp.chunk().await {
                            Ok(Some(bytes)) => excerpt.push_str(&String::from_utf8_lossy(&bytes)),
                            _ => break,
                        }
                    }
                    excerpt = excerpt.chars().take(ERROR_EXCERPT).collect::<String>().trim().to_string();
                }
                classify(status, &scrub(excerpt, secret))
            }
        }
    }

    /// One step of subscriber `name`'s delivery loop: a batch claimed, sent in order, recorded.
    /// `pulse` is called around each POST (the loop's heartbeat: a batch of slow answers is a
    /// long step, not a stuck loop). A stopping linker claims nothing, and stops POSTing between
    /// two deliveries: the rest of the batch goes back to the queue when the step ends.
    pub async fn deliver_step(&self, name: &str, pulse: &Pulse) -> StoreResult<Step> {
        let Some(s) = self.subscriber(name) else { return Ok(Step::Empty { next_due: None }) };
        if self.is_stopping() {
            return Ok(Step::Empty { next_due: None });
        }
        let now = self.clock.now();
        let lease_until = now.plus(LEASE).millis();
        let batch = self.store.claim_link_deliveries(name, now.millis(), lease_until, DELIVER_BATCH).await?;
        if batch.is_empty() {
            let next = self.store.next_link_delivery_due(name).await?;
            // Due but not claimed: another instance holds the subscriber. Look again soon.
            let next = next.map(|t| if t <= now.millis() { now.millis() + 250 } else { t });
            return Ok(Step::Empty { next_due: next });
        }
        let claim = self.hold(name, batch.iter().map(|d| d.id).collect(), lease_until);
        let started = Instant::now();
        let budget = LEASE.as_std().saturating_sub(s.timeout.as_std() + Duration::from_secs(5));
        for d in &batch {
            if self.is_stopping() || started.elapsed() > budget {
                break;
            }
            claim.posting(d.id);
            pulse();
            let attempt = self.post(s, d).await;
            pulse();
            let at = self.clock.now().millis();
            let tries = d.attempts + 1;
            let result = match attempt {
                Attempt::Delivered(status) => LinkResult::Delivered { status: status.into() },
                Attempt::Refused { status, error } => {
                    tracing::warn!(subscriber = %s.name, delivery = d.id, status, "subscriber refused a delivery");
                    LinkResult::Failed { status: Some(status.into()), error: format!("refused: {error}") }
                }
                Attempt::Transient { status, error }
                    if tries >= MIN_ATTEMPTS && at - d.created_at >= s.retry_for.millis() =>
                {
                    tracing::warn!(subscriber = %s.name, delivery = d.id, tries, "delivery given up");
                    LinkResult::Failed {
                        status: status.map(i64::from),
                        error: format!("given up after {tries} attempts over {}: {error}", s.retry_for),
                    }
                }
                Attempt::Transient { status, error } => {
                    let retry_at = at + backoff(tries).millis();
                    tracing::info!(subscriber = %s.name, delivery = d.id, tries, %error, "delivery will be retried");
                    claim.record(d.id, LinkResult::Retry { status: status.map(i64::from), error, retry_at });
                    // Nothing goes out past a delivery waiting for its retry: order is kept.
                    break;
                }
            };
            claim.record(d.id, result);
        }
        let (_, outcomes) = claim.settled();
        let n = outcomes.iter().filter(|(_, r)| *r != LinkResult::Released).count();
        self.store.finish_link_deliveries(&outcomes, lease_until, self.clock.now().millis()).await?;
        Ok(Step::Done(n.max(1)))
    }

    /// Remembers a step's claim (for [`Linker::release_held`]) until the returned guard is
    /// dropped: the step ended, recorded or failed, or was dropped at the end of the grace.
    fn hold(&self, subscriber: &str, ids: Vec<i64>, lease_until: i64) -> Held<'_> {
        let claim = Claim { lease_until, ids, outcomes: HashMap::new(), posting: None };
        self.claims.lock().expect("claim lock").insert(subscriber.to_string(), claim);
        Held { linker: self, subscriber: subscriber.to_string(), lease_until }
    }
}

/// A delivery step's claim as it stands: what each delivery became so far, and which one is
/// being POSTed. One per subscriber: a subscriber has one claim at a time.
pub(crate) struct Claim {
    lease_until: i64,
    /// In send order.
    ids: Vec<i64>,
    outcomes: HashMap<i64, LinkResult>,
    posting: Option<i64>,
}

impl Claim {
    /// `(lease_until, outcome of every claimed delivery)`: those recorded, the one being POSTed
    /// interrupted, the others released as never tried.
    pub(crate) fn settled(&self) -> (i64, Vec<(i64, LinkResult)>) {
        let outcomes = self
            .ids
            .iter()
            .map(|id| {
                let result = match self.outcomes.get(id) {
                    Some(r) => r.clone(),
                    None if self.posting == Some(*id) => LinkResult::Interrupted,
                    None => LinkResult::Released,
                };
                (*id, result)
            })
            .collect();
        (self.lease_until, outcomes)
    }
}

/// A step's hold on its claim in [`Linker`]'s table, removed when dropped.
struct Held<'a> {
    linker: &'a Linker,
    subscriber: String,
    lease_until: i64,
}

impl Held<'_> {
    fn with(&self, f: impl FnOnce(&mut Claim)) {
        let mut claims = self.linker.claims.lock().expect("claim lock");
        // Only this claim's entry: the subscriber may have been claimed again since.
        if let Some(c) = claims.get_mut(&self.subscriber).filter(|c| c.lease_until == self.lease_until) {
            f(c);
        }
    }

    fn posting(&self, id: i64) {
        self.with(|c| c.posting = Some(id));
    }

    fn record(&self, id: i64, result: LinkResult) {
        self.with(|c| {
            c.posting = None;
            c.outcomes.insert(id, result);
        });
    }

    fn settled(&self) -> (i64, Vec<(i64, LinkResult)>) {
        let claims = self.linker.claims.lock().expect("claim lock");
        match claims.get(&self.subscriber).filter(|c| c.lease_until == self.lease_until) {
            Some(c) => c.settled(),
            None => (self.lease_until, Vec::new()),
        }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut claims = self.linker.claims.lock().unwrap_or_else(|e| e.into_inner());
        if claims.get(&self.subscriber).is_some_and(|c| c.lease_until == self.lease_until) {
            claims.remove(&self.subscriber);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_sorted_into_delivered_later_and_refused() {
        assert_eq!(classify(StatusCode::OK, ""), Attempt::Delivered(200));
        assert_eq!(classify(StatusCode::NO_CONTENT, ""), Attempt::Delivered(204));
        for code in [500u16, 502, 503, 408, 425, 429] {
            let s = StatusCode::from_u16(code).unwrap();
            assert!(matches!(classify(s, "x"), Attempt::Transient { status: Some(c), .. } if c == code), "{code}");
        }
        for code in [301u16, 400, 401, 403, 404, 410, 422] {
            let s = StatusCode::from_u16(code).unwrap();
            assert!(matches!(classify(s, ""), Attempt::Refused { status, .. } if status == code), "{code}");
        }
        assert_eq!(
            classify(StatusCode::BAD_REQUEST, "bad body"),
            Attempt::Refused { status: 400, error: "HTTP 400: bad body".into() }
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        for attempt in 1..30 {
            let want = (1000i64 << (attempt - 1).min(20)).min(MAX_BACKOFF.millis()) as f64;
            let got = backoff(attempt).millis() as f64;
            assert!(got >= want * 0.8 - 1.0 && got <= want * 1.2 + 1.0, "attempt {attempt}: {got} vs {want}");
        }
    }

    #[test]
    fn a_claim_settles_as_recorded_interrupted_and_released() {
        let delivered = LinkResult::Delivered { status: 200 };
        let claim = Claim {
            lease_until: 99,
            ids: vec![4, 5, 6, 7],
            outcomes: HashMap::from([(4, delivered.clone())]),
            posting: Some(5),
        };
        let want =
            vec![(4, delivered), (5, LinkResult::Interrupted), (6, LinkResult::Released), (7, LinkResult::Released)];
        assert_eq!(claim.settled(), (99, want));
    }

    #[test]
    fn secrets_are_scrubbed_from_errors() {
        assert_eq!(scrub("echo: s3cret!".into(), "s3cret"), "echo: [REDACTED]!");
        assert_eq!(scrub("fine".into(), ""), "fine");
    }
}
