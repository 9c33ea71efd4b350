//! From pasted text to a stored model, and from a model to a tweet.

use tweetgen_markov::{GenerateOptions, Model, DEFAULT_ORDER};

use crate::api::{is_valid_screen_name, MAX_PASTE_BYTES, MAX_PASTE_LINES};
use crate::error::AppError;

/// A model ready to store.
pub struct TrainedModel {
    pub bytes: Vec<u8>,
    pub sentences: i32,
}

/// Validates the paste and trains on a blocking thread (training is CPU work).
pub async fn train_from_paste(screen_name: &str, text: String) -> Result<TrainedModel, AppError> {
    if !is_valid_screen_name(screen_name) {
        return Err(AppError::InvalidScreenName);
    }
    if text.len() > MAX_PASTE_BYTES || text.lines().count() > MAX_PASTE_LINES {
        return Err(AppError::TooMuchText { max_lines: MAX_PASTE_LINES, max_kib: MAX_PASTE_BYTES / 1024 });
    }
    if text.trim().is_empty() {
        return Err(AppError::NoTweets);
    }
    tokio::task::spawn_blocking(move || train_from_text(&text)).await.map_err(|error| {
        tracing::error!(%error, "training task failed");
        AppError::Internal
    })?
}

/// Trains on text with one tweet per line. Also used to seed the demo users.
pub fn train_from_text(text: &str) -> Result<TrainedModel, AppError> {
    let sentences: Vec<String> = text.lines().filter_map(clean_line).collect();
    let model = Model::train(&sentences, DEFAULT_ORDER).map_err(|_| AppError::NothingLearnable)?;
    Ok(TrainedModel { bytes: model.encode(), sentences: model.sentence_count() as i32 })
}

/// The old service's basic cleaning: retweets are not the user's voice, and links
/// and mentions are noise in generated text.
fn clean_line(line: &str) -> Option<String> {
    let line = line.trim();
    if line.starts_with("RT @") {
        return None;
    }
    let kept: Vec<&str> = line
        .split_whitespace()
        .filter(|word| !word.starts_with("http://") && !word.starts_with("https://") && !word.starts_with('@'))
        .collect();
    (!kept.is_empty()).then(|| kept.join(" "))
}

/// Decodes a stored model and draws one tweet.
pub fn generate(model_bytes: &[u8]) -> Result<String, AppError> {
    let model = Model::decode(model_bytes).map_err(|error| {
        tracing::error!(%error, "stored model does not decode");
        AppError::Internal
    })?;
    model.generate(&mut rand::rng(), &GenerateOptions::default()).map_err(|_| AppError::GenerationFailed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleaning_drops_retweets_links_and_mentions() {
        assert_eq!(clean_line("RT @someone: hello"), None);
        assert_eq!(clean_line("@friend おはよう https://t.co/x"), Some("おはよう".into()));
        assert_eq!(clean_line("   "), None);
        assert_eq!(clean_line("good  morning"), Some("good morning".into()));
    }

    #[test]
    fn text_of_only_noise_is_not_learnable() {
        assert!(matches!(train_from_text("RT @a: x\nhttps://t.co/y\n"), Err(AppError::NothingLearnable)));
    }
}
