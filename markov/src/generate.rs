//! Generation with markovify's options: tries, overlap test, length limits and
//! start words; over one model or a weighted blend of several.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::ops::Range;

use rand::Rng;

use crate::model::{check_order, Model, BOUNDARY, MAX_ORDER};
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
        Blend::new(vec![(self, 1.0)])?.generate(options, rng)
    }
}

/// Several models generating together, each transition weighted by
/// `weight × count` (markovify's `combine`), without building a merged model.
///
/// `M` is how the blend holds its models: `&Model` for a blend used once,
/// `Arc<Model>` for one built once and kept (it is `Send + Sync` when `M` is).
pub struct Blend<M: Borrow<Model>> {
    parts: Vec<(M, f64)>,
    order: usize,
    /// Empty for one part, whose ids need no translating.
    tables: Tables,
}

/// A token a part does not know.
const NONE: u32 = u32::MAX;

/// What parts need to follow a sentence through each other: ids common to every
/// part ("global"), numbered in text order so that a text is found by binary
/// search (global 0 is the boundary, as in every part), and where to search for
/// a part's state.
#[derive(Default)]
struct Tables {
    /// Per part, local id → global id.
    to_global: Vec<Vec<u32>>,
    /// `from_global[global × parts + part]`: that part's id, or `NONE`. By token,
    /// so that translating a token into every part reads one row.
    from_global: Vec<u32>,
    /// Per part, `after[part][id]..after[part][id + 1]` are the `by_context` ranks
    /// of the states whose newest token is `id`: where to search for a state.
    after: Vec<Vec<u32>>,
}

impl Tables {
    fn new(models: &[&Model]) -> Self {
        let parts = models.len();
        // Equal texts are adjacent once sorted: each run is one global id. (Should a
        // decoded model repeat a token, its highest id wins, as in a text → id map.)
        let mut tokens: Vec<(&str, usize, u32)> = models
            .iter()
            .enumerate()
            .flat_map(|(part, model)| {
                (1..model.vocabulary.len() as u32).map(move |id| (model.vocabulary.token(id), part, id))
            })
            .collect();
        tokens.sort_unstable();
        let mut to_global: Vec<Vec<u32>> = models.iter().map(|model| vec![BOUNDARY; model.vocabulary.len()]).collect();
        let mut from_global = vec![BOUNDARY; parts];
        for (i, &(text, part, id)) in tokens.iter().enumerate() {
            if i == 0 || tokens[i - 1].0 != text {
                from_global.resize(from_global.len() + parts, NONE);
            }
            let global = from_global.len() / parts - 1;
            to_global[part][id as usize] = global as u32;
            from_global[global * parts + part] = id;
        }
        let after = models.iter().map(|model| states_after_each_token(model)).collect();
        Self { to_global, from_global, after }
    }
}

/// `by_context` is sorted by the token before each position first: counting
/// those tokens gives where each one's states begin.
fn states_after_each_token(model: &Model) -> Vec<u32> {
    let mut starts = vec![0u32; model.vocabulary.len() + 1];
    for &token in &model.corpus[..model.corpus.len() - 1] {
        starts[token as usize + 1] += 1;
    }
    for id in 1..starts.len() {
        starts[id] += starts[id - 1];
    }
    starts
}

/// One generated token: where in which part's corpus it was drawn.
#[derive(Debug, Clone, Copy)]
struct Pick {
    part: usize,
    position: u32,
}

impl<M: Borrow<Model>> Blend<M> {
    pub fn new(parts: Vec<(M, f64)>) -> Result<Self, Error> {
        let order = parts.first().ok_or(Error::ImpossibleConstraints("nothing to blend"))?.0.borrow().order;
        check_order(order)?;
        if parts.iter().any(|(model, _)| model.borrow().order != order) {
            return Err(Error::ImpossibleConstraints("blended models must have the same order"));
        }
        if parts.iter().any(|&(_, weight)| !(weight.is_finite() && weight > 0.0)) {
            return Err(Error::ImpossibleConstraints("weights must be positive"));
        }
        let tables = if parts.len() == 1 {
            Tables::default()
        } else {
            Tables::new(&parts.iter().map(|(model, _)| model.borrow()).collect::<Vec<_>>())
        };
        Ok(Self { parts, order, tables })
    }

