//! The order-N chain: training and generation.

use std::collections::HashMap;

use rand::Rng;

use crate::{tokenize, Error};

pub const MAX_ORDER: usize = 4;
pub const DEFAULT_ORDER: usize = 2;

/// Token id 0 marks both the start and the end of a sentence.
pub(crate) const BOUNDARY: u32 = 0;

/// Successors of one state, as cumulative counts so that a weighted pick is a
/// binary search.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Successors {
    pub(crate) tokens: Vec<u32>,
    pub(crate) cumulative: Vec<u32>,
}

impl Successors {
    fn total(&self) -> u32 {
        self.cumulative.last().copied().unwrap_or(0)
    }

    fn pick(&self, rng: &mut impl Rng) -> u32 {
        let target = rng.random_range(0..self.total());
        let index = self.cumulative.partition_point(|&c| c <= target);
        self.tokens[index]
    }
}

/// A trained chain. `vocabulary[0]` is the sentence boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub(crate) order: usize,
    pub(crate) vocabulary: Vec<String>,
    pub(crate) chain: HashMap<Box<[u32]>, Successors>,
    pub(crate) sentences: u32,
}

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Longest acceptable result, in characters.
    pub max_chars: usize,
    /// How many candidates to draw before giving up.
    pub tries: usize,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self { max_chars: 140, tries: 100 }
    }
}

impl Model {
    /// Learns from sentences (one per item); blank ones are skipped.
    pub fn train<S: AsRef<str>>(sentences: &[S], order: usize) -> Result<Self, Error> {
        if !(1..=MAX_ORDER).contains(&order) {
            return Err(Error::InvalidOrder(order));
        }
        let mut ids: HashMap<String, u32> = HashMap::new();
        let mut vocabulary = vec![String::new()];
        let mut counts: HashMap<Box<[u32]>, HashMap<u32, u32>> = HashMap::new();
        let mut learned = 0u32;
        for sentence in sentences {
            let tokens = tokenize(sentence.as_ref());
            if tokens.is_empty() {
                continue;
            }
            learned += 1;
            let mut sequence = vec![BOUNDARY; order];
            for token in tokens {
                let id = *ids.entry(token).or_insert_with_key(|token| {
                    vocabulary.push(token.clone());
                    (vocabulary.len() - 1) as u32
                });
                sequence.push(id);
            }
            sequence.push(BOUNDARY);
            for window in sequence.windows(order + 1) {
                let (state, next) = window.split_at(order);
                *counts.entry(state.into()).or_default().entry(next[0]).or_default() += 1;
            }
        }
        if learned == 0 {
            return Err(Error::EmptyCorpus);
        }
        let chain = counts
            .into_iter()
            .map(|(state, nexts)| {
                let mut nexts: Vec<(u32, u32)> = nexts.into_iter().collect();
                nexts.sort_unstable();
                (state, successors_from_counts(nexts))
            })
            .collect();
        Ok(Self { order, vocabulary, chain, sentences: learned })
    }

    pub fn order(&self) -> usize {
        self.order
    }

    /// How many sentences the model learned from.
    pub fn sentence_count(&self) -> u32 {
        self.sentences
    }

    /// Draws one sentence that satisfies `options`.
    pub fn generate(&self, rng: &mut impl Rng, options: &GenerateOptions) -> Result<String, Error> {
        for _ in 0..options.tries {
            if let Some(text) = self.walk(rng, options.max_chars) {
                return Ok(text);
            }
        }
        Err(Error::GenerationFailed(options.tries))
    }

    /// One random walk from the start state; `None` when it outgrows `max_chars`.
    fn walk(&self, rng: &mut impl Rng, max_chars: usize) -> Option<String> {
        let mut state = vec![BOUNDARY; self.order];
        let mut text = String::new();
        let mut chars = 0;
        loop {
            // Every state reached during training has successors, so a miss means a
            // malformed model; treat it like the end of the sentence.
            let next = self.chain.get(state.as_slice()).map_or(BOUNDARY, |s| s.pick(rng));
            if next == BOUNDARY {
                let text = text.trim_start().to_string();
                return (!text.is_empty()).then_some(text);
            }
            let token = &self.vocabulary[next as usize];
            chars += token.chars().count();
            if chars > max_chars {
                return None;
            }
            text.push_str(token);
            state.remove(0);
            state.push(next);
        }
    }
}

pub(crate) fn successors_from_counts(counts: Vec<(u32, u32)>) -> Successors {
    let mut running = 0u32;
    let (tokens, cumulative) = counts
        .into_iter()
        .map(|(token, count)| {
            running = running.saturating_add(count);
            (token, running)
        })
        .unzip();
    Successors { tokens, cumulative }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::StdRng, SeedableRng};

    const CORPUS: [&str; 4] = [
        "今日は良い天気ですね。",
        "今日は雨が降っています。",
        "明日は良い天気になるでしょう。",
        "I like the rain and the sun.",
    ];

    #[test]
    fn generates_sentences_made_of_learned_transitions() {
        let model = Model::train(&CORPUS, 2).unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..50 {
            let text = model.generate(&mut rng, &GenerateOptions::default()).unwrap();
            assert!(!text.is_empty());
            let known_start =
                CORPUS.iter().any(|line| line.starts_with(&text[..text.char_indices().nth(2).unwrap().0]));
            assert!(known_start, "{text}");
        }
    }

    #[test]
    fn same_seed_same_output() {
        let model = Model::train(&CORPUS, 1).unwrap();
        let draw = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..10).map(|_| model.generate(&mut rng, &GenerateOptions::default()).unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(draw(42), draw(42));
    }

    #[test]
    fn rejects_empty_corpus_and_bad_order() {
        assert_eq!(Model::train(&["", "  "], 2), Err(Error::EmptyCorpus));
        assert_eq!(Model::train(&CORPUS, 0), Err(Error::InvalidOrder(0)));
        assert_eq!(Model::train(&CORPUS, 5), Err(Error::InvalidOrder(5)));
    }

    #[test]
    fn impossible_length_is_an_error() {
        let model = Model::train(&CORPUS, 2).unwrap();
        let options = GenerateOptions { max_chars: 3, tries: 20 };
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(model.generate(&mut rng, &options), Err(Error::GenerationFailed(20)));
    }
}
