//! Liveness and readiness for operators and orchestrators.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::state::AppState;

pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Ready when the database answers and every migration is applied.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.store().ready().await {
        Ok(true) => (StatusCode::OK, Json(json!({"status": "ready", "database": "ok", "migrations": "applied"}))),
        Ok(false) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "not ready", "migrations": "pending"}))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "not ready", "database": "unreachable"})))
        }
    }
}
