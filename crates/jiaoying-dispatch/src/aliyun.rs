//! The Aliyun (Alibaba Cloud) SMS channel: `SendSms` and `SendBatchSms` on dysmsapi (version
//! 2017-05-25), signed with ACS3-HMAC-SHA256 (V3, the default) or the older HMAC-SHA1 RPC
//! signature (V1), and the parser for Aliyun's SmsUp (replies) and SmsReport (receipts) pushes.
//!
//! Aliyun's pushes carry no signature, so the callback URLs carry a secret `?token=` (and may be
//! limited to source addresses); without a configured `path_token` every callback is refused.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::{redirect, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::build::{missing, parse_http_url, required, timeout, BuildContext};
use crate::channel::{AddressKind, Channel, ChannelConfigError, ChannelSpec, Lookup, Outgoing, SendError, Sent};
use crate::hook_guard::HookGuard;
use crate::inbound::{HookAck, HookError, HookEvent, HookKind, HookRequest, MessageRef, ParsedHook};
use crate::sms_webhook::{excerpt, is_transient_status, read_capped};

const KIND: &str = "aliyun-sms";

/// dysmsapi's public endpoint; `url` overrides it (a proxy, or a loopback server in tests).
pub const DEFAULT_ENDPOINT: &str = "https://dysmsapi.aliyuncs.com/";
pub const DEFAULT_REGION: &str = "cn-hangzhou";
/// The dysmsapi API version every action here belongs to.
pub const API_VERSION: &str = "2017-05-25";
/// Default request timeout when `timeout_secs` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// SendBatchSms takes at most 100 numbers per call.
pub const MAX_BATCH: usize = 100;

/// How a `Transient` error starts when Aliyun refused a message because of its per-number
/// frequency limits (`isv.BUSINESS_LIMIT_CONTROL`: by default 1/min, 5/h, 10/day per signature
/// and number for codes, 50/day for notifications). Retrying on this channel may take hours; the
/// outbox can recognise the prefix and switch to the next channel instead of waiting.
pub const RATE_LIMITED_PREFIX: &str = crate::channel::NUMBER_RATE_LIMITED;

/// The exact body Aliyun expects back from a push; anything else makes it push again (after 1,
/// 5, 10, 30 minutes, then hourly).
pub const HOOK_ACK: &str = r#"{"code":0,"msg":"接收成功"}"#;

/// How much of an error answer we quote in the error text.
const ERROR_BODY_EXCERPT: usize = 300;
/// How much of an answer we read at all: Aliyun's answers are small JSON objects.
const ANSWER_BODY_LIMIT: usize = 64 * 1024;

type HmacSha1 = Hmac<Sha1>;
type HmacSha256 = Hmac<Sha256>;

// ---------------------------------------------------------------------------------------------
// Signing.

/// Aliyun's "POP" percent-encoding: UTF-8, every byte except the RFC 3986 unreserved characters
/// `A-Z a-z 0-9 - _ . ~` as `%XX` with upper-case hex. This is what the doc's recipe (URL-encode,
/// then `+`→`%20`, `*`→`%2A`, `%7E`→`~`) amounts to, written directly.
pub fn pop_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// The query both signature versions sign and send: keys and values POP-encoded, sorted by key
/// in byte order (then by value, so duplicate keys are deterministic), joined as `k=v&...`.
/// Empty values stay as `k=`.
pub fn canonical_query<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> String {
    let mut pairs: Vec<(String, String)> =
        params.iter().map(|(k, v)| (pop_encode(k.as_ref()), pop_encode(v.as_ref()))).collect();
    pairs.sort();
    pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// V1 string to sign: `METHOD&%2F&` + the POP-encoded canonical query. The path is always `/`
/// for RPC-style APIs; METHOD must be the one the request actually uses.
pub fn string_to_sign_v1<K: AsRef<str>, V: AsRef<str>>(method: &str, params: &[(K, V)]) -> String {
    format!("{method}&{}&{}", pop_encode("/"), pop_encode(&canonical_query(params)))
}

/// V1 signature: base64(HMAC-SHA1(secret + "&", string to sign)). `params` must not contain
/// `Signature` itself.
pub fn sign_v1<K: AsRef<str>, V: AsRef<str>>(secret: &str, method: &str, params: &[(K, V)]) -> String {
    let mut mac = HmacSha1::new_from_slice(format!("{secret}&").as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign_v1(method, params).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A V3 (ACS3-HMAC-SHA256) signature and the parts that went into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V3Signature {
    pub canonical_request: String,
    /// The signed header names, lower-case, sorted, joined by `;`.
    pub signed_headers: String,
    /// lowerhex(HMAC-SHA256(secret, "ACS3-HMAC-SHA256\n" + lowerhex(SHA-256(canonical request)))).
    pub signature: String,
}

impl V3Signature {
    /// The `Authorization` header value; no spaces after the commas.
    pub fn authorization(&self, access_key_id: &str) -> String {
        format!(
            "ACS3-HMAC-SHA256 Credential={access_key_id},SignedHeaders={},Signature={}",
            self.signed_headers, self.signature
        )
    }
}

/// lowerhex(SHA-256(bytes)): the body hash of `x-acs-content-sha256` and of the canonical request.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Signs one request the V3 way. `headers` are the headers to sign (`host`, every `x-acs-*`,
/// `content-type` if sent), any case; `path` is the URL path (`/` for RPC-style APIs).
pub fn sign_v3<K: AsRef<str>, V: AsRef<str>>(
    secret: &str,
    method: &str,
    path: &str,
    query: &[(K, V)],
    headers: &[(&str, &str)],
    body: &[u8],
) -> V3Signature {
    let mut hs: Vec<(String, &str)> = headers.iter().map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim())).collect();
    hs.sort();
    let canonical_headers: String = hs.iter().map(|(n, v)| format!("{n}:{v}\n")).collect();
    let signed_headers = hs.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(";");
    let canonical_request = format!(
        "{method}\n{path}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        canonical_query(query),
        sha256_hex(body)
    );
    let string_to_sign = format!("ACS3-HMAC-SHA256\n{}", sha256_hex(canonical_request.as_bytes()));
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    let signature = hex::encode(mac.finalize().into_bytes());
    V3Signature { canonical_request, signed_headers, signature }
}

// ---------------------------------------------------------------------------------------------
// Configuration.

/// Which signature the channel uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureVersion {
    /// HMAC-SHA1 RPC signing (`Signature` query parameter).
    V1,
    /// ACS3-HMAC-SHA256 (`Authorization` header), which Aliyun recommends.
    V3,
}

