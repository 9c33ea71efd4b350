use axum::{
    extract::{Path, Query},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use tweetgen_app::i18n::{Lang, LANG_COOKIE};

use super::auth::local_path;

#[derive(Deserialize)]
pub struct SwitchQuery {
    return_to: Option<String>,
}

/// `GET /lang/{code}`: remembers the chosen language for a year and goes back.
/// A link, so the switch works without JavaScript.
pub async fn switch_language(Path(code): Path<String>, Query(query): Query<SwitchQuery>) -> Response {
    let Some(lang) = Lang::from_code(&code) else {
        return (StatusCode::NOT_FOUND, "Unknown language").into_response();
    };
    let cookie = format!("{LANG_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax", lang.code());
    let cookie = HeaderValue::from_str(&cookie).expect("a language code is a valid header value");
    ([(header::SET_COOKIE, cookie)], Redirect::to(&local_path(query.return_to.as_deref()))).into_response()
}
