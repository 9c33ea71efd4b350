pub mod auth;
mod body_limit;
mod card;
mod client_address;
pub mod health;
mod lang;
mod same_origin;
mod security_headers;
mod site_files;

pub use body_limit::{limit_body_size, BodyLimits};
pub use card::{page_card, tweet_card, MixCards, UserCards};
pub use client_address::{client_address, ProxyHops};
pub use health::{healthz, readyz};
pub use lang::switch_language;
pub use same_origin::refuse_cross_site_writes;
pub use security_headers::{security_headers, Https};
pub use site_files::{cache_pages, pkg_router, HashedNames};

/// An app error as a plain response, in the visitor's language, with
/// Retry-After where it has one.
pub fn error_response(
    error: &tweetgen_app::error::AppError,
    lang: tweetgen_app::i18n::Lang,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = (error.status(), lang.texts().error(error)).into_response();
    if let Some(seconds) = error.retry_after_secs() {
        response.headers_mut().insert(axum::http::header::RETRY_AFTER, seconds.into());
    }
    response
}