/// One of our values that can fill an Aliyun template variable of the same name (`${code}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateValue {
    /// The call's reply code (e.g. `7a`).
    Code,
    /// The last path segment of the answer link, for a template that holds the rest of the link
    /// as fixed text (Aliyun refuses URLs in variables).
    Token,
    /// The whole answer link. Aliyun refuses URLs in variables (`isv.PARAM_NOT_SUPPORT_URL`)
    /// unless the template was approved for one.
    Link,
    /// The whole message text. Aliyun variables hold 20 characters unless the template was
    /// approved for longer ones.
    Text,
}

impl TemplateValue {
    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "code" => Some(TemplateValue::Code),
            "token" => Some(TemplateValue::Token),
            "link" => Some(TemplateValue::Link),
            "text" => Some(TemplateValue::Text),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            TemplateValue::Code => "code",
            TemplateValue::Token => "token",
            TemplateValue::Link => "link",
            TemplateValue::Text => "text",
        }
    }
}

/// Builds an `aliyun-sms` channel from its config table.
pub fn build(name: &str, spec: &ChannelSpec, _ctx: &BuildContext) -> Result<Arc<dyn Channel>, ChannelConfigError> {
    let channel =
        AliyunSmsChannel::from_spec(spec).map_err(|reason| ChannelConfigError { name: name.to_string(), reason })?;
    Ok(Arc::new(channel))
}

pub struct AliyunSmsChannel {
    client: reqwest::Client,
    endpoint: Url,
    access_key_id: String,
    access_key_secret: SecretString,
    sign_name: String,
    template_code: String,
    region: String,
    signature_version: SignatureVersion,
    template_params: Vec<TemplateValue>,
    batch_size: usize,
    guard: HookGuard,
}

impl fmt::Debug for AliyunSmsChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AliyunSmsChannel")
            .field("endpoint", &self.endpoint.as_str())
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"[REDACTED]")
            .field("sign_name", &self.sign_name)
            .field("template_code", &self.template_code)
            .field("region", &self.region)
            .field("signature_version", &self.signature_version)
            .field("template_params", &self.template_params)
            .field("batch_size", &self.batch_size)
            .field("path_token", &self.guard.path_token.as_ref().map(|_| "[REDACTED]"))
            .field("allow_from", &self.guard.allow_from)
            .finish()
    }
}

impl AliyunSmsChannel {
    /// Checks the config table; the error names the key, never a secret's value.
    pub fn from_spec(spec: &ChannelSpec) -> Result<Self, String> {
        let access_key_id = required(spec.access_key_id.as_deref(), KIND, "access_key_id")?.to_string();
        let access_key_secret = spec
            .access_key_secret
            .as_ref()
            .filter(|s| !s.expose_secret().trim().is_empty())
            .cloned()
            .ok_or_else(|| missing(KIND, "access_key_secret"))?;
        let sign_name = required(spec.sign_name.as_deref(), KIND, "sign_name")?.to_string();
        let template_code = required(spec.template_code.as_deref(), KIND, "template_code")?.to_string();
        let region = spec.region.as_deref().map(str::trim).filter(|r| !r.is_empty()).unwrap_or(DEFAULT_REGION);
        let endpoint =
            parse_http_url(spec.url.as_deref().map(str::trim).filter(|u| !u.is_empty()).unwrap_or(DEFAULT_ENDPOINT))?;
        if endpoint.query().is_some() || endpoint.fragment().is_some() {
            // The query is the signed parameter list; a fixed one in the URL would be dropped.
            return Err(format!("url {:?} must not carry a query or fragment", endpoint.as_str()));
        }
        let signature_version = match spec.signature_version.as_deref().map(|v| v.trim().to_ascii_lowercase()) {
            None => SignatureVersion::V3,
            Some(v) if v.is_empty() || v == "v3" => SignatureVersion::V3,
            Some(v) if v == "v1" => SignatureVersion::V1,
            Some(v) => return Err(format!("signature_version = {v:?} is neither \"v3\" nor \"v1\"")),
        };
        let mut template_params = Vec::new();
        for raw in &spec.template_params {
            let value = TemplateValue::parse(raw.trim()).ok_or_else(|| {
                format!("template_params entry {raw:?} is not one of \"code\", \"token\", \"link\", \"text\"")
            })?;
            if template_params.contains(&value) {
                return Err(format!("template_params names {raw:?} twice"));
            }
            template_params.push(value);
        }
        if template_params.is_empty() {
            template_params.push(TemplateValue::Code);
        }
        let batch_size = match spec.batch_size {
            None => 1,
            Some(n) if (1..=MAX_BATCH).contains(&n) => n,
            Some(n) => {
                return Err(format!("batch_size = {n} must be between 1 and {MAX_BATCH} (SendBatchSms's limit)"))
            }
        };
        let guard = HookGuard::from_spec(spec)?;
        let client = reqwest::Client::builder()
            .timeout(timeout(spec, DEFAULT_TIMEOUT)?)
            // Following a redirect would send a signed request to a host nobody configured.
            .redirect(redirect::Policy::none())
            .user_agent(concat!("jiaoying/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot set up the HTTP client: {e}"))?;
        Ok(AliyunSmsChannel {
            client,
            endpoint,
            access_key_id,
            access_key_secret,
            sign_name,
            template_code,
            region: region.to_string(),
            signature_version,
            template_params,
            batch_size,
            guard,
        })
    }

