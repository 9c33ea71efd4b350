//! From pasted text to a stored model, and from a model to a tweet.

use std::sync::Arc;

use tweetgen_markov::{
    clean, CleanOptions, GenerateOptions, Model, StartWords, Tokenizer, DEFAULT_ORDER, MAX_LINE_BYTES,
};

use super::archive::{self, ArchiveError, ArchiveLimits};
use super::store::StoredModel;
use super::voices::Speaker;
use super::AppState;
use crate::error::AppError;
use crate::shared::{DEFAULT_MAX_CHARS, MAX_CHARS_RANGE, MAX_PASTE_BYTES, MAX_PASTE_LINES, MAX_START_CHARS};

/// A model ready to store.
pub struct TrainedModel {
    pub bytes: Vec<u8>,
    pub sentences: i32,
}

/// Validates the paste and trains on a blocking thread (training is CPU work).
pub async fn train_from_paste(tokenizer: Arc<Tokenizer>, text: String) -> Result<TrainedModel, AppError> {
    if text.len() > MAX_PASTE_BYTES || text.lines().count() > MAX_PASTE_LINES {
        return Err(AppError::TooMuchText { max_lines: MAX_PASTE_LINES, max_kib: MAX_PASTE_BYTES / 1024 });
    }
    if text.trim().is_empty() {
        return Err(AppError::NoTweets);
    }
    on_blocking_pool("training", move || train_from_text(&tokenizer, &text)).await
}

/// Trains on text with one tweet per line, cleaned like the old service did
/// (retweets, replies, links and mentions dropped). Also seeds the demo users.
pub fn train_from_text(tokenizer: &Tokenizer, text: &str) -> Result<TrainedModel, AppError> {
    train_from_lines(tokenizer, &text.lines().collect::<Vec<_>>())
}

/// Trains on lines of tweets (each borrowed where it is: nothing is joined).
fn train_from_lines(tokenizer: &Tokenizer, tweets: &[&str]) -> Result<TrainedModel, AppError> {
    let sentences = clean(tweets, &CleanOptions::default()).map_err(engine_error)?;
    let model = Model::train(tokenizer, &sentences, DEFAULT_ORDER).map_err(engine_error)?;
    Ok(TrainedModel { bytes: model.encode(), sentences: model.sentence_count() as i32 })
}

/// A file from an upload form.
pub struct Upload {
    /// As the browser names it (for messages about it).
    pub file_name: String,
    pub bytes: Vec<u8>,
}

/// The uploaded file in the multipart form field `field`, refused past
/// `max_bytes` while streaming (the server's body limit lets the whole form in).
pub async fn uploaded_file(
    data: leptos::server_fn::codec::MultipartData,
    field: &str,
    max_bytes: usize,
) -> Result<Upload, AppError> {
    fn broken(error: impl std::fmt::Display) -> AppError {
        AppError::Request(format!("the upload was cut off or malformed: {error}"))
    }
    let mut form = data.into_inner().ok_or(AppError::Internal)?;
    while let Some(mut part) = form.next_field().await.map_err(broken)? {
        if part.name() != Some(field) {
            continue;
        }
        let file_name = part.file_name().unwrap_or(archive::PLAIN_UPLOAD_NAME).to_string();
        let mut bytes = Vec::new();
        while let Some(chunk) = part.chunk().await.map_err(broken)? {
            if bytes.len() + chunk.len() > max_bytes {
                return Err(AppError::UploadTooLarge { max_mb: max_bytes >> 20 });
            }
            bytes.extend_from_slice(&chunk);
        }
        if bytes.is_empty() {
            return Err(AppError::NoUpload);
        }
        return Ok(Upload { file_name, bytes });
    }
    Err(AppError::NoUpload)
}

