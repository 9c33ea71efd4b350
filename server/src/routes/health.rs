use std::time::Duration;

use axum::{extract::State, http::StatusCode};
use tweetgen_app::ssr::AppState;

/// Liveness: the process answers.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers within a second, and the server can do what
/// its control record says (held writes during a move are fine: they proceed
/// within seconds). Load balancers route only to ready instances.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if let Some(problem) = state.db.problem() {
        tracing::warn!(%problem, "readiness check: cannot follow the control record");
        return (StatusCode::SERVICE_UNAVAILABLE, "cannot follow the control record");
    }
    let pool = state.reads();
    let check = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(&pool);
    match tokio::time::timeout(Duration::from_secs(1), check).await {
        Ok(Ok(_)) => (StatusCode::OK, "ready"),
        Ok(Err(error)) => {
            tracing::warn!(%error, "readiness check: database error");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
        Err(_) => {
            tracing::warn!("readiness check: database timed out");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}
