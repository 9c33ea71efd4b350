//! Every response says how a browser may treat it: pages allow only their own
//! files and the inline scripts carrying the render's nonce; nothing is framed.

use reqwest::{header, Response};

use crate::helpers::{spawn_app, spawn_app_with};

fn header(response: &Response, name: header::HeaderName) -> &str {
    response.headers().get(&name).map_or("", |value| value.to_str().unwrap())
}

#[tokio::test]
async fn pages_allow_their_nonced_scripts_and_nothing_is_framed_or_sniffed() {
    let app = spawn_app().await;
    let page = app.get("/").await;
    let policy = header(&page, header::CONTENT_SECURITY_POLICY).to_string();
    let nonce = policy.split("'nonce-").nth(1).and_then(|rest| rest.split('\'').next()).expect("a nonce").to_string();
    for directive in ["frame-ancestors 'none'", "'wasm-unsafe-eval'", "object-src 'none'", "base-uri 'none'"] {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert_eq!(header(&page, header::X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert_eq!(header(&page, header::REFERRER_POLICY), "strict-origin-when-cross-origin");
    assert_eq!(header(&page, header::STRICT_TRANSPORT_SECURITY), "", "not over plain HTTP");
    let html = page.text().await.unwrap();
    let scripts = html.matches("<script").count();
    assert!(scripts > 0 && html.matches(&format!("nonce=\"{nonce}\"")).count() >= scripts, "every script: {html}");

    let again = app.get("/").await;
    assert_ne!(header(&again, header::CONTENT_SECURITY_POLICY), policy, "a new nonce each render");
    let ranking = app.client.post(format!("{}/api/ranking", app.address)).send().await.unwrap();
    assert_eq!(
        header(&ranking, header::CONTENT_SECURITY_POLICY),
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
    );
    assert_eq!(header(&ranking, header::X_FRAME_OPTIONS), "DENY");
}

#[tokio::test]
async fn over_https_browsers_are_told_to_keep_to_it() {
    let app = spawn_app_with(|settings| settings.server.public_url = Some("https://tweetgen.example".into())).await;
    assert_eq!(header(&app.get("/healthz").await, header::STRICT_TRANSPORT_SECURITY), "max-age=63072000");
}