    /// Bytes of the tables the parts need to follow each other (none for one
    /// part); the models are counted by whoever holds them.
    pub fn memory_bytes(&self) -> usize {
        let per_part = |tables: &[Vec<u32>]| {
            std::mem::size_of_val(tables) + tables.iter().map(|ids| std::mem::size_of_val(&ids[..])).sum::<usize>()
        };
        per_part(&self.tables.to_global)
            + per_part(&self.tables.after)
            + std::mem::size_of_val(&self.tables.from_global[..])
    }

    pub fn generate(&self, options: &GenerateOptions, rng: &mut impl Rng) -> Result<String, Error> {
        validate(options)?;
        let start = options.start.as_ref();
        let start_texts: Vec<&str> = start.map_or(Vec::new(), |s| s.tokens.iter().map(|(t, _)| t.as_str()).collect());
        // Looked up once per call: a single model scans its vocabulary.
        let start_ids: Vec<u32> = start_texts.iter().map(|text| self.global_id(text)).collect();
        let begin = self.begin(start, &start_ids)?;
        let mut states = Vec::new();
        for _ in 0..options.tries {
            let Some(picks) = self.walk(&begin, &start_texts, &start_ids, options, rng, &mut states) else { continue };
            let text = self.render(start, &picks);
            let chars = text.chars().count();
            let words = start_texts.len() + picks.len();
            let too_long = options.max_chars.is_some_and(|max| chars > max);
            let too_short = chars < options.min_chars || options.min_words.is_some_and(|min| words < min);
            if too_long || too_short {
                continue;
            }
            if options.test_output && self.copies_corpus(&start_ids, &picks, &states, options) {
                continue;
            }
            return Ok(text);
        }
        Err(Error::GenerationFailed(options.tries))
    }

    fn model(&self, part: usize) -> &Model {
        self.parts[part].0.borrow()
    }

    fn text(&self, pick: Pick) -> &str {
        let model = self.model(pick.part);
        model.vocabulary.token(model.corpus[pick.position as usize])
    }

    fn render(&self, start: Option<&StartWords>, picks: &[Pick]) -> String {
        let given = start.into_iter().flat_map(|s| &s.tokens).map(|(text, spaced)| Token { text, spaced: *spaced });
        let drawn = picks
            .iter()
            .map(|&pick| Token { text: self.text(pick), spaced: self.model(pick.part).is_spaced(pick.position) });
        join(given.chain(drawn))
    }

    /// A text's global id, or `NONE` if no part knows it. One part's global ids
    /// are its own.
    fn global_id(&self, text: &str) -> u32 {
        let parts = self.parts.len();
        if parts == 1 {
            return self.model(0).vocabulary.id(text).unwrap_or(NONE);
        }
        // A global id's text is in any part that knows it.
        let text_of = |global: usize| {
            let row = &self.tables.from_global[global * parts..(global + 1) * parts];
            let part = row.iter().position(|&id| id != NONE).unwrap_or_default();
            self.model(part).vocabulary.token(row[part])
        };
        let (mut low, mut high) = (1, self.tables.from_global.len() / parts);
        while low < high {
            let middle = (low + high) / 2;
            match text_of(middle).cmp(text) {
                Ordering::Less => low = middle + 1,
                Ordering::Greater => high = middle,
                Ordering::Equal => return middle as u32,
            }
        }
        NONE
    }

    /// The global id of the token drawn at `pick`.
    fn global(&self, pick: Pick) -> u32 {
        let id = self.model(pick.part).corpus[pick.position as usize];
        if self.parts.len() == 1 {
            id
        } else {
            self.tables.to_global[pick.part][id as usize]
        }
    }

