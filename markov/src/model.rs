//! The model: the training corpus as token ids, plus an index that makes it an
//! order-N Markov chain.
//!
//! Storing the corpus instead of a table of transitions is what keeps models small:
//! the transitions are derived from it when a model is loaded, in linear time. The
//! index is every corpus position sorted by the N tokens before it (nearest first),
//! then by the token at it. Positions sharing their N preceding tokens form a
//! *group*: the successors of that state, each as often as it followed the state in
//! the corpus. Drawing the next token is picking a random member of the current
//! group — exactly markovify's frequency-weighted choice, without counting. The
//! same order lets `find` locate any short token sequence by binary search, which
//! is what the overlap test needs.

use std::cmp::Ordering;
use std::ops::Range;

use crate::tokenize::{Token, Tokenizer};
use crate::Error;

pub const MAX_ORDER: usize = 4;
/// Chosen by measurement (`bench/engine.sh`, order sweep): on 3,200 lines, 91 % of
/// order-2 draws pass the overlap test against 53 % at order 3 and 15 % at order 4,
/// and order 1 reads as word salad.
pub const DEFAULT_ORDER: usize = 2;

/// Sentences tokenized at once in training: enough to give every core a share
/// (`Tokenizer::tokenize_all` gives a thread at least 1,000), few enough that
/// their tokens stay small beside the corpus.
const TOKENIZE_BATCH: usize = 4_096;

/// Token id 0 ends every sentence (and stands before the first one).
pub(crate) const BOUNDARY: u32 = 0;

/// Positions are u32; keep well below so `position + 1` never overflows.
pub(crate) const MAX_CORPUS_TOKENS: usize = (u32::MAX / 2) as usize;

/// Token strings by id, stored as one string; id 0 (the boundary) is empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Vocabulary {
    pub(crate) text: String,
    /// `ends[id]` is where token `id` ends in `text`; it starts where `id - 1` ends.
    pub(crate) ends: Vec<u32>,
}

impl Vocabulary {
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn token(&self, id: u32) -> &str {
        let id = id as usize;
        let start = if id == 0 { 0 } else { self.ends[id - 1] as usize };
        &self.text[start..self.ends[id] as usize]
    }

    pub(crate) fn id(&self, token: &str) -> Option<u32> {
        (1..self.len() as u32).find(|&id| self.token(id) == token)
    }
}

/// A trained model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Model {
    pub(crate) order: usize,
    pub(crate) vocabulary: Vocabulary,
    /// `[BOUNDARY, sentence 1…, BOUNDARY, sentence 2…, BOUNDARY, …]`.
    pub(crate) corpus: Vec<u32>,
    /// Bit per corpus position: whitespace preceded that token in the source.
    pub(crate) spaced: Vec<u64>,
    pub(crate) sentences: u32,
    pub(crate) index: Index,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Index {
    /// Corpus positions 1.. sorted by (preceding tokens nearest first, token).
    pub(crate) by_context: Vec<u32>,
    /// Group (state) of each corpus position; entry 0 is unused.
    pub(crate) group_of: Vec<u32>,
    /// Group `g` is `by_context[group_starts[g]..group_starts[g + 1]]`.
    pub(crate) group_starts: Vec<u32>,
}

impl Model {
    /// Learns from sentences (one per item, already cleaned); sentences without
    /// tokens are skipped.
    pub fn train<S: AsRef<str> + Sync>(tokenizer: &Tokenizer, sentences: &[S], order: usize) -> Result<Self, Error> {
        check_order(order)?;
        let mut interned: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
        let mut first_seen: Vec<&str> = vec![""];
        let mut counts: Vec<u64> = vec![0];
        let mut corpus = vec![BOUNDARY];
        let mut spaced_positions = Vec::new();
        let mut learned = 0u32;
        // In batches: the tokens of a whole corpus would be 24 bytes per word
        // at once, several times the text (a training's memory is bounded by its
        // text: see the app's training tests).
        let batches = sentences.chunks(TOKENIZE_BATCH).flat_map(|batch| tokenizer.tokenize_all(batch));
        for tokens in batches {
            if tokens.is_empty() {
                continue;
            }
            learned += 1;
            for Token { text, spaced } in tokens {
                let id = *interned.entry(text).or_insert_with(|| {
                    first_seen.push(text);
                    counts.push(0);
                    (first_seen.len() - 1) as u32
                });
                counts[id as usize] += 1;
                if spaced {
                    spaced_positions.push(corpus.len());
                }
                corpus.push(id);
            }
            corpus.push(BOUNDARY);
            if corpus.len() > MAX_CORPUS_TOKENS {
                return Err(Error::CorpusTooLarge(MAX_CORPUS_TOKENS));
            }
        }
        if learned == 0 {
            return Err(Error::EmptyCorpus);
        }
        let vocabulary = number_by_frequency(&first_seen, &counts, &mut corpus);
        let mut spaced = vec![0u64; corpus.len().div_ceil(64)];
        for position in spaced_positions {
            spaced[position / 64] |= 1 << (position % 64);
        }
        Ok(Self::from_parts(order, vocabulary, corpus, spaced, learned))
    }

