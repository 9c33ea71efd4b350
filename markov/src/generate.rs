//! Generation with markovify's options: tries, overlap test, length limits and
//! start words; over one model or a weighted blend of several.

use std::borrow::Borrow;
use std::ops::Range;

use rand::distr::{Bernoulli, Distribution};
use rand::Rng;

use crate::model::{check_order, Model, BOUNDARY};
use crate::tokenize::{join, Token, Tokenizer};
use crate::Error;

/// A walk longer than this is abandoned (a chain can loop).
const MAX_WALK_TOKENS: usize = 1_000;

/// markovify's `make_sentence` keyword arguments, with its defaults except
/// `tries` (the old service used 100) and `max_chars` (a tweet).
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// Candidates to draw before giving up.
    pub tries: usize,
    /// Longest and shortest acceptable text, in characters.
    pub max_chars: Option<usize>,
    pub min_chars: usize,
    /// Fewest and most tokens.
    pub min_words: Option<usize>,
    pub max_words: Option<usize>,
    /// Reject candidates that copy the corpus (markovify's `test_output`): any run
    /// of `min(max_overlap_total, round(max_overlap_ratio × tokens)) + 1` tokens
    /// found in one training sentence rejects the candidate.
    pub test_output: bool,
    pub max_overlap_ratio: f64,
    pub max_overlap_total: usize,
    /// Begin with these words (`make_sentence_with_start`).
    pub start: Option<StartWords>,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            tries: 100,
            max_chars: Some(140),
            min_chars: 0,
            min_words: None,
            max_words: None,
            test_output: true,
            max_overlap_ratio: 0.7,
            max_overlap_total: 15,
            start: None,
        }
    }
}

/// Words a generated sentence must begin with.
///
/// Strict, as markovify: fewer words than the order must begin a training
/// sentence; otherwise the last `order` words must occur somewhere and the earlier
/// ones are kept as given. Not strict: the words may occur anywhere in a training
/// sentence, in any number (markovify allows at most `order`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartWords {
    tokens: Vec<(String, bool)>,
    strict: bool,
}

impl StartWords {
    pub fn new(tokenizer: &Tokenizer, words: &str, strict: bool) -> Result<Self, Error> {
        let tokens: Vec<(String, bool)> =
            tokenizer.tokenize(words).into_iter().map(|t| (t.text.to_string(), t.spaced)).collect();
        if tokens.is_empty() {
            return Err(Error::ImpossibleConstraints("start words are empty"));
        }
        Ok(Self { tokens, strict })
    }

    fn text(&self) -> String {
        join(self.tokens.iter().map(|(text, spaced)| Token { text, spaced: *spaced }))
    }
}

impl Model {
    /// Draws one sentence that satisfies `options`.
    pub fn generate(&self, options: &GenerateOptions, rng: &mut impl Rng) -> Result<String, Error> {
        Chain { model: self, weights: None }.generate(options, rng)
    }
}

/// Several models generating together, each transition weighted by
/// `weight × count` (markovify's `combine`).
///
/// Built once: one merged model of every part's sentences (shared token ids, one
/// index), so a blend generates as fast as one model of the same size. The parts
/// are not kept: a blend of one part holds a copy of it. With equal weights the
/// merged model is the whole chain; otherwise a drawn position (whose part is
/// known from where each part's sentences end) is kept with probability its
/// part's weight over the largest, else drawn again: a position's chance is
/// proportional to its part's weight, a token's to `weight × count` summed over
/// the parts.
pub struct Blend {
    model: Model,
    /// None when every part weighs the same.
    weights: Option<Weights>,
}

impl Blend {
    pub fn new<M: Borrow<Model>>(parts: Vec<(M, f64)>) -> Result<Self, Error> {
        let order = parts.first().ok_or(Error::ImpossibleConstraints("nothing to blend"))?.0.borrow().order;
        check_order(order)?;
        if parts.iter().any(|(model, _)| model.borrow().order != order) {
            return Err(Error::ImpossibleConstraints("blended models must have the same order"));
        }
        if parts.iter().any(|&(_, weight)| !(weight.is_finite() && weight > 0.0)) {
            return Err(Error::ImpossibleConstraints("weights must be positive"));
        }
        let models: Vec<&Model> = parts.iter().map(|(model, _)| model.borrow()).collect();
        let model = match models[..] {
            [one] => one.clone(),
            _ => Model::concatenate(&models)?,
        };
        let weights: Vec<f64> = parts.iter().map(|&(_, weight)| weight).collect();
        let weights = (weights.iter().any(|&weight| weight != weights[0])).then(|| Weights::new(&models, &weights));
        Ok(Self { model, weights })
    }

