//! The tweet generator's engine: pure, no IO, no async.
//!
//! [`clean`] turns tweets into sentences, a [`Tokenizer`] splits them into words
//! (MeCab-identical with an IPADIC dictionary from [`build_dictionary`]),
//! [`Model::train`] learns an order-N chain, [`Model::encode`]/[`Model::decode`]
//! move it through storage as compact bytes, and [`Model::generate`] (or a
//! weighted [`Blend`] of models) writes new text with markovify's options.

mod clean;
mod codec;
mod generate;
mod model;
mod segment;
mod tokenize;

pub use clean::{clean, lines, CleanOptions, MAX_LINE_BYTES};
pub use generate::{Blend, GenerateOptions, StartWords};
pub use model::{Model, DEFAULT_ORDER, MAX_ORDER};
pub use segment::{build_dictionary, IpadicSources};
pub use tokenize::{join, Token, Tokenizer, TokenizerSession};

/// Everything that can go wrong, as values: the engine never panics on input.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("nothing to learn from: the text has no usable sentences")]
    EmptyCorpus,
    #[error("the text is too large to learn from (more than {0} words)")]
    CorpusTooLarge(usize),
    #[error("line {line} is not valid UTF-8 (at byte {column})")]
    InvalidUtf8 { line: usize, column: usize },
    #[error("line {line} is {bytes} bytes long; the limit is {max}")]
    LineTooLong { line: usize, bytes: usize, max: usize },
    #[error("order must be between 1 and {MAX_ORDER}, got {0}")]
    InvalidOrder(usize),
    #[error("the model has never seen a sentence with the words {0:?}")]
    UnknownStartWords(String),
    #[error("impossible options: {0}")]
    ImpossibleConstraints(&'static str),
    #[error("could not generate a sentence within the constraints after {0} tries")]
    GenerationFailed(usize),
    #[error("model bytes are invalid: {0}")]
    Corrupt(&'static str),
    #[error("model format version {0} is not supported by this build")]
    UnsupportedVersion(u8),
    #[error("dictionary: {0}")]
    Dictionary(String),
}