/// Reads the archive and trains on the person's own tweets on a blocking thread
/// (see [`learn_from_archive`]).
pub async fn train_from_archive(
    tokenizer: Arc<Tokenizer>,
    upload: Upload,
    limits: ArchiveLimits,
) -> Result<(TrainedModel, usize, bool), AppError> {
    on_blocking_pool("training", move || learn_from_archive(&tokenizer, &upload, &limits)).await
}

/// Reads the archive and trains on the person's own tweets (retweets and replies
/// skipped, as the old service did). Returns the model, how many tweets the
/// archive had, and whether there were more than the limits. Holds the upload,
/// the kept tweets' text (at most `limits.max_text_bytes`) and what the trainer
/// builds from it: the test below measures it.
pub fn learn_from_archive(
    tokenizer: &Tokenizer,
    upload: &Upload,
    limits: &ArchiveLimits,
) -> Result<(TrainedModel, usize, bool), AppError> {
    let archive = archive::read_upload(&upload.bytes, limits).map_err(|error| {
        // A tweets.js uploaded on its own is named as the person named it.
        let named = |file: String| if file == archive::PLAIN_UPLOAD_NAME { upload.file_name.clone() } else { file };
        archive_error(error, named)
    })?;
    // A tweet of several lines is several lines to the trainer, as in a paste. A
    // long post's paragraph can pass the engine's line limit (25,000 characters
    // without a break): left out, rather than failing the whole archive.
    let own: Vec<&str> = archive
        .tweets
        .iter()
        .filter(|tweet| !tweet.retweet && !tweet.reply)
        .flat_map(|tweet| tweet.text.lines())
        .filter(|line| line.len() <= MAX_LINE_BYTES)
        .collect();
    let trained = train_from_lines(tokenizer, &own)?;
    Ok((trained, archive.tweets.len(), archive.truncated))
}

fn archive_error(error: ArchiveError, named: impl Fn(String) -> String) -> AppError {
    let mb = |bytes: u64| bytes >> 20;
    match error {
        ArchiveError::UploadTooLarge { limit, .. } => AppError::UploadTooLarge { max_mb: limit >> 20 },
        ArchiveError::NoTweetsFile { .. } => AppError::NoTweetsFile,
        ArchiveError::UnpackedTooLarge { limit, .. } => AppError::UnpackedTooLarge { max_mb: mb(limit) },
        ArchiveError::StringTooLong { file, line, limit } => {
            AppError::ArchiveTextTooLong { file: named(file), line, max_kib: limit / 1024 }
        }
        ArchiveError::InvalidUtf8 { file, line, column } => {
            AppError::ArchiveInvalidUtf8 { file: named(file), line, column }
        }
        ArchiveError::NotTweetsFile { file, .. } => AppError::NotTweetsFile { file: named(file) },
        ArchiveError::InvalidJson { file, line, column, .. }
        | ArchiveError::UnexpectedShape { file, line, column, .. } => {
            AppError::ArchiveBrokenJson { file: named(file), line, column }
        }
        ArchiveError::NoTweets => AppError::ArchiveEmpty,
        damaged => AppError::BadZip { detail: damaged.to_string() },
    }
}

pub fn decode(model_bytes: &[u8]) -> Result<Model, AppError> {
    Model::decode(model_bytes).map_err(engine_error)
}

/// The user's model from this server's cache if it is the stored version, else
/// read and decoded (off the async workers: large models take milliseconds).
pub async fn cached_model(state: &AppState, stored: &StoredModel) -> Result<Arc<Model>, AppError> {
    if let Some(model) = state.models.get(&stored.user_id, stored.version) {
        return Ok(model);
    }
    let unknown = || AppError::UnknownUser(stored.screen_name.clone());
    let (version, bytes) = super::store::model_data(&state.reads(), stored.user_id).await?.ok_or_else(unknown)?;
    let model = on_blocking_pool("decoding", move || decode(&bytes)).await?;
    let model = Arc::new(model);
    state.models.insert_model(stored.user_id, version, model.clone());
    Ok(model)
}

