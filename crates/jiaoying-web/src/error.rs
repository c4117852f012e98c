//! One error type for every handler: each variant maps to one status and the SPEC's error body
//! `{"error": {"code", "message"}}`. Causes of 5xx are logged, never sent.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use jiaoying_store::StoreError;
use jiaoying_tracker::TrackerError;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("authentication required: {0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unprocessable(String),
    #[error("the database is unavailable; try again")]
    Unavailable(#[source] StoreError),
    #[error("internal error")]
    Internal(#[source] anyhow_free::BoxError),
}

/// A boxed error without pulling anyhow into a library crate.
pub mod anyhow_free {
    pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ApiError::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound,
            e if e.is_unavailable() => ApiError::Unavailable(e),
            e => ApiError::Internal(Box::new(e)),
        }
    }
}

impl From<TrackerError> for ApiError {
    fn from(e: TrackerError) -> Self {
        match e {
            TrackerError::Store(s) => s.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            let mut chain = String::new();
            let mut cur: Option<&dyn std::error::Error> = std::error::Error::source(&self);
            while let Some(c) = cur {
                chain.push_str(": ");
                chain.push_str(&c.to_string());
                cur = c.source();
            }
            tracing::error!(status = status.as_u16(), cause = %chain, "request failed");
        }
        (status, Json(json!({"error": {"code": code, "message": self.to_string()}}))).into_response()
    }
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound
}
