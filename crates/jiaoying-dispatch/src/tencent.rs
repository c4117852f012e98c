//! Tencent Cloud SMS (API 3.0, `SendSms` version 2021-01-11): sends through an approved template,
//! signed with TC3-HMAC-SHA256, and reads the provider's status-report and reply callbacks. Those
//! callbacks are unsigned, so a secret `?token=` on the callback URL (and optionally an address
//! allow-list) is what tells them from forgeries.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use jiaoying_core::MobileNumber;
use reqwest::{redirect, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::build::{missing, parse_http_url, required, timeout, BuildContext};
use crate::channel::{AddressKind, Channel, ChannelConfigError, ChannelSpec, Lookup, Outgoing, SendError, Sent};
use crate::hook_guard::HookGuard;
use crate::inbound::{HookAck, HookError, HookEvent, HookKind, HookRequest, MessageRef, ParsedHook};
use crate::sms_webhook::{excerpt, is_transient_status, read_capped};

const KIND: &str = "tencent-sms";

/// The public endpoint; tests and private-network deployments point `url` elsewhere.
pub const DEFAULT_URL: &str = "https://sms.tencentcloudapi.com/";
pub const DEFAULT_REGION: &str = "ap-guangzhou";
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// `SendSms` takes at most 200 numbers per request.
pub const MAX_BATCH: usize = 200;
/// The content type we send and sign; the two must be the same bytes.
pub const CONTENT_TYPE: &str = "application/json; charset=utf-8";
pub const ACTION: &str = "SendSms";
pub const API_VERSION: &str = "2021-01-11";
/// The exact body Tencent expects back from a callback; anything else makes it retry.
pub const HOOK_ACK: &str = r#"{"result":0,"errmsg":"OK"}"#;
/// Starts the text of a per-number frequency limit, so the outbox can tell "this person cannot get
/// another SMS from this account for a while" (switch channel) from "the gateway is down".
pub const RATE_LIMITED_PREFIX: &str = crate::channel::NUMBER_RATE_LIMITED;

/// `SessionContext` must stay under 512 bytes.
const SESSION_CONTEXT_LIMIT: usize = 511;
/// 200 status entries of a few hundred bytes each fit well inside this; a larger answer is not
/// Tencent's, and we do not buffer it.
const ANSWER_LIMIT: usize = 1024 * 1024;
/// How much of a provider error text we quote.
const ERROR_EXCERPT: usize = 200;
/// Hex digits of the text hash in a reply's dedupe key: enough to tell texts apart, short to store.
const DEDUPE_HASH_HEX: usize = 16;

type HmacSha256 = Hmac<Sha256>;

// ---------------------------------------------------------------------------------------------
// TC3-HMAC-SHA256

/// What TC3 signs. Independent of the action and of SMS, so that the published CVM example can be
/// fed to the same code that signs `SendSms`. No `Debug`: it holds the secret key.
pub struct Tc3Input<'a> {
    pub secret_id: &'a str,
    pub secret_key: &'a str,
    /// `host[:port]` exactly as the request's `Host` header carries it.
    pub host: &'a str,
    /// The request path (Tencent's endpoints use `/`).
    pub path: &'a str,
    /// The query string without `?` (empty for POST).
    pub query: &'a str,
    pub content_type: &'a str,
    pub payload: &'a [u8],
    /// Unix seconds, the value of `X-TC-Timestamp`.
    pub timestamp: i64,
}

/// The service name TC3 scopes a key to: the first label of a Tencent API host
/// (`cvm.tencentcloudapi.com` → `cvm`, `sms.ap-guangzhou.tencentcloudapi.com` → `sms`). Any other
/// host (a loopback test gateway, a private proxy in front of Tencent) is signed as `sms`, since
/// that is the only service this channel talks to and the proxy forwards to it.
pub fn service_for_host(host: &str) -> &str {
    let name =
        host.rsplit_once(':').map_or(host, |(h, port)| if port.bytes().all(|b| b.is_ascii_digit()) { h } else { host });
    match name.split_once('.') {
        Some((first, rest))
            if rest.eq_ignore_ascii_case("tencentcloudapi.com") || rest.ends_with(".tencentcloudapi.com") =>
        {
            first
        }
        _ => "sms",
    }
}