    /// Bytes held: the merged model (or the one part's copy) and, if the weights
    /// differ, each part's end and weight. No part is kept.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>() - std::mem::size_of::<Model>()
            + self.model.memory_bytes()
            + self.weights.as_ref().map_or(0, Weights::heap_bytes)
    }

    pub fn generate(&self, options: &GenerateOptions, rng: &mut impl Rng) -> Result<String, Error> {
        Chain { model: &self.model, weights: self.weights.as_ref() }.generate(options, rng)
    }
}

/// How a blend of unequal weights draws among a state's successors.
struct Weights {
    /// Where each part's positions end in the merged corpus, which holds the
    /// parts' sentences part after part: a position's part is the first whose
    /// end is beyond it.
    ends: Vec<u32>,
    /// Per part, its weight over the largest: the chance that a drawn position of
    /// it is kept (`keep`), and its weight when weighed one by one (`share`).
    keep: Vec<Bernoulli>,
    share: Vec<f64>,
    /// Draws before a state's successors are weighed one by one instead (a state
    /// of light parts only would otherwise take about largest / smallest draws).
    max_draws: usize,
}

impl Weights {
    fn new(models: &[&Model], weights: &[f64]) -> Self {
        let ends = models
            .iter()
            .scan(1, |end, model| {
                *end += model.corpus.len() as u32 - 1;
                Some(*end)
            })
            .collect();
        let heaviest = weights.iter().copied().fold(0.0, f64::max);
        let lightest = weights.iter().copied().fold(f64::INFINITY, f64::min);
        // (A share can underflow to 0: such a part is only drawn when weighed.)
        let share: Vec<f64> = weights.iter().map(|&weight| (weight / heaviest).clamp(0.0, 1.0)).collect();
        let keep = share.iter().map(|&share| Bernoulli::new(share).expect("a share is within 0..=1")).collect();
        // Four times the expected draws in the worst state: weighing is rare.
        let max_draws = (4.0 * heaviest / lightest).clamp(16.0, 1024.0) as usize;
        Self { ends, keep, share, max_draws }
    }

    /// Bytes held beyond the struct itself.
    fn heap_bytes(&self) -> usize {
        std::mem::size_of_val(&self.ends[..])
            + std::mem::size_of_val(&self.keep[..])
            + std::mem::size_of_val(&self.share[..])
    }

    fn part(&self, position: u32) -> usize {
        self.ends.partition_point(|&end| end <= position)
    }

    fn kept(&self, position: u32, rng: &mut impl Rng) -> bool {
        self.keep[self.part(position)].sample(rng)
    }

    /// The relative weight of `position`'s part (the largest is 1).
    fn weight(&self, position: u32) -> f64 {
        self.share[self.part(position)]
    }
}

/// A model walked as a Markov chain: one model, or a blend's merged model and
/// its weights.
#[derive(Clone, Copy)]
struct Chain<'a> {
    model: &'a Model,
    /// None: every position of a state is as likely (the single-model walk).
    weights: Option<&'a Weights>,
}

impl<'a> Chain<'a> {
    fn generate(self, options: &GenerateOptions, rng: &mut impl Rng) -> Result<String, Error> {
        validate(options)?;
        let start = options.start.as_ref();
        let (begin, start_ids) = self.begin(start)?;
        // Counted with a space before every token, as `walk` counts.
        let start_chars = start.map_or(0, |s| s.tokens.iter().map(|(text, _)| text.chars().count() + 1).sum());
        for _ in 0..options.tries {
            let Some(picks) = self.walk(&begin, start_ids.len(), start_chars, options, rng) else { continue };
            let text = self.render(start, &picks);
            let chars = text.chars().count();
            let words = start_ids.len() + picks.len();
            let too_long = options.max_chars.is_some_and(|max| chars > max);
            let too_short = chars < options.min_chars || options.min_words.is_some_and(|min| words < min);
            if too_long || too_short {
                continue;
            }
            if options.test_output && self.copies_corpus(&start_ids, &picks, options) {
                continue;
            }
            return Ok(text);
        }
        Err(Error::GenerationFailed(options.tries))
    }

    /// Where walks start: the corpus positions the first generated token may be
    /// drawn from; and the start words' ids.
    fn begin(self, start: Option<&StartWords>) -> Result<(Candidates, Vec<u32>), Error> {
        let Some(start) = start else {
            return Ok((Candidates::Ranks(self.model.start_group()), Vec::new()));
        };
        let ids: Option<Vec<u32>> = start.tokens.iter().map(|(text, _)| self.model.vocabulary.id(text)).collect();
        let candidates = ids.as_ref().map(|ids| continuations(self.model, ids, start.strict));
        match (candidates, ids) {
            (Some(candidates), Some(ids)) if candidates.len() > 0 => Ok((candidates, ids)),
            _ => Err(Error::UnknownStartWords(start.text())),
        }
    }