/// The generator's options from the form's text fields (empty: the default).
pub fn options(tokenizer: &Tokenizer, max_chars: &str, start: &str) -> Result<GenerateOptions, AppError> {
    let max_chars = match max_chars.trim() {
        "" => DEFAULT_MAX_CHARS,
        text => text
            .parse()
            .ok()
            .filter(|n| MAX_CHARS_RANGE.contains(n))
            .ok_or(AppError::InvalidMaxChars { min: *MAX_CHARS_RANGE.start(), max: *MAX_CHARS_RANGE.end() })?,
    };
    // Start words may come from anywhere in a learned tweet, not only its beginning.
    let start = match start.trim() {
        "" => None,
        words if words.chars().count() > MAX_START_CHARS => {
            return Err(AppError::StartTooLong { max: MAX_START_CHARS })
        }
        words => Some(StartWords::new(tokenizer, words, false).map_err(engine_error)?),
    };
    Ok(GenerateOptions { max_chars: Some(max_chars), start, ..GenerateOptions::default() })
}

/// Draws one tweet on the blocking pool: a start-word scan over a large model
/// must not hold up an async worker (and every request waiting on it).
pub async fn generate(speaker: Speaker, novel: GenerateOptions) -> Result<String, AppError> {
    on_blocking_pool("generation", move || draw(&speaker, novel)).await
}

/// Runs CPU work on the blocking pool, off the async workers; a task that
/// panicked is an internal error, logged as `what` failed.
pub(super) async fn on_blocking_pool<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    tokio::task::spawn_blocking(work).await.map_err(|error| {
        tracing::error!(%error, "{what} task failed");
        AppError::Internal
    })?
}

/// One tweet, new if possible: someone who taught only a handful of tweets gets
/// one of them back rather than an error.
fn draw(speaker: &Speaker, novel: GenerateOptions) -> Result<String, AppError> {
    let mut rng = rand::rng();
    match speaker.generate(&novel, &mut rng) {
        Err(tweetgen_markov::Error::GenerationFailed(_)) => {
            speaker.generate(&GenerateOptions { test_output: false, ..novel }, &mut rng).map_err(engine_error)
        }
        result => result.map_err(engine_error),
    }
}

pub(super) fn engine_error(error: tweetgen_markov::Error) -> AppError {
    use tweetgen_markov::Error;
    match error {
        Error::EmptyCorpus => AppError::NothingLearnable,
        Error::LineTooLong { line, .. } => AppError::LineTooLong { line, max_kib: MAX_LINE_BYTES / 1024 },
        Error::GenerationFailed(_) => AppError::GenerationFailed,
        Error::UnknownStartWords(words) => AppError::UnknownStartWords(words),
        Error::ImpossibleConstraints(why) => AppError::ImpossibleOptions(why.to_string()),
        other => {
            tracing::error!(error = %other, "engine error");
            AppError::Internal
        }
    }
}

/// Counts the test process's heap, to measure what a training holds.
#[cfg(test)]
mod heap {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

    static CURRENT: AtomicUsize = AtomicUsize::new(0);
    static PEAK: AtomicUsize = AtomicUsize::new(0);

    struct Counting;

