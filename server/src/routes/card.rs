use axum::{
    extract::{Extension, Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use tweetgen_app::shared::{is_valid_screen_name, Voice};
use tweetgen_app::ssr::rate_limits::{Client, ClientAddress};
use tweetgen_app::ssr::{lang_from_headers, share_card, AppState};

/// Which voices a card address names: `/card/{screen_name}…` or `/mix-card/{mix}…`.
pub trait CardsOf {
    fn voice(segment: &str) -> Option<Voice>;
}

/// `/card/{screen_name}…`.
pub struct UserCards;
/// `/mix-card/{mix}…`: only at the mix's canonical address.
pub struct MixCards;

impl CardsOf for UserCards {
    fn voice(screen_name: &str) -> Option<Voice> {
        is_valid_screen_name(screen_name).then(|| Voice::One(screen_name.to_string()))
    }
}

impl CardsOf for MixCards {
    fn voice(spec: &str) -> Option<Voice> {
        let voice = Voice::parse(spec).ok()?;
        matches!(&voice, Voice::Mix(mix) if mix.spec() == spec).then_some(voice)
    }
}

/// `GET /card/{screen_name}.png`, `GET /mix-card/{mix}.png`: a voice page's card image.
pub async fn page_card<Of: CardsOf>(
    State(state): State<AppState>,
    Path(file): Path<String>,
    Extension(address): Extension<ClientAddress>,
    headers: HeaderMap,
) -> Response {
    let voice = file.strip_suffix(".png").and_then(Of::voice);
    card(&state, (voice, Some(None)), address, &headers).await
}

/// `GET /card/{screen_name}/{id}.png`, `GET /mix-card/{mix}/{id}.png`: a generated tweet's card image.
pub async fn tweet_card<Of: CardsOf>(
    State(state): State<AppState>,
    Path((voice, file)): Path<(String, String)>,
    Extension(address): Extension<ClientAddress>,
    headers: HeaderMap,
) -> Response {
    card(&state, (Of::voice(&voice), tweet_id(&file)), address, &headers).await
}

/// `Some(None)`: the page's card; `Some(Some(id))`: a tweet's; `None`: no such file.
fn tweet_id(file: &str) -> Option<Option<i64>> {
    file.strip_suffix(".png").and_then(|id| id.parse().ok()).map(Some)
}

async fn card(
    state: &AppState,
    (voice, tweet): (Option<Voice>, Option<Option<i64>>),
    address: ClientAddress,
    headers: &HeaderMap,
) -> Response {
    let Some(cards) = &state.cards else { return StatusCode::NOT_FOUND.into_response() };
    let (Some(voice), Some(tweet)) = (voice, tweet) else { return StatusCode::NOT_FOUND.into_response() };
    // Cards are fetched anonymously (crawlers, image previews): by address.
    let image = (&voice, tweet, lang_from_headers(headers));
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