    /// One model of the sentences of `models` (one order), model after model: the
    /// model training on all their sentences in that order gives, token ids
    /// included (tokens numbered by first appearance, then by frequency).
    pub(crate) fn concatenate(models: &[&Model]) -> Result<Self, Error> {
        let order = models.first().ok_or(Error::EmptyCorpus)?.order;
        debug_assert!(models.iter().all(|model| model.order == order));
        let length = 1 + models.iter().map(|model| model.corpus.len() - 1).sum::<usize>();
        if length > MAX_CORPUS_TOKENS {
            return Err(Error::CorpusTooLarge(MAX_CORPUS_TOKENS));
        }
        let mut interned: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
        let mut first_seen: Vec<&str> = vec![""];
        let mut counts: Vec<u64> = vec![0];
        let mut corpus = Vec::with_capacity(length);
        corpus.push(BOUNDARY);
        let mut spaced = vec![0u64; length.div_ceil(64)];
        const UNSEEN: u32 = u32::MAX;
        for model in models {
            // A text looked up once per model (a decoded model's repeated token maps to one id).
            let mut shared = vec![UNSEEN; model.vocabulary.len()];
            shared[BOUNDARY as usize] = BOUNDARY;
            for (position, &id) in model.corpus.iter().enumerate().skip(1) {
                let slot = &mut shared[id as usize];
                if *slot == UNSEEN {
                    let text = model.vocabulary.token(id);
                    *slot = *interned.entry(text).or_insert_with(|| {
                        first_seen.push(text);
                        counts.push(0);
                        (first_seen.len() - 1) as u32
                    });
                }
                counts[*slot as usize] += 1;
                if model.is_spaced(position as u32) {
                    spaced[corpus.len() / 64] |= 1 << (corpus.len() % 64);
                }
                corpus.push(*slot);
            }
        }
        // Each model's vocabulary fits u32 offsets; all of them might not.
        if first_seen.iter().map(|text| text.len()).sum::<usize>() > u32::MAX as usize {
            return Err(Error::CorpusTooLarge(MAX_CORPUS_TOKENS));
        }
        let vocabulary = number_by_frequency(&first_seen, &counts, &mut corpus);
        let sentences = models.iter().map(|model| model.sentences).sum();
        Ok(Self::from_parts(order, vocabulary, corpus, spaced, sentences))
    }

    pub(crate) fn from_parts(
        order: usize,
        vocabulary: Vocabulary,
        corpus: Vec<u32>,
        spaced: Vec<u64>,
        sentences: u32,
    ) -> Self {
        let index = Index::build(&corpus, vocabulary.len(), order);
        Self { order, vocabulary, corpus, spaced, sentences, index }
    }

    /// The same corpus as a chain of another order (the index is rebuilt).
    pub fn with_order(self, order: usize) -> Result<Self, Error> {
        check_order(order)?;
        Ok(Self::from_parts(order, self.vocabulary, self.corpus, self.spaced, self.sentences))
    }

    pub fn order(&self) -> usize {
        self.order
    }

    /// How many sentences the model learned from.
    pub fn sentence_count(&self) -> u32 {
        self.sentences
    }

    /// Distinct tokens learned.
    pub fn vocabulary_size(&self) -> usize {
        self.vocabulary.len() - 1
    }

