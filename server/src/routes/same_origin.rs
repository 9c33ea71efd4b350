use axum::{
    extract::Request,
    http::{header, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

/// CSRF defence for every state-changing request (server functions, sign-out):
/// a browser names the page that sent a POST in `Origin`, and another site's page
/// is refused. `SameSite=Lax` on the session cookie is the second line. Requests
/// without `Origin` come from non-browser clients, which carry no victim's cookie.
pub async fn refuse_cross_site_writes(request: Request, next: Next) -> Response {
    if !request.method().is_safe() && is_cross_site(&request) {
        tracing::warn!(origin = ?request.headers().get(header::ORIGIN), "refused a cross-site request");
        return (StatusCode::FORBIDDEN, "Cross-site request refused.").into_response();
    }
    next.run(request).await
}

fn is_cross_site(request: &Request) -> bool {
    let headers = request.headers();
    let Some(origin) = headers.get(header::ORIGIN) else { return false };
    // Behind a load balancer the Host header is the public one, as is Origin's;
    // HTTP/2 carries it in the URI instead.
    let host = headers
        .get(header::HOST)
        .and_then(|host| host.to_str().ok())
        .or_else(|| request.uri().authority().map(|authority| authority.as_str()));
    let origin_host = origin.to_str().ok().and_then(|origin| origin.split_once("://")).map(|(_, host)| host);
    origin_host.is_none() || origin_host != host
}