/// The UTC calendar date of a Unix timestamp, `YYYY-MM-DD`. Always UTC: a local (CST) date would
/// break every request between midnight and 08:00 Beijing time.
pub fn utc_date(timestamp: i64) -> String {
    match chrono::DateTime::from_timestamp(timestamp, 0) {
        Some(t) => t.format("%Y-%m-%d").to_string(),
        // Only for timestamps hundreds of thousands of years away; Tencent refuses those anyway.
        None => "1970-01-01".to_string(),
    }
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// `<date>/<service>/tc3_request`.
fn credential_scope(input: &Tc3Input<'_>) -> String {
    format!("{}/{}/tc3_request", utc_date(input.timestamp), service_for_host(input.host))
}

/// The canonical request: the signed headers are `content-type` and `host`, values lower-cased.
pub fn tc3_canonical_request(input: &Tc3Input<'_>) -> String {
    format!(
        "POST\n{}\n{}\ncontent-type:{}\nhost:{}\n\ncontent-type;host\n{}",
        if input.path.is_empty() { "/" } else { input.path },
        input.query,
        input.content_type.trim().to_ascii_lowercase(),
        input.host.trim().to_ascii_lowercase(),
        sha256_hex(input.payload)
    )
}

/// The lower-hex TC3 signature of a POST request.
pub fn tc3_signature(input: &Tc3Input<'_>) -> String {
    let scope = credential_scope(input);
    let string_to_sign = format!(
        "TC3-HMAC-SHA256\n{}\n{}\n{}",
        input.timestamp,
        scope,
        sha256_hex(tc3_canonical_request(input).as_bytes())
    );
    let k_date = hmac_sha256(format!("TC3{}", input.secret_key).as_bytes(), utc_date(input.timestamp).as_bytes());
    let k_service = hmac_sha256(&k_date, service_for_host(input.host).as_bytes());
    let k_signing = hmac_sha256(&k_service, b"tc3_request");
    hex::encode(hmac_sha256(&k_signing, string_to_sign.as_bytes()))
}

/// The `Authorization` header value.
pub fn tc3_authorization(input: &Tc3Input<'_>) -> String {
    format!(
        "TC3-HMAC-SHA256 Credential={}/{}, SignedHeaders=content-type;host, Signature={}",
        input.secret_id,
        credential_scope(input),
        tc3_signature(input)
    )
}

// ---------------------------------------------------------------------------------------------
// Configuration

/// Which of our values fills a template variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TemplateParam {
    Code,
    /// The last path segment of the answer link: templates often carry a fixed link prefix and
    /// take only the token, since Tencent limits variable length.
    Token,
    Link,
    Text,
}

impl TemplateParam {
    fn parse(raw: &str) -> Option<Self> {
        match raw.trim() {
            "code" => Some(TemplateParam::Code),
            "token" => Some(TemplateParam::Token),
            "link" => Some(TemplateParam::Link),
            "text" => Some(TemplateParam::Text),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            TemplateParam::Code => "code",
            TemplateParam::Token => "token",
            TemplateParam::Link => "link",
            TemplateParam::Text => "text",
        }
    }
}

/// The last path segment of a link, without query or fragment.
fn link_token(link: &str) -> Option<&str> {
    let path = link.split(['?', '#']).next().unwrap_or("");
    let segment = path.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    // A bare `http://host` has no token: its last "segment" is the host.
    (!segment.is_empty() && !path.trim_end_matches('/').ends_with(&format!("//{segment}"))).then_some(segment)
}

pub struct TencentSmsChannel {
    client: reqwest::Client,
    url: Url,
    /// `host[:port]` as reqwest sends it in `Host`, which TC3 signs.
    host: String,
    secret_id: String,
    secret_key: SecretString,
    sdk_app_id: String,
    region: String,
    sign_name: String,
    template_id: String,
    template_params: Vec<TemplateParam>,
    batch_size: usize,
    hooks: HookGuard,
}

impl fmt::Debug for TencentSmsChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TencentSmsChannel")
            .field("host", &self.host)
            .field("secret_id", &self.secret_id)
            .field("secret_key", &"[REDACTED]")
            .field("sdk_app_id", &self.sdk_app_id)
            .field("region", &self.region)
            .field("sign_name", &self.sign_name)
            .field("template_id", &self.template_id)
            .field("template_params", &self.template_params)
            .field("batch_size", &self.batch_size)
            .field("path_token", &self.hooks.path_token.as_ref().map(|_| "[REDACTED]"))
            .field("allow_from", &self.hooks.allow_from)
            .finish()
    }
}

