//! A stand-in for X's OAuth 2.0 sign-in, for development and tests (X cannot be
//! reached from here). It speaks the same protocol as X: the authorization page
//! (`/i/oauth2/authorize`, where you pick any screen name), the token endpoint
//! (`/2/oauth2/token`, which insists on PKCE S256, single-use codes and the same
//! redirect URI) and `/2/users/me`. State is in memory: one stand-in serves all.
//!
//! Invariant: it sends codes only to the redirect URIs it was given (as X sends
//! them only to an app's registered callbacks), and it holds at most
//! `MAX_ENTRIES` codes and tokens, each for a short while. In the app it is served
//! only on loopback (`startup`): anyone who reaches it signs in as anyone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::{
    extract::{Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
    Form, Json, Router,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use oauth2::url::Url;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use tweetgen_app::shared::is_valid_screen_name;

/// Codes and tokens kept at most, each; the oldest go first.
const MAX_ENTRIES: usize = 1_000;
/// X's codes live 30 seconds; its tokens two hours (this one's: one).
const CODE_LIFETIME: Duration = Duration::from_secs(30);
const TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// Where codes may be sent.
#[derive(Clone, Debug)]
pub enum RedirectUris {
    /// These, exactly (an app's registered callbacks).
    Exactly(Vec<String>),
    /// `http://` on a loopback address, path `/auth/callback`: the tests' servers
    /// on ports picked as they start.
    LoopbackCallbacks,
}

impl RedirectUris {
    fn allow(&self, uri: &str) -> bool {
        match self {
            RedirectUris::Exactly(registered) => registered.iter().any(|registered| registered == uri),
            RedirectUris::LoopbackCallbacks => {
                Url::parse(uri).is_ok_and(|url| is_http_on_loopback(&url) && url.path() == "/auth/callback")
            }
        }
    }
}

/// `http://` to a loopback address or `localhost`: this machine only.
pub fn is_http_on_loopback(url: &Url) -> bool {
    let loopback = match url.host() {
        Some(oauth2::url::Host::Ipv4(address)) => address.is_loopback(),
        Some(oauth2::url::Host::Ipv6(address)) => address.is_loopback(),
        Some(oauth2::url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    url.scheme() == "http" && loopback
}

/// The routes, relative to where they are mounted (`/standin-x` in the app).
pub fn router(client_id: &str, redirect_uris: RedirectUris) -> Router {
    let state = Arc::new(Standin {
        client_id: client_id.to_string(),
        redirect_uris,
        codes: Mutex::default(),
        tokens: Mutex::default(),
    });
    Router::new()
        .route("/i/oauth2/authorize", get(authorization_page).post(authorize))
        .route("/2/oauth2/token", post(token))
        .route("/2/users/me", get(users_me))
        .with_state(state)
}

struct Standin {
    client_id: String,
    redirect_uris: RedirectUris,
    codes: Mutex<Expiring<Grant>>,
    tokens: Mutex<Expiring<Account>>,
}

/// A map whose entries expire, and that drops its oldest beyond `MAX_ENTRIES`.
struct Expiring<T> {
    entries: HashMap<String, (Instant, T)>,
}

impl<T> Default for Expiring<T> {
    fn default() -> Self {
        Self { entries: HashMap::new() }
    }
}

impl<T> Expiring<T> {
    fn insert(&mut self, key: String, value: T, lifetime: Duration) {
        let now = Instant::now();
        self.entries.retain(|_, (expires, _)| *expires > now);
        if self.entries.len() >= MAX_ENTRIES {
            let oldest = self.entries.iter().min_by_key(|(_, (expires, _))| *expires).map(|(key, _)| key.clone());
            oldest.map(|key| self.entries.remove(&key));
        }
        self.entries.insert(key, (now + lifetime, value));
    }

    fn get(&self, key: &str) -> Option<&T> {
        self.entries.get(key).filter(|(expires, _)| *expires > Instant::now()).map(|(_, value)| value)
    }

    fn remove(&mut self, key: &str) -> Option<T> {
        self.entries.remove(key).filter(|(expires, _)| *expires > Instant::now()).map(|(_, value)| value)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

/// What an authorization code was issued for.
struct Grant {
    redirect_uri: String,
    code_challenge: String,
    account: Account,
}

#[derive(Clone)]
struct Account {
    username: String,
    protected: bool,
}

impl Account {
    /// X ids are numeric strings; the same name always gets the same id here.
    fn id(&self) -> String {
        let digest = Sha256::digest(self.username.to_ascii_lowercase().as_bytes());
        let number = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes")) >> 1;
        number.to_string()
    }
}

#[derive(Deserialize)]
struct AuthorizationRequest {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    state: String,
    code_challenge: String,
    code_challenge_method: String,
    #[serde(default)]
    scope: String,
}

impl Standin {
    /// Why the request is refused, if it is.
    fn check(&self, request: &AuthorizationRequest) -> Result<(), &'static str> {
        if request.response_type != "code" {
            return Err("response_type must be code");
        }
        if request.client_id != self.client_id {
            return Err("unknown client_id");
        }
        if request.code_challenge_method != "S256" || request.code_challenge.is_empty() {
            return Err("PKCE with code_challenge_method=S256 is required");
        }
        if !self.redirect_uris.allow(&request.redirect_uri) {
            return Err("redirect_uri is not one registered for this client");
        }
        Ok(())
    }
}

fn refuse(why: &str) -> Response {
    (StatusCode::BAD_REQUEST, format!("invalid authorization request: {why}")).into_response()
}

async fn authorization_page(
    State(standin): State<Arc<Standin>>,
    Query(request): Query<AuthorizationRequest>,
) -> Response {
    if let Err(why) = standin.check(&request) {
        return refuse(why);
    }
    let hidden = [
        ("response_type", &request.response_type),
        ("client_id", &request.client_id),
        ("redirect_uri", &request.redirect_uri),
        ("state", &request.state),
        ("code_challenge", &request.code_challenge),
        ("code_challenge_method", &request.code_challenge_method),
        ("scope", &request.scope),
    ]
    .map(|(name, value)| format!(r#"<input type="hidden" name="{name}" value="{}">"#, escape(value)))
    .join("");
    Html(format!(
        r#"<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Sign in to X (stand-in)</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,"></head>
<body style="font-family: system-ui, sans-serif; max-width: 28rem; margin: 3rem auto; line-height: 1.6">
<h1>Sign in to X</h1>
<p><strong>Development stand-in.</strong> The app asks to read your profile ({scope}). Choose any screen name.</p>
<form method="post">{hidden}
<p><label>Username <input name="username" required maxlength="15" pattern="[A-Za-z0-9_]{{1,15}}" autocomplete="off"></label></p>
<p><label><input type="checkbox" name="protected" value="true"> Protected account</label></p>
<p><button name="decision" value="allow">Authorize app</button> <button name="decision" value="deny" formnovalidate>Cancel</button></p>
</form></body></html>"#,
        scope = escape(&request.scope),
    ))
    .into_response()
}

#[derive(Deserialize)]
struct Decision {
    #[serde(flatten)]
    request: AuthorizationRequest,
    decision: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    protected: Option<String>,
}

async fn authorize(State(standin): State<Arc<Standin>>, Form(decision): Form<Decision>) -> Response {
    let request = &decision.request;
    if let Err(why) = standin.check(request) {
        return refuse(why);
    }
    let mut redirect = Url::parse(&request.redirect_uri).expect("checked");
    if decision.decision != "allow" {
        redirect.query_pairs_mut().append_pair("error", "access_denied").append_pair("state", &request.state);
        return Redirect::to(redirect.as_str()).into_response();
    }
    if !is_valid_screen_name(&decision.username) {
        return (StatusCode::BAD_REQUEST, "A username is 1 to 15 letters, digits or underscores.").into_response();
    }
    let code = random_token();
    let account =
        Account { username: decision.username.clone(), protected: decision.protected.as_deref() == Some("true") };
    let grant =
        Grant { redirect_uri: request.redirect_uri.clone(), code_challenge: request.code_challenge.clone(), account };
    standin.codes.lock().expect("not poisoned").insert(code.clone(), grant, CODE_LIFETIME);
    redirect.query_pairs_mut().append_pair("state", &request.state).append_pair("code", &code);
    Redirect::to(redirect.as_str()).into_response()
}

#[derive(Deserialize)]
struct TokenRequest {
    grant_type: String,
    code: String,
    redirect_uri: String,
    code_verifier: String,
    /// Public clients send it in the body; confidential ones in Basic auth.
    client_id: Option<String>,
}

async fn token(State(standin): State<Arc<Standin>>, headers: HeaderMap, Form(request): Form<TokenRequest>) -> Response {
    let invalid = |error: &str, description: &str| {
        (StatusCode::BAD_REQUEST, Json(json!({ "error": error, "error_description": description }))).into_response()
    };
    if request.grant_type != "authorization_code" {
        return invalid("unsupported_grant_type", "only authorization_code");
    }
    let client_id = request.client_id.clone().or_else(|| basic_auth_user(&headers));
    if client_id.as_deref() != Some(standin.client_id.as_str()) {
        return invalid("invalid_client", "unknown client");
    }
    // Single use: removed whether or not the rest checks out.
    let Some(grant) = standin.codes.lock().expect("not poisoned").remove(&request.code) else {
        return invalid("invalid_grant", "unknown, used or expired authorization code");
    };
    if grant.redirect_uri != request.redirect_uri {
        return invalid("invalid_grant", "redirect_uri differs from the authorization request");
    }
    if URL_SAFE_NO_PAD.encode(Sha256::digest(request.code_verifier.as_bytes())) != grant.code_challenge {
        return invalid("invalid_grant", "code_verifier does not match code_challenge");
    }
    let access_token = random_token();
    standin.tokens.lock().expect("not poisoned").insert(access_token.clone(), grant.account, TOKEN_LIFETIME);
    Json(json!({
        "token_type": "bearer",
        "access_token": access_token,
        "expires_in": 7200,
        "scope": "users.read tweet.read",
    }))
    .into_response()
}

async fn users_me(State(standin): State<Arc<Standin>>, headers: HeaderMap) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let account = bearer.and_then(|token| standin.tokens.lock().expect("not poisoned").get(token).cloned());
    match account {
        Some(account) => Json(json!({
            "data": {
                "id": account.id(),
                "name": account.username,
                "username": account.username,
                "protected": account.protected,
            }
        }))
        .into_response(),
        None => (StatusCode::UNAUTHORIZED, Json(json!({ "title": "Unauthorized", "status": 401 }))).into_response(),
    }
}

fn basic_auth_user(headers: &HeaderMap) -> Option<String> {
    let encoded = headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded).ok()?).ok()?;
    decoded.split_once(':').map(|(user, _)| user.to_string())
}

fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 24]>())
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_tokens_expire_and_never_exceed_the_bound() {
        let mut map = Expiring::default();
        for number in 0..MAX_ENTRIES + 50 {
            map.insert(number.to_string(), number, Duration::from_secs(60));
        }
        assert_eq!(map.len(), MAX_ENTRIES);
        assert_eq!(map.get("0"), None, "the oldest went first");
        assert_eq!(map.get(&(MAX_ENTRIES + 49).to_string()), Some(&(MAX_ENTRIES + 49)));
        map.insert("brief".into(), 1, Duration::ZERO);
        assert_eq!(map.remove("brief"), None, "expired");
    }

    #[test]
    fn codes_go_only_to_registered_callbacks() {
        let registered = RedirectUris::Exactly(vec!["http://10.0.0.2:3000/auth/callback".into()]);
        assert!(registered.allow("http://10.0.0.2:3000/auth/callback"));
        assert!(!registered.allow("http://10.0.0.2:3000/auth/callback?x"));
        let loopback = RedirectUris::LoopbackCallbacks;
        assert!(loopback.allow("http://127.0.0.1:4000/auth/callback"));
        assert!(loopback.allow("http://localhost:4000/auth/callback"));
        for elsewhere in [
            "https://evil.example/auth/callback",
            "http://127.0.0.1.evil.example/auth/callback",
            "http://127.0.0.1:4000/elsewhere",
            "javascript:alert(1)",
        ] {
            assert!(!loopback.allow(elsewhere), "{elsewhere}");
        }
    }
}
