//! The card image (OGP / X card) of a user page or a generated tweet: rendered
//! on first request, then served from memory while the model's version stands.
//!
//! Invariant: one render per image and model version at a time on an instance;
//! requests for an image being rendered wait for that render (a crawler and a
//! hundred visitors of a new post cost one PNG).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use rand::{rngs::StdRng, SeedableRng};
use tweetgen_markov::GenerateOptions;

use super::cache::VersionedCache;
use super::card::{render_png, Card, CardFonts};
use super::rate_limits::{Action, Client};
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

/// The fonts, the rendered images and the renders under way.
pub struct Cards {
    fonts: Arc<CardFonts>,
    images: VersionedCache<CardKey, Arc<Vec<u8>>>,
    rendering: Mutex<HashMap<(CardKey, i64), Arc<Render>>>,
    /// PNGs rendered by this instance (for monitoring, and the tests).
    rendered: std::sync::atomic::AtomicU64,
}

/// One render, shared by the requests that wait for it.
type Render = OnceCell<Result<Arc<Vec<u8>>, AppError>>;

impl Cards {
    pub fn new(fonts: CardFonts, cache_max_bytes: usize) -> Self {
        Self {
            fonts: Arc::new(fonts),
            images: VersionedCache::new(cache_max_bytes),
            rendering: Mutex::new(HashMap::new()),
            rendered: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// How many PNGs this instance has rendered.
    pub fn rendered(&self) -> u64 {
        self.rendered.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The render of `key` at `version`: under way, or new.
    fn render(&self, key: &CardKey, version: i64) -> Arc<Render> {
        let mut rendering = self.rendering.lock().expect("card renders lock");
        rendering.entry((key.clone(), version)).or_default().clone()
    }

    /// Forgets a render that has finished (its image is in the cache, or it failed).
    fn finished(&self, key: CardKey, version: i64, render: &Arc<Render>) {
        let mut rendering = self.rendering.lock().expect("card renders lock");
        if rendering.get(&(key.clone(), version)).is_some_and(|current| Arc::ptr_eq(current, render)) {
            rendering.remove(&(key, version));
        }
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
/// user or a retrained model never gets a stale image. An image not in the
/// cache counts against `client`'s rate of renders.
pub async fn card_image(
    state: &AppState,
    cards: &Cards,
    (screen_name, tweet, lang): (&str, Option<i64>, Lang),
    client: Client,
) -> Result<CardImage, AppError> {
    let stored = store::model_version(&state.reads(), screen_name)
        .await?
        .ok_or_else(|| AppError::UnknownUser(screen_name.to_string()))?;
    let key = CardKey { user_id: stored.user_id, tweet, lang };
    let etag = format!("\"{}-{}-{}-{}\"", stored.user_id, stored.version, tweet.unwrap_or(0), lang.code());
    if let Some(png) = cards.images.get(&key, stored.version) {
        return Ok(CardImage { etag, png });
    }
    state.rate_limits.check(Action::RenderCard, client)?;
    let render = cards.render(&key, stored.version);
    let png = render.get_or_init(|| render_card(state, cards, &stored, key.clone())).await.clone();
    cards.finished(key, stored.version, &render);
    Ok(CardImage { etag, png: png? })
}

/// Renders a card and puts it in the cache.
async fn render_card(
    state: &AppState,
    cards: &Cards,
    stored: &store::StoredModel,
    key: CardKey,
) -> Result<Arc<Vec<u8>>, AppError> {
    let (tweet, lang) = (key.tweet, key.lang);
    let texts = lang.texts();
    // A protected account's words stay off images that anyone can fetch.
    let text = if stored.protected {
        texts.protected_notice.to_string()
    } else if let Some(id) = tweet {
        let generated = store::generation(&state.reads(), &stored.screen_name, id).await?;
        generated.ok_or(AppError::UnknownGeneration)?.text
    } else {
        sample_tweet(state, stored).await?.unwrap_or_else(|| texts.tagline.to_string())
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
    cards.rendered.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    cards.images.insert(key, stored.version, png.clone(), png.len());
    Ok(png)
}

/// One tweet in the user's voice, the same for a given model version (so the
/// image does not change between a crawler's visits).
async fn sample_tweet(state: &AppState, stored: &store::StoredModel) -> Result<Option<String>, AppError> {
    let model = training::cached_model(state, stored).await?;
    let mut rng = StdRng::seed_from_u64(stored.version as u64);
    Ok(model.generate(&GenerateOptions::default(), &mut rng).ok())
}