/// `host[:port]` the way the HTTP client writes the `Host` header: the port only when it is not
/// the scheme's default (the URL parser already drops a default port).
fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

pub fn build(name: &str, spec: &ChannelSpec, _ctx: &BuildContext) -> Result<Arc<dyn Channel>, ChannelConfigError> {
    let err = |reason: String| ChannelConfigError { name: name.to_string(), reason };
    let secret_id = required(spec.secret_id.as_deref(), KIND, "secret_id").map_err(err)?.to_string();
    let secret_key = spec
        .secret_key
        .as_ref()
        .filter(|s| !s.expose_secret().trim().is_empty())
        .ok_or_else(|| err(missing(KIND, "secret_key")))?
        .clone();
    let sdk_app_id = required(spec.sdk_app_id.as_deref(), KIND, "sdk_app_id").map_err(err)?.to_string();
    let sign_name = required(spec.sign_name.as_deref(), KIND, "sign_name").map_err(err)?.to_string();
    let template_id = required(spec.template_id.as_deref(), KIND, "template_id").map_err(err)?.to_string();
    let region = spec.region.as_deref().map(str::trim).filter(|r| !r.is_empty()).unwrap_or(DEFAULT_REGION).to_string();
    let raw_url = spec.url.as_deref().map(str::trim).filter(|u| !u.is_empty()).unwrap_or(DEFAULT_URL);
    let url = parse_http_url(raw_url).map_err(err)?;

    let template_params = if spec.template_params.is_empty() {
        vec![TemplateParam::Code]
    } else {
        spec.template_params
            .iter()
            .map(|p| {
                TemplateParam::parse(p)
                    .ok_or_else(|| err(format!("template_params: {p:?} is not one of code, token, link, text")))
            })
            .collect::<Result<Vec<_>, _>>()?
    };
    let batch_size = match spec.batch_size {
        None => 1,
        Some(n) if (1..=MAX_BATCH).contains(&n) => n,
        Some(n) => return Err(err(format!("batch_size = {n}: SendSms takes 1 to {MAX_BATCH} numbers per request"))),
    };
    let hooks = HookGuard::from_spec(spec).map_err(err)?;
    let timeout = timeout(spec, DEFAULT_TIMEOUT).map_err(err)?;

    // One client per channel (connection pooling). Redirects are not followed: they would carry
    // a signed request to a host nobody configured, and Tencent's API never redirects.
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(redirect::Policy::none())
        .user_agent(concat!("jiaoying/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| err(format!("cannot set up the HTTP client: {e}")))?;

    Ok(Arc::new(TencentSmsChannel {
        client,
        host: host_header(&url),
        url,
        secret_id,
        secret_key,
        sdk_app_id,
        region,
        sign_name,
        template_id,
        template_params,
        batch_size,
        hooks,
    }))
}

// ---------------------------------------------------------------------------------------------
// Sending

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SendSmsBody<'a> {
    phone_number_set: Vec<&'a str>,
    sms_sdk_app_id: &'a str,
    template_id: &'a str,
    sign_name: &'a str,
    template_param_set: &'a [String],
    session_context: String,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "Response")]
    response: ApiResponse,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ApiResponse {
    send_status_set: Vec<SendStatus>,
    error: Option<ApiError>,
    request_id: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct SendStatus {
    serial_no: String,
    phone_number: String,
    code: String,
    message: String,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct ApiError {
    code: String,
    message: String,
}

/// Per-number frequency limits: this account may not text this person again for a while, however
/// often we retry; another channel can. `PhoneNumberCountLimit` is the exception: it means too many
/// numbers in one request, a request-level mistake.
fn is_per_number_limit(code: &str) -> bool {
    match code.strip_prefix("LimitExceeded.") {
        Some("PhoneNumberCountLimit") => false,
        Some(rest) => rest.starts_with("PhoneNumber") || rest == "DeliveryFrequencyLimit",
        None => false,
    }
}

/// Codes that say "Tencent or the carrier had a moment": worth the same request again later.
/// Everything else (credentials, template, signature, balance, app-wide quotas, a bad or
/// blacklisted number, unknown codes) will not change by retrying, so the message fails over at once.
fn is_retryable(code: &str) -> bool {
    matches!(
        code,
        "InternalError"
            | "InternalError.Timeout"
            | "InternalError.SendAndRecvFail"
            | "InternalError.OtherError"
            | "InternalError.UnknownError"
            | "InternalError.ParseBackendResponseFail"
            | "RequestLimitExceeded"
            | "ResourceUnavailable"
    ) || code.starts_with("RequestLimitExceeded.")
}

/// Messages that may share one `SendSms` request.
struct Group {
    params: Vec<String>,
    /// Tencent refuses a request mixing mainland and foreign numbers.
    domestic: bool,
    /// (index into the batch, E.164 number)
    members: Vec<(usize, String)>,
}

impl TencentSmsChannel {
    /// Makes sure an error text never repeats a secret, even when a server echoes it back.
    fn scrub(&self, text: String) -> String {
        let mut text = text;
        let secrets =
            [Some(self.secret_key.expose_secret()), self.hooks.path_token.as_ref().map(|t| t.expose_secret())];
        for secret in secrets.into_iter().flatten() {
            if !secret.is_empty() && text.contains(secret) {
                text = text.replace(secret, "[REDACTED]");
            }
        }
        text
    }

    /// A provider error code and message as one short line.
    fn provider_error(&self, code: &str, message: &str, request_id: &str) -> SendError {
        // Scrub before cutting so a secret straddling the cut cannot leak as a prefix.
        let message = excerpt(&self.scrub(message.to_string()), ERROR_EXCERPT);
        let mut what = self.scrub(excerpt(code, 100));
        if !message.is_empty() {
            what.push_str(&format!(" ({message})"));
        }
        if !request_id.is_empty() {
            what.push_str(&format!(" [RequestId {}]", excerpt(request_id, 64)));
        }
        if is_per_number_limit(code) {
            SendError::Transient(format!("{RATE_LIMITED_PREFIX} Tencent SMS {what}"))
        } else if is_retryable(code) {
            SendError::Transient(format!("Tencent SMS {what}"))
        } else {
            SendError::Permanent(format!("Tencent SMS refused: {what}"))
        }
    }

    /// The template values for one message, in `{1}, {2}, ...` order.
    fn params(&self, msg: &Outgoing<'_>) -> Result<Vec<String>, SendError> {
        self.template_params
            .iter()
            .map(|p| {
                let value = match p {
                    TemplateParam::Code => msg.code,
                    TemplateParam::Token => msg.link.and_then(link_token),
                    TemplateParam::Link => msg.link,
                    TemplateParam::Text => Some(msg.text),
                };
                // Tencent's template would show a hole or refuse the request; another channel can
                // carry the full text instead.
                value.map(str::to_string).ok_or_else(|| {
                    SendError::Permanent(format!(
                        "the Tencent template takes `{}`, which this message does not have",
                        p.name()
                    ))
                })
            })
            .collect()
    }

    /// Splits a batch into requests: identical template values, same side of the border, no
    /// number twice in one request (its second entry would be dropped or rate-limited), at most
    /// `batch_size` numbers each.
    fn plan(&self, msgs: &[Outgoing<'_>], results: &mut [Option<Result<Sent, SendError>>]) -> Vec<Group> {
        let mut groups: Vec<Group> = Vec::new();
        for (i, msg) in msgs.iter().enumerate() {
            let phone = match MobileNumber::parse(msg.to) {
                Ok(p) => p.as_str().to_string(),
                Err(e) => {
                    results[i] = Some(Err(SendError::Permanent(e.to_string())));
                    continue;
                }
            };
            let params = match self.params(msg) {
                Ok(p) => p,
                Err(e) => {
                    results[i] = Some(Err(e));
                    continue;
                }
            };
            let domestic = phone.starts_with("+86");
            let fits = |g: &&mut Group| {
                g.params == params
                    && g.domestic == domestic
                    && g.members.len() < self.batch_size
                    && !g.members.iter().any(|(_, p)| *p == phone)
            };
            match groups.iter_mut().find(fits) {
                Some(group) => group.members.push((i, phone)),
                None => groups.push(Group { params, domestic, members: vec![(i, phone)] }),
            }
        }
        groups
    }

    /// Our ids for `SessionContext`, which Tencent echoes in its answer (and nowhere else): one id
    /// for a single message, comma-separated for a batch, shortened when over Tencent's limit.
    fn session_context(ids: &[i64]) -> String {
        let joined = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        if joined.len() <= SESSION_CONTEXT_LIMIT {
            return joined;
        }
        format!("{},...,{} ({} messages)", ids[0], ids[ids.len() - 1], ids.len())
    }

    /// One `SendSms` request; the per-number statuses, or the one error that applies to all.
    async fn request(&self, params: &[String], phones: &[&str], ids: &[i64]) -> Result<Vec<SendStatus>, SendError> {
        let body = serde_json::to_vec(&SendSmsBody {
            phone_number_set: phones.to_vec(),
            sms_sdk_app_id: &self.sdk_app_id,
            template_id: &self.template_id,
            sign_name: &self.sign_name,
            template_param_set: params,
            session_context: Self::session_context(ids),
        })
        .map_err(|e| SendError::Permanent(format!("encoding the SendSms body: {e}")))?;
        let timestamp = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let authorization = tc3_authorization(&Tc3Input {
            secret_id: &self.secret_id,
            secret_key: self.secret_key.expose_secret(),
            host: &self.host,
            path: self.url.path(),
            query: self.url.query().unwrap_or(""),
            content_type: CONTENT_TYPE,
            payload: &body,
            timestamp,
        });

        let mut resp = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .header(reqwest::header::AUTHORIZATION, authorization)
            .header("X-TC-Action", ACTION)
            .header("X-TC-Version", API_VERSION)
            .header("X-TC-Timestamp", timestamp.to_string())
            .header("X-TC-Region", &self.region)
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::Transient(self.scrub(self.describe_request_error(&e))))?;

        let status = resp.status();
        if !status.is_success() {
            let raw = read_capped(&mut resp, ERROR_EXCERPT + self.secret_key.expose_secret().len() + 64)
                .await
                .unwrap_or_default();
            let body = excerpt(&self.scrub(String::from_utf8_lossy(&raw).into_owned()), ERROR_EXCERPT);
            let mut text = format!("Tencent SMS {} answered {status}", self.host);
            if !body.is_empty() {
                text.push_str(": ");
                text.push_str(&body);
            }
            return Err(if is_transient_status(status) {
                SendError::Transient(text)
            } else {
                SendError::Permanent(text)
            });
        }

        // A 200 we cannot read may still have sent the messages; at-least-once says send again
        // rather than risk a warning that never went out.
        let raw = read_capped(&mut resp, ANSWER_LIMIT).await.map_err(|e| {
            SendError::Transient(self.scrub(format!("reading the answer of Tencent SMS {}: {e}", self.host)))
        })?;
        let envelope: Envelope = serde_json::from_slice(&raw).map_err(|e| {
            SendError::Transient(format!(
                "Tencent SMS {} answered 200 with a body that is not its JSON: {e}",
                self.host
            ))
        })?;
        let response = envelope.response;
        if let Some(error) = response.error {
            return Err(self.provider_error(&error.code, &error.message, &response.request_id));
        }
        Ok(response.send_status_set)
    }

    /// Why a request got no HTTP answer, naming the host only.
    fn describe_request_error(&self, e: &reqwest::Error) -> String {
        crate::http::describe_request_error(&format!("Tencent SMS {}", self.host), e)
    }
}

/// Whether a `PhoneNumber` of Tencent's answer is the number we sent.
fn same_number(answered: &str, ours: &str) -> bool {
    answered == ours || MobileNumber::parse(answered).is_ok_and(|n| n.as_str() == ours)
}

#[async_trait]
impl Channel for TencentSmsChannel {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn address_kind(&self) -> AddressKind {
        AddressKind::Mobile
    }

    async fn send(&self, msg: &Outgoing<'_>) -> Result<Sent, SendError> {
        let mut results = self.send_batch(std::slice::from_ref(msg)).await;
        results.pop().unwrap_or_else(|| Err(SendError::Transient("no result for the message".into())))
    }

    fn max_batch(&self) -> usize {
        self.batch_size
    }

    async fn send_batch(&self, msgs: &[Outgoing<'_>]) -> Vec<Result<Sent, SendError>> {
        let mut results: Vec<Option<Result<Sent, SendError>>> = vec![None; msgs.len()];
        let groups = self.plan(msgs, &mut results);
        for group in &groups {
            let phones: Vec<&str> = group.members.iter().map(|(_, p)| p.as_str()).collect();
            let ids: Vec<i64> = group.members.iter().map(|(i, _)| msgs[*i].id).collect();
            match self.request(&group.params, &phones, &ids).await {
                // A whole-request failure is every number's failure.
                Err(e) => {
                    for (i, _) in &group.members {
                        results[*i] = Some(Err(e.clone()));
                    }
                }
                Ok(statuses) => {
                    for (i, phone) in &group.members {
                        let result = match statuses.iter().find(|s| same_number(&s.phone_number, phone)) {
                            Some(s) if s.code == "Ok" => {
                                Ok(Sent { provider_id: Some(s.serial_no.clone()).filter(|n| !n.is_empty()) })
                            }
                            Some(s) => Err(self.provider_error(&s.code, &s.message, "")),
                            // Not knowing is not failing for good: at-least-once, send again.
                            None => Err(SendError::Transient(
                                "Tencent SMS answered without a status for this number".to_string(),
                            )),
                        };
                        results[*i] = Some(result);
                    }
                }
            }
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(SendError::Transient("no result for the message".into()))))
            .collect()
    }

    /// Tencent cannot be asked about one message by our id: `SessionContext` is echoed only in
    /// the `SendSms` answer, `PullSmsSendStatus` hands out (and consumes) the app's receipts in bulk
    /// with no filter, and `PullSmsSendStatusByPhoneNumber` returns receipts by number and time
    /// window, which cannot tell our message from an earlier one with the same text, and knows
    /// nothing of a message not yet delivered. So the outbox sends again (at-least-once).
    async fn lookup(&self, _msg: &Outgoing<'_>) -> Lookup {
        Lookup::Unknown
    }

    fn parse_hook(&self, req: &HookRequest<'_>) -> Result<ParsedHook, HookError> {
        if matches!(req.kind, HookKind::Voice | HookKind::VoiceStatus) {
            return Err(HookError::Unauthorized("tencent-sms takes no voice callbacks".into()));
        }
        self.hooks.check(req)?;
        let value: Value =
            serde_json::from_slice(req.body).map_err(|e| HookError::Malformed(format!("not JSON: {e}")))?;
        let events = match req.kind {
            HookKind::Status => parse_reports(&value)?,
            _ => parse_replies(&value)?,
        };
        Ok(ParsedHook { events, ack: Some(HookAck::json(HOOK_ACK)) })
    }
}

// ---------------------------------------------------------------------------------------------
// Callbacks

/// A field as text, whether the JSON has a string or a number there.
fn text_field(obj: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    match obj.get(key)? {
        Value::String(s) => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The items of a callback: Tencent posts arrays; a lone object is taken as one item.
fn items<'v>(value: &'v Value, what: &str) -> Result<Vec<&'v Value>, HookError> {
    match value {
        Value::Array(a) => Ok(a.iter().collect()),
        Value::Object(_) => Ok(vec![value]),
        _ => Err(HookError::Invalid(format!("a Tencent {what} callback is a JSON array or object"))),
    }
}

/// Status reports. Bad entries are skipped (with a warning) rather than failing the batch, since
/// Tencent would retry the whole batch for ever; a batch with nothing usable is refused.
fn parse_reports(value: &Value) -> Result<Vec<HookEvent>, HookError> {
    let items = items(value, "status report")?;
    let mut events = Vec::new();
    for item in &items {
        match parse_report(item) {
            Some(event) => events.push(event),
            None => tracing::warn!("skipping a Tencent status report without sid and report_status"),
        }
    }
    if events.is_empty() && !items.is_empty() {
        return Err(HookError::Invalid("no status report with sid and report_status SUCCESS or FAIL".into()));
    }
    Ok(events)
}

fn parse_report(item: &Value) -> Option<HookEvent> {
    let obj = item.as_object()?;
    let sid = text_field(obj, "sid").filter(|s| !s.is_empty())?;
    let status = text_field(obj, "report_status")?;
    let delivered = if status.eq_ignore_ascii_case("SUCCESS") {
        true
    } else if status.eq_ignore_ascii_case("FAIL") {
        false
    } else {
        return None;
    };
    let error = if delivered {
        None
    } else {
        let errmsg = text_field(obj, "errmsg").unwrap_or_default();
        let description = text_field(obj, "description").unwrap_or_default();
        Some(match (errmsg.is_empty(), description.is_empty()) {
            (false, false) if errmsg != description => format!("{errmsg}: {description}"),
            (false, _) => errmsg,
            (true, false) => description,
            (true, true) => "FAIL".to_string(),
        })
    };
    Some(HookEvent::Receipt { message: MessageRef::Provider(sid), delivered, error })
}

fn parse_replies(value: &Value) -> Result<Vec<HookEvent>, HookError> {
    let items = items(value, "reply")?;
    let mut events = Vec::new();
    for item in &items {
        match parse_reply(item) {
            Some(event) => events.push(event),
            None => tracing::warn!("skipping a Tencent reply without mobile and text"),
        }
    }
    if events.is_empty() && !items.is_empty() {
        return Err(HookError::Invalid("no reply with mobile and text".into()));
    }
    Ok(events)
}

fn parse_reply(item: &Value) -> Option<HookEvent> {
    let obj = item.as_object()?;
    let mobile = text_field(obj, "mobile").filter(|m| !m.is_empty())?;
    let text = match obj.get("text")? {
        Value::String(s) => s.clone(),
        _ => return None,
    };
    // The mobile comes without its country; put it back so that a foreign number is not read as a
    // mainland one.
    let nationcode = text_field(obj, "nationcode").unwrap_or_default();
    let nationcode = nationcode.trim_start_matches('+');
    let from = if !nationcode.is_empty() && !mobile.starts_with('+') && nationcode.bytes().all(|b| b.is_ascii_digit()) {
        format!("+{nationcode}{mobile}")
    } else {
        mobile.clone()
    };
    // Tencent gives replies no id; a retry repeats mobile, time and text, a new reply does not.
    let dedupe = text_field(obj, "time").filter(|t| !t.is_empty()).map(|time| {
        let hash = sha256_hex(text.as_bytes());
        format!("tencent:{mobile}:{time}:{}", &hash[..DEDUPE_HASH_HEX])
    });
    Some(HookEvent::Reply { from, text, dedupe })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CVM_BODY: &str = r#"{"Limit": 1, "Filters": [{"Values": ["\u672a\u547d\u540d"], "Name": "instance-name"}]}"#;

    fn cvm_input() -> Tc3Input<'static> {
        Tc3Input {
            secret_id: "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE",
            secret_key: "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE",
            host: "cvm.tencentcloudapi.com",
            path: "/",
            query: "",
            content_type: "application/json; charset=utf-8",
            payload: CVM_BODY.as_bytes(),
            timestamp: 1551113065,
        }
    }

    #[test]
    fn tc3_matches_the_published_cvm_vector() {
        let input = cvm_input();
        let canonical = tc3_canonical_request(&input);
        assert!(canonical.ends_with("35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"), "{canonical}");
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
        );
        assert_eq!(tc3_signature(&input), "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168");
        assert_eq!(
            tc3_authorization(&input),
            "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request, \
             SignedHeaders=content-type;host, Signature=72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
        );
    }

    #[test]
    fn tc3_changes_with_every_signed_input() {
        let base = tc3_signature(&cvm_input());
        let variants = [
            Tc3Input { secret_key: "Gu5t9xGARNpq86cd98joQYCN3EXAMPLF", ..cvm_input() },
            Tc3Input { host: "sms.tencentcloudapi.com", ..cvm_input() },
            Tc3Input { content_type: "application/json", ..cvm_input() },
            Tc3Input { payload: b"{}", ..cvm_input() },
            Tc3Input { timestamp: 1551113066, ..cvm_input() },
        ];
        for v in &variants {
            assert_ne!(tc3_signature(v), base);
        }
    }

    #[test]
    fn service_is_the_first_label_of_a_tencent_host_else_sms() {
        assert_eq!(service_for_host("cvm.tencentcloudapi.com"), "cvm");
        assert_eq!(service_for_host("sms.tencentcloudapi.com"), "sms");
        assert_eq!(service_for_host("sms.ap-guangzhou.tencentcloudapi.com"), "sms");
        assert_eq!(service_for_host("sms.tencentcloudapi.com:8443"), "sms");
        assert_eq!(service_for_host("127.0.0.1:4567"), "sms");
        assert_eq!(service_for_host("[::1]:4567"), "sms");
        assert_eq!(service_for_host("localhost"), "sms");
        assert_eq!(service_for_host("proxy.example.org"), "sms");
    }

    #[test]
    fn the_scope_date_is_the_utc_date_even_just_after_midnight_in_beijing() {
        // 2024-03-02 00:30 in Beijing is still 2024-03-01 in UTC.
        assert_eq!(utc_date(1709310600), "2024-03-01");
        // 2024-03-02 08:00 Beijing = 00:00 UTC.
        assert_eq!(utc_date(1709337600), "2024-03-02");
        assert_eq!(utc_date(1551113065), "2019-02-25");
    }

    #[test]
    fn error_codes_map_to_transient_rate_limit_or_permanent() {
        let ch = test_channel();
        for code in [
            "LimitExceeded.PhoneNumberThirtySecondLimit",
            "LimitExceeded.PhoneNumberOneHourLimit",
            "LimitExceeded.PhoneNumberDailyLimit",
            "LimitExceeded.PhoneNumberSameContentDailyLimit",
            "LimitExceeded.DeliveryFrequencyLimit",
        ] {
            match ch.provider_error(code, "too often", "") {
                SendError::Transient(t) => assert!(t.starts_with(RATE_LIMITED_PREFIX), "{t}"),
                e => panic!("{code}: {e:?}"),
            }
        }
        for code in ["InternalError.Timeout", "InternalError.SendAndRecvFail", "RequestLimitExceeded"] {
            match ch.provider_error(code, "later", "r1") {
                SendError::Transient(t) => assert!(!t.starts_with(RATE_LIMITED_PREFIX) && t.contains(code), "{t}"),
                e => panic!("{code}: {e:?}"),
            }
        }
        for code in [
            "FailedOperation.PhoneNumberInBlacklist",
            "InvalidParameterValue.IncorrectPhoneNumber",
            "FailedOperation.TemplateIncorrectOrUnapproved",
            "FailedOperation.SignatureIncorrectOrUnapproved",
            "FailedOperation.ContainSensitiveWord",
            "FailedOperation.InsufficientBalanceInSmsPackage",
            "AuthFailure.SignatureFailure",
            "AuthFailure.SecretIdNotFound",
            "LimitExceeded.PhoneNumberCountLimit",
            "LimitExceeded.AppDailyLimit",
            "SomethingNew.NobodyKnows",
            "",
        ] {
            assert!(matches!(ch.provider_error(code, "no", ""), SendError::Permanent(_)), "{code}");
        }
    }

    #[test]
    fn link_token_is_the_last_path_segment() {
        assert_eq!(link_token("http://127.0.0.1:8080/a/tok?x=1&y=2"), Some("tok"));
        assert_eq!(link_token("https://example.org/a/abc.DEF_1/"), Some("abc.DEF_1"));
        assert_eq!(link_token("https://example.org/a/t#frag"), Some("t"));
        assert_eq!(link_token("https://example.org"), None);
        assert_eq!(link_token("https://example.org/"), None);
        assert_eq!(link_token(""), None);
        assert_eq!(link_token("tok"), Some("tok"));
    }

    #[test]
    fn session_context_stays_under_the_limit() {
        assert_eq!(TencentSmsChannel::session_context(&[42]), "42");
        assert_eq!(TencentSmsChannel::session_context(&[1, 2, 3]), "1,2,3");
        let many: Vec<i64> = (1_000_000_000_000..1_000_000_000_200).collect();
        let s = TencentSmsChannel::session_context(&many);
        assert!(s.len() <= SESSION_CONTEXT_LIMIT, "{s}");
        assert!(s.contains("1000000000000") && s.contains("200 messages"), "{s}");
    }

    #[test]
    fn debug_output_hides_the_secret_key_and_the_path_token() {
        let mut ch = test_channel();
        ch.secret_key = SecretString::from("very-secret-key");
        ch.hooks.path_token = Some(SecretString::from("very-secret-token"));
        let text = format!("{ch:?}");
        assert!(!text.contains("very-secret-key") && !text.contains("very-secret-token"), "{text}");
        assert!(text.contains("[REDACTED]") && text.contains("1400000000"), "{text}");
    }

    fn test_channel() -> TencentSmsChannel {
        TencentSmsChannel {
            client: reqwest::Client::new(),
            url: Url::parse(DEFAULT_URL).unwrap(),
            host: "sms.tencentcloudapi.com".into(),
            secret_id: "id".into(),
            secret_key: SecretString::from("key"),
            sdk_app_id: "1400000000".into(),
            region: DEFAULT_REGION.into(),
            sign_name: "sign".into(),
            template_id: "1".into(),
            template_params: vec![TemplateParam::Code],
            batch_size: 1,
            hooks: HookGuard { path_token: None, allow_from: vec![] },
        }
    }
}
