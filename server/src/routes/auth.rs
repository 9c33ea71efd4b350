//! "Sign in with X": OAuth 2.0 authorization code with PKCE. The pending sign-in
//! (state and PKCE verifier) is kept in the database, so the callback may reach
//! any instance behind the load balancer; so is the session that results.
//!
//! Invariant: a callback signs in only the browser that began the sign-in. The
//! state is also in a short-lived `__Host-` cookie set at `/auth/login`, and the
//! callback must carry both: a callback URL made in one browser (an attacker's)
//! and opened in another (the victim's) signs nobody in, and does not use up the
//! pending sign-in of the browser that made it.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::{
    extract::{Extension, Query, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use oauth2::{
    basic::BasicClient, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use serde::Deserialize;
use tweetgen_app::shared::is_valid_screen_name;
use tweetgen_app::ssr::rate_limits::{self, Action, ClientAddress};
use tweetgen_app::ssr::{lang_from_headers, session, store, AppState};

use crate::configuration::AuthSettings;

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// A pending sign-in older than this is refused (people take a minute or two on X's page).
const SIGN_IN_TIMEOUT_SECS: f64 = 600.0;

/// Holds the state of the sign-in this browser began (`session::host_cookie`: no
/// subdomain or plain-HTTP page can plant one, and it comes along on X's redirect
/// back, a top-level navigation).
const SIGN_IN_COOKIE: &str = "__Host-tweetgen-signin";

fn sign_in_cookie(state: &str) -> HeaderValue {
    session::host_cookie(SIGN_IN_COOKIE, state, Duration::from_secs_f64(SIGN_IN_TIMEOUT_SECS))
}

fn clearing_sign_in_cookie() -> HeaderValue {
    session::host_cookie(SIGN_IN_COOKIE, "", Duration::ZERO)
}

/// The OAuth client and what the auth routes need.
#[derive(Clone)]
pub struct SignIn {
    app: AppState,
    oauth: Option<Arc<OAuth>>,
}

struct OAuth {
    client: Client,
    /// Does not follow redirects (the oauth2 crate's advice against SSRF).
    http: reqwest::Client,
    user_url: String,
    session_lifetime: Duration,
}

impl SignIn {
    /// `None` client id: sign-in answers that it is not configured.
    pub fn new(app: AppState, settings: &AuthSettings, public_url: &str) -> anyhow::Result<Self> {
        if settings.client_id.is_empty() {
            tracing::warn!("auth.client_id is not set: \"Sign in with X\" is unavailable");
            return Ok(Self { app, oauth: None });
        }
        let mut client = BasicClient::new(ClientId::new(settings.client_id.clone()))
            .set_auth_uri(AuthUrl::new(settings.authorize_url.clone()).context("auth.authorize_url")?)
            .set_token_uri(TokenUrl::new(settings.token_url.clone()).context("auth.token_url")?)
            .set_redirect_uri(RedirectUrl::new(format!("{public_url}/auth/callback")).context("server.public_url")?);
        if let Some(secret) = &settings.client_secret {
            client = client.set_client_secret(ClientSecret::new(secret.clone()));
        }
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?;
        let oauth = OAuth {
            client,
            http,
            user_url: settings.user_url.clone(),
            session_lifetime: Duration::from_secs(settings.session_days * 24 * 60 * 60),
        };
        Ok(Self { app, oauth: Some(Arc::new(oauth)) })
    }
}

#[derive(Deserialize)]
pub struct LoginQuery {
    return_to: Option<String>,
}

/// `GET /auth/login`: sends the browser to X's authorization page.
pub async fn login(
    State(sign_in): State<SignIn>,
    Query(query): Query<LoginQuery>,
    Extension(address): Extension<ClientAddress>,
    headers: HeaderMap,
) -> Response {
    let Some(oauth) = &sign_in.oauth else {
        return (StatusCode::SERVICE_UNAVAILABLE, "Sign-in with X is not configured on this server.").into_response();
    };
    if let Err(limited) = sign_in.app.rate_limits.check(Action::SignIn, rate_limits::Client::Address(address)) {
        return super::error_response(&limited, lang_from_headers(&headers));
    }
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (state, state_hash) = session::new_token();
    let return_to = local_path(query.return_to.as_deref());
    let (state_hash, verifier_secret, return_to) = (&state_hash, verifier.secret(), &return_to);
    let saved = sign_in
        .app
        .db
        .write(|pool| async move {
            sqlx::query("INSERT INTO oauth_logins (state_hash, pkce_verifier, return_to) VALUES ($1, $2, $3)")
                .bind(state_hash)
                .bind(verifier_secret)
                .bind(return_to)
                .execute(&pool)
                .await?;
            Ok(())
        })
        .await;
    if let Err(error) = saved {
        tracing::warn!(%error, "could not save a pending sign-in");
        return unavailable("Sign-in is unavailable right now. Please try again.");
    }
    let cookie = sign_in_cookie(&state);
    let (url, _) = oauth
        .client
        .authorize_url(|| CsrfToken::new(state))
        .add_scopes(["tweet.read", "users.read"].map(|scope| Scope::new(scope.into())))
        .set_pkce_challenge(challenge)
        .url();
    ([(header::SET_COOKIE, cookie)], Redirect::to(url.as_str())).into_response()
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /auth/callback`: X sends the browser back here with a code (or an error).
pub async fn callback(
    State(sign_in): State<SignIn>,
    Query(query): Query<CallbackQuery>,
    Extension(address): Extension<ClientAddress>,
    headers: HeaderMap,
) -> Response {
    let began_here = session::cookie(&headers, SIGN_IN_COOKIE);
    let clear = (header::SET_COOKIE, clearing_sign_in_cookie());
    match finish_sign_in(&sign_in, query, began_here, address).await {
        Ok((token, return_to, lifetime)) => {
            let session = (header::SET_COOKIE, session::session_cookie(&token, lifetime));
            ([clear, session], Redirect::to(&return_to)).into_response()
        }
        Err(error) => {
            tracing::warn!(error = format!("{error:#}"), "sign-in failed");
            ([clear], Redirect::to("/?signin=failed")).into_response()
        }
    }
}

async fn finish_sign_in(
    sign_in: &SignIn,
    query: CallbackQuery,
    began_here: Option<String>,
    address: ClientAddress,
) -> anyhow::Result<(String, String, Duration)> {
    let oauth = sign_in.oauth.as_ref().context("sign-in is not configured")?;
    let state_hash = &session::token_hash(&query.state.context("no state in the callback")?);
    // Checked before the pending sign-in is taken out: a stray callback must not use it up.
    anyhow::ensure!(
        began_here.is_some_and(|cookie| session::token_hash(&cookie) == *state_hash),
        "the callback's state is not the one this browser's sign-in began with (another browser's callback URL, \
         or the cookie expired)"
    );
    // The state is single use: taken out whether or not the rest succeeds.
    let pending: Option<(String, String)> = sign_in
        .app
        .db
        .write(|pool| async move {
            Ok(sqlx::query_as(
                "DELETE FROM oauth_logins WHERE state_hash = $1 AND created_at > now() - make_interval(secs => $2)
                 RETURNING pkce_verifier, return_to",
            )
            .bind(state_hash)
            .bind(SIGN_IN_TIMEOUT_SECS)
            .fetch_optional(&pool)
            .await?)
        })
        .await?;
    let (verifier, return_to) = pending.context("unknown, used or expired state (CSRF or a stale tab)")?;
    if let Some(error) = query.error {
        anyhow::bail!("X answered {error}");
    }
    let code = query.code.context("no code in the callback")?;
    let token = oauth
        .client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(PkceCodeVerifier::new(verifier))
        .request_async(&oauth.http)
        .await
        .context("exchanging the code for a token")?;
    let account = &x_account(oauth, token.access_token().secret()).await?;
    let lifetime = oauth.session_lifetime;
    let session = sign_in
        .app
        .db
        .write(|pool| async move {
            let user_id = store::upsert_x_user(&pool, &account.id, &account.username, account.protected).await?;
            store::note_owner_address(&pool, user_id, address).await?;
            session::create(&pool, user_id, lifetime).await
        })
        .await?;
    tracing::info!(screen_name = account.username, "signed in");
    Ok((session, return_to, oauth.session_lifetime))
}

#[derive(Deserialize)]
struct UserResponse {
    data: XAccount,
}

#[derive(Deserialize)]
struct XAccount {
    id: String,
    username: String,
    #[serde(default)]
    protected: bool,
}

async fn x_account(oauth: &OAuth, access_token: &str) -> anyhow::Result<XAccount> {
    let response = oauth.http.get(&oauth.user_url).bearer_auth(access_token).send().await?.error_for_status()?;
    let account = response.json::<UserResponse>().await.context("reading the X user")?.data;
    anyhow::ensure!(is_valid_screen_name(&account.username), "X returned an invalid username {:?}", account.username);
    anyhow::ensure!(!account.id.is_empty(), "X returned an empty user id");
    Ok(account)
}

/// `POST /auth/logout`: ends the session on every instance (it is in the database).
pub async fn logout(State(sign_in): State<SignIn>, headers: HeaderMap) -> Response {
    let headers = &headers;
    if let Err(error) = sign_in.app.db.write(|pool| async move { session::end(&pool, headers).await }).await {
        tracing::warn!(?error, "could not end a session");
        return unavailable("Signing out failed. Please try again.");
    }
    ([(header::SET_COOKIE, session::clearing_cookie())], Redirect::to("/")).into_response()
}

/// `POST /auth/logout-everywhere`: ends every session of the signed-in user, on
/// every device, this one included.
pub async fn logout_everywhere(State(sign_in): State<SignIn>, headers: HeaderMap) -> Response {
    let headers = &headers;
    match sign_in.app.db.write(|pool| async move { session::end_everywhere(&pool, headers).await }).await {
        Ok(ended) => tracing::info!(ended, "signed out everywhere"),
        Err(error) => {
            tracing::warn!(?error, "could not end the sessions");
            return unavailable("Signing out failed. Please try again.");
        }
    }
    ([(header::SET_COOKIE, session::clearing_cookie())], Redirect::to("/")).into_response()
}

/// 503 with Retry-After: the database could not take the write just now.
fn unavailable(message: &'static str) -> Response {
    let retry_after = (header::RETRY_AFTER, tweetgen_app::error::RETRY_AFTER_SECONDS.to_string());
    (StatusCode::SERVICE_UNAVAILABLE, [retry_after], message).into_response()
}

/// Only a path on this site: `return_to` must not send people elsewhere
/// ("//evil.example" and "/\evil.example" are other sites to a browser), and
/// must be a valid `Location` (printable ASCII: the app percent-encodes it).
pub fn local_path(return_to: Option<&str>) -> String {
    match return_to {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && path.bytes().all(|byte| byte.is_ascii_graphic()) =>
        {
            path.to_string()
        }
        _ => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn return_to_stays_on_this_site() {
        assert_eq!(local_path(Some("/@alice?tweet=3")), "/@alice?tweet=3");
        for elsewhere in ["https://evil.example/", "//evil.example", "/\\evil.example", "evil", "", "/a\nSet-Cookie: x"]
        {
            assert_eq!(local_path(Some(elsewhere)), "/", "{elsewhere}");
        }
        assert_eq!(local_path(None), "/");
    }
}
