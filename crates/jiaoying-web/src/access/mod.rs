//! (issue 6: being built)

use axum::Router;

use crate::state::AppState;

/// Shared state of this part of the board, held in [`AppState`].
#[derive(Default)]
pub struct State {}

pub fn routes() -> Router<AppState> {
    Router::new()
}
