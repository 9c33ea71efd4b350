//! The server functions: the app's whole API. Each runs on the server; the client
//! calls it over HTTP, and a plain HTML form can post to it without JavaScript.
//! After such a post, leptos_axum sends the browser back to the form's page with
//! any error in the URL (`__err`), where the form's `ServerAction` shows it.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// A user with a trained model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub screen_name: String,
    pub sentences: i32,
    /// "YYYY-MM-DD HH:MM UTC"
    pub trained_at: String,
}

/// A generated tweet, kept so that it has a permalink.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generated {
    pub id: i64,
    pub screen_name: String,
    pub text: String,
}

/// The generator's length option, in characters: a tweet is at most 280.
pub const MAX_CHARS_RANGE: std::ops::RangeInclusive<usize> = 10..=280;
pub const DEFAULT_MAX_CHARS: usize = 140;

pub const MAX_PASTE_LINES: usize = 20_000;
pub const MAX_PASTE_BYTES: usize = 2 * 1024 * 1024;

/// X's rule: 1 to 15 ASCII letters, digits and underscores.
pub fn is_valid_screen_name(name: &str) -> bool {
    (1..=15).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[server(endpoint = "list_trained_users")]
pub async fn list_trained_users() -> Result<Vec<Profile>, AppError> {
    use crate::ssr::{store, with_status, AppState};
    with_status(async move {
        let state = AppState::from_context()?;
        store::trained_users(&state.pool, 50).await
    })
    .await
}

#[server(endpoint = "get_profile")]
pub async fn get_profile(screen_name: String) -> Result<Option<Profile>, AppError> {
    use crate::ssr::{store, with_status, AppState};
    with_status(async move {
        if !is_valid_screen_name(&screen_name) {
            return Ok(None);
        }
        let state = AppState::from_context()?;
        store::profile(&state.pool, &screen_name).await
    })
    .await
}

/// Learns from pasted tweets, one per line, replacing the user's previous model.
#[server(endpoint = "train_model")]
pub async fn train_model(screen_name: String, tweets: String) -> Result<(), AppError> {
    use crate::ssr::{store, training, with_status, AppState};
    with_status(async move {
        let state = AppState::from_context()?;
        let trained = training::train_from_paste(state.tokenizer.clone(), &screen_name, tweets).await?;
        store::save_model(&state.pool, &screen_name, &trained).await?;
        leptos_axum::redirect(&format!("/@{screen_name}"));
        Ok(())
    })
    .await
}

/// Writes a new tweet in the user's voice and records it. `max_chars` (empty:
/// 140) and `start` (words the tweet begins with; empty: any) are optional.
#[server(endpoint = "generate_tweet")]
pub async fn generate_tweet(
    screen_name: String,
    #[server(default)] max_chars: String,
    #[server(default)] start: String,
) -> Result<Generated, AppError> {
    use crate::ssr::{is_plain_form_post, store, training, with_status, AppState};
    with_status(async move {
        let state = AppState::from_context()?;
        let options = training::options(&state.tokenizer, &max_chars, &start)?;
        let stored = store::model_version(&state.pool, &screen_name)
            .await?
            .ok_or_else(|| AppError::UnknownUser(screen_name.clone()))?;
        let model = training::cached_model(&state, &stored).await?;
        let text = training::generate(&model, options)?;
        let (user_id, screen_name) = (stored.user_id, stored.screen_name);
        let id = store::record_generation(&state.pool, user_id, &text).await?;
        // Without JavaScript the result reaches the page as a permalink.
        if is_plain_form_post() {
            leptos_axum::redirect(&format!("/@{screen_name}?tweet={id}"));
        }
        Ok(Generated { id, screen_name, text })
    })
    .await
}

#[server(endpoint = "get_generation")]
pub async fn get_generation(screen_name: String, id: i64) -> Result<Generated, AppError> {
    use crate::ssr::{store, with_status, AppState};
    with_status(async move {
        let state = AppState::from_context()?;
        store::generation(&state.pool, &screen_name, id).await?.ok_or(AppError::UnknownGeneration)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::is_valid_screen_name;

    #[test]
    fn screen_names_follow_x_rules() {
        for ok in ["a", "tweetgen_ja", "ABC123_", "fifteen_chars_x"] {
            assert!(is_valid_screen_name(ok), "{ok}");
        }
        for bad in ["", "sixteen_chars_xx", "has space", "日本語", "a-b", "@name"] {
            assert!(!is_valid_screen_name(bad), "{bad}");
        }
    }
}