    /// One candidate's drawn positions, or `None` when it breaks a length limit on
    /// the way. `given` start words of `chars` characters come before.
    fn walk(
        self,
        begin: &Candidates,
        given: usize,
        mut chars: usize,
        options: &GenerateOptions,
        rng: &mut impl Rng,
    ) -> Option<Vec<u32>> {
        let model = self.model;
        let max_words = options.max_words.unwrap_or(MAX_WALK_TOKENS).min(MAX_WALK_TOKENS);
        // Counted with a space before every token, hence one more.
        let max_chars = options.max_chars.map_or(usize::MAX, |max| max.saturating_add(1));
        let mut picks: Vec<u32> = Vec::new();
        loop {
            let position = match picks.last() {
                None => self.draw(begin.len(), |i| begin.position(model, i), rng),
                Some(&last) => {
                    // The state after a drawn token is that position's successor's group.
                    let group = model.group_after(last);
                    self.draw(group.len(), |i| model.index.by_context[group.start + i], rng)
                }
            }?;
            if model.corpus[position as usize] == BOUNDARY {
                return (!picks.is_empty() || given > 0).then_some(picks);
            }
            chars += self.text(position).chars().count() + usize::from(model.is_spaced(position));
            picks.push(position);
            if given + picks.len() > max_words || chars > max_chars {
                return None;
            }
        }
    }

    /// One of `count` candidate positions (`position(i)` is the `i`-th): uniformly,
    /// or each with its part's weight.
    fn draw(self, count: usize, position: impl Fn(usize) -> u32, rng: &mut impl Rng) -> Option<u32> {
        if count == 0 {
            return None;
        }
        let Some(weights) = self.weights else {
            return Some(position(rng.random_range(0..count)));
        };
        for _ in 0..weights.max_draws {
            let drawn = position(rng.random_range(0..count));
            if weights.kept(drawn, rng) {
                return Some(drawn);
            }
        }
        // Every draw rejected: weigh the candidates one by one (the same chances).
        let total: f64 = (0..count).map(|i| weights.weight(position(i))).sum();
        if total <= 0.0 {
            // Only parts whose weight underflowed against the heaviest: alike.
            return Some(position(rng.random_range(0..count)));
        }
        let mut target = rng.random_range(0.0..total);
        let chosen = (0..count).find(|&i| {
            target -= weights.weight(position(i));
            target < 0.0
        });
        // Rounding can leave `target` a hair above zero: take the last.
        Some(position(chosen.unwrap_or(count - 1)))
    }

    fn text(self, position: u32) -> &'a str {
        self.model.vocabulary.token(self.model.corpus[position as usize])
    }

    fn render(self, start: Option<&StartWords>, picks: &[u32]) -> String {
        let given = start.into_iter().flat_map(|s| &s.tokens).map(|(text, spaced)| Token { text, spaced: *spaced });
        let drawn =
            picks.iter().map(|&position| Token { text: self.text(position), spaced: self.model.is_spaced(position) });
        join(given.chain(drawn))
    }

    /// markovify's `test_sentence_output`, over token runs instead of substrings.
    fn copies_corpus(self, start_ids: &[u32], picks: &[u32], options: &GenerateOptions) -> bool {
        let model = self.model;
        let given = start_ids.len();
        let words = given + picks.len();
        let overlap_max = options.max_overlap_total.min(round_half_even(options.max_overlap_ratio * words as f64));
        let window = overlap_max + 1;
        let gram_count = words.saturating_sub(overlap_max).max(1);
        let ids: Vec<u32> =
            start_ids.iter().copied().chain(picks.iter().map(|&position| model.corpus[position as usize])).collect();
        (0..gram_count).any(|i| {
            let gram = &ids[i..(i + window).min(ids.len())];
            // The walk drew the token after the gram's first `order` tokens from
            // their state: the group of the position it drew.
            let drawn = (i + model.order).checked_sub(given).filter(|&t| t < picks.len());
            occurs(model, gram, drawn.map(|t| model.group_at(picks[t])))
        })
    }
}

/// Where the first generated token may be drawn from.
enum Candidates {
    /// A range of `by_context` (a state's successors).
    Ranks(Range<usize>),
    Positions(Vec<u32>),
}

impl Candidates {
    fn len(&self) -> usize {
        match self {
            Self::Ranks(ranks) => ranks.len(),
            Self::Positions(positions) => positions.len(),
        }
    }

    fn position(&self, model: &Model, i: usize) -> u32 {
        match self {
            Self::Ranks(ranks) => model.index.by_context[ranks.start + i],
            Self::Positions(positions) => positions[i],
        }
    }
}

