//! Health for the load balancer. Readiness comes from the control session's
//! contact with the database (a heartbeat every `control.heartbeat_ms`), not from
//! the request pools: a server whose pools are all busy is busy, not broken, and
//! must not be taken out of service when it is most needed.

use std::time::Duration;

use axum::{extract::State, http::StatusCode};
use tweetgen_app::ssr::AppState;

/// Ready while the control session has heard from the database this recently.
pub const READY_IF_HEARD_WITHIN: Duration = Duration::from_secs(5);

/// Liveness: the process answers.
pub async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answered the control session lately, and the server
/// can do what its control record says (held writes during a move are fine:
/// they proceed within seconds). Load balancers route only to ready instances.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, &'static str) {
    if let Some(problem) = state.db.problem() {
        tracing::warn!(%problem, "readiness check: cannot follow the control record");
        return (StatusCode::SERVICE_UNAVAILABLE, "cannot follow the control record");
    }
    match state.db.since_contact() {
        Some(since) if since <= READY_IF_HEARD_WITHIN => (StatusCode::OK, "ready"),
        since => {
            tracing::warn!(?since, "readiness check: no contact with the database");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}
