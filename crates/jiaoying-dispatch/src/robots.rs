//! Group robots: the WeCom (企业微信), DingTalk (钉钉) and Feishu (飞书) custom bots, which post a
//! message into a group chat and @-mention the person asked. They are one-way (no callbacks, so
//! the default `parse_hook` refuses all), which is why every message must carry the answer link:
//! the person answers through it, never through the robot.
//!
//! What the three share lives here: building from config, the mention setting, fitting a long text
//! under a byte cap without losing the code or link, one HTTP round trip with the error-code
//! mapping, and scrubbing the webhook's secrets (its key or token rides in the URL) from every
//! error text.

mod dingtalk;
mod feishu;
mod wecom;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::{redirect, Url};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

pub use dingtalk::{dingtalk_sign, DingtalkChannel};
pub use feishu::{feishu_sign, FeishuChannel};
pub use wecom::{WecomChannel, WECOM_TEXT_LIMIT};

use crate::build::{required, timeout, BuildContext};
use crate::channel::{Channel, ChannelConfigError, ChannelSpec, SendError, Sent};
use crate::sms_webhook::{excerpt, is_transient_status, read_capped};

/// Default request timeout when `timeout_secs` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How much of a provider's error message we quote in an error text.
const ERROR_EXCERPT: usize = 200;

/// How much of an answer we read looking for its error code; the answers are tiny JSON objects,
/// so anything larger is not one and is not worth buffering.
const ANSWER_LIMIT: usize = 64 * 1024;

/// Shortest URL part we treat as a secret to scrub: webhook keys and tokens are UUIDs or 64 hex
/// digits, while scrubbing a value like `1` would garble every number in an error text.
const MIN_SCRUBBED_LEN: usize = 4;

/// What the outbox uses as a robot's rate when the channel sets no `rate_per_sec`: the providers'
/// published per-robot limits (WeCom and DingTalk 20 a minute, DingTalk blocking the robot for
/// 10 minutes when exceeded; Feishu 5 a second and 100 a minute, of which the outbox's token
/// bucket can express only the first). `None` for kinds that are not robots.
pub fn default_rate_per_sec(kind: &str) -> Option<f64> {
    match kind {
        "wecom" | "dingtalk" => Some(20.0 / 60.0),
        "feishu" => Some(5.0),
        _ => None,
    }
}

/// Whom a robot message @-mentions in the group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mention {
    /// The person the message is for (by mobile; Feishu by the open_id `mentions` maps it to).
    #[default]
    Mobile,
    /// Everyone in the group.
    All,
    /// Nobody.
    None,
}

/// Builds a `wecom`, `dingtalk` or `feishu` channel from its config table.
pub fn build(name: &str, spec: &ChannelSpec, _ctx: &BuildContext) -> Result<Arc<dyn Channel>, ChannelConfigError> {
    let err = |reason: String| ChannelConfigError { name: name.to_string(), reason };
    let kind = spec.kind.as_str();
    let raw = required(spec.url.as_deref(), kind, "url").map_err(err)?;
    let url = parse_robot_url(kind, raw).map_err(err)?;
    let timeout = timeout(spec, DEFAULT_TIMEOUT).map_err(err)?;
    let mention = parse_mention(spec.mention.as_deref()).map_err(err)?;
    // An empty value counts as absent: env overrides can only blank a key, not remove it.
    let secret = spec.secret.as_ref().filter(|s| !s.expose_secret().trim().is_empty()).cloned();
    if kind != "feishu" && !spec.mentions.is_empty() {
        return Err(err(format!(
            "`mentions` applies to kind feishu only; kind {kind} mentions by mobile (see `mention`)"
        )));
    }
    let client_err = |e: reqwest::Error| err(format!("cannot set up the HTTP client: {e}"));
    match kind {
        "wecom" => {
            if secret.is_some() {
                return Err(err(
                    "kind wecom signs nothing, so `secret` does not apply: the robot's key is part of `url`"
                        .to_string(),
                ));
            }
            let robot = Robot::new("WeCom robot", url, None, timeout).map_err(client_err)?;
            Ok(Arc::new(WecomChannel::new(robot, mention)))
        }
        "dingtalk" => {
            let robot = Robot::new("DingTalk robot", url, secret.clone(), timeout).map_err(client_err)?;
            Ok(Arc::new(DingtalkChannel::new(robot, secret, mention)))
        }
        "feishu" => {
            let mut mentions = std::collections::BTreeMap::new();
            for (mobile, open_id) in &spec.mentions {
                let open_id = open_id.trim();
                // The id goes inside `<at user_id="...">`: anything beyond an id's characters
                // would let the config inject markup, and is a typo anyway.
                if open_id.is_empty() || !open_id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                    return Err(err(format!(
                        "`mentions` maps {mobile:?} to {open_id:?}, which is not a Feishu user id (ou_..., letters, digits, _ and -)"
                    )));
                }
                mentions.insert(local_mobile(mobile), open_id.to_string());
            }
            let robot = Robot::new("Feishu robot", url, secret.clone(), timeout).map_err(client_err)?;
            Ok(Arc::new(FeishuChannel::new(robot, secret, mention, mentions)))
        }
        other => Err(err(format!("kind {other} is not a group robot"))),
    }
}

