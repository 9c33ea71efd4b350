//! The errors a visitor can see. Messages are written for people, not logs.

use leptos::server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum AppError {
    #[error("A screen name is 1 to 15 letters, digits or underscores.")]
    InvalidScreenName,
    #[error("Paste at least one tweet (one per line).")]
    NoTweets,
    #[error("That is too much text to paste: at most {max_lines} lines and {max_kib} KiB.")]
    TooMuchText { max_lines: usize, max_kib: usize },
    #[error("Line {line} is too long: a tweet is at most {max_kib} KiB.")]
    LineTooLong { line: usize, max_kib: usize },
    #[error("No tweets were left to learn from after cleaning (retweets, replies, mentions and links are skipped).")]
    NothingLearnable,
    #[error("@{0} has not taught tweetgen anything yet.")]
    UnknownUser(String),
    #[error("Could not write a tweet this time. Try again, or teach more tweets.")]
    GenerationFailed,
    #[error("The maximum length is a number of characters from {min} to {max}.")]
    InvalidMaxChars { min: usize, max: usize },
    #[error("None of the learned tweets has “{0}”. Try other start words.")]
    UnknownStartWords(String),
    #[error("Start words are at most {max} characters.")]
    StartTooLong { max: usize },
    #[error("Those options cannot be met: {0}.")]
    ImpossibleOptions(String),
    #[error("That generated tweet does not exist.")]
    UnknownGeneration,
    #[error("Please sign in with X first.")]
    SignInRequired,
    #[error("@{0} is a protected account: only its owner can generate.")]
    ProtectedAccount(String),
    #[error("Name the voices to mix, separated by commas: alice, bob:2 (a weight after the colon).")]
    NoVoices,
    #[error("“{0}” is not a screen name: 1 to 15 letters, digits or underscores.")]
    InvalidMixMember(String),
    #[error("A voice's weight in a mix is a whole number from {min} to {max}, as in bob:2.")]
    InvalidMixWeight { min: u32, max: u32 },
    #[error("A mix has at most {max} voices.")]
    MixTooLarge { max: usize },
    #[error("@{0} is in the mix twice.")]
    MixRepeats(String),
    #[error("Choose your archive's .zip or its data/tweets.js file to upload.")]
    NoUpload,
    #[error("The file is larger than {max_mb} MB. Upload data/tweets.js from your archive on its own (or a .zip of just that file).")]
    UploadTooLarge { max_mb: usize },
    #[error("The .zip file could not be read: {detail}.")]
    BadZip { detail: String },
    #[error("No tweets file in the .zip: it should hold data/tweets.js, as X's archive does.")]
    NoTweetsFile,
    #[error("The tweets files unpack to more than {max_mb} MB, more than tweetgen reads.")]
    UnpackedTooLarge { max_mb: u64 },
    #[error("{file} has a text longer than {max_kib} KiB at line {line}, longer than any tweet.")]
    ArchiveTextTooLong { file: String, line: u64, max_kib: usize },
    #[error("{file} is not an X archive tweets file (it should start with window.YTD.tweets.part0 = [).")]
    NotTweetsFile { file: String },
    #[error("{file} is not valid UTF-8 text at line {line}, column {column}.")]
    ArchiveInvalidUtf8 { file: String, line: u64, column: u64 },
    #[error("{file} is damaged at line {line}, column {column}: the JSON there is broken.")]
    ArchiveBrokenJson { file: String, line: u64, column: u64 },
    #[error("The archive holds no tweets.")]
    ArchiveEmpty,
    #[error("Tick the box to confirm that everything should be deleted.")]
    DeleteNotConfirmed,
    #[error("You trained recently: you can train again in {}.", english_duration(*.minutes))]
    RetrainTooSoon { minutes: u64 },
    #[error("A training of yours is already under way. Please wait for it to finish.")]
    TrainingUnderWay,
    #[error("tweetgen is learning from many people's tweets right now. Please try again in a minute.")]
    TooBusyToTrain,
    #[error(
        "That is more than tweetgen takes from one person in a short time. Please try again in {retry_after_secs} s."
    )]
    RateLimited { retry_after_secs: u32 },
    #[error("tweetgen is moving to a new home: saving is paused for a few seconds. Please try again in a moment.")]
    ReadOnly,
    #[error("This server does not save anything yet: tweetgen is moving here. Please try again in a minute.")]
    NotOpenYet,
    #[error("The database could not be reached just now. Please try again in a moment.")]
    Unavailable,
    #[error("Something went wrong on our side. Please try again.")]
    Internal,
    #[error("The request failed: {0}")]
    Request(String),
}

