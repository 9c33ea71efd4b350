//! Server-only code: state, storage, training. Never compiled into the wasm bundle.

pub mod cache;
pub mod store;
pub mod training;

use std::sync::Arc;

use leptos::prelude::*;
use sqlx::PgPool;
use tweetgen_markov::Tokenizer;

use crate::error::AppError;

/// What every request handler and server function can reach.
#[derive(Clone, Debug)]
pub struct AppState {
    pub pool: PgPool,
    /// Holds the segmentation dictionary (tens of MB): loaded once, shared.
    pub tokenizer: Arc<Tokenizer>,
    pub models: Arc<cache::ModelCache>,
}

impl AppState {
    pub fn from_context() -> Result<Self, AppError> {
        use_context::<Self>().ok_or_else(|| {
            tracing::error!("AppState missing from the server function context");
            AppError::Internal
        })
    }
}

/// Runs a server function's body and gives its error the right HTTP status (a
/// bad screen name is not a server failure). A plain form post keeps the redirect
/// that leptos_axum gives it, which carries the error back to the form.
pub async fn with_status<T>(work: impl std::future::Future<Output = Result<T, AppError>>) -> Result<T, AppError> {
    let result = work.await;
    if let Err(error) = &result {
        if !is_plain_form_post() {
            if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
                response.set_status(error.status());
            }
        }
    }
    result
}

/// True when the request is an HTML form posted without JavaScript (the browser
/// asks for HTML), as opposed to a call from the hydrated app.
pub fn is_plain_form_post() -> bool {
    use_context::<http::request::Parts>()
        .and_then(|parts| parts.headers.get(http::header::ACCEPT)?.to_str().ok().map(|a| a.contains("text/html")))
        .unwrap_or(false)
}
