use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, StatusCode},
    middleware::Next,
    response::{Html, IntoResponse, Response},
};
use tweetgen_app::error::AppError;
use tweetgen_app::shared::UPLOAD_ARCHIVE_PATH;
use tweetgen_app::ssr::lang_from_headers;

/// Request body caps, in bytes: archive uploads get their own.
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    pub default: usize,
    pub upload: usize,
}

/// Refuses a body over its cap before reading it when the request declares its
/// length (browsers do for forms), and cuts off one that grows past it anyway.
/// An oversized archive gets the app's own message: JSON for the hydrated form,
/// a page in the visitor's language for a browser posting without JavaScript.
pub async fn limit_body_size(State(limits): State<BodyLimits>, request: Request, next: Next) -> Response {
    let is_upload = request.uri().path() == UPLOAD_ARCHIVE_PATH;
    let limit = if is_upload { limits.upload } else { limits.default };
    let declared =
        request.headers().get(header::CONTENT_LENGTH).and_then(|length| length.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|length| length > limit) {
        if is_upload {
            return upload_too_large(&request, limit);
        }
        return (StatusCode::PAYLOAD_TOO_LARGE, "The request is too large.").into_response();
    }
    let (parts, body) = request.into_parts();
    let limited = Body::new(http_body_util::Limited::new(body, limit));
    next.run(Request::from_parts(parts, limited)).await
}

fn upload_too_large(request: &Request, limit: usize) -> Response {
    let error = AppError::UploadTooLarge { max_mb: limit >> 20 };
    let headers = request.headers();
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|accept| accept.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if !wants_html {
        let json = serde_json::to_string(&error).expect("an AppError serialises");
        return (StatusCode::PAYLOAD_TOO_LARGE, [(header::CONTENT_TYPE, "application/json")], json).into_response();
    }
    let lang = lang_from_headers(headers);
    let texts = lang.texts();
    let page = format!(
        r#"<!DOCTYPE html><html lang="{code}"><head><meta charset="utf-8"><title>tweetgen</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,"></head>
<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; line-height: 1.6">
<p role="alert">{message}</p><p><a href="/">{back}</a></p></body></html>"#,
        code = lang.code(),
        message = texts.error(&error),
        back = texts.back_home,
    );
    (StatusCode::PAYLOAD_TOO_LARGE, Html(page)).into_response()
}