    /// `part`'s id of the token with this global id, or `NONE`.
    fn local(&self, part: usize, global: u32) -> u32 {
        let parts = self.parts.len();
        if parts == 1 || global == NONE {
            global
        } else {
            self.tables.from_global[global as usize * parts + part]
        }
    }

    /// Where walks start, per part: the corpus positions the first generated
    /// token may be drawn from.
    fn begin(&self, start: Option<&StartWords>, start_ids: &[u32]) -> Result<Vec<Candidates>, Error> {
        let Some(start) = start else {
            return Ok((0..self.parts.len()).map(|part| Candidates::Ranks(self.model(part).start_group())).collect());
        };
        let mut found = false;
        let begin = (0..self.parts.len())
            .map(|part| {
                let ids: Vec<u32> = start_ids.iter().map(|&global| self.local(part, global)).collect();
                if ids.contains(&NONE) {
                    return Candidates::Positions(Vec::new());
                }
                let candidates = continuations(self.model(part), &ids, start.strict);
                found |= candidates.len() > 0;
                candidates
            })
            .collect();
        if found {
            Ok(begin)
        } else {
            Err(Error::UnknownStartWords(start.text()))
        }
    }

    /// One candidate, or `None` when it breaks a length limit on the way. A
    /// blend's walk leaves in `states` the states every token after the first was
    /// drawn among: one range per part, part after part, token after token.
    fn walk(
        &self,
        begin: &[Candidates],
        start: &[&str],
        start_ids: &[u32],
        options: &GenerateOptions,
        rng: &mut impl Rng,
        states: &mut Vec<Range<usize>>,
    ) -> Option<Vec<Pick>> {
        let max_words = options.max_words.unwrap_or(MAX_WALK_TOKENS).min(MAX_WALK_TOKENS);
        // Counted with a space before every token, hence one more.
        let max_chars = options.max_chars.map_or(usize::MAX, |max| max.saturating_add(1));
        let mut chars = start.iter().map(|t| t.chars().count() + 1).sum::<usize>();
        let mut picks: Vec<Pick> = Vec::new();
        states.clear();
        // Each part's number of candidates, refilled at every token of a blend.
        let mut counts: Vec<usize> = Vec::new();
        loop {
            let pick = match picks.last() {
                None => {
                    counts.clear();
                    counts.extend(begin.iter().map(Candidates::len));
                    self.pick_from(&counts, rng, |part, i| begin[part].position(self.model(part), i))
                }
                Some(&last) if self.parts.len() == 1 => {
                    // One model: the state after a drawn token is that position's group.
                    let model = self.model(0);
                    let group = model.group_after(last.position);
                    self.pick_from(&[group.len()], rng, |_, i| model.index.by_context[group.start + i])
                }
                Some(&last) => {
                    // The part the last token came from continues from where it was
                    // drawn, as one model does, unless that was after loose start words
                    // shorter than the order: there its context is the corpus's, while a
                    // blend takes the start words to begin the sentence.
                    let in_context = picks.len() > 1
                        || start.len() >= self.order
                        || matches!(begin[last.part], Candidates::Ranks(_));
                    let row = states.len();
                    for part in 0..self.parts.len() {
                        let state = match part == last.part && in_context {
                            true => self.model(part).group_after(last.position),
                            false => {
                                let previous = row.checked_sub(self.parts.len()).map(|r| states[r + part].clone());
                                self.state_after(part, start_ids, &picks, previous)
                            }
                        };
                        states.push(state);
                    }
                    let groups = &states[row..];
                    counts.clear();
                    counts.extend(groups.iter().map(Range::len));
                    self.pick_from(&counts, rng, |part, i| self.model(part).index.by_context[groups[part].start + i])
                }
            }?;
            let model = self.model(pick.part);
            if model.corpus[pick.position as usize] == BOUNDARY {
                return (!picks.is_empty() || !start.is_empty()).then_some(picks);
            }
            chars += self.text(pick).chars().count() + usize::from(model.is_spaced(pick.position));
            picks.push(pick);
            if start.len() + picks.len() > max_words || chars > max_chars {
                return None;
            }
        }
    }