/// The tokens that may follow start words `ids`.
fn continuations(model: &Model, ids: &[u32], strict: bool) -> Candidates {
    let order = model.order;
    if strict {
        if ids.len() < order {
            let mut key = vec![BOUNDARY; order - ids.len()];
            key.extend_from_slice(ids);
            Candidates::Ranks(model.find(&key))
        } else {
            Candidates::Ranks(model.find(&ids[ids.len() - order..]))
        }
    } else {
        // Anywhere in a sentence: every occurrence, continued in its own context.
        let corpus = &model.corpus;
        let positions = (1..corpus.len().saturating_sub(ids.len()))
            .filter(|&p| corpus[p..p + ids.len()] == *ids)
            .map(|p| (p + ids.len()) as u32)
            .collect();
        Candidates::Positions(positions)
    }
}

/// Whether `ids` occurs inside one training sentence.
/// `state`, when known, is the group of the first `order` tokens of `ids`.
fn occurs(model: &Model, ids: &[u32], state: Option<Range<usize>>) -> bool {
    let head = ids.len().min(model.order + 1);
    let found = match state {
        Some(group) if ids.len() > model.order => {
            // A group is sorted by the token drawn from it.
            let at = ids[model.order];
            let drawn = |position: &u32| model.corpus[*position as usize];
            let members = &model.index.by_context[group.clone()];
            let start = members.partition_point(|p| drawn(p) < at);
            let end = start + members[start..].partition_point(|p| drawn(p) == at);
            group.start + start..group.start + end
        }
        _ => model.find(&ids[..head]),
    };
    if ids.len() == head {
        return !found.is_empty();
    }
    // `find` located the first `order + 1` tokens; compare the rest in place.
    model.index.by_context[found].iter().any(|&position| {
        let after = position as usize + 1;
        model.corpus.get(after..after + ids.len() - head) == Some(&ids[head..])
    })
}

/// Python's `round`, which markovify uses for the overlap limit.
fn round_half_even(x: f64) -> usize {
    let rounded = x.round();
    let rounded = if (x - x.trunc()).abs() == 0.5 && rounded % 2.0 != 0.0 { rounded - x.signum() } else { rounded };
    rounded.max(0.0) as usize
}