    /// `host[:port]` as the request's Host header carries it (the port only when not the
    /// scheme's default), which V3 signs.
    fn host_header(&self) -> String {
        let host = self.endpoint.host_str().unwrap_or_default();
        match self.endpoint.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        }
    }

    /// `host:port`, for error texts.
    fn target(&self) -> String {
        let host = self.endpoint.host_str().unwrap_or("?");
        match self.endpoint.port_or_known_default() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        }
    }

    /// Makes sure an error text never repeats the secret, even when an answer echoes it.
    fn scrub(&self, text: String) -> String {
        let secret = self.access_key_secret.expose_secret();
        if secret.is_empty() || !text.contains(secret) {
            text
        } else {
            text.replace(secret, "[REDACTED]")
        }
    }

    /// The TemplateParam object for one message: string values only, as Aliyun requires.
    fn template_param(&self, msg: &Outgoing<'_>) -> Result<serde_json::Map<String, Value>, SendError> {
        let mut map = serde_json::Map::new();
        for value in &self.template_params {
            let filled = match value {
                TemplateValue::Code => msg.code.map(str::to_string),
                TemplateValue::Link => msg.link.map(str::to_string),
                TemplateValue::Token => msg.link.and_then(link_token),
                TemplateValue::Text => Some(msg.text.to_string()),
            };
            // Sending the template with a blank variable would put a wrong message in front of
            // the person; failing lets the outbox use the next channel.
            let filled = filled.filter(|v| !v.is_empty()).ok_or_else(|| {
                SendError::Permanent(format!(
                    "the Aliyun template fills ${{{}}}, but this message has no {}",
                    value.name(),
                    match value {
                        TemplateValue::Code => "reply code",
                        TemplateValue::Token | TemplateValue::Link => "answer link",
                        TemplateValue::Text => "text",
                    }
                ))
            })?;
            map.insert(value.name().to_string(), Value::String(filled));
        }
        Ok(map)
    }

    /// Calls one dysmsapi action with `params` (the business parameters) and interprets the
    /// answer: `Ok(BizId)` for Code "OK", otherwise the error as transient or permanent.
    async fn call(&self, action: &str, params: Vec<(&'static str, String)>) -> Result<String, SendError> {
        let nonce = hex::encode(rand::random::<[u8; 16]>());
        let timestamp = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let secret = self.access_key_secret.expose_secret();
        // Both versions send every parameter in the query with an empty POST body: nothing to
        // hash or sign twice, and POST because a send must never be retried by a cache or proxy.
        let method = "POST";
        let mut url = self.endpoint.clone();
        let mut request_headers: Vec<(&'static str, String)> = Vec::new();
        match self.signature_version {
            SignatureVersion::V3 => {
                let host = self.host_header();
                let body_hash = sha256_hex(b"");
                let headers: [(&str, &str); 6] = [
                    ("host", &host),
                    ("x-acs-action", action),
                    ("x-acs-version", API_VERSION),
                    ("x-acs-date", &timestamp),
                    ("x-acs-signature-nonce", &nonce),
                    ("x-acs-content-sha256", &body_hash),
                ];
                let signed = sign_v3(secret, method, self.endpoint.path(), &params, &headers, b"");
                url.set_query(Some(&canonical_query(&params)));
                request_headers.extend(headers.iter().map(|(n, v)| (*n, v.to_string())));
                request_headers.push(("authorization", signed.authorization(&self.access_key_id)));
            }
            SignatureVersion::V1 => {
                let mut all: Vec<(&str, String)> = vec![
                    ("AccessKeyId", self.access_key_id.clone()),
                    ("Action", action.to_string()),
                    ("Format", "JSON".to_string()),
                    ("RegionId", self.region.clone()),
                    ("SignatureMethod", "HMAC-SHA1".to_string()),
                    ("SignatureNonce", nonce.clone()),
                    ("SignatureVersion", "1.0".to_string()),
                    ("Timestamp", timestamp.clone()),
                    ("Version", API_VERSION.to_string()),
                ];
                all.extend(params.iter().map(|(k, v)| (*k, v.clone())));
                let signature = sign_v1(secret, method, &all);
                all.push(("Signature", signature));
                url.set_query(Some(&canonical_query(&all)));
            }
        }

        let mut req = self.client.post(url);
        for (name, value) in &request_headers {
            req = req.header(*name, value);
        }
        let mut resp =
            req.send().await.map_err(|e| SendError::Transient(self.scrub(self.describe_request_error(&e))))?;
        let status = resp.status();
        // Read a secret's length beyond the cap, so that scrubbing happens before any cut.
        let body = read_capped(&mut resp, ANSWER_BODY_LIMIT + secret.len()).await.unwrap_or_default();
        let answer: Option<Answer> = serde_json::from_slice(&body).ok();
        let Some(answer) = answer.filter(|a| !a.code.is_empty()) else {
            let quoted = excerpt(&self.scrub(String::from_utf8_lossy(&body).into_owned()), ERROR_BODY_EXCERPT);
            let text = self.scrub(format!("Aliyun SMS {} answered {status} without a result: {quoted}", self.target()));
            // A 2xx without a readable Code may or may not have sent: retrying risks a duplicate,
            // giving up risks a warning never arriving, and the duplicate is the lesser harm.
            return Err(if status.is_success() || is_transient_status(status) {
                SendError::Transient(text)
            } else {
                SendError::Permanent(text)
            });
        };
        if status.is_success() && answer.code == "OK" {
            return match answer.biz_id.filter(|b| !b.is_empty()) {
                Some(biz_id) => Ok(biz_id),
                // Sent, but nothing to correlate receipts by other than our OutId.
                None => Ok(String::new()),
            };
        }
        let mut text = format!("Aliyun SMS {action} refused: {}", answer.code);
        if !answer.message.is_empty() {
            text.push_str(&format!(" ({})", excerpt(&self.scrub(answer.message.clone()), ERROR_BODY_EXCERPT)));
        }
        text.push_str(&format!(", HTTP {}", status.as_u16()));
        if !answer.request_id.is_empty() {
            text.push_str(&format!(", RequestId {}", excerpt(&answer.request_id, 64)));
        }
        let text = self.scrub(text);
        Err(match classify(&answer.code, status) {
            ErrorClass::RateLimitedNumber => SendError::Transient(format!("{RATE_LIMITED_PREFIX} {text}")),
            ErrorClass::Transient => SendError::Transient(text),
            ErrorClass::Permanent => SendError::Permanent(text),
        })
    }

    /// Why a request got no HTTP answer, naming the host but not the URL (whose query carries
    /// the signature).
    fn describe_request_error(&self, e: &reqwest::Error) -> String {
        crate::http::describe_request_error(&format!("Aliyun SMS {}", self.target()), e)
    }

    /// One SendBatchSms call for messages already checked (distinct numbers, params built).
    async fn send_batch_call(&self, batch: &[Prepared]) -> Result<String, SendError> {
        let phones: Vec<&str> = batch.iter().map(|p| p.phone.as_str()).collect();
        let signs: Vec<&str> = batch.iter().map(|_| self.sign_name.as_str()).collect();
        let params: Vec<Value> = batch.iter().map(|p| Value::Object(p.params.clone())).collect();
        let params = vec![
            ("PhoneNumberJson", Value::from(phones).to_string()),
            ("SignNameJson", Value::from(signs).to_string()),
            ("TemplateCode", self.template_code.clone()),
            ("TemplateParamJson", Value::Array(params).to_string()),
        ];
        self.call("SendBatchSms", params).await
    }

    async fn send_prepared(&self, prepared: &Prepared) -> Result<Sent, SendError> {
        let params = vec![
            ("PhoneNumbers", prepared.phone.clone()),
            ("SignName", self.sign_name.clone()),
            ("TemplateCode", self.template_code.clone()),
            ("TemplateParam", Value::Object(prepared.params.clone()).to_string()),
            ("OutId", prepared.id.to_string()),
        ];
        let biz_id = self.call("SendSms", params).await?;
        Ok(sent(&biz_id, &prepared.phone))
    }

    fn prepare(&self, msg: &Outgoing<'_>) -> Result<Prepared, SendError> {
        Ok(Prepared { id: msg.id, phone: aliyun_phone(msg.to)?, params: self.template_param(msg)? })
    }
}

/// A message ready for the wire.
struct Prepared {
    id: i64,
    phone: String,
    params: serde_json::Map<String, Value>,
}

/// The provider id we record: `BizId/phone`. SendBatchSms returns one BizId for all its
/// numbers and its receipts carry no OutId, so only the pair names one message; single sends use
/// the same form so that every Aliyun provider id means the same thing.
fn sent(biz_id: &str, phone: &str) -> Sent {
    Sent { provider_id: (!biz_id.is_empty()).then(|| format!("{biz_id}/{phone}")) }
}

/// The answer body of every dysmsapi action (errors included).
#[derive(Deserialize)]
struct Answer {
    #[serde(rename = "Code", default)]
    code: String,
    #[serde(rename = "Message", default)]
    message: String,
    #[serde(rename = "BizId", default)]
    biz_id: Option<String>,
    #[serde(rename = "RequestId", default)]
    request_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorClass {
    RateLimitedNumber,
    Transient,
    Permanent,
}

/// Aliyun's error codes by who has to act: `isv.*` are mostly ours (number, template, balance),
/// `isp.*` theirs. Unknown codes count as permanent unless the HTTP status says "later", so
/// that the outbox fails over to another channel rather than retrying something that will
/// never work.
fn classify(code: &str, status: StatusCode) -> ErrorClass {
    match code {
        "isv.BUSINESS_LIMIT_CONTROL" => ErrorClass::RateLimitedNumber,
        // The account's own daily cap, Aliyun's own faults, API throttling and a nonce clash are
        // all over by the next try.
        "isv.DAY_LIMIT_CONTROL"
        | "isp.SYSTEM_ERROR"
        | "SignatureNonceUsed"
        | "ServiceUnavailable"
        | "InternalError" => ErrorClass::Transient,
        c if c.starts_with("Throttling") => ErrorClass::Transient,
        // Bad number, our own bugs (template params, count), page-the-operator problems
        // (template, signature, balance, arrears, permissions) and rejected credentials.
        "isv.MOBILE_NUMBER_ILLEGAL"
        | "isv.MOBILE_COUNT_OVER_LIMIT"
        | "isv.TEMPLATE_MISSING_PARAMETERS"
        | "isv.INVALID_JSON_PARAM"
        | "isv.PARAM_LENGTH_LIMIT"
        | "isv.PARAM_NOT_SUPPORT_URL"
        | "isv.BLACK_KEY_CONTROL_LIMIT"
        | "isv.SMS_TEMPLATE_ILLEGAL"
        | "isv.SMS_SIGNATURE_ILLEGAL"
        | "isv.AMOUNT_NOT_ENOUGH"
        | "isv.OUT_OF_SERVICE"
        | "isp.RAM_PERMISSION_DENY"
        | "SignatureDoesNotMatch"
        | "InvalidAccessKeyId.NotFound"
        | "InvalidAccessKeyId.Inactive"
        | "InvalidTimeStamp.Expired" => ErrorClass::Permanent,
        _ if is_transient_status(status) => ErrorClass::Transient,
        _ => ErrorClass::Permanent,
    }
}

/// Errors that concern one number of a SendBatchSms call: the batch is refused as a whole, so
/// each message is then sent on its own to learn which number it was.
fn is_per_number(e: &SendError) -> bool {
    match e {
        SendError::Transient(t) => t.starts_with(RATE_LIMITED_PREFIX),
        SendError::Permanent(t) => t.contains("isv.MOBILE_NUMBER_ILLEGAL"),
    }
}

/// The number as Aliyun takes it: mainland numbers as their 11 digits, others as country code
/// and number without `+`. Anything else is refused here, above all a comma, which would make
/// PhoneNumbers send to a second person.
fn aliyun_phone(to: &str) -> Result<String, SendError> {
    let t = to.trim();
    let digits = t.strip_prefix('+').unwrap_or(t);
    if digits.len() < 5 || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SendError::Permanent("the recipient address is not a mobile number Aliyun can send to".into()));
    }
    Ok(strip_cn_prefix(digits).to_string())
}

