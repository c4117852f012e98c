//! Who is calling: alert sources by their configured bearer token, scripts and duty officers by
//! API token (only its SHA-256 is stored). Tokens are compared in constant time.

use axum::http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::state::AppState;
use secrecy::ExposeSecret;

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim()).filter(|t| !t.is_empty())
}

/// The id of the source whose token the request carries.
pub fn source(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let token =
        bearer(headers).ok_or_else(|| ApiError::Unauthorized("send Authorization: Bearer <source token>".into()))?;
    // Check every source without stopping early, so timing does not tell which prefix matched.
    let mut found = None;
    for s in state.sources.iter() {
        if bool::from(s.token.expose_secret().as_bytes().ct_eq(token.as_bytes())) {
            found = Some(s.id.clone());
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
