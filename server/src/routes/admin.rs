//! `/admin/`: what the cutover asks of each server (`tweetgen-infra cutover`).
//!
//! - `GET  /admin/status` — read-only mode, the database (password hidden), writes under way.
//! - `POST /admin/read-only` `{"read_only": true}` — on: writes answer 503 with
//!   Retry-After; answers once the writes under way have finished. Off: writes again.
//! - `POST /admin/database` `{"url": "postgres://…"}` — checks the new database
//!   (it answers, and holds this server's schema version), puts its pool in place
//!   for every request that starts from then on, closes the old pool once the
//!   requests using it have finished, then answers.
//!
//! Every call needs `Authorization: Bearer <admin.token>`; without it: 401 and
//! nothing changes. Without `admin.token` configured, `/admin/` does not exist.

use std::time::{Duration, Instant};

use axum::{
    extract::{Request, State},
    http::{header, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tweetgen_app::ssr::AppState;

use crate::configuration::{redact, DatabaseSettings};

#[derive(Clone)]
struct Admin {
    app: AppState,
    token_hash: [u8; 32],
    database: DatabaseSettings,
}

pub fn router(app: AppState, token: &str, database: DatabaseSettings) -> Router {
    let admin = Admin { app, token_hash: Sha256::digest(token.as_bytes()).into(), database };
    Router::new()
        .route("/admin/status", get(status))
        .route("/admin/read-only", post(set_read_only))
        .route("/admin/database", post(switch_database))
        .layer(middleware::from_fn_with_state(admin.clone(), require_token))
        .with_state(admin)
}

/// Compares digests, so the comparison takes the same time however much matches.
async fn require_token(State(admin): State<Admin>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(|token| <[u8; 32]>::from(Sha256::digest(token.as_bytes())));
    let matches =
        presented.is_some_and(|hash| hash.iter().zip(admin.token_hash).fold(0, |acc, (a, b)| acc | (a ^ b)) == 0);
    if !matches {
        tracing::warn!(path = %request.uri().path(), "admin request without the right token");
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "admin token required\n")
            .into_response();
    }
    next.run(request).await
}

#[derive(Serialize)]
struct Status {
    read_only: bool,
    database: String,
    writes_in_flight: usize,
    /// Only after a change: milliseconds it waited for work under way.
    #[serde(skip_serializing_if = "Option::is_none")]
    drained_ms: Option<u64>,
}

fn status_of(app: &AppState, drained: Option<Duration>) -> Json<Status> {
    Json(Status {
        read_only: app.db.is_read_only(),
        database: app.db.redacted_url(),
        writes_in_flight: app.db.writes_in_flight(),
        drained_ms: drained.map(|waited| waited.as_millis() as u64),
    })
}

async fn status(State(admin): State<Admin>) -> Json<Status> {
    status_of(&admin.app, None)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadOnly {
    read_only: bool,
    /// How long to wait for writes under way (default 10 s).
    drain_ms: Option<u64>,
}

async fn set_read_only(State(admin): State<Admin>, Json(request): Json<ReadOnly>) -> Response {
    let started = Instant::now();
    let drain = Duration::from_millis(request.drain_ms.unwrap_or(10_000));
    let still_running = admin.app.db.set_read_only(request.read_only, drain).await;
    tracing::warn!(read_only = request.read_only, still_running, "read-only mode changed by an admin");
    let status = status_of(&admin.app, Some(started.elapsed()));
    if still_running > 0 {
        // Read-only is on, but some writes outlived the wait: the caller decides.
        return (StatusCode::ACCEPTED, status).into_response();
    }
    status.into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Switch {
    url: String,
    /// How long to wait for requests still using the old database (default 10 s).
    drain_ms: Option<u64>,
}

async fn switch_database(State(admin): State<Admin>, Json(request): Json<Switch>) -> Response {
    let started = Instant::now();
    let new_url = redact(&request.url);
    if new_url == admin.app.db.redacted_url() {
        return status_of(&admin.app, Some(Duration::ZERO)).into_response();
    }
    let pool = match check_database(&admin.database, &request.url).await {
        Ok(pool) => pool,
        Err(error) => {
            tracing::warn!(database = %new_url, %error, "refused to switch the database");
            return (StatusCode::UNPROCESSABLE_ENTITY, format!("not switched: {error:#}\n")).into_response();
        }
    };
    let old = admin.app.db.swap(pool, new_url.clone());
    let drain = Duration::from_millis(request.drain_ms.unwrap_or(10_000));
    let drained = tokio::time::timeout(drain, old.close()).await.is_ok();
    tracing::warn!(database = %new_url, drained, "database switched by an admin");
    let status = status_of(&admin.app, Some(started.elapsed()));
    if drained {
        status.into_response()
    } else {
        (StatusCode::ACCEPTED, status).into_response()
    }
}

/// The new database must answer and hold this server's schema: the last of its
/// migrations applied, and none unknown to it.
async fn check_database(settings: &DatabaseSettings, url: &str) -> anyhow::Result<sqlx::PgPool> {
    let pool = settings.pool(url)?;
    let expected = sqlx::migrate!("../migrations").migrations.iter().map(|m| m.version).max().unwrap_or(0);
    let query = sqlx::query_scalar::<_, Option<i64>>("SELECT max(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(&pool);
    let applied = tokio::time::timeout(Duration::from_secs(5), query)
        .await
        .map_err(|_| anyhow::anyhow!("the database did not answer within 5 s"))?
        .map_err(|error| anyhow::anyhow!("the database cannot be read as tweetgen's: {error}"))?;
    anyhow::ensure!(
        applied == Some(expected),
        "the database's schema is at migration {applied:?}, this server's at {expected}"
    );
    Ok(pool)
}