    /// Draws among the parts' candidates, each part weighted by its count times
    /// its weight; `position(part, i)` is the part's `i`-th candidate.
    fn pick_from(&self, counts: &[usize], rng: &mut impl Rng, position: impl Fn(usize, usize) -> u32) -> Option<Pick> {
        let part = if let [_] = counts {
            0
        } else {
            let weight = |part: usize| counts[part] as f64 * self.parts[part].1;
            let total: f64 = (0..counts.len()).map(weight).sum();
            if total <= 0.0 {
                return None;
            }
            let mut target = rng.random_range(0.0..total);
            let chosen = (0..counts.len()).find(|&part| {
                target -= weight(part);
                target < 0.0
            });
            // Rounding can leave `target` a hair above zero: take the last part with candidates.
            chosen.or_else(|| counts.iter().rposition(|&n| n > 0))?
        };
        if counts[part] == 0 {
            return None;
        }
        let i = rng.random_range(0..counts[part]);
        Some(Pick { part, position: position(part, i) })
    }

    /// Successor ranks in `part` of the sentence so far (start words + at least
    /// one pick): `previous`, its state before the last pick, continued if the part
    /// has that transition, else searched for by the last `order` tokens.
    fn state_after(
        &self,
        part: usize,
        start_ids: &[u32],
        picks: &[Pick],
        previous: Option<Range<usize>>,
    ) -> Range<usize> {
        let model = self.model(part);
        let newest = self.local(part, self.global(picks[picks.len() - 1]));
        if newest == NONE {
            return 0..0;
        }
        if let Some(previous) = previous {
            // A group is sorted by the token drawn from it.
            let members = &model.index.by_context[previous];
            let at = members.partition_point(|&p| model.corpus[p as usize] < newest);
            if let Some(&position) = members.get(at).filter(|&&p| model.corpus[p as usize] == newest) {
                return model.group_after(position);
            }
        }
        let so_far = start_ids.len() + picks.len();
        let known = so_far.min(self.order);
        // Padded with boundaries while the sentence is shorter than the order.
        let mut key = [BOUNDARY; MAX_ORDER];
        for (slot, i) in key[self.order - known..self.order].iter_mut().zip(so_far - known..) {
            let global = match i.checked_sub(start_ids.len()) {
                None => start_ids[i],
                Some(drawn) => self.global(picks[drawn]),
            };
            *slot = self.local(part, global);
            if *slot == NONE {
                return 0..0;
            }
        }
        let after = &self.tables.after[part];
        let newest = newest as usize;
        model.group_within(after[newest] as usize..after[newest + 1] as usize, &key[..self.order])
    }

    /// markovify's `test_sentence_output`, over token runs instead of substrings.
    fn copies_corpus(
        &self,
        start_ids: &[u32],
        picks: &[Pick],
        states: &[Range<usize>],
        options: &GenerateOptions,
    ) -> bool {
        let parts = self.parts.len();
        let given = start_ids.len();
        let words = given + picks.len();
        let overlap_max = options.max_overlap_total.min(round_half_even(options.max_overlap_ratio * words as f64));
        let window = overlap_max + 1;
        let gram_count = words.saturating_sub(overlap_max).max(1);
        (0..parts).any(|part| {
            // A token unknown to this part only rules out the windows holding it.
            let model = self.model(part);
            let drawn = picks.iter().map(|&pick| match pick.part == part {
                true => model.corpus[pick.position as usize],
                false => self.local(part, self.global(pick)),
            });
            let ids: Vec<u32> = start_ids.iter().map(|&global| self.local(part, global)).chain(drawn).collect();
            (0..gram_count).any(|i| {
                let gram = &ids[i..(i + window).min(ids.len())];
                // The walk knows the state of the gram's first `order` tokens when
                // it drew the next: the group of that token in its own part, and
                // in a blend every part's, as it left them in `states`.
                let drawn = (i + model.order).checked_sub(given).filter(|&t| t < picks.len());
                let state = drawn.and_then(|t| match t.checked_sub(1) {
                    Some(row) if parts > 1 => Some(states[row * parts + part].clone()),
                    _ => (picks[t].part == part).then(|| model.group_at(picks[t].position)),
                });
                !gram.contains(&NONE) && occurs(model, gram, state)
            })
        })
    }
}