fn parse_mention(value: Option<&str>) -> Result<Mention, String> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None | Some("mobile") => Ok(Mention::Mobile),
        Some("all") => Ok(Mention::All),
        Some("none") => Ok(Mention::None),
        Some(other) => Err(format!("`mention` = {other:?} is not one of \"mobile\", \"all\", \"none\"")),
    }
}

/// Parses a webhook URL without ever quoting it: its query or path holds the robot's key, and a
/// config error is printed at startup.
fn parse_robot_url(kind: &str, raw: &str) -> Result<Url, String> {
    let url = Url::parse(raw).map_err(|e| format!("`url` is not a valid URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("`url` must be an http:// or https:// URL with a host".to_string());
    }
    let has_query = |key: &str| url.query_pairs().any(|(k, v)| k == key && !v.trim().is_empty());
    match kind {
        "wecom" if !has_query("key") => Err(
            "`url` must be the robot's full webhook URL with its key (https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...)"
                .to_string(),
        ),
        "dingtalk" if !has_query("access_token") => Err(
            "`url` must be the robot's full webhook URL with its token (https://oapi.dingtalk.com/robot/send?access_token=...)"
                .to_string(),
        ),
        "dingtalk" if url.query_pairs().any(|(k, _)| k == "timestamp" || k == "sign") => {
            Err("`url` must not carry timestamp or sign: they are computed per message from `secret`".to_string())
        }
        "feishu" if feishu_token(&url).is_none() => Err(
            "`url` must be the robot's full webhook URL with its token (https://open.feishu.cn/open-apis/bot/v2/hook/...)"
                .to_string(),
        ),
        _ => Ok(url),
    }
}

/// The token of a Feishu webhook URL: the path segment after `hook`.
fn feishu_token(url: &Url) -> Option<String> {
    let segments: Vec<&str> = url.path_segments()?.collect();
    let at = segments.iter().rposition(|s| *s == "hook")?;
    segments.get(at + 1).filter(|t| !t.is_empty()).map(|t| t.to_string())
}

/// A mainland mobile in the bare 11-digit form the robots know their members by (`+86 138...`,
/// `0086138...` and `86138...` all become `138...`); anything else is returned trimmed.
pub fn local_mobile(to: &str) -> String {
    let compact: String = to.trim().chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let digits = compact.strip_prefix('+').unwrap_or(&compact);
    let digits = digits.strip_prefix("0086").or_else(|| digits.strip_prefix("86")).unwrap_or(digits);
    if digits.len() == 11 && digits.starts_with('1') && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.to_string()
    } else {
        to.trim().to_string()
    }
}

/// The message text, with the answer link and code appended should the text lack them: a robot
/// message without its link cannot be answered at all.
pub(crate) fn carrying_text(text: &str, code: Option<&str>, link: Option<&str>) -> String {
    let mut out = text.to_string();
    let link = link.filter(|l| !l.is_empty());
    if let Some(l) = link {
        if !out.contains(l) {
            out.push(' ');
            out.push_str(l);
        }
    }
    if let Some(c) = code.filter(|c| !c.is_empty()) {
        if code_span(&out, c, link_span(&out, link)).is_none() {
            out.push_str(&format!("（回复码 {c}）"));
        }
    }
    out
}

