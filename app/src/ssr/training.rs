//! From pasted text to a stored model, and from a model to a tweet.

use std::sync::Arc;

use tweetgen_markov::{clean, CleanOptions, GenerateOptions, Model, Tokenizer, DEFAULT_ORDER, MAX_LINE_BYTES};

use crate::api::{is_valid_screen_name, MAX_PASTE_BYTES, MAX_PASTE_LINES};
use crate::error::AppError;

/// A model ready to store.
pub struct TrainedModel {
    pub bytes: Vec<u8>,
    pub sentences: i32,
}

/// Validates the paste and trains on a blocking thread (training is CPU work).
pub async fn train_from_paste(
    tokenizer: Arc<Tokenizer>,
    screen_name: &str,
    text: String,
) -> Result<TrainedModel, AppError> {
    if !is_valid_screen_name(screen_name) {
        return Err(AppError::InvalidScreenName);
    }
    if text.len() > MAX_PASTE_BYTES || text.lines().count() > MAX_PASTE_LINES {
        return Err(AppError::TooMuchText { max_lines: MAX_PASTE_LINES, max_kib: MAX_PASTE_BYTES / 1024 });
    }
    if text.trim().is_empty() {
        return Err(AppError::NoTweets);
    }
    tokio::task::spawn_blocking(move || train_from_text(&tokenizer, &text)).await.map_err(|error| {
        tracing::error!(%error, "training task failed");
        AppError::Internal
    })?
}

/// Trains on text with one tweet per line, cleaned like the old service did
/// (retweets, replies, links and mentions dropped). Also seeds the demo users.
pub fn train_from_text(tokenizer: &Tokenizer, text: &str) -> Result<TrainedModel, AppError> {
    let tweets: Vec<&str> = text.lines().collect();
    let sentences = clean(&tweets, &CleanOptions::default()).map_err(engine_error)?;
    let model = Model::train(tokenizer, &sentences, DEFAULT_ORDER).map_err(engine_error)?;
    Ok(TrainedModel { bytes: model.encode(), sentences: model.sentence_count() as i32 })
}

pub fn decode(model_bytes: &[u8]) -> Result<Model, AppError> {
    Model::decode(model_bytes).map_err(engine_error)
}

/// Draws one tweet, new if possible: someone who taught only a handful of tweets
/// gets one of them back rather than an error.
pub fn generate(model: &Model) -> Result<String, AppError> {
    let novel = GenerateOptions::default();
    let mut rng = rand::rng();
    match model.generate(&novel, &mut rng) {
        Err(tweetgen_markov::Error::GenerationFailed(_)) => {
            model.generate(&GenerateOptions { test_output: false, ..novel }, &mut rng).map_err(engine_error)
        }
        result => result.map_err(engine_error),
    }
}

fn engine_error(error: tweetgen_markov::Error) -> AppError {
    use tweetgen_markov::Error;
    match error {
        Error::EmptyCorpus => AppError::NothingLearnable,
        Error::LineTooLong { line, .. } => AppError::LineTooLong { line, max_kib: MAX_LINE_BYTES / 1024 },
        Error::GenerationFailed(_) => AppError::GenerationFailed,
        other => {
            tracing::error!(error = %other, "engine error");
            AppError::Internal
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_of_only_noise_is_not_learnable() {
        let result = train_from_text(&Tokenizer::fallback(), "RT @a: x\n@b hi\nhttps://t.co/y\n");
        assert!(matches!(result, Err(AppError::NothingLearnable)));
    }

    #[test]
    fn a_tiny_corpus_still_generates() {
        let model = train_from_text(&Tokenizer::fallback(), "only one tweet here").unwrap();
        assert_eq!(generate(&decode(&model.bytes).unwrap()).unwrap(), "only one tweet here");
    }

    #[test]
    fn an_overlong_line_is_named() {
        let text = format!("fine\n{}", "a".repeat(MAX_LINE_BYTES + 1));
        assert!(matches!(train_from_text(&Tokenizer::fallback(), &text), Err(AppError::LineTooLong { line: 2, .. })));
    }
}
