//! The engine on the shared corpora (`../shared/corpus`, beside the repository)
//! with the real IPADIC dictionary (`TWEETGEN_DICTIONARY`, built by scripts/setup.sh).

use std::path::PathBuf;
use std::sync::LazyLock;

use rand::rngs::StdRng;
use rand::SeedableRng;
use tweetgen_markov::{GenerateOptions, Model, StartWords, Tokenizer};

static DICTIONARY: LazyLock<Tokenizer> = LazyLock::new(|| {
    let path = std::env::var_os("TWEETGEN_DICTIONARY")
        .expect("TWEETGEN_DICTIONARY is not set: run the tests through scripts/test.sh (or source scripts/env.sh)");
    let file = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path:?}: {e}; run scripts/setup.sh"));
    Tokenizer::with_dictionary(std::io::BufReader::new(file)).unwrap()
});

fn corpus(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Word-boundary precision, recall and F1 against MeCab's `-Owakati` output,
/// counting boundaries as offsets in the text without whitespace (MeCab keeps a
/// no-break space inside a word; either way it is not text).
fn boundary_f1(segment: impl Fn(&str) -> Vec<String>, lines: usize) -> (f64, f64, f64) {
    let ends = |words: &mut dyn Iterator<Item = &str>| {
        let mut offset = 0;
        words
            .map(|w| {
                offset += w.chars().filter(|c| !c.is_whitespace()).count();
                offset
            })
            .collect::<std::collections::HashSet<usize>>()
    };
    let (raw, reference) = (corpus("ja_sentences.txt"), corpus("ja_sentences.mecab-wakati.txt"));
    let (mut found, mut expected, mut agreed) = (0, 0, 0);
    for (line, wakati) in raw.lines().zip(reference.lines()).take(lines) {
        let words = segment(line);
        let ours = ends(&mut words.iter().map(String::as_str));
        let mecab = ends(&mut wakati.split(' '));
        found += ours.len();
        expected += mecab.len();
        agreed += ours.intersection(&mecab).count();
    }
    let (precision, recall) = (agreed as f64 / found as f64, agreed as f64 / expected as f64);
    (precision, recall, 2.0 * precision * recall / (precision + recall))
}

#[test]
fn the_dictionary_segments_exactly_like_mecab() {
    let (precision, recall, f1) =
        boundary_f1(|line| DICTIONARY.segment_words(line).into_iter().map(str::to_string).collect(), usize::MAX);
    println!("segmenter: precision {precision:.5} recall {recall:.5} F1 {f1:.5}");
    assert!(f1 >= 0.999, "F1 {f1}");
}

#[test]
fn tweet_tokens_stay_close_to_mecab() {
    // URLs, decimals, kaomoji, hashtags are kept whole on purpose; MeCab splits them.
    let (precision, recall, f1) =
        boundary_f1(|line| DICTIONARY.tokenize(line).into_iter().map(|t| t.text.to_string()).collect(), usize::MAX);
    println!("tokenizer: precision {precision:.5} recall {recall:.5} F1 {f1:.5}");
    assert!(f1 >= 0.999, "F1 {f1}");
}

#[test]
fn the_fallback_is_coarser_but_usable() {
    let fallback = Tokenizer::fallback();
    let (precision, recall, f1) =
        boundary_f1(|line| fallback.tokenize(line).into_iter().map(|t| t.text.to_string()).collect(), 5_000);
    println!("fallback: precision {precision:.5} recall {recall:.5} F1 {f1:.5}");
    assert!(f1 >= 0.95, "F1 {f1}");
}

#[test]
fn japanese_output_is_unspaced_and_english_keeps_its_spaces() {
    let text = corpus("ja_sentences.txt");
    let sentences: Vec<&str> = text.lines().take(3_200).filter(|l| !l.contains(char::is_whitespace)).collect();
    let model = Model::train(&DICTIONARY, &sentences, 2).unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    for _ in 0..200 {
        let tweet = model.generate(&GenerateOptions::default(), &mut rng).unwrap();
        assert!(!tweet.contains(' ') && tweet.chars().count() <= 140, "{tweet}");
    }

    let fortunes = corpus("en_fortunes.txt");
    let sentences: Vec<&str> = fortunes.lines().collect();
    let model = Model::train(&DICTIONARY, &sentences, 2).unwrap();
    for _ in 0..200 {
        let tweet = model.generate(&GenerateOptions::default(), &mut rng).unwrap();
        let words: Vec<&str> = tweet.split(' ').collect();
        assert!(words.len() >= 2 || tweet.len() < 20, "English words joined: {tweet}");
        assert!(!tweet.contains("  ") && tweet.trim() == tweet, "spacing not from the source: {tweet:?}");
    }
}

#[test]
fn large_models_round_trip_and_start_words_work() {
    let text = corpus("ja_sentences.txt");
    let sentences: Vec<&str> = text.lines().take(3_200).collect();
    for order in 1..=4 {
        let model = Model::train(&DICTIONARY, &sentences, order).unwrap();
        let bytes = model.encode();
        assert_eq!(Model::decode(&bytes).unwrap(), model, "order {order}");
    }
    let model = Model::train(&DICTIONARY, &sentences, 3).unwrap();
    let mut rng = StdRng::seed_from_u64(2);
    let start = StartWords::new(&DICTIONARY, "この", true).unwrap();
    let options = GenerateOptions { start: Some(start), ..Default::default() };
    for _ in 0..20 {
        assert!(model.generate(&options, &mut rng).unwrap().starts_with("この"));
    }
}