fn validate(options: &GenerateOptions) -> Result<(), Error> {
    let impossible = |why| Err(Error::ImpossibleConstraints(why));
    if options.tries == 0 {
        return impossible("tries must be at least 1");
    }
    if !(0.0..=1.0).contains(&options.max_overlap_ratio) {
        return impossible("max_overlap_ratio must be between 0 and 1");
    }
    if options.max_words == Some(0) || options.max_chars == Some(0) {
        return impossible("the maximum length must be at least 1");
    }
    if options.min_words.zip(options.max_words).is_some_and(|(min, max)| min > max) {
        return impossible("min_words is above max_words");
    }
    if options.max_chars.is_some_and(|max| options.min_chars > max) {
        return impossible("min_chars is above max_chars");
    }
    if let Some(start) = &options.start {
        if options.max_words.is_some_and(|max| start.tokens.len() > max) {
            return impossible("the start words alone are longer than max_words");
        }
        if options.max_chars.is_some_and(|max| start.text().chars().count() > max) {
            return impossible("the start words alone are longer than max_chars");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    const CORPUS: [&str; 6] = [
        "the cat sat on the mat",
        "the dog sat on the log",
        "a cat ran to the dog",
        "the bird flew over the mat",
        "a dog ran after the bird",
        "the cat slept on the log",
    ];

    fn model(sentences: &[&str], order: usize) -> Model {
        Model::train(&Tokenizer::fallback(), sentences, order).unwrap()
    }

    fn draw(model: &Model, options: &GenerateOptions, seed: u64, count: usize) -> Vec<Result<String, Error>> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..count).map(|_| model.generate(options, &mut rng)).collect()
    }

    fn start(words: &str, strict: bool) -> Option<StartWords> {
        Some(StartWords::new(&Tokenizer::fallback(), words, strict).unwrap())
    }

    /// Every `order + 1` consecutive tokens (padded at the start) were seen in training.
    fn made_of_learned_transitions(model: &Model, text: &str) -> bool {
        learned_by_some(&[model], text)
    }

    /// The same, each run seen by at least one of `models`.
    fn learned_by_some(models: &[&Model], text: &str) -> bool {
        let order = models[0].order;
        let tokens = Tokenizer::fallback().tokenize(text);
        let texts: Vec<Option<&str>> =
            std::iter::repeat_n(None, order).chain(tokens.iter().map(|t| Some(t.text))).chain([None]).collect();
        texts.windows(order + 1).all(|window| {
            models.iter().any(|model| {
                let ids: Option<Vec<u32>> =
                    window.iter().map(|text| text.map_or(Some(BOUNDARY), |t| model.vocabulary.id(t))).collect();
                ids.is_some_and(|ids| {
                    let (context, next) = ids.split_at(order);
                    model.find(context).any(|r| model.corpus[model.index.by_context[r] as usize] == next[0])
                })
            })
        })
    }

    #[test]
    fn same_seed_same_sentences_and_only_learned_transitions() {
        for order in 1..=3 {
            let model = model(&CORPUS, order);
            let options = GenerateOptions { test_output: false, ..Default::default() };
            let first = draw(&model, &options, 42, 30);
            assert_eq!(first, draw(&model, &options, 42, 30));
            for text in first {
                let text = text.unwrap();
                assert!(made_of_learned_transitions(&model, &text), "order {order}: {text}");
            }
        }
    }

    #[test]
    fn the_overlap_test_rejects_copies_of_the_corpus() {
        let model = model(&CORPUS, 2);
        let options = GenerateOptions { tries: 1000, ..Default::default() };
        for text in draw(&model, &options, 7, 50) {
            let text = text.unwrap();
            assert!(!CORPUS.contains(&text.as_str()), "{text} is a copy");
        }
        // One sentence can only be copied.
        let single = self::model(&["only one sentence here"], 2);
        assert_eq!(draw(&single, &options, 1, 1), [Err(Error::GenerationFailed(1000))]);
        let no_test = GenerateOptions { test_output: false, ..options };
        assert_eq!(draw(&single, &no_test, 1, 1), [Ok("only one sentence here".to_string())]);
    }

    #[test]
    fn overlap_limits_follow_markovify() {
        let crossed = model(&["a b c d", "x b c y"], 1);
        // 4 tokens: round(0.7 × 4) + 1 = 4-token windows, so only the two mixes pass.
        let mut seen: Vec<String> =
            draw(&crossed, &GenerateOptions::default(), 1, 40).into_iter().map(Result::unwrap).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen, ["a b c y", "x b c d"]);
        // The total caps the ratio: 2-token windows, all of which occur.
        let strict = GenerateOptions { max_overlap_total: 1, ..Default::default() };
        assert_eq!(draw(&crossed, &strict, 1, 1), [Err(Error::GenerationFailed(100))]);
        // A low ratio alone does the same.
        let strict = GenerateOptions { max_overlap_ratio: 0.2, ..Default::default() };
        assert_eq!(draw(&crossed, &strict, 1, 1), [Err(Error::GenerationFailed(100))]);
        assert_eq!([0.5, 1.5, 2.5, 2.6, 0.0].map(round_half_even), [0, 2, 2, 3, 0]);
    }

    #[test]
    fn length_limits_hold() {
        let model = model(&CORPUS, 1);
        let options = GenerateOptions {
            max_chars: Some(22),
            min_chars: 10,
            min_words: Some(3),
            max_words: Some(6),
            test_output: false,
            ..Default::default()
        };
        for text in draw(&model, &options, 3, 40) {
            let text = text.unwrap();
            let words = text.split(' ').count();
            assert!((10..=22).contains(&text.chars().count()) && (3..=6).contains(&words), "{text}");
        }
        let impossible = GenerateOptions { max_chars: Some(2), tries: 50, ..Default::default() };
        assert_eq!(draw(&model, &impossible, 3, 1), [Err(Error::GenerationFailed(50))]);
    }

    #[test]
    fn strict_start_words_begin_a_training_sentence() {
        let model = model(&CORPUS, 2);
        let options = GenerateOptions { start: start("a", true), test_output: false, ..Default::default() };
        for text in draw(&model, &options, 5, 20) {
            let text = text.unwrap();
            assert!(text.starts_with("a ") && made_of_learned_transitions(&model, &text), "{text}");
        }
        // "sat on" is as long as the order: a state anywhere, like markovify.
        let options = GenerateOptions { start: start("sat on", true), test_output: false, ..Default::default() };
        assert!(draw(&model, &options, 5, 10).into_iter().all(|t| t.unwrap().starts_with("sat on the ")));
        // "cat" never begins a sentence.
        let options = GenerateOptions { start: start("cat", true), ..Default::default() };
        assert_eq!(draw(&model, &options, 5, 1), [Err(Error::UnknownStartWords("cat".into()))]);
    }

    #[test]
    fn loose_start_words_may_come_from_mid_sentence() {
        let model = model(&CORPUS, 2);
        let options = GenerateOptions { start: start("cat", false), test_output: false, ..Default::default() };
        for text in draw(&model, &options, 9, 20) {
            let text = text.unwrap();
            assert!(text.starts_with("cat "), "{text}");
        }
        let longer = GenerateOptions { start: start("dog ran after", false), test_output: false, ..Default::default() };
        assert!(draw(&model, &longer, 9, 5).into_iter().all(|t| t.unwrap().starts_with("dog ran after the bird")));
        let unknown = GenerateOptions { start: start("cat flew", false), ..Default::default() };
        assert_eq!(draw(&model, &unknown, 9, 1), [Err(Error::UnknownStartWords("cat flew".into()))]);
        let unseen = GenerateOptions { start: start("zebra", false), ..Default::default() };
        assert_eq!(draw(&model, &unseen, 9, 1), [Err(Error::UnknownStartWords("zebra".into()))]);
    }

    #[test]
    fn impossible_options_are_errors() {
        let model = model(&CORPUS, 2);
        let cases = [
            GenerateOptions { tries: 0, ..Default::default() },
            GenerateOptions { max_overlap_ratio: 1.5, ..Default::default() },
            GenerateOptions { max_overlap_ratio: f64::NAN, ..Default::default() },
            GenerateOptions { max_words: Some(0), ..Default::default() },
            GenerateOptions { min_words: Some(5), max_words: Some(2), ..Default::default() },
            GenerateOptions { min_chars: 50, max_chars: Some(10), ..Default::default() },
            GenerateOptions { start: start("the cat sat", true), max_words: Some(2), ..Default::default() },
        ];
        for options in cases {
            assert!(matches!(draw(&model, &options, 1, 1)[0], Err(Error::ImpossibleConstraints(_))), "{options:?}");
        }
        assert!(matches!(StartWords::new(&Tokenizer::fallback(), "  ", true), Err(Error::ImpossibleConstraints(_))));
    }

    #[test]
    fn a_blend_draws_from_each_model_by_weight() {
        let cats = model(&["the cat sat", "the cat ran"], 1);
        let dogs = model(&["my dog sat", "my dog ran"], 1);
        let options = GenerateOptions { test_output: false, ..Default::default() };
        let mut rng = StdRng::seed_from_u64(11);
        let even = Blend::new(vec![(&cats, 1.0), (&dogs, 1.0)]).unwrap();
        let from_cats = (0..400).filter(|_| even.generate(&options, &mut rng).unwrap().starts_with("the")).count();
        assert!((150..=250).contains(&from_cats), "{from_cats} of 400");
        let tilted = Blend::new(vec![(&cats, 1.0), (&dogs, 9.0)]).unwrap();
        let from_cats = (0..400).filter(|_| tilted.generate(&options, &mut rng).unwrap().starts_with("the")).count();
        assert!((15..=70).contains(&from_cats), "{from_cats} of 400");
        // Shared tokens ("sat") let a sentence cross from one model into the other.
        let both = model(&["the cat sat down", "my dog sat up"], 1);
        let crossing = Blend::new(vec![(&cats, 1.0), (&both, 1.0)]).unwrap();
        let texts: Vec<String> = (0..200).map(|_| crossing.generate(&options, &mut rng).unwrap()).collect();
        assert!(texts.iter().any(|t| t == "the cat sat up"), "{texts:?}");
    }

    /// The share of `draws` sentences of `blend` containing `word`.
    fn share(blend: &Blend, word: &str, draws: usize, rng: &mut StdRng) -> f64 {
        let options = GenerateOptions { test_output: false, ..Default::default() };
        let with = (0..draws).filter(|_| blend.generate(&options, rng).unwrap().split(' ').any(|w| w == word)).count();
        with as f64 / draws as f64
    }

    #[test]
    fn a_state_shared_by_parts_draws_by_weight_times_count() {
        // After the shared "the", each part's words only: a sentence is a dog's with
        // probability 9 / (1 + 9). 4,000 draws: a standard deviation of 0.0047, so
        // 0.03 is over 6 of them (and 0.5's 0.0079, 3.8).
        for order in [1, 2] {
            let cats = model(&["the cat sat down", "the cat ran off"], order);
            let dogs = model(&["the dog barked loudly", "the dog slept"], order);
            let mut rng = StdRng::seed_from_u64(21);
            let tilted = Blend::new(vec![(&cats, 1.0), (&dogs, 9.0)]).unwrap();
            let dog = share(&tilted, "dog", 4_000, &mut rng);
            assert!((dog - 0.9).abs() < 0.03, "order {order}: {dog}");
            let even = Blend::new(vec![(&cats, 1.0), (&dogs, 1.0)]).unwrap();
            let dog = share(&even, "dog", 4_000, &mut rng);
            assert!((dog - 0.5).abs() < 0.03, "order {order}: {dog}");
            // Counts weigh too: three cat sentences at weight 1 against one dog
            // sentence at weight 3 are even.
            let cats = model(&["the cat sat", "the cat ran", "the cat hid"], order);
            let dogs = model(&["the dog slept"], order);
            let counted = Blend::new(vec![(&cats, 1.0), (&dogs, 3.0)]).unwrap();
            let dog = share(&counted, "dog", 4_000, &mut rng);
            assert!((dog - 0.5).abs() < 0.03, "order {order}: {dog}");
        }
    }

    #[test]
    fn extreme_weights_still_draw_the_light_part_where_it_alone_goes() {
        // A state of the light part only: every cheap draw there is rejected, so
        // the successors are weighed one by one.
        let cats = model(&["the cat sat down", "the cat ran off"], 1);
        let dogs = model(&["the dog barked loudly", "the dog slept"], 1);
        let options = GenerateOptions { start: start("cat", false), test_output: false, ..Default::default() };
        let mut rng = StdRng::seed_from_u64(5);
        for weights in [(1e-12, 1.0), (f64::MIN_POSITIVE, f64::MAX), (1.0, 99.0)] {
            let blend = Blend::new(vec![(&cats, weights.0), (&dogs, weights.1)]).unwrap();
            let mut texts: Vec<String> = (0..200).map(|_| blend.generate(&options, &mut rng).unwrap()).collect();
            texts.sort();
            texts.dedup();
            assert_eq!(texts, ["cat ran off", "cat sat down"], "{weights:?}");
            // From the start, (almost) only dogs.
            assert!(share(&blend, "dog", 200, &mut rng) > 0.9, "{weights:?}");
        }
    }

    #[test]
    fn equal_weights_over_a_split_corpus_are_the_model_of_it_all() {
        for order in 1..=3 {
            let whole = model(&CORPUS, order);
            let parts = [model(&CORPUS[..2], order), model(&CORPUS[2..3], order), model(&CORPUS[3..], order)];
            let blend = Blend::new(parts.iter().map(|part| (part, 2.0)).collect()).unwrap();
            assert!(blend.model == whole && blend.weights.is_none(), "order {order}");
            assert_eq!(blend.memory_bytes(), whole.memory_bytes() + std::mem::size_of::<Option<Weights>>());
            // So the same draws for the same seed.
            let options = GenerateOptions { tries: 1000, ..Default::default() };
            let (mut rng, mut again) = (StdRng::seed_from_u64(8), StdRng::seed_from_u64(8));
            for _ in 0..50 {
                assert_eq!(blend.generate(&options, &mut rng), whole.generate(&options, &mut again));
            }
            // Unequal weights: the same model and each position's part.
            let tilted = Blend::new(parts.iter().zip([1.0, 2.0, 3.0]).collect()).unwrap();
            let weights = tilted.weights.as_ref().unwrap();
            let lengths = parts.iter().map(|part| part.corpus.len() - 1);
            let expected: Vec<usize> = std::iter::once(0)
                .chain(lengths.enumerate().flat_map(|(part, len)| std::iter::repeat_n(part, len)))
                .collect();
            let found: Vec<usize> = (0..whole.corpus.len() as u32).map(|position| weights.part(position)).collect();
            assert!(tilted.model == whole && found == expected, "order {order}: {found:?}");
            assert_eq!(weights.share, [1.0 / 3.0, 2.0 / 3.0, 1.0]);
            let tables = 3 * (4 + std::mem::size_of::<Bernoulli>() + 8);
            assert_eq!(tilted.memory_bytes(), blend.memory_bytes() + tables);
        }
    }

    #[test]
    fn a_blend_of_shared_models_is_built_once_and_reused() {
        fn shareable<T: Send + Sync>(_: &T) {}
        let cats = Arc::new(model(&CORPUS[..3], 1));
        let dogs = Arc::new(model(&CORPUS[3..], 1));
        let blend = Blend::new(vec![(Arc::clone(&cats), 1.0), (Arc::clone(&dogs), 2.0)]).unwrap();
        shareable(&blend);
        assert_eq!(Arc::strong_count(&cats), 1, "the blend keeps no part");
        // One part: a copy of it, drawing as it does.
        let alone = Blend::new(vec![(&*cats, 3.0)]).unwrap();
        assert!(alone.weights.is_none());
        assert_eq!(alone.memory_bytes(), cats.memory_bytes() + std::mem::size_of::<Option<Weights>>());
        let options = GenerateOptions { tries: 1000, ..Default::default() };
        let (mut rng, mut again) = (StdRng::seed_from_u64(2), StdRng::seed_from_u64(2));
        for _ in 0..50 {
            assert_eq!(alone.generate(&options, &mut rng), cats.generate(&options, &mut again));
        }
        // The same draws as a blend borrowing the models, call after call.
        let borrowed = Blend::new(vec![(&*cats, 1.0), (&*dogs, 2.0)]).unwrap();
        let (mut rng, mut again) = (StdRng::seed_from_u64(3), StdRng::seed_from_u64(3));
        for _ in 0..100 {
            let text = blend.generate(&options, &mut rng).unwrap();
            assert_eq!(Ok(&text), borrowed.generate(&options, &mut again).as_ref());
            assert!(learned_by_some(&[&cats, &dogs], &text) && !CORPUS.contains(&text.as_str()), "{text}");
        }
    }

    #[test]
    fn a_blend_crosses_parts_through_shared_tokens() {
        let first = model(&["a b c"], 1);
        let second = model(&["c b a x y"], 1);
        // The same token has different ids in the two parts.
        let ids = |token| (first.vocabulary.id(token), second.vocabulary.id(token));
        assert!(ids("a").0 != ids("a").1 && ids("c").0 != ids("c").1, "{:?} {:?}", ids("a"), ids("c"));
        for weights in [(1.0, 1.0), (1.0, 3.0)] {
            let blend = Blend::new(vec![(&first, weights.0), (&second, weights.1)]).unwrap();
            let mut rng = StdRng::seed_from_u64(4);
            let options = GenerateOptions { test_output: false, ..Default::default() };
            let mut texts: Vec<String> = (0..2000).map(|_| blend.generate(&options, &mut rng).unwrap()).collect();
            assert!(texts.iter().all(|text| learned_by_some(&[&first, &second], text)), "{texts:?}");
            // Through the shared "b": from the first part into the second, and back.
            texts.sort();
            texts.dedup();
            assert!(
                ["a b a x y", "c b c", "a b c b a x y"].iter().all(|t| texts.contains(&t.to_string())),
                "{texts:?}"
            );
            // Start words only the second part has.
            for (words, strict) in [("x", true), ("x", false), ("a x", false)] {
                let options = GenerateOptions { start: start(words, strict), test_output: false, ..Default::default() };
                let expected = if words == "x" { "x y" } else { "a x y" };
                assert_eq!(blend.generate(&options, &mut rng).unwrap(), expected);
            }
            // Start words only the first part begins a sentence with.
            let options = GenerateOptions { start: start("a b", true), test_output: false, ..Default::default() };
            assert!(blend.generate(&options, &mut rng).unwrap().starts_with("a b "));
            // Start words no part has, or not together.
            for words in ["zebra", "c a"] {
                let options = GenerateOptions { start: start(words, false), ..Default::default() };
                assert_eq!(blend.generate(&options, &mut rng), Err(Error::UnknownStartWords(words.into())));
            }
            // A crossing that copies neither part passes the overlap test; copies do not.
            let options = GenerateOptions { tries: 1000, ..Default::default() };
            for _ in 0..50 {
                let text = blend.generate(&options, &mut rng).unwrap();
                assert!(text != "a b c" && text != "c b a x y", "{text}");
            }
        }
        // Order 2: a shared state ("b a" in both) carries the sentence across.
        let first = model(&["c b a d", "p q"], 2);
        let second = model(&["x b a y", "b a z"], 2);
        let blend = Blend::new(vec![(&first, 1.0), (&second, 1.0)]).unwrap();
        let mut rng = StdRng::seed_from_u64(6);
        let options = GenerateOptions { tries: 1000, ..Default::default() };
        let mut texts: Vec<String> = (0..300).map(|_| blend.generate(&options, &mut rng).unwrap()).collect();
        texts.sort();
        texts.dedup();
        // ("b a d", drawn from the second part then the first, is in the first.)
        assert_eq!(texts, ["c b a y", "c b a z", "x b a d", "x b a z"]);
    }

    #[test]
    fn no_character_limit_is_no_limit() {
        let model = model(&CORPUS, 1);
        let options = GenerateOptions { max_chars: None, test_output: false, ..Default::default() };
        assert!(draw(&model, &options, 2, 20).iter().all(Result::is_ok));
    }

    #[test]
    fn blends_need_compatible_models_and_positive_weights() {
        let one = model(&CORPUS, 1);
        let two = model(&CORPUS, 2);
        let refused = |parts: Vec<(&Model, f64)>| matches!(Blend::new(parts), Err(Error::ImpossibleConstraints(_)));
        assert!(refused(vec![(&one, 1.0), (&two, 1.0)]));
        for weight in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(refused(vec![(&one, 1.0), (&one, weight)]), "{weight}");
        }
        assert!(refused(Vec::new()));
        // Any number of parts.
        let many = Blend::new(vec![(&one, 1.0); 300]).unwrap();
        assert_eq!(many.model.sentence_count(), 300 * one.sentence_count());
    }
}
