//! Who is signed in: database-backed sessions behind a cookie, so that every
//! instance behind the load balancer knows the visitor and signing out (or
//! deleting one's data) ends the session everywhere at once.

use std::time::Duration;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use http::{header, HeaderMap, HeaderValue};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use crate::error::AppError;

/// `__Host-`: the browser accepts it only with `Secure`, `Path=/` and no
/// `Domain`, so no subdomain or plain-HTTP page can plant or overwrite it.
/// Browsers treat loopback as secure, so this works in development too.
pub const SESSION_COOKIE: &str = "__Host-tweetgen-session";

/// The signed-in visitor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionUser {
    pub user_id: i64,
    pub screen_name: String,
    pub protected: bool,
}

/// A new random token (for a cookie or an OAuth `state`) and the hash to store.
pub fn new_token() -> (String, Vec<u8>) {
    let token = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    let hash = token_hash(&token);
    (token, hash)
}

pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Starts a session for the user; returns the cookie's token.
pub async fn create(pool: &PgPool, user_id: i64, lifetime: Duration) -> Result<String, AppError> {
    let (token, hash) = new_token();
    sqlx::query(
        "INSERT INTO sessions (token_hash, user_id, expires_at) VALUES ($1, $2, now() + make_interval(secs => $3))",
    )
    .bind(hash)
    .bind(user_id)
    .bind(lifetime.as_secs_f64())
    .execute(pool)
    .await?;
    Ok(token)
}

/// The user behind the request's session cookie, if it is valid and unexpired.
pub async fn user_from_headers(pool: &PgPool, headers: &HeaderMap) -> Result<Option<SessionUser>, AppError> {
    let Some(token) = session_token(headers) else { return Ok(None) };
    let row: Option<(i64, String, bool)> = sqlx::query_as(
        "SELECT u.id, u.screen_name, u.protected FROM sessions s JOIN users u ON u.id = s.user_id
         WHERE s.token_hash = $1 AND s.expires_at > now()",
    )
    .bind(token_hash(&token))
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(user_id, screen_name, protected)| SessionUser { user_id, screen_name, protected }))
}

/// Ends the request's session (signing out).
pub async fn end(pool: &PgPool, headers: &HeaderMap) -> Result<(), AppError> {
    if let Some(token) = session_token(headers) {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash(&token)).execute(pool).await?;
    }
    Ok(())
}

/// Ends every session of the request's user, on every device ("sign out everywhere").
pub async fn end_everywhere(pool: &PgPool, headers: &HeaderMap) -> Result<u64, AppError> {
    let Some(token) = session_token(headers) else { return Ok(0) };
    let ended = sqlx::query(
        "DELETE FROM sessions WHERE user_id = (SELECT user_id FROM sessions WHERE token_hash = $1 AND expires_at > now())",
    )
    .bind(token_hash(&token))
    .execute(pool)
    .await?;
    Ok(ended.rows_affected())
}

/// Drops expired sessions and abandoned sign-ins; called now and then.
pub async fn purge_expired(pool: &PgPool) -> Result<u64, AppError> {
    let sessions = sqlx::query("DELETE FROM sessions WHERE expires_at < now()").execute(pool).await?;
    let logins =
        sqlx::query("DELETE FROM oauth_logins WHERE created_at < now() - interval '1 hour'").execute(pool).await?;
    Ok(sessions.rows_affected() + logins.rows_affected())
}

fn session_token(headers: &HeaderMap) -> Option<String> {
    cookie(headers, SESSION_COOKIE)
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, wanted: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|cookies| cookies.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == wanted)
        .map(|(_, value)| value.to_string())
}

/// `Set-Cookie` for a `__Host-` cookie holding `token` (base64url, or empty to
/// remove it) for `lifetime`. `SameSite=Lax`: the cookie still comes along when
/// someone follows a link to tweetgen (or X sends them back), not on another
/// site's POST; `HttpOnly`: no script reads it.
pub fn host_cookie(name: &str, token: &str, lifetime: Duration) -> HeaderValue {
    let value = format!("{name}={token}; Path=/; Max-Age={}; Secure; HttpOnly; SameSite=Lax", lifetime.as_secs());
    HeaderValue::from_str(&value).expect("a base64url token is a valid header value")
}

/// `Set-Cookie` for a new session.
pub fn session_cookie(token: &str, lifetime: Duration) -> HeaderValue {
    host_cookie(SESSION_COOKIE, token, lifetime)
}

/// `Set-Cookie` that removes the session cookie.
pub fn clearing_cookie() -> HeaderValue {
    host_cookie(SESSION_COOKIE, "", Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_token_is_found_among_other_cookies() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("lang=ja; __Host-tweetgen-session=abc"));
        headers.append(header::COOKIE, HeaderValue::from_static("other=1"));
        assert_eq!(session_token(&headers).as_deref(), Some("abc"));
        assert_eq!(session_token(&HeaderMap::new()), None);
    }

    #[test]
    fn tokens_are_random_and_only_their_hash_is_kept() {
        let (a, hash_a) = new_token();
        let (b, _) = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(hash_a, token_hash(&a));
        assert_ne!(hash_a, a.as_bytes());
    }
}
