#![no_main]
//! Any bytes through the text path of training: `lines`, `clean`, then both
//! tokenizers on every raw line (`train --raw`) and every cleaned sentence,
//! checking the token invariants that training and `join` rely on.

use std::fs::File;
use std::io::BufReader;
use std::path::PathBuf;
use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use tweetgen_markov::{clean, join, lines, CleanOptions, Token, Tokenizer};

/// The IPADIC tokenizer production uses, when `TWEETGEN_DICTIONARY` names a
/// file; loaded once (~0.1 s). A dictionary that is there but does not load is a
/// broken setup, not a finding, so that panics before fuzzing starts.
static DICTIONARY: LazyLock<Option<Tokenizer>> = LazyLock::new(|| {
    let path = std::env::var_os("TWEETGEN_DICTIONARY").map(PathBuf::from).filter(|path| path.is_file())?;
    let file = File::open(&path).unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
    Some(Tokenizer::with_dictionary(BufReader::new(file)).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
});

fuzz_target!(
    init: {
        let tokenizers = if DICTIONARY.is_some() {
            "fallback and dictionary"
        } else {
            "fallback only: TWEETGEN_DICTIONARY does not name a file"
        };
        eprintln!("tokenize: checking the {tokenizers} tokenizers");
    },
    |data: &[u8]| {
        let Ok(lines) = lines(data) else { return };
        let sentences =
            clean(&lines, &CleanOptions::default()).expect("lines() keeps every line within clean's length limit");
        for sentence in &sentences {
            assert!(!sentence.is_empty() && sentence.trim() == sentence, "clean returned {sentence:?}");
        }
        let fallback = Tokenizer::fallback();
        for tokenizer in [Some(&fallback), DICTIONARY.as_ref()].into_iter().flatten() {
            // One session for all lines, as training does: it reuses the segmenter's lattice.
            let mut session = tokenizer.session();
            for line in lines.iter().copied().chain(sentences.iter().map(String::as_str)) {
                check_tokens(line, &session.tokenize(line));
            }
        }
    }
);

/// The tokens are the line's non-whitespace text, in order, cut into non-empty
/// pieces, each `spaced` exactly when whitespace precedes it (never the first).
fn check_tokens(line: &str, tokens: &[Token]) {
    let mut rest = line;
    for (i, token) in tokens.iter().enumerate() {
        let text = token.text;
        assert!(!text.is_empty() && !text.contains(char::is_whitespace), "token {i} {text:?} of {line:?}");
        let next = rest.trim_start();
        assert!(next.starts_with(text), "token {i} {text:?} is not the next text of {line:?}: {next:?}");
        let spaced = i > 0 && next.len() < rest.len();
        assert_eq!(token.spaced, spaced, "token {i} {text:?} of {line:?}: wrong `spaced`");
        rest = &next[text.len()..];
    }
    assert!(rest.trim_start().is_empty(), "{line:?}: {rest:?} was left out of the tokens");
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(join(tokens.iter().copied()), words.join(" "), "join of the tokens of {line:?}");
}
