//! Headers on every response. A page rendered by Leptos sets its own
//! Content-Security-Policy, with the nonce of its inline scripts
//! (`tweetgen_app::ssr::set_content_security_policy`); any other response gets
//! one that allows nothing. No response may be framed or sniffed as another type.

use axum::{
    extract::{Request, State},
    http::{header, HeaderValue},
    middleware::Next,
    response::Response,
};

/// Whether the site is served over HTTPS (then browsers are told to keep to it).
#[derive(Clone, Copy)]
pub struct Https(pub bool);

const NOTHING_ALLOWED: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

pub async fn security_headers(State(Https(https)): State<Https>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("strict-origin-when-cross-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(NOTHING_ALLOWED));
    if https {
        // Two years, the preload list's minimum; subdomains are the operator's to decide.
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=63072000"));
    }
    response
}