    // SAFETY: every call is passed to the system allocator unchanged; only counted.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            grew(layout.size());
            unsafe { System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            grew(layout.size());
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            CURRENT.fetch_sub(layout.size(), Relaxed);
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            if new_size > layout.size() {
                grew(new_size - layout.size());
            } else {
                CURRENT.fetch_sub(layout.size() - new_size, Relaxed);
            }
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    fn grew(by: usize) {
        let now = CURRENT.fetch_add(by, Relaxed) + by;
        PEAK.fetch_max(now, Relaxed);
    }

    #[global_allocator]
    static COUNTING: Counting = Counting;

    /// Starts a new peak from now; returns the heap in use now.
    pub fn reset_peak() -> usize {
        let now = CURRENT.load(Relaxed);
        PEAK.store(now, Relaxed);
        now
    }

    pub fn peak() -> usize {
        PEAK.load(Relaxed)
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
        let options = GenerateOptions::default();
        assert_eq!(
            draw(&Speaker::One(Arc::new(decode(&model.bytes).unwrap())), options).unwrap(),
            "only one tweet here"
        );
    }

    #[test]
    fn options_come_from_the_form_fields() {
        let tokenizer = Tokenizer::fallback();
        let defaults = options(&tokenizer, "", " ").unwrap();
        assert_eq!((defaults.max_chars, defaults.start), (Some(DEFAULT_MAX_CHARS), None));
        assert_eq!(options(&tokenizer, " 30 ", "").unwrap().max_chars, Some(30));
        assert!(options(&tokenizer, "", "今日は").unwrap().start.is_some());
        for bad in ["9", "281", "ten", "-5"] {
            assert!(matches!(options(&tokenizer, bad, ""), Err(AppError::InvalidMaxChars { .. })), "{bad}");
        }
        let longest = "猫".repeat(MAX_START_CHARS);
        assert!(!matches!(options(&tokenizer, "", &longest), Err(AppError::StartTooLong { .. })));
        let over = format!("{longest}猫");
        assert_eq!(options(&tokenizer, "", &over).unwrap_err(), AppError::StartTooLong { max: MAX_START_CHARS });
    }

    /// The heap a training of an upload holds at its peak, beyond the upload
    /// itself, for `text_bytes` of tweets with a vocabulary as varied as text
    /// gets (every word drawn from 100,000): the worst case for the model's size.
    fn training_peak(text_bytes: usize) -> (usize, usize) {
        let mut seed = 1u64;
        let mut word = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            format!("w{}", (seed >> 33) % 100_000)
        };
        let mut tweets = Vec::new();
        let mut total = 0;
        while total < text_bytes {
            let text = (0..20).map(|_| word()).collect::<Vec<_>>().join(" ") + ".";
            total += text.len();
            tweets.push(serde_json::json!({ "tweet": { "id_str": tweets.len().to_string(), "full_text": text } }));
        }
        let upload = Upload {
            file_name: "tweets.js".into(),
            bytes: format!("window.YTD.tweets.part0 = {}", serde_json::Value::Array(tweets)).into_bytes(),
        };
        let limits = ArchiveLimits { max_text_bytes: text_bytes, max_upload_bytes: usize::MAX, ..Default::default() };
        let tokenizer = Tokenizer::fallback();
        let before = heap::reset_peak();
        let (trained, ..) = learn_from_archive(&tokenizer, &upload, &limits).unwrap();
        let peak = heap::peak() - before;
        (peak, trained.bytes.len())
    }

    #[test]
    fn a_training_holds_a_bounded_multiple_of_its_text() {
        // Measured at 0.5, 2 and 4 MiB: 24.5 times the text, linear (27.4 before
        // training tokenized in batches). Of it, the decoded model is about 11
        // times the text and the index build's scratch the rest. The bound
        // `learning.max_text_bytes` sets from this is worked out in
        // deploy/README.md.
        let text = 2 << 20;
        let (peak, model) = training_peak(text);
        let times = peak as f64 / text as f64;
        eprintln!(
            "{} KiB of text: peak {} KiB beyond the upload ({times:.1}x), model {} KiB",
            text >> 10,
            peak >> 10,
            model >> 10
        );
        assert!(peak < 26 * text, "a training of {text} bytes of text held {peak} bytes at its peak ({times:.1}x)");
    }

    #[test]
    fn an_overlong_line_is_named() {
        let text = format!("fine\n{}", "a".repeat(MAX_LINE_BYTES + 1));
        assert!(matches!(train_from_text(&Tokenizer::fallback(), &text), Err(AppError::LineTooLong { line: 2, .. })));
    }
}