    /// Bytes held in memory (for caches bounded by size).
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.vocabulary.text.len()
            + 4 * (self.vocabulary.ends.len()
                + self.corpus.len()
                + self.index.by_context.len()
                + self.index.group_of.len()
                + self.index.group_starts.len())
            + 8 * self.spaced.len()
    }

    pub(crate) fn is_spaced(&self, position: u32) -> bool {
        let position = position as usize;
        self.spaced[position / 64] >> (position % 64) & 1 == 1
    }

    /// The group (state) whose successors follow `position`'s token.
    pub(crate) fn group_after(&self, position: u32) -> Range<usize> {
        self.group_at(position + 1)
    }

    /// The group `position` belongs to: the state its token was drawn from.
    pub(crate) fn group_at(&self, position: u32) -> Range<usize> {
        let group = self.index.group_of[position as usize] as usize;
        self.index.group_starts[group] as usize..self.index.group_starts[group + 1] as usize
    }

    /// The group of sentence starts.
    pub(crate) fn start_group(&self) -> Range<usize> {
        self.group_after(0)
    }

    /// `by_context` ranks of the positions where `sequence` (up to `order + 1`
    /// tokens, no boundary) occurs within one sentence, identified by where its
    /// last token is (if it is `order + 1` long) or the position right after it.
    pub(crate) fn find(&self, sequence: &[u32]) -> Range<usize> {
        debug_assert!(sequence.len() <= self.order + 1);
        let (before, at) = match sequence.split_at_checked(self.order) {
            Some((context, [at])) => (context, Some(*at)),
            _ => (sequence, None),
        };
        let compare = |&position: &u32| self.compare_key(position, before, at);
        let start = self.index.by_context.partition_point(|p| compare(p) == Ordering::Less);
        let end = start + self.index.by_context[start..].partition_point(|p| compare(p) != Ordering::Greater);
        start..end
    }

    /// Orders `position`'s key (preceding tokens nearest first, then its own token)
    /// against the leading part of a key.
    fn compare_key(&self, position: u32, before: &[u32], at: Option<u32>) -> Ordering {
        let position = position as usize;
        let mut in_sentence = true;
        for (distance, &wanted) in before.iter().rev().enumerate() {
            let token = if in_sentence { self.corpus[position - 1 - distance] } else { BOUNDARY };
            in_sentence = token != BOUNDARY;
            match token.cmp(&wanted) {
                Ordering::Equal => {}
                unequal => return unequal,
            }
        }
        at.map_or(Ordering::Equal, |at| self.corpus[position].cmp(&at))
    }
}

/// The vocabulary of tokens numbered by first appearance (`first_seen[id]`, seen
/// `counts[id]` times), renumbering `corpus`: frequent tokens get small ids (fewer
/// bytes in the stored corpus), equally frequent ones keep their order.
fn number_by_frequency(first_seen: &[&str], counts: &[u64], corpus: &mut [u32]) -> Vocabulary {
    let mut by_frequency: Vec<u32> = (1..first_seen.len() as u32).collect();
    by_frequency.sort_by_key(|&id| std::cmp::Reverse(counts[id as usize]));
    let mut new_id = vec![BOUNDARY; first_seen.len()];
    let mut vocabulary = Vocabulary { text: String::new(), ends: vec![0] };
    for (rank, &old) in by_frequency.iter().enumerate() {
        new_id[old as usize] = rank as u32 + 1;
        vocabulary.text.push_str(first_seen[old as usize]);
        vocabulary.ends.push(vocabulary.text.len() as u32);
    }
    for id in corpus {
        *id = new_id[*id as usize];
    }
    vocabulary
}

pub(crate) fn check_order(order: usize) -> Result<(), Error> {
    if (1..=MAX_ORDER).contains(&order) {
        Ok(())
    } else {
        Err(Error::InvalidOrder(order))
    }
}

