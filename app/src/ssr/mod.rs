//! Server-only code: state, storage, training. Never compiled into the wasm bundle.

pub mod store;
pub mod training;

use leptos::prelude::*;
use sqlx::PgPool;

use crate::error::AppError;

/// What every request handler and server function can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub pool: PgPool,
}

impl AppState {
    pub fn from_context() -> Result<Self, AppError> {
        use_context::<Self>().ok_or_else(|| {
            tracing::error!("AppState missing from the server function context");
            AppError::Internal
        })
    }
}

/// True when the request is an HTML form posted without JavaScript (the browser
/// asks for HTML), as opposed to a call from the hydrated app.
pub fn is_plain_form_post() -> bool {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.headers.get(http::header::ACCEPT)?.to_str().ok().map(|a| a.contains("text/html")))
        .unwrap_or(false)
}