const ELLIPSIS: &str = "…";

/// Fits `text` into `max_bytes` bytes of UTF-8, cut on character boundaries, keeping the reply
/// `code` and the answer `link` whole: if it is too long, the part between the beginning (the
/// headline) and the code/link is cut, marked with `…`; the text after the link is cut only when
/// keeping it would leave the beginning less than half the room. Should the code sit so far from
/// the link that both cannot be kept with the text between them, the text is cut and the two are
/// appended on their own.
pub fn fit_text(text: &str, code: Option<&str>, link: Option<&str>, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_string();
    }
    let link = link.filter(|l| !l.is_empty());
    let code = code.filter(|c| !c.is_empty());
    let link_at = link_span(text, link);
    let code_at = code.and_then(|c| code_span(text, c, link_at));
    let span = match (code_at, link_at) {
        (Some((a, b)), Some((c, d))) => Some((a.min(c), b.max(d))),
        (one, other) => one.or(other),
    };
    let Some((start, end)) = span else {
        return shorten_end(text, max_bytes);
    };
    // "请回复 7a" reads better than "…7a": keep the clause the code or link stands in.
    let start = clause_start(text, start);
    if end - start > max_bytes {
        // Keep the two on their own, after as much of the beginning as fits.
        let kept: Vec<&str> = [code, link].into_iter().flatten().collect();
        let suffix = format!("{ELLIPSIS}{}", kept.join(" "));
        if suffix.len() >= max_bytes {
            // Only a link longer than the whole cap gets here; nothing can keep it whole.
            return floor_cut(&suffix[ELLIPSIS.len()..], max_bytes).to_string();
        }
        return format!("{}{suffix}", floor_cut(text, max_bytes - suffix.len()));
    }
    let (head, kept, tail) = (&text[..start], &text[start..end], &text[end..]);
    let room = max_bytes - kept.len();
    let (head_room, tail_room) = if tail.len() <= room / 2 {
        (room - tail.len(), tail.len())
    } else if head.len() <= room / 2 {
        (head.len(), room - head.len())
    } else {
        (room - room / 2, room / 2)
    };
    format!("{}{kept}{}", shorten_end(head, head_room), shorten_end(tail, tail_room))
}

/// How far back from the code or link we look for the start of its clause.
const CLAUSE_LOOKBACK: usize = 48;

/// The start of the clause that `at` lies in: just after the nearest preceding punctuation or
/// line break within [`CLAUSE_LOOKBACK`] bytes, else `at` itself (no clause start close by).
fn clause_start(text: &str, at: usize) -> usize {
    let floor = at.saturating_sub(CLAUSE_LOOKBACK);
    for (i, c) in text[..at].char_indices().rev() {
        if i < floor {
            break;
        }
        if matches!(c, '。' | '，' | '；' | '：' | '！' | '？' | '、' | '】' | '\n' | '.' | ',' | ';' | ':' | '!' | '?')
        {
            return i + c.len_utf8();
        }
    }
    at
}

/// The last occurrence of the link.
fn link_span(text: &str, link: Option<&str>) -> Option<(usize, usize)> {
    let l = link?;
    text.rfind(l).map(|at| (at, at + l.len()))
}

/// The occurrence of the code that is not part of the link and sits nearest to it (the last one
/// when there is no link): a short code like `7a` can also turn up inside the link's token.
fn code_span(text: &str, code: &str, link: Option<(usize, usize)>) -> Option<(usize, usize)> {
    let spans = text.match_indices(code).map(|(at, c)| (at, at + c.len()));
    match link {
        None => spans.last(),
        Some((ls, le)) => {
            spans.filter(|&(s, e)| e <= ls || s >= le).min_by_key(|&(s, e)| if e <= ls { ls - e } else { s - le })
        }
    }
}

/// `text` if it fits in `max` bytes, else as much of its beginning as fits with `…` after it.
fn shorten_end(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    if max < ELLIPSIS.len() {
        return floor_cut(text, max).to_string();
    }
    format!("{}{ELLIPSIS}", floor_cut(text, max - ELLIPSIS.len()))
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn floor_cut(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Seconds and milliseconds since the epoch, for the signatures.
fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// How a provider's answer tells success from failure.
struct Answer {
    /// JSON fields that may hold the result code, first match wins (Feishu has two generations).
    code_fields: &'static [&'static str],
    /// JSON fields that may hold the provider's reason.
    message_fields: &'static [&'static str],
    /// The result codes that mean "later", with why.
    transient: fn(i64) -> Option<&'static str>,
}