fn english_duration(minutes: u64) -> String {
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, 0) => format!("{h} h"),
        (h, m) => format!("{h} h {m} min"),
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        AppError::Request(value.to_string())
    }
}

#[cfg(feature = "ssr")]
impl AppError {
    /// The HTTP status for a client that called the server function directly.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode;
        match self {
            AppError::InvalidScreenName
            | AppError::NoTweets
            | AppError::TooMuchText { .. }
            | AppError::LineTooLong { .. }
            | AppError::NothingLearnable
            | AppError::GenerationFailed
            | AppError::InvalidMaxChars { .. }
            | AppError::UnknownStartWords(_)
            | AppError::StartTooLong { .. }
            | AppError::ImpossibleOptions(_)
            | AppError::DeleteNotConfirmed
            | AppError::NoUpload
            | AppError::BadZip { .. }
            | AppError::NoTweetsFile
            | AppError::UnpackedTooLarge { .. }
            | AppError::ArchiveTextTooLong { .. }
            | AppError::NotTweetsFile { .. }
            | AppError::ArchiveInvalidUtf8 { .. }
            | AppError::ArchiveBrokenJson { .. }
            | AppError::ArchiveEmpty
            | AppError::NoVoices
            | AppError::InvalidMixMember(_)
            | AppError::InvalidMixWeight { .. }
            | AppError::MixTooLarge { .. }
            | AppError::MixRepeats(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::UploadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnknownUser(_) | AppError::UnknownGeneration => StatusCode::NOT_FOUND,
            AppError::SignInRequired => StatusCode::UNAUTHORIZED,
            AppError::ProtectedAccount(_) => StatusCode::FORBIDDEN,
            AppError::RetrainTooSoon { .. }
            | AppError::TrainingUnderWay
            | AppError::TooBusyToTrain
            | AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Request(_) => StatusCode::BAD_REQUEST,
            AppError::ReadOnly | AppError::NotOpenYet | AppError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

#[cfg(feature = "ssr")]
impl AppError {
    /// Seconds for Retry-After, where the client should try again shortly.
    pub fn retry_after_secs(&self) -> Option<u32> {
        match self {
            AppError::ReadOnly
            | AppError::NotOpenYet
            | AppError::Unavailable
            | AppError::TrainingUnderWay
            | AppError::TooBusyToTrain => Some(RETRY_AFTER_SECONDS),
            AppError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

#[cfg(feature = "ssr")]
impl From<sqlx::Error> for AppError {
    fn from(error: sqlx::Error) -> Self {
        let code = match &error {
            sqlx::Error::Database(database_error) => database_error.code().map(|code| code.into_owned()),
            _ => None,
        };
        match (&error, code.as_deref()) {
            // A write reaching a database fenced for a move: nothing was written.
            (_, Some(READ_ONLY_SQL_TRANSACTION)) => {
                tracing::warn!(%error, "write refused by a read-only database");
                AppError::ReadOnly
            }
            // The session was ended (a fence, a restart) or could not be had: the
            // outcome of a statement under way is unknown, so it is not retried here.
            (sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Tls(_), _) => {
                tracing::warn!(%error, "database unavailable");
                AppError::Unavailable
            }
            (_, Some(code)) if code.starts_with("08") || code.starts_with("57P") || code == "53300" => {
                tracing::warn!(%error, "database unavailable");
                AppError::Unavailable
            }
            _ => {
                tracing::error!(%error, "database error");
                AppError::Internal
            }
        }
    }
}

/// SQLSTATE of a write in a read-only transaction.
#[cfg(feature = "ssr")]
const READ_ONLY_SQL_TRANSACTION: &str = "25006";

/// Seconds a client is asked to wait while writes are paused.
#[cfg(feature = "ssr")]
pub const RETRY_AFTER_SECONDS: u32 = 2;
