//! Who is calling: alert sources by their configured bearer token, scripts and duty officers by
//! API token (only its SHA-256 is stored). Tokens are compared in constant time. Board sessions
//! and roles are checked by the extractors in [`crate::session`], which use [`reader`].

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::{AppState, Source, SourceToken};
use secrecy::ExposeSecret;

pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The source whose token the request carries.
pub fn source(state: &AppState, headers: &HeaderMap) -> Result<Source, ApiError> {
    let token =
        bearer(headers).ok_or_else(|| ApiError::Unauthorized("send Authorization: Bearer <source token>".into()))?;
    let hashed = token_hash(token);
    // Check every source without stopping early, so timing does not tell which one matched.
    let mut found = None;
    for s in state.sources.iter() {
        let matches = match &s.token {
            SourceToken::Plain(t) => bool::from(t.expose_secret().as_bytes().ct_eq(token.as_bytes())),
            SourceToken::Sha256(h) => bool::from(h.as_bytes().ct_eq(hashed.as_bytes())),
        };
        if matches {
            found = Some(s.clone());
        }
    }
    found.ok_or_else(|| ApiError::Unauthorized("the source token is not valid".into()))
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The API token's name and role.
pub async fn reader(state: &AppState, headers: &HeaderMap) -> Result<(String, String), ApiError> {
    let token =
        bearer(headers).ok_or_else(|| ApiError::Unauthorized("send Authorization: Bearer <API token>".into()))?;
    match state.store().api_token(&token_hash(token)).await? {
        Some(info) => Ok((info.name, info.role)),
        None => Err(ApiError::Unauthorized("the API token is not valid".into())),
    }
}
