//! The card image (OGP / X card) of a voice's page (a user's or a mix's) or of
//! a generated tweet: rendered on first request, then served from memory while
//! the models' versions stand.
//!
//! Invariant: one render per image and model version at a time on an instance;
//! requests for an image being rendered wait for that render (a crawler and a
//! hundred visitors of a new post cost one PNG).

use std::sync::Arc;

use rand::{rngs::StdRng, SeedableRng};
use tweetgen_markov::GenerateOptions;

use super::cache::{SingleFlight, VersionedCache};
use super::card::{render_png, Card, CardFonts};
use super::rate_limits::{Action, Client};
use super::store::{self, StoredVoices};
use super::{voices, AppState};
use crate::error::AppError;
use crate::i18n::Lang;
use crate::shared::Voice;

/// What a card image depends on (besides the models' versions).
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct CardKey {
    /// The user's id, or `m` and the mix's `members_key`.
    voice: String,
    /// A generated tweet's card; `None`: the user page's.
    tweet: Option<i64>,
    lang: Lang,
}

/// A rendered card image.
pub type Png = Arc<Vec<u8>>;

/// The fonts, the rendered images and the renders under way.
pub struct Cards {
    fonts: Arc<CardFonts>,
    images: VersionedCache<CardKey, Png>,
    rendering: SingleFlight<(CardKey, i64), Result<Png, AppError>>,
    /// PNGs rendered by this instance (for monitoring, and the tests).
    rendered: std::sync::atomic::AtomicU64,
}

impl Cards {
    pub fn new(fonts: CardFonts, cache_max_bytes: usize) -> Self {
        Self {
            fonts: Arc::new(fonts),
            images: VersionedCache::new(cache_max_bytes),
            rendering: SingleFlight::new(),
            rendered: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// How many PNGs this instance has rendered.
    pub fn rendered(&self) -> u64 {
        self.rendered.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl std::fmt::Debug for Cards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cards").field("images", &self.images).finish_non_exhaustive()
    }
}

/// A PNG and the validator a browser or crawler can send back (`If-None-Match`).
pub struct CardImage {
    pub etag: String,
    pub png: Png,
}

/// The card of a voice's page, or of one tweet generated from it. Checked
/// against the database on every request, like the models: a deleted user or a
/// retrained model never gets a stale image. An image not in the cache counts
/// against `client`'s rate of renders.
pub async fn card_image(
    state: &AppState,
    cards: &Cards,
    (voice, tweet, lang): (&Voice, Option<i64>, Lang),
    client: Client,
) -> Result<CardImage, AppError> {
    let (voice, stored) = voices::resolve(state, voice).await?;
    let (voice_key, version) = match &stored {
        StoredVoices::One(model) => (model.user_id.to_string(), model.version),
        StoredVoices::Mix(members) => {
            (format!("m{}", store::members_key(members)), members.iter().map(|(model, _)| model.version).sum())
        }
    };
    let etag = format!("\"{voice_key}-{version}-{}-{}\"", tweet.unwrap_or(0), lang.code());
    let key = CardKey { voice: voice_key, tweet, lang };
    if let Some(png) = cards.images.get(&key, version) {
        return Ok(CardImage { etag, png });
    }
    state.rate_limits.check(Action::RenderCard, client)?;
    let png = cards
        .rendering
        .run((key.clone(), version), || render_card(state, cards, (&voice, &stored, version), key))
        .await;
    Ok(CardImage { etag, png: png? })
}

/// Renders a card and puts it in the cache.
async fn render_card(
    state: &AppState,
    cards: &Cards,
    (voice, stored, version): (&Voice, &StoredVoices, i64),
    key: CardKey,
) -> Result<Png, AppError> {
    let (tweet, lang) = (key.tweet, key.lang);
    let texts = lang.texts();
    // A protected account's words stay off images that anyone can fetch.
    let text = if voices::any_protected(stored) {
        texts.protected_notice.to_string()
    } else if let Some(id) = tweet {
        store::generation(&state.reads(), stored, id).await?.ok_or(AppError::UnknownGeneration)?
    } else {
        sample_tweet(state, stored, version).await?.unwrap_or_else(|| texts.tagline.to_string())
    };
    let fonts = cards.fonts.clone();
    let label = voice.label();
    let png = tokio::task::spawn_blocking(move || {
        render_png(&fonts, &Card { voice: &label, text: &text, tagline: texts.card_tagline })
    })
    .await
    .map_err(|error| {
        tracing::error!(%error, "card rendering task failed");
        AppError::Internal
    })?
    .map_err(|error| {
        tracing::error!(%error, "rendering a card");
        AppError::Internal
    })?;
    let png = Arc::new(png);
    cards.rendered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    cards.images.insert(key, version, png.clone(), png.len());
    Ok(png)
}

/// One tweet in the voice, the same for given model versions (so the image does
/// not change between a crawler's visits).
async fn sample_tweet(state: &AppState, stored: &StoredVoices, version: i64) -> Result<Option<String>, AppError> {
    let speaker = voices::speaker(state, stored).await?;
    let mut rng = StdRng::seed_from_u64(version as u64);
    Ok(speaker.generate(&GenerateOptions::default(), &mut rng).ok())
}