/// `8613800000001` or `008613800000001` → `13800000001`; anything else unchanged.
fn strip_cn_prefix(digits: &str) -> &str {
    for prefix in ["0086", "86"] {
        if let Some(rest) = digits.strip_prefix(prefix) {
            if rest.len() == 11 && rest.starts_with('1') && rest.bytes().all(|b| b.is_ascii_digit()) {
                return rest;
            }
        }
    }
    digits
}

/// A number from a push, in the form we send to: `+8613800000001` → `13800000001`.
fn normalize_pushed_phone(raw: &str) -> String {
    let t = raw.trim();
    strip_cn_prefix(t.strip_prefix('+').unwrap_or(t)).to_string()
}

/// The last path segment of the answer link, as it appears in the link (still percent-encoded),
/// since the template pastes it after a fixed URL prefix.
fn link_token(link: &str) -> Option<String> {
    let path = match Url::parse(link) {
        Ok(url) => url.path().to_string(),
        Err(_) => link.split(['?', '#']).next().unwrap_or_default().to_string(),
    };
    path.rsplit('/').find(|s| !s.is_empty()).map(str::to_string)
}

#[async_trait]
impl Channel for AliyunSmsChannel {
    fn kind(&self) -> &'static str {
        KIND
    }

    fn address_kind(&self) -> AddressKind {
        AddressKind::Mobile
    }

    async fn send(&self, msg: &Outgoing<'_>) -> Result<Sent, SendError> {
        let prepared = self.prepare(msg)?;
        self.send_prepared(&prepared).await
    }

    fn max_batch(&self) -> usize {
        self.batch_size
    }

    async fn send_batch(&self, msgs: &[Outgoing<'_>]) -> Vec<Result<Sent, SendError>> {
        let mut results: Vec<Option<Result<Sent, SendError>>> = vec![None; msgs.len()];
        // Messages that go out one by one: a batch of one, and a second message to a number
        // already in the batch (its receipt could not be told apart by BizId and number).
        let mut single: Vec<(usize, Prepared)> = Vec::new();
        let mut batched: Vec<(usize, Prepared)> = Vec::new();
        for (i, msg) in msgs.iter().enumerate() {
            match self.prepare(msg) {
                Err(e) => results[i] = Some(Err(e)),
                Ok(p) if self.batch_size > 1 && !batched.iter().any(|(_, b)| b.phone == p.phone) => {
                    batched.push((i, p))
                }
                Ok(p) => single.push((i, p)),
            }
        }
        let mut chunks: Vec<Vec<(usize, Prepared)>> = Vec::new();
        while !batched.is_empty() {
            let rest = batched.split_off(batched.len().min(self.batch_size));
            chunks.push(std::mem::replace(&mut batched, rest));
        }
        for chunk in chunks {
            if chunk.len() == 1 {
                single.extend(chunk);
                continue;
            }
            let (indices, prepared): (Vec<usize>, Vec<Prepared>) = chunk.into_iter().unzip();
            match self.send_batch_call(&prepared).await {
                Ok(biz_id) => {
                    for (i, p) in indices.iter().zip(&prepared) {
                        results[*i] = Some(Ok(sent(&biz_id, &p.phone)));
                    }
                }
                // Aliyun refuses the whole batch for one bad or rate-limited number; nothing was
                // sent, so sending each on its own costs nothing and spares the others.
                Err(e) if is_per_number(&e) => single.extend(indices.into_iter().zip(prepared)),
                Err(e) => {
                    for i in indices {
                        results[i] = Some(Err(e.clone()));
                    }
                }
            }
        }
        for (i, p) in single {
            results[i] = Some(self.send_prepared(&p).await);
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(SendError::Transient("message was not sent (internal error)".into()))))
            .collect()
    }

    /// QuerySendDetails needs the number, the BizId and the send date. After a crash mid-send we
    /// have no BizId (it came back in the answer we never recorded), and Aliyun cannot be asked
    /// by OutId, so the message is sent again (at-least-once).
    async fn lookup(&self, _msg: &Outgoing<'_>) -> Lookup {
        Lookup::Unknown
    }

    fn parse_hook(&self, req: &HookRequest<'_>) -> Result<ParsedHook, HookError> {
        if !matches!(req.kind, HookKind::Reply | HookKind::Status) {
            return Err(HookError::Unauthorized(format!("channel kind {KIND} takes no voice callbacks")));
        }
        self.guard.check(req)?;
        let events = parse_push(req.kind, req.body)?;
        Ok(ParsedHook { events, ack: Some(HookAck::json(HOOK_ACK)) })
    }
}