impl Index {
    /// Sorts positions by key with one counting sort per key component, least
    /// significant first: linear in the corpus length.
    fn build(corpus: &[u32], vocabulary_len: usize, order: usize) -> Self {
        // contexts[d - 1][p]: the token d places before p, or the boundary once
        // the sentence has begun (markovify pads every start with boundaries).
        let mut contexts = vec![vec![BOUNDARY; corpus.len()]; order];
        for (position, &token) in corpus.iter().enumerate().skip(1) {
            let previous = corpus[position - 1];
            if previous != BOUNDARY {
                contexts[0][position] = previous;
                for distance in 1..order {
                    contexts[distance][position] = contexts[distance - 1][position - 1];
                }
            }
            debug_assert!(token as usize <= vocabulary_len);
        }

        let mut by_context: Vec<u32> = (1..corpus.len() as u32).collect();
        let mut sorted = vec![0u32; by_context.len()];
        let mut counts = vec![0u32; vocabulary_len + 1];
        for keys in std::iter::once(corpus).chain(contexts.iter().rev().map(Vec::as_slice)) {
            counts.fill(0);
            for &position in &by_context {
                counts[keys[position as usize] as usize + 1] += 1;
            }
            for i in 1..counts.len() {
                counts[i] += counts[i - 1];
            }
            for &position in &by_context {
                let slot = &mut counts[keys[position as usize] as usize];
                sorted[*slot as usize] = position;
                *slot += 1;
            }
            std::mem::swap(&mut by_context, &mut sorted);
        }

        let mut group_of = vec![0u32; corpus.len()];
        let mut group_starts = Vec::new();
        let mut previous: Option<usize> = None;
        for (rank, &position) in by_context.iter().enumerate() {
            let position = position as usize;
            let same_state = previous.is_some_and(|p| contexts.iter().all(|keys| keys[p] == keys[position]));
            if !same_state {
                group_starts.push(rank as u32);
            }
            group_of[position] = group_starts.len() as u32 - 1;
            previous = Some(position);
        }
        group_starts.push(by_context.len() as u32);
        Self { by_context, group_of, group_starts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn train(sentences: &[&str], order: usize) -> Model {
        Model::train(&Tokenizer::fallback(), sentences, order).unwrap()
    }

    fn ids(model: &Model, tokens: &[&str]) -> Vec<u32> {
        tokens.iter().map(|t| model.vocabulary.id(t).unwrap()).collect()
    }

    #[test]
    fn groups_are_the_states_of_the_chain() {
        let model = train(&["a b c", "a b d", "b c"], 2);
        // After "a b": c and d, once each.
        let range = model.find(&ids(&model, &["a", "b"]));
        let mut next: Vec<&str> =
            model.index.by_context[range].iter().map(|&p| model.vocabulary.token(model.corpus[p as usize])).collect();
        next.sort();
        assert_eq!(next, ["c", "d"]);
        // Sentence starts: a, a, b.
        let mut starts: Vec<&str> = model.index.by_context[model.start_group()]
            .iter()
            .map(|&p| model.vocabulary.token(model.corpus[p as usize]))
            .collect();
        starts.sort();
        assert_eq!(starts, ["a", "a", "b"]);
    }

    #[test]
    fn find_locates_sequences_within_sentences_only() {
        let model = train(&["a b c", "d e"], 2);
        let [a, b, c, d] = ["a", "b", "c", "d"].map(|t| model.vocabulary.id(t).unwrap());
        assert_eq!(model.find(&[a, b, c]).len(), 1);
        assert_eq!(model.find(&[b, c]).len(), 1);
        assert_eq!(model.find(&[a]).len(), 1);
        assert!(model.find(&[c, d]).is_empty(), "c and d are in different sentences");
        assert!(model.find(&[b, a]).is_empty());
    }

    #[test]
    fn frequent_tokens_get_small_ids() {
        let model = train(&["x y", "y z", "y"], 1);
        assert_eq!(model.vocabulary.token(1), "y");
        assert_eq!(model.vocabulary_size(), 3);
        assert_eq!(model.sentence_count(), 3);
    }

    #[test]
    fn rejects_empty_corpus_and_bad_order() {
        let tokenizer = Tokenizer::fallback();
        assert_eq!(Model::train(&tokenizer, &["", "  "], 2), Err(Error::EmptyCorpus));
        assert_eq!(Model::train(&tokenizer, &["a"], 0), Err(Error::InvalidOrder(0)));
        assert_eq!(Model::train(&tokenizer, &["a"], 5), Err(Error::InvalidOrder(5)));
        assert_eq!(train(&["a"], 2).with_order(9), Err(Error::InvalidOrder(9)));
    }
}
