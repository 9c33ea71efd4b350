//! The tweet generator's engine: pure, no IO, no async.
//!
//! `tokenize` splits a sentence into tokens that concatenate back to readable text,
//! `Model::train` builds an order-N chain from sentences, `Model::encode`/`decode`
//! move it through storage as compact bytes, and `Model::generate` writes new text.

mod codec;
mod model;
mod tokenize;

pub use model::{GenerateOptions, Model, DEFAULT_ORDER, MAX_ORDER};
pub use tokenize::tokenize;

/// Everything that can go wrong, as values: the engine never panics on input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("nothing to learn from: the text has no usable sentences")]
    EmptyCorpus,
    #[error("order must be between 1 and {MAX_ORDER}, got {0}")]
    InvalidOrder(usize),
    #[error("could not generate a sentence within the constraints after {0} tries")]
    GenerationFailed(usize),
    #[error("model bytes are invalid: {0}")]
    Corrupt(&'static str),
    #[error("model format version {0} is not supported by this build")]
    UnsupportedVersion(u8),
}