// ---------------------------------------------------------------------------------------------
// Pushes (HTTP batch push mode): SmsUp and SmsReport, each a JSON array.

/// Parses an SmsUp (`Reply`) or SmsReport (`Status`) push. One bad item refuses the whole push:
/// acking it would drop that item for good, while refusing keeps it visible and Aliyun retries.
fn parse_push(kind: HookKind, body: &[u8]) -> Result<Vec<HookEvent>, HookError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| HookError::Malformed(format!("the push is not JSON: {e}")))?;
    let Value::Array(items) = value else {
        return Err(HookError::Invalid("an Aliyun push is a JSON array".into()));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let Value::Object(obj) = item else {
                return Err(HookError::Invalid(format!("item {i} of the push is not an object")));
            };
            let item = Item { obj, index: i };
            match kind {
                HookKind::Reply => item.sms_up(),
                _ => item.sms_report(),
            }
        })
        .collect()
}

struct Item<'a> {
    obj: &'a serde_json::Map<String, Value>,
    index: usize,
}

impl Item<'_> {
    fn invalid(&self, what: String) -> HookError {
        HookError::Invalid(format!("item {} of the push: {what}", self.index))
    }

    /// A string field; numbers are taken as their text (sequence_id is documented as a number,
    /// sms_size as a string). Null and absent are `None`.
    fn text(&self, name: &str) -> Result<Option<String>, HookError> {
        match self.obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(self.invalid(format!("{name} is neither a string nor a number"))),
        }
    }

    fn required(&self, name: &str) -> Result<String, HookError> {
        self.text(name)?.filter(|s| !s.trim().is_empty()).ok_or_else(|| self.invalid(format!("{name} is missing")))
    }

    /// A time field, if present, must be in one of the two documented forms: a different one
    /// means the payload is not what we think it is.
    fn time(&self, name: &str) -> Result<(), HookError> {
        match self.text(name)? {
            Some(t) if !t.trim().is_empty() && !is_aliyun_time(t.trim()) => {
                Err(self.invalid(format!("{name} is neither yyyy-MM-dd HH:mm:ss nor yyyyMMddHHmmss")))
            }
            _ => Ok(()),
        }
    }

    fn sms_up(&self) -> Result<HookEvent, HookError> {
        let from = normalize_pushed_phone(&self.required("phone_number")?);
        let text = self.text("content")?.ok_or_else(|| self.invalid("content is missing".into()))?;
        let sequence_id = self.required("sequence_id")?;
        self.time("send_time")?;
        Ok(HookEvent::Reply { from, text, dedupe: Some(format!("aliyun:{}", sequence_id.trim())) })
    }

    fn sms_report(&self) -> Result<HookEvent, HookError> {
        let phone = normalize_pushed_phone(&self.required("phone_number")?);
        let delivered = match self.obj.get("success") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => true,
            Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => false,
            _ => return Err(self.invalid("success is missing or not a boolean".into())),
        };
        self.time("send_time")?;
        self.time("report_time")?;
        let out_id = self.text("out_id")?.and_then(|o| o.trim().parse::<i64>().ok());
        let biz_id = self.text("biz_id")?.map(|b| b.trim().to_string()).filter(|b| !b.is_empty());
        let message = match (out_id, biz_id) {
            (Some(id), _) => MessageRef::Ours(id),
            (None, Some(biz)) => MessageRef::Provider(format!("{biz}/{phone}")),
            (None, None) => return Err(self.invalid("neither out_id nor biz_id names the message".into())),
        };
        let error = if delivered {
            None
        } else {
            let code = self.text("err_code")?.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
            let msg = self.text("err_msg")?.map(|m| m.trim().to_string()).filter(|m| !m.is_empty());
            match (code, msg) {
                (Some(c), Some(m)) if c != m => Some(format!("{c}: {m}")),
                (Some(c), _) => Some(c),
                (None, Some(m)) => Some(m),
                (None, None) => Some("not delivered (no error code given)".to_string()),
            }
        };
        Ok(HookEvent::Receipt { message, delivered, error })
    }
}

