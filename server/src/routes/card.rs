use axum::{
    extract::{Extension, Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use tweetgen_app::ssr::rate_limits::{Client, ClientAddress};
use tweetgen_app::ssr::{lang_from_headers, share_card, AppState};

/// `GET /card/{screen_name}.png`: the user page's card image.
pub async fn user_card(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Extension(address): Extension<ClientAddress>,
    headers: HeaderMap,
) -> Response {
    match file.strip_suffix(".png") {
        Some(screen_name) => card(&state, (screen_name, None), address, &headers).await,
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET /card/{screen_name}/{id}.png`: a generated tweet's card image.
pub async fn tweet_card(
    State(state): State<AppState>,
    Path((screen_name, file)): Path<(String, String)>,
    Extension(address): Extension<ClientAddress>,
    headers: HeaderMap,
) -> Response {
    match file.strip_suffix(".png").and_then(|id| id.parse().ok()) {
        Some(id) => card(&state, (&screen_name, Some(id)), address, &headers).await,
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn card(
    state: &AppState,
    (screen_name, tweet): (&str, Option<i64>),
    address: ClientAddress,
    headers: &HeaderMap,
) -> Response {
    let Some(cards) = &state.cards else { return StatusCode::NOT_FOUND.into_response() };
    if !tweetgen_app::shared::is_valid_screen_name(screen_name) {
        return StatusCode::NOT_FOUND.into_response();
    }
    // Cards are fetched anonymously (crawlers, image previews): by address.
    let image = (screen_name, tweet, lang_from_headers(headers));
    match share_card::card_image(state, cards, image, Client::Address(address)).await {
        Ok(image) => {
            // Revalidated on every use (cheap: the image is in memory), so a
            // retrain or a deletion shows at once, even through a CDN.
            let cache = [(header::CACHE_CONTROL, "public, no-cache"), (header::VARY, "Accept-Language, Cookie")];
            let unchanged =
                headers.get(header::IF_NONE_MATCH).and_then(|tag| tag.to_str().ok()) == Some(image.etag.as_str());
            if unchanged {
                return (StatusCode::NOT_MODIFIED, cache, [(header::ETAG, image.etag)]).into_response();
            }
            let png = [(header::CONTENT_TYPE, "image/png".to_string()), (header::ETAG, image.etag)];
            (cache, png, image.png.as_ref().clone()).into_response()
        }
        // Unknown users and tweets are 404s, like their pages.
        Err(error) => super::error_response(&error, lang_from_headers(headers)),
    }
}