/// The HTTP side of one robot: the client, its webhook, and the secrets to keep out of errors.
pub(crate) struct Robot {
    /// "WeCom robot": how error texts name the provider.
    label: &'static str,
    client: reqwest::Client,
    url: Url,
    /// Every value that must never appear in an error text, longest first.
    secrets: Vec<String>,
}

impl fmt::Debug for Robot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Robot").field("label", &self.label).field("target", &self.target()).finish_non_exhaustive()
    }
}

impl Robot {
    /// One client per channel, reused for every send. Redirects are not followed: a robot that
    /// moved must be reconfigured, and following one would hand the message to a host nobody
    /// configured.
    pub(crate) fn new(
        label: &'static str,
        url: Url,
        signing_secret: Option<SecretString>,
        timeout: Duration,
    ) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(redirect::Policy::none())
            .user_agent(concat!("jiaoying/", env!("CARGO_PKG_VERSION")))
            .build()?;
        // The key (WeCom), access token (DingTalk) or path token (Feishu) is the credential: an
        // error text may quote none of it, neither as configured nor as a provider echoes it.
        let mut secrets: Vec<String> = Vec::new();
        if let Some(q) = url.query() {
            secrets.push(q.to_string());
            for pair in q.split('&') {
                secrets.push(pair.split_once('=').map_or(pair, |(_, v)| v).to_string());
            }
        }
        for (_, v) in url.query_pairs() {
            secrets.push(v.into_owned());
        }
        if let Some(token) = feishu_token(&url) {
            secrets.push(url.path().to_string());
            secrets.push(token);
        }
        if let Some(s) = &signing_secret {
            secrets.push(s.expose_secret().to_string());
        }
        secrets.retain(|s| s.len() >= MIN_SCRUBBED_LEN);
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Ok(Robot { label, client, url, secrets })
    }

    /// The host (and a non-default port) of the webhook: never its path or query, which carry
    /// the token.
    pub(crate) fn target(&self) -> String {
        let host = self.url.host_str().unwrap_or("?");
        match self.url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        }
    }

    fn scrub(&self, text: String) -> String {
        self.secrets
            .iter()
            .fold(text, |t, s| if t.contains(s.as_str()) { t.replace(s.as_str(), "[REDACTED]") } else { t })
    }

    /// POSTs `body` as JSON to `url` (the webhook, perhaps with a signature added) and maps the
    /// answer: result code 0 on a 2xx is sent; a code the provider uses for "later", 429, 408,
    /// 5xx, a timeout or a 2xx we cannot read is transient; every other code or status is
    /// permanent. The robots answer HTTP 200 for most failures, so the code decides, not the status.
    async fn post(&self, url: Url, body: &Value, answer: &Answer) -> Result<Sent, SendError> {
        let mut resp =
            self.client.post(url).json(body).send().await.map_err(|e| {
                SendError::Transient(self.scrub(describe_request_error(self.label, &self.target(), &e)))
            })?;
        let status = resp.status();
        let raw = read_capped(&mut resp, ANSWER_LIMIT).await;
        let raw = match raw {
            Ok(raw) => raw,
            Err(e) => {
                // Unread, the answer may have been a refusal: send again rather than lose it.
                let why = describe_request_error(self.label, &self.target(), &e);
                return Err(SendError::Transient(self.scrub(format!("{why} while reading the answer ({status})"))));
            }
        };
        let json: Option<Value> = serde_json::from_slice(&raw).ok();
        let code = json.as_ref().and_then(|v| answer.code_fields.iter().find_map(|f| v.get(*f)?.as_i64()));
        if status.is_success() && code == Some(0) {
            return Ok(Sent { provider_id: None });
        }

        let reason = json
            .as_ref()
            .and_then(|v| answer.message_fields.iter().find_map(|f| v.get(*f)?.as_str().map(str::to_string)))
            .unwrap_or_else(|| String::from_utf8_lossy(&raw).into_owned());
        // Scrub the whole reason before cutting it, so a secret straddling the cut cannot leak as
        // a prefix.
        let reason = excerpt(&self.scrub(reason), ERROR_EXCERPT);
        let mut text = format!("{} {} answered {status}", self.label, self.target());
        let later = code.and_then(answer.transient);
        if let Some(c) = code {
            text.push_str(&format!(" with code {c}"));
        }
        if let Some(why) = later {
            text.push_str(&format!(" ({why})"));
        }
        if status.is_redirection() {
            text.push_str(" (redirect not followed)");
        }
        if !reason.is_empty() {
            text.push_str(": ");
            text.push_str(&reason);
        }
        let text = self.scrub(text);
        if later.is_some() || is_transient_status(status) || (status.is_success() && code.is_none()) {
            // A 2xx without a code is not the provider's answer (a proxy's page, say): whether
            // the message went out is unknown, and a repeat in the group beats a lost warning.
            Err(SendError::Transient(text))
        } else {
            Err(SendError::Permanent(text))
        }
    }
}

