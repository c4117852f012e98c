//! The sink's Aliyun dysmsapi: checks an ACS3-HMAC-SHA256 request with code written here from
//! the hmac/sha2 primitives (not the service's signer), and reads the numbers and template
//! values a `SendSms` or `SendBatchSms` carries.

use axum::http::{HeaderMap, Method, Uri};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The access key id the benchmark's aliyun-sms channel signs with.
pub const ACCESS_KEY_ID: &str = "LTAI-bench-access-key";

/// Headers V3 requires to be signed.
const MUST_SIGN: [&str; 6] =
    ["host", "x-acs-action", "x-acs-version", "x-acs-date", "x-acs-signature-nonce", "x-acs-content-sha256"];

/// RFC 3986 encoding, unreserved characters kept, as POP signing wants it.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The request's query parameters, decoded.
pub fn query_params(uri: &Uri) -> Vec<(String, String)> {
    url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// Checks the request's `Authorization` against `secret`. `Err` says what was wrong.
pub fn check_v3(
    secret: &[u8],
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    params: &[(String, String)],
    body: &[u8],
) -> Result<(), &'static str> {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).map(str::trim);
    let auth =
        header("authorization").and_then(|a| a.strip_prefix("ACS3-HMAC-SHA256 ")).ok_or("no ACS3 Authorization")?;
    let field =
        |name: &str| auth.split(',').filter_map(|p| p.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v);
    if field("Credential") != Some(ACCESS_KEY_ID) {
        return Err("unknown access key");
    }
    let signed: Vec<&str> = field("SignedHeaders").unwrap_or_default().split(';').collect();
    if MUST_SIGN.iter().any(|h| !signed.contains(h)) {
        return Err("a required header is not signed");
    }
    let body_hash = hex::encode(Sha256::digest(body));
    if header("x-acs-content-sha256") != Some(body_hash.as_str()) {
        return Err("body hash mismatch");
    }
    let canonical_headers: String = signed.iter().map(|n| format!("{n}:{}\n", header(n).unwrap_or_default())).collect();
    let mut pairs: Vec<String> = params.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
    pairs.sort();
    let canonical_request = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{}\n{body_hash}",
        uri.path(),
        pairs.join("&"),
        signed.join(";")
    );
    let string_to_sign = format!("ACS3-HMAC-SHA256\n{}", hex::encode(Sha256::digest(canonical_request.as_bytes())));
    let Some(given) = field("Signature").and_then(|s| hex::decode(s).ok()) else { return Err("no signature") };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| "bad key")?;
    mac.update(string_to_sign.as_bytes());
    mac.verify_slice(&given).map_err(|_| "signature does not match")
}

/// One number of a send and the template values it carries.
pub struct Delivery {
    pub phone: String,
    pub params: serde_json::Map<String, serde_json::Value>,
}

/// The numbers a checked `SendSms` / `SendBatchSms` (`action`, from `x-acs-action`) asks to
/// reach, position-matched with their template values.
pub fn deliveries(action: &str, params: &[(String, String)]) -> Result<Vec<Delivery>, &'static str> {
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let object = |v: serde_json::Value| match v {
        serde_json::Value::Object(m) => Ok(m),
        _ => Err("a template value set is not an object"),
    };
    match action {
        "SendBatchSms" => {
            let phones: Vec<String> = serde_json::from_str(get("PhoneNumberJson").ok_or("no PhoneNumberJson")?)
                .map_err(|_| "bad PhoneNumberJson")?;
            let values: Vec<serde_json::Value> =
                serde_json::from_str(get("TemplateParamJson").ok_or("no TemplateParamJson")?)
                    .map_err(|_| "bad TemplateParamJson")?;
            if phones.len() != values.len() || phones.is_empty() || phones.len() > 100 {
                return Err("PhoneNumberJson and TemplateParamJson do not match (1 to 100 each)");
            }
            phones.into_iter().zip(values).map(|(phone, v)| Ok(Delivery { phone, params: object(v)? })).collect()
        }
        "SendSms" => {
            let v = serde_json::from_str(get("TemplateParam").unwrap_or("{}")).map_err(|_| "bad TemplateParam")?;
            let params = object(v)?;
            let phones = get("PhoneNumbers").ok_or("no PhoneNumbers")?;
            Ok(phones.split(',').map(|p| Delivery { phone: p.to_string(), params: params.clone() }).collect())
        }
        _ => Err("unknown action"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiaoying_dispatch::aliyun::{canonical_query, sign_v3};

    /// A SendBatchSms request as the service signs it: its URI, headers and query parameters.
    fn signed(secret: &str, phones: &str) -> (Uri, HeaderMap, Vec<(String, String)>) {
        let params = [
            ("PhoneNumberJson", phones.to_string()),
            ("TemplateParamJson", r#"[{"code":"1234","token":"t"}]"#.to_string()),
        ];
        let body_hash = hex::encode(Sha256::digest(b""));
        let headers = [
            ("host", "127.0.0.1:9"),
            ("x-acs-action", "SendBatchSms"),
            ("x-acs-version", "2017-05-25"),
            ("x-acs-date", "2026-11-29T08:00:00Z"),
            ("x-acs-signature-nonce", "n-1"),
            ("x-acs-content-sha256", body_hash.as_str()),
        ];
        let signature = sign_v3(secret, "POST", "/aliyun", &params, &headers, b"");
        let uri: Uri = format!("/aliyun?{}", canonical_query(&params)).parse().unwrap();
        let mut map = HeaderMap::new();
        for (n, v) in headers {
            map.insert(n, v.parse().unwrap());
        }
        map.insert("authorization", signature.authorization(ACCESS_KEY_ID).parse().unwrap());
        let params = query_params(&uri);
        (uri, map, params)
    }

    #[test]
    fn the_service_signature_checks_out_and_a_changed_one_does_not() {
        let (uri, headers, params) = signed("k", r#"["13800000000"]"#);
        assert_eq!(check_v3(b"k", &Method::POST, &uri, &headers, &params, b""), Ok(()));
        assert!(check_v3(b"other", &Method::POST, &uri, &headers, &params, b"").is_err(), "wrong secret");
        assert!(check_v3(b"k", &Method::GET, &uri, &headers, &params, b"").is_err(), "method is signed");
        assert!(check_v3(b"k", &Method::POST, &uri, &headers, &params, b"x").is_err(), "body is hashed");
        let mut changed = params.clone();
        changed[0].1 = r#"["13900000000"]"#.into();
        assert!(check_v3(b"k", &Method::POST, &uri, &headers, &changed, b"").is_err(), "numbers are signed");
        let d = deliveries("SendBatchSms", &params).unwrap();
        assert_eq!((d.len(), d[0].phone.as_str(), d[0].params["code"].as_str()), (1, "13800000000", Some("1234")));
        assert!(deliveries("SendBatchSms", &changed[..1]).is_err(), "numbers without their values");
        assert!(deliveries("QuerySendDetails", &params).is_err());
    }
}