/// Where a part's first generated token may be drawn from.
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

    #[test]
    fn a_blend_of_shared_models_is_built_once_and_reused() {
        fn shareable<T: Send + Sync>(_: &T) {}
        let cats = Arc::new(model(&CORPUS[..3], 1));
        let dogs = Arc::new(model(&CORPUS[3..], 1));
        let blend = Blend::new(vec![(Arc::clone(&cats), 1.0), (Arc::clone(&dogs), 2.0)]).unwrap();
        shareable(&blend);
        assert!(blend.memory_bytes() > 0);
        assert_eq!(Blend::new(vec![(&*cats, 1.0)]).unwrap().memory_bytes(), 0, "one part needs no tables");
        // The same draws as a blend borrowing the models, call after call.
        let borrowed = Blend::new(vec![(&*cats, 1.0), (&*dogs, 2.0)]).unwrap();
        let options = GenerateOptions { tries: 1000, ..Default::default() };
        let (mut rng, mut again) = (StdRng::seed_from_u64(3), StdRng::seed_from_u64(3));
        for _ in 0..100 {
            let text = blend.generate(&options, &mut rng).unwrap();
            assert_eq!(Ok(&text), borrowed.generate(&options, &mut again).as_ref());
            assert!(learned_by_some(&[&cats, &dogs], &text) && !CORPUS.contains(&text.as_str()), "{text}");
        }
    }

    #[test]
    fn a_blend_translates_tokens_between_parts() {
        let first = model(&["a b c"], 1);
        let second = model(&["c b a x y"], 1);
        // The same token has different ids in the two parts.
        let ids = |token| (first.vocabulary.id(token), second.vocabulary.id(token));
        assert!(ids("a").0 != ids("a").1 && ids("c").0 != ids("c").1, "{:?} {:?}", ids("a"), ids("c"));
        let blend = Blend::new(vec![(&first, 1.0), (&second, 1.0)]).unwrap();
        let mut rng = StdRng::seed_from_u64(4);
        let options = GenerateOptions { test_output: false, ..Default::default() };
        let mut texts: Vec<String> = (0..300).map(|_| blend.generate(&options, &mut rng).unwrap()).collect();
        assert!(texts.iter().all(|text| learned_by_some(&[&first, &second], text)), "{texts:?}");
        // Through the shared "b": from the first part into the second, and back.
        texts.sort();
        texts.dedup();
        assert!(["a b a x y", "c b c", "a b a b c"].iter().all(|t| texts.contains(&t.to_string())), "{texts:?}");
        // Start words only the second part has.
        for (words, strict) in [("x", true), ("x", false), ("a x", false)] {
            let options = GenerateOptions { start: start(words, strict), test_output: false, ..Default::default() };
            let expected = if words == "x" { "x y" } else { "a x y" };
            assert_eq!(blend.generate(&options, &mut rng).unwrap(), expected);
        }
        // A crossing that copies neither part passes the overlap test; copies do not.
        let options = GenerateOptions { tries: 1000, ..Default::default() };
        for _ in 0..50 {
            let text = blend.generate(&options, &mut rng).unwrap();
            assert!(text != "a b c" && text != "c b a x y", "{text}");
        }
        // Order 2: a shared state ("b a" in both) carries the sentence across.
        let first = model(&["c b a d", "p q"], 2);
        let second = model(&["x b a y", "b a z"], 2);
        let blend = Blend::new(vec![(&first, 1.0), (&second, 1.0)]).unwrap();
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
        assert!(Blend::new(vec![(&one, 1.0), (&two, 1.0)]).is_err());
        assert!(Blend::new(vec![(&one, 0.0)]).is_err());
        assert!(Blend::<&Model>::new(Vec::new()).is_err());
    }
}
