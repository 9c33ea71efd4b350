//! Read-only mode at the door: requests that write answer 503 with Retry-After
//! while it is on, and every write admitted is counted until its response is
//! made, so that turning read-only mode on can wait for them (`Database`).

use axum::{
    extract::{Request, State},
    http::{header, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{Html, IntoResponse, Response},
};
use tweetgen_app::error::{AppError, RETRY_AFTER_SECONDS};
use tweetgen_app::ssr::{lang_from_headers, AppState};

/// The requests that write to the database. Everything else only reads.
fn writes(method: &Method, path: &str) -> bool {
    const WRITING_POSTS: [&str; 5] =
        ["/api/train_model", "/api/upload_archive", "/api/delete_my_data", "/api/generate_tweet", "/auth/logout"];
    // Signing in stores the OAuth state, then the session.
    const WRITING_GETS: [&str; 2] = ["/auth/login", "/auth/callback"];
    match *method {
        Method::GET | Method::HEAD => WRITING_GETS.contains(&path),
        _ => WRITING_POSTS.contains(&path),
    }
}

pub async fn pause_writes_when_read_only(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !writes(request.method(), request.uri().path()) {
        return next.run(request).await;
    }
    match state.db.begin_write() {
        Some(_write) => next.run(request).await,
        None => refused(&request),
    }
}

/// JSON for the hydrated app's server-function calls, a page for browsers.
fn refused(request: &Request) -> Response {
    let headers = request.headers();
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let mut response = if wants_html {
        let texts = lang_from_headers(headers).texts();
        let message = texts.error(&AppError::ReadOnly);
        let back = headers.get(header::REFERER).and_then(|referer| referer.to_str().ok()).unwrap_or("/");
        let page = format!(
            "<!DOCTYPE html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>tweetgen</title></head>\
             <body><p>{}</p><p><a href=\"{}\">↩</a></p></body></html>",
            texts.lang.code(),
            escape(&message),
            escape(back)
        );
        (StatusCode::SERVICE_UNAVAILABLE, Html(page)).into_response()
    } else {
        let body = serde_json::to_string(&AppError::ReadOnly).expect("an error serialises");
        (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    };
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    response
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_requests_that_write_are_paused() {
        assert!(writes(&Method::POST, "/api/generate_tweet"));
        assert!(writes(&Method::POST, "/api/train_model"));
        assert!(writes(&Method::GET, "/auth/callback"));
        assert!(!writes(&Method::POST, "/api/get_profile"));
        assert!(!writes(&Method::POST, "/api/ranking"));
        assert!(!writes(&Method::GET, "/@alice"));
        assert!(!writes(&Method::GET, "/card/alice.png"));
    }
}