/// `2017-12-01 12:00:00` (SmsReport) or `20171201120000` (the SmsUp doc's MNS form).
fn is_aliyun_time(t: &str) -> bool {
    let dashed = if t.len() == 14 && t.bytes().all(|b| b.is_ascii_digit()) {
        // chrono's %Y would swallow all fourteen digits; put the separators in first.
        format!("{}-{}-{} {}:{}:{}", &t[0..4], &t[4..6], &t[6..8], &t[8..10], &t[10..12], &t[12..14])
    } else {
        t.to_string()
    };
    chrono::NaiveDateTime::parse_from_str(&dashed, "%Y-%m-%d %H:%M:%S").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The doc's V1 SendSms example (GET, Format XML) with secret `testSecret`.
    #[test]
    fn v1_signature_matches_the_published_sendsms_vector() {
        let params = [
            ("AccessKeyId", "testId"),
            ("Action", "SendSms"),
            ("Format", "XML"),
            ("OutId", "123"),
            ("PhoneNumbers", "15300000001"),
            ("RegionId", "cn-hangzhou"),
            ("SignName", "阿里云短信测试专用"),
            ("SignatureMethod", "HMAC-SHA1"),
            ("SignatureNonce", "45e25e9b-0a6f-4070-8c85-2956eda1b466"),
            ("SignatureVersion", "1.0"),
            ("TemplateCode", "SMS_71390007"),
            ("TemplateParam", r#"{"customer":"test"}"#),
            ("Timestamp", "2017-07-12T02:42:19Z"),
            ("Version", "2017-05-25"),
        ];
        assert_eq!(sign_v1("testSecret", "GET", &params), "zJDF+Lrzhj/ThnlvIToysFRq6t4=");
        // The method is part of what is signed: the same request as POST signs differently.
        assert_ne!(sign_v1("testSecret", "POST", &params), "zJDF+Lrzhj/ThnlvIToysFRq6t4=");
        // Order of the input does not matter; the canonical query sorts.
        let mut reversed = params;
        reversed.reverse();
        assert_eq!(sign_v1("testSecret", "GET", &reversed), "zJDF+Lrzhj/ThnlvIToysFRq6t4=");
        assert!(string_to_sign_v1("GET", &params).starts_with("GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms"));
    }

    fn v3_vector(date: &str, nonce: &str) -> V3Signature {
        let body_hash = sha256_hex(b"");
        let headers = [
            ("host", "ecs.cn-shanghai.aliyuncs.com"),
            ("x-acs-action", "RunInstances"),
            ("x-acs-version", "2014-05-26"),
            ("x-acs-date", date),
            ("x-acs-signature-nonce", nonce),
            ("x-acs-content-sha256", body_hash.as_str()),
        ];
        let query = [("RegionId", "cn-shanghai"), ("ImageId", "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd")];
        sign_v3("YourAccessKeySecret", "POST", "/", &query, &headers, b"")
    }

    #[test]
    fn v3_signature_matches_the_first_published_vector() {
        let signed = v3_vector("2023-10-26T10:22:32Z", "3156853299f313e23d1673dc12e1703d");
        let hash = sha256_hex(signed.canonical_request.as_bytes());
        // gateways.md abbreviates this as `7ea06492…b259`; the full hash ends in `…1145b1e259` (the
        // note dropped a character), and it is the one that yields the published signature below.
        assert_eq!(hash, "7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259");
        assert_eq!(signed.signature, "06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0");
        assert_eq!(
            signed.signed_headers,
            "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version"
        );
        assert_eq!(
            signed.authorization("YourAccessKeyId"),
            "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;\
             x-acs-date;x-acs-signature-nonce;x-acs-version,\
             Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0"
        );
    }

    #[test]
    fn v3_signature_matches_the_second_published_vector() {
        let signed = v3_vector("2023-10-26T09:01:01Z", "d410180a5abf7fe235dd9b74aca91fc0");
        assert_eq!(signed.signature, "e521358f7776c97df52e6b2891a8bc73026794a071b50c3323388c4e0df64804");
    }

    #[test]
    fn empty_body_hash_is_the_documented_one() {
        let h = sha256_hex(b"");
        assert!(h.starts_with("e3b0c442") && h.ends_with("b855"));
    }

    #[test]
    fn pop_encoding_follows_the_doc_rules() {
        assert_eq!(pop_encode("a b*c~d+e/f"), "a%20b%2Ac~d%2Be%2Ff");
        assert_eq!(pop_encode("AZaz09-_.~"), "AZaz09-_.~");
        assert_eq!(pop_encode("观"), "%E8%A7%82");
        assert_eq!(pop_encode(r#"{"code":"7a"}"#), "%7B%22code%22%3A%227a%22%7D");
        assert_eq!(canonical_query(&[("b", ""), ("a", "1"), ("A", "2")]), "A=2&a=1&b=");
    }

    #[test]
    fn error_codes_map_to_transient_or_permanent() {
        let ok = StatusCode::OK;
        assert_eq!(classify("isv.BUSINESS_LIMIT_CONTROL", ok), ErrorClass::RateLimitedNumber);
        for code in ["isv.DAY_LIMIT_CONTROL", "isp.SYSTEM_ERROR", "Throttling.User", "SignatureNonceUsed"] {
            assert_eq!(classify(code, ok), ErrorClass::Transient, "{code}");
        }
        for code in [
            "isv.MOBILE_NUMBER_ILLEGAL",
            "isv.SMS_TEMPLATE_ILLEGAL",
            "isv.SMS_SIGNATURE_ILLEGAL",
            "isv.AMOUNT_NOT_ENOUGH",
            "isp.RAM_PERMISSION_DENY",
            "SignatureDoesNotMatch",
            "InvalidAccessKeyId.NotFound",
            "isv.SOMETHING_NEW",
        ] {
            assert_eq!(classify(code, ok), ErrorClass::Permanent, "{code}");
        }
        assert_eq!(classify("SomethingNew", StatusCode::SERVICE_UNAVAILABLE), ErrorClass::Transient);
        assert_eq!(classify("SomethingNew", StatusCode::TOO_MANY_REQUESTS), ErrorClass::Transient);
        // A known permanent code stays permanent whatever the status.
        assert_eq!(classify("isv.MOBILE_NUMBER_ILLEGAL", StatusCode::BAD_GATEWAY), ErrorClass::Permanent);
    }

    #[test]
    fn phones_are_normalised_and_anything_else_refused() {
        assert_eq!(aliyun_phone("+8613800000001").unwrap(), "13800000001");
        assert_eq!(aliyun_phone("13800000001").unwrap(), "13800000001");
        assert_eq!(aliyun_phone("008613800000001").unwrap(), "13800000001");
        assert_eq!(aliyun_phone("+85291234567").unwrap(), "85291234567");
        for bad in ["", "+", "13800000001,13800000002", "138 0000 0001", "abc", "+86-138", "1234"] {
            assert!(matches!(aliyun_phone(bad), Err(SendError::Permanent(_))), "{bad:?}");
        }
        assert_eq!(normalize_pushed_phone("+8613800000001"), "13800000001");
        assert_eq!(normalize_pushed_phone("8613800000001"), "13800000001");
        assert_eq!(normalize_pushed_phone("13800000001"), "13800000001");
        // 86 followed by something that is not a mainland mobile is left alone.
        assert_eq!(normalize_pushed_phone("861234"), "861234");
    }

    #[test]
    fn the_token_is_the_last_path_segment_of_the_link() {
        assert_eq!(link_token("https://jy.example.org/a/AbC-123_x").as_deref(), Some("AbC-123_x"));
        assert_eq!(link_token("https://jy.example.org/a/AbC/?x=1#f").as_deref(), Some("AbC"));
        assert_eq!(link_token("not a url/abc?x").as_deref(), Some("abc"));
        assert_eq!(link_token("https://jy.example.org/"), None);
    }

    #[test]
    fn both_documented_time_formats_are_accepted() {
        assert!(is_aliyun_time("2017-12-01 12:00:00"));
        assert!(is_aliyun_time("20150101120000"));
        for bad in
            ["2017-12-01T12:00:00", "2015010112000", "20151301120000", "yesterday", "", "２０１５０１０１１２００００"]
        {
            assert!(!is_aliyun_time(bad), "{bad:?}");
        }
    }

    #[test]
    fn debug_output_redacts_the_secret_and_the_path_token() {
        let spec: ChannelSpec = serde_json::from_value(serde_json::json!({
            "kind": "aliyun-sms",
            "access_key_id": "LTAI-id",
            "access_key_secret": "very-secret-key-value",
            "sign_name": "观音桥街道",
            "template_code": "SMS_1",
            "path_token": "hook-token-value",
        }))
        .unwrap();
        let channel = AliyunSmsChannel::from_spec(&spec).unwrap();
        let debug = format!("{channel:?}");
        assert!(debug.contains("[REDACTED]") && debug.contains("LTAI-id"));
        assert!(!debug.contains("very-secret-key-value") && !debug.contains("hook-token-value"), "{debug}");
    }
}
