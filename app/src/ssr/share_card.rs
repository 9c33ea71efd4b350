//! The card image (OGP / X card) of a user page or a generated tweet: rendered
//! on first request, then served from memory while the model's version stands.

use std::sync::Arc;

use rand::{rngs::StdRng, SeedableRng};
use tweetgen_markov::GenerateOptions;

use super::cache::VersionedCache;
use super::card::{render_png, Card, CardFonts};
use super::{store, training, AppState};
use crate::error::AppError;
use crate::i18n::Lang;

/// What a card image depends on (besides the model's version).
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct CardKey {
    user_id: i64,
    /// A generated tweet's card; `None`: the user page's.
    tweet: Option<i64>,
    lang: Lang,
}

/// The fonts and the rendered images.
pub struct Cards {
    fonts: Arc<CardFonts>,
    images: VersionedCache<CardKey, Arc<Vec<u8>>>,
}

impl Cards {
    pub fn new(fonts: CardFonts, cache_max_bytes: usize) -> Self {
        Self { fonts: Arc::new(fonts), images: VersionedCache::new(cache_max_bytes) }
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
    pub png: Arc<Vec<u8>>,
}

/// The card of `screen_name`'s page, or of one tweet generated from their model.
/// Checked against the database on every request, like the models: a deleted
/// user or a retrained model never gets a stale image.
pub async fn card_image(
    state: &AppState,
    cards: &Cards,
    screen_name: &str,
    tweet: Option<i64>,
    lang: Lang,
) -> Result<CardImage, AppError> {
    let stored = store::model_version(&state.reads(), screen_name)
        .await?
        .ok_or_else(|| AppError::UnknownUser(screen_name.to_string()))?;
    let key = CardKey { user_id: stored.user_id, tweet, lang };
    let etag = format!("\"{}-{}-{}-{}\"", stored.user_id, stored.version, tweet.unwrap_or(0), lang.code());
    if let Some(png) = cards.images.get(&key, stored.version) {
        return Ok(CardImage { etag, png });
    }
    let texts = lang.texts();
    // A protected account's words stay off images that anyone can fetch.
    let text = if stored.protected {
        texts.protected_notice.to_string()
    } else if let Some(id) = tweet {
        let generated = store::generation(&state.reads(), &stored.screen_name, id).await?;
        generated.ok_or(AppError::UnknownGeneration)?.text
    } else {
        sample_tweet(state, &stored).await?.unwrap_or_else(|| texts.tagline.to_string())
    };
    let fonts = cards.fonts.clone();
    let screen_name = stored.screen_name.clone();
    let png = tokio::task::spawn_blocking(move || {
        render_png(&fonts, &Card { screen_name: &screen_name, text: &text, tagline: texts.card_tagline })
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
    cards.images.insert(key, stored.version, png.clone(), png.len());
    Ok(CardImage { etag, png })
}

/// One tweet in the user's voice, the same for a given model version (so the
/// image does not change between a crawler's visits).
async fn sample_tweet(state: &AppState, stored: &store::StoredModel) -> Result<Option<String>, AppError> {
    let model = training::cached_model(state, stored).await?;
    let mut rng = StdRng::seed_from_u64(stored.version as u64);
    Ok(model.generate(&GenerateOptions::default(), &mut rng).ok())
}