/// Why a request got no HTTP answer, naming the robot's host only (its URL carries the key).
fn describe_request_error(label: &str, target: &str, e: &reqwest::Error) -> String {
    crate::http::describe_request_error(&format!("{label} {target}"), e)
}

/// 429 and 5xx, for the unit tests of the mapping without a server.
#[cfg(test)]
fn transient_status(code: u16) -> bool {
    is_transient_status(reqwest::StatusCode::from_u16(code).unwrap())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINK: &str = "https://jy.example.org/a/AbC7aXyZ0123456789";

    fn text_of(len_chars: usize) -> String {
        // 3 bytes a character.
        "暴".repeat(len_chars)
    }

    #[test]
    fn default_rates_are_the_published_limits() {
        assert_eq!(default_rate_per_sec("wecom"), Some(20.0 / 60.0));
        assert_eq!(default_rate_per_sec("dingtalk"), Some(20.0 / 60.0));
        assert_eq!(default_rate_per_sec("feishu"), Some(5.0));
        assert_eq!(default_rate_per_sec("sms-webhook"), None);
        assert!(transient_status(429) && transient_status(503) && !transient_status(400));
    }

    #[test]
    fn fit_text_leaves_a_short_text_alone() {
        let t = format!("请回复 7a 或点击 {LINK}");
        assert_eq!(fit_text(&t, Some("7a"), Some(LINK), 2048), t);
        assert_eq!(fit_text(&t, Some("7a"), Some(LINK), t.len()), t);
    }

    #[test]
    fn fit_text_cuts_the_middle_and_keeps_code_link_and_beginning() {
        let t = format!("【红色预警】{}。请回复 7a 或点击 {LINK} 确认收到。", text_of(2000));
        let out = fit_text(&t, Some("7a"), Some(LINK), 2048);
        assert!(out.len() <= 2048, "{}", out.len());
        assert!(out.len() >= 2048 - 3, "wasted room: {}", out.len());
        assert!(out.starts_with("【红色预警】暴暴"), "{out}");
        assert!(out.ends_with(&format!("…请回复 7a 或点击 {LINK} 确认收到。")), "{out}");
    }

    #[test]
    fn fit_text_cuts_a_long_tail_too_but_keeps_the_beginning() {
        let t = format!("【红色预警】{}，请回复 7a 或点击 {LINK}{}", text_of(1000), text_of(1000));
        let out = fit_text(&t, Some("7a"), Some(LINK), 2048);
        assert!(out.len() <= 2048);
        assert!(out.starts_with("【红色预警】"));
        assert!(out.contains(&format!("…请回复 7a 或点击 {LINK}暴")), "{out}");
        assert!(out.ends_with('…'));
    }

    #[test]
    fn fit_text_picks_the_code_outside_the_link() {
        // "7a" also occurs inside the link's token; the one to keep is the one before it.
        let t = format!("{}，请回复 7a 或点击 {LINK}", text_of(1000));
        let out = fit_text(&t, Some("7a"), Some(LINK), 300);
        assert!(out.len() <= 300);
        assert!(out.ends_with(&format!("请回复 7a 或点击 {LINK}")), "{out}");
    }

    #[test]
    fn fit_text_keeps_code_and_link_when_they_are_far_apart() {
        let t = format!("回复 7a。{}点击 {LINK}", text_of(1000));
        let out = fit_text(&t, Some("7a"), Some(LINK), 200);
        assert!(out.len() <= 200, "{}", out.len());
        assert!(out.ends_with(&format!("…7a {LINK}")), "{out}");
        assert!(out.starts_with("回复 7a"));
    }

    #[test]
    fn fit_text_without_code_or_link_cuts_the_end_on_a_char_boundary() {
        let t = text_of(1000);
        for max in [0, 1, 2, 3, 4, 5, 100, 2047] {
            let out = fit_text(&t, None, None, max);
            assert!(out.len() <= max, "{max}: {}", out.len());
        }
        assert!(fit_text(&t, None, None, 100).ends_with('…'));
    }

    #[test]
    fn fit_text_never_panics_and_never_overruns() {
        let samples = [
            format!("{}a{LINK}b{}", text_of(50), "é".repeat(80)),
            format!("7a{}", text_of(90)),
            format!("{LINK}{LINK}{}", text_of(90)),
            "x".repeat(500),
        ];
        for t in &samples {
            for max in 0..t.len() + 2 {
                for (code, link) in
                    [(Some("7a"), Some(LINK)), (None, Some(LINK)), (Some("7a"), None), (Some(""), Some(""))]
                {
                    let out = fit_text(t, code, link, max);
                    assert!(out.len() <= max, "{max}: {}", out.len());
                    if max >= 200 {
                        if let Some(l) = link.filter(|l| !l.is_empty() && t.contains(*l)) {
                            assert!(out.contains(l), "{max}: {out}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn carrying_text_appends_a_missing_link_or_code() {
        let full = format!("请回复 7a 或点击 {LINK}");
        assert_eq!(carrying_text(&full, Some("7a"), Some(LINK)), full);
        assert_eq!(carrying_text("暴雨", None, Some(LINK)), format!("暴雨 {LINK}"));
        // The only "7a" is inside the link: the code itself is still missing.
        assert_eq!(carrying_text(&format!("点击 {LINK}"), Some("7a"), Some(LINK)), format!("点击 {LINK}（回复码 7a）"));
        assert_eq!(carrying_text("暴雨", None, None), "暴雨");
    }

    #[test]
    fn local_mobile_strips_the_country_code_of_mainland_mobiles_only() {
        assert_eq!(local_mobile("13800000001"), "13800000001");
        assert_eq!(local_mobile("+8613800000001"), "13800000001");
        assert_eq!(local_mobile("008613800000001"), "13800000001");
        assert_eq!(local_mobile("8613800000001"), "13800000001");
        assert_eq!(local_mobile(" +86 138-0000-0001 "), "13800000001");
        assert_eq!(local_mobile("+447700900123"), "+447700900123");
        assert_eq!(local_mobile("86123"), "86123");
        assert_eq!(local_mobile(""), "");
    }

    #[test]
    fn mention_parses_the_three_values_and_names_the_key_otherwise() {
        assert_eq!(parse_mention(None), Ok(Mention::Mobile));
        assert_eq!(parse_mention(Some("")), Ok(Mention::Mobile));
        assert_eq!(parse_mention(Some("mobile")), Ok(Mention::Mobile));
        assert_eq!(parse_mention(Some("all")), Ok(Mention::All));
        assert_eq!(parse_mention(Some("none")), Ok(Mention::None));
        assert!(parse_mention(Some("everyone")).unwrap_err().contains("`mention`"));
    }

    #[test]
    fn robot_debug_and_target_show_the_host_only() {
        let url =
            Url::parse("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa")
                .unwrap();
        let robot = Robot::new("WeCom robot", url, None, DEFAULT_TIMEOUT).unwrap();
        assert_eq!(robot.target(), "qyapi.weixin.qq.com");
        let dbg = format!("{robot:?}");
        assert!(!dbg.contains("693a91f6"), "{dbg}");
        let scrubbed = robot.scrub(
            "bad key 693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa in send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa".into(),
        );
        assert_eq!(scrubbed, "bad key [REDACTED] in send?[REDACTED]");
    }
}
