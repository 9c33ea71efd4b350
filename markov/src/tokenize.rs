//! Splitting a sentence into tokens that join back into natural text.
//!
//! Words come from the segmenter (MeCab-identical with the IPADIC dictionary), then
//! things a tweet must keep whole are laid over them: URLs, @mentions, #hashtags,
//! emoji sequences, kaomoji, numbers with separators (3.14, 1,000, 12:30) and
//! Latin contractions (don't). Each token remembers whether whitespace preceded it
//! in the source, so joining restores Latin spacing while Japanese stays unspaced.

use std::io::Read;
use std::ops::Range;

use crate::segment::{self, Segmenter};
use crate::Error;

/// One token of a sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub text: &'a str,
    /// Whitespace preceded it in the source (never true for the first token).
    pub spaced: bool,
}

/// Joins tokens back into text: one space where the source had whitespace.
pub fn join<'a>(tokens: impl IntoIterator<Item = Token<'a>>) -> String {
    let mut text = String::new();
    for token in tokens {
        if token.spaced && !text.is_empty() {
            text.push(' ');
        }
        text.push_str(token.text);
    }
    text
}

/// Splits sentences into tokens; holds the (large, immutable) dictionary.
#[derive(Debug)]
pub struct Tokenizer {
    segmenter: Segmenter,
}

impl Tokenizer {
    /// MeCab-identical segmentation from a dictionary built by [`crate::build_dictionary`].
    pub fn with_dictionary(reader: impl Read) -> Result<Self, Error> {
        Ok(Self { segmenter: Segmenter::from_dictionary(reader)? })
    }

    /// Dictionary-free segmentation: coarser Japanese word boundaries.
    pub fn fallback() -> Self {
        Self { segmenter: Segmenter::Fallback }
    }

    pub fn is_fallback(&self) -> bool {
        self.segmenter.is_fallback()
    }

    pub fn tokenize<'a>(&self, sentence: &'a str) -> Vec<Token<'a>> {
        self.session().tokenize(sentence)
    }

    /// Tokenizes many sentences, in order, on every available core (segmentation
    /// is nearly all of training's time).
    pub fn tokenize_all<'a, S: AsRef<str> + Sync>(&self, sentences: &'a [S]) -> Vec<Vec<Token<'a>>> {
        const MIN_SENTENCES_PER_THREAD: usize = 1_000;
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let per_thread = sentences.len().div_ceil(threads).max(MIN_SENTENCES_PER_THREAD);
        let tokenize_chunk = |chunk: &'a [S]| {
            let mut session = self.session();
            chunk.iter().map(|sentence| session.tokenize(sentence.as_ref())).collect::<Vec<_>>()
        };
        if sentences.len() <= per_thread {
            return tokenize_chunk(sentences);
        }
        std::thread::scope(|scope| {
            let workers: Vec<_> =
                sentences.chunks(per_thread).map(|chunk| scope.spawn(move || tokenize_chunk(chunk))).collect();
            // A panic in a worker is a bug in this crate: pass it on unchanged.
            workers
                .into_iter()
                .flat_map(|worker| worker.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        })
    }

    /// Tokenizes many sentences reusing one segmenter lattice.
    pub fn session(&self) -> TokenizerSession<'_> {
        TokenizerSession { segmenter: self.segmenter.session(), words: Vec::new(), boundaries: Vec::new() }
    }

    /// Word ranges straight from the segmenter, without the tweet-aware overlay
    /// (for measuring agreement with MeCab).
    pub fn segment_words<'a>(&self, sentence: &'a str) -> Vec<&'a str> {
        let mut words = Vec::new();
        self.segmenter.session().segment(sentence, &mut words);
        words.into_iter().map(|r| &sentence[r]).collect()
    }
}

pub struct TokenizerSession<'t> {
    segmenter: segment::Session<'t>,
    words: Vec<Range<usize>>,
    boundaries: Vec<usize>,
}

impl TokenizerSession<'_> {
    pub fn tokenize<'a>(&mut self, sentence: &'a str) -> Vec<Token<'a>> {
        self.words.clear();
        self.segmenter.segment(sentence, &mut self.words);
        let protected = protected_spans(sentence);
        let inside_protected = |b: usize| {
            let i = protected.partition_point(|span| span.end <= b);
            protected.get(i).is_some_and(|span| span.start < b)
        };
        self.boundaries.clear();
        self.boundaries.extend(self.words.iter().flat_map(|w| [w.start, w.end]).filter(|&b| !inside_protected(b)));
        self.boundaries.extend(protected.iter().flat_map(|span| [span.start, span.end]));
        self.boundaries.sort_unstable();
        self.boundaries.dedup();

        let mut tokens = Vec::with_capacity(self.boundaries.len());
        for pair in self.boundaries.windows(2) {
            // A range between two words may hold whitespace the segmenter skipped.
            for run in segment::whitespace_separated(&sentence[pair[0]..pair[1]]) {
                let start = pair[0] + run.start;
                let spaced = !tokens.is_empty() && sentence[..start].ends_with(char::is_whitespace);
                tokens.push(Token { text: &sentence[start..pair[0] + run.end], spaced });
            }
        }
        tokens
    }
}

/// Byte ranges that must stay single tokens, sorted and disjoint.
fn protected_spans(text: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut previous: Option<char> = None;
    let mut i = 0;
    while let Some(c) = text[i..].chars().next() {
        let rest = &text[i..];
        let after_word = previous.is_some_and(|c| c.is_ascii_alphanumeric());
        let length = url_length(rest)
            .or_else(|| if after_word { None } else { tag_length(rest) })
            .or_else(|| emoji_length(rest))
            .or_else(|| kaomoji_length(rest))
            .or_else(|| if after_word { None } else { number_length(rest).or_else(|| contraction_length(rest)) });
        match length {
            Some(length) => {
                spans.push(i..i + length);
                previous = text[..i + length].chars().next_back();
                i += length;
            }
            None => {
                previous = Some(c);
                i += c.len_utf8();
            }
        }
    }
    spans
}

fn url_length(text: &str) -> Option<usize> {
    if !(text.starts_with("http://") || text.starts_with("https://")) {
        return None;
    }
    let end = text.find(|c: char| !c.is_ascii_graphic()).unwrap_or(text.len());
    // Sentence punctuation right after a link is not part of it.
    Some(text[..end].trim_end_matches(['.', ',', '!', '?', ')', '\'', '"']).len())
}

/// `@name` (X's rules: letters, digits, underscore) or `#tag` (any script).
fn tag_length(text: &str) -> Option<usize> {
    let mut chars = text.chars();
    let sigil = chars.next()?;
    let is_body: fn(char) -> bool = match sigil {
        '@' | '＠' => |c| c.is_ascii_alphanumeric() || c == '_',
        '#' | '＃' => |c| c.is_alphanumeric() || matches!(c, '_' | 'ー' | '々'),
        _ => return None,
    };
    let body: usize = chars.take_while(|&c| is_body(c)).map(char::len_utf8).sum();
    (body > 0).then_some(sigil.len_utf8() + body)
}

fn is_pictograph(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2B00..=0x2BFF | 0x2300..=0x23FF | 0x2190..=0x21FF
        | 0x3030 | 0x303D | 0x3297 | 0x3299 | 0xA9 | 0xAE | 0x2122 | 0x2934 | 0x2935)
}

fn is_emoji_modifier(c: char) -> bool {
    matches!(c as u32, 0xFE0E | 0xFE0F | 0x1F3FB..=0x1F3FF | 0x20E3 | 0xE0020..=0xE007F)
}

/// An emoji with its modifiers, ZWJ sequences, flags and keycaps as one token.
fn emoji_length(text: &str) -> Option<usize> {
    let mut chars = text.char_indices().peekable();
    let (_, first) = chars.next()?;
    let keycap = matches!(first, '0'..='9' | '#' | '*')
        && text[first.len_utf8()..].trim_start_matches('\u{FE0F}').starts_with('\u{20E3}');
    if !is_pictograph(first) && !keycap {
        return None;
    }
    let mut end = first.len_utf8();
    let regional = |c: char| ('\u{1F1E6}'..='\u{1F1FF}').contains(&c);
    if regional(first) {
        if let Some((i, c)) = chars.next_if(|&(_, c)| regional(c)) {
            end = i + c.len_utf8();
        }
    }
    loop {
        if let Some((i, c)) = chars.next_if(|&(_, c)| is_emoji_modifier(c)) {
            end = i + c.len_utf8();
        } else if chars.next_if(|&(_, c)| c == '\u{200D}').is_some() {
            match chars.next_if(|&(_, c)| is_pictograph(c)) {
                Some((i, c)) => end = i + c.len_utf8(),
                None => break,
            }
        } else {
            break;
        }
    }
    Some(end)
}

/// A bracketed face: (´・ω・`) or (*´▽`*) — short, no spaces, some non-ASCII
/// symbol and no two letters in a row, which tells "(return)" apart; ASCII faces
/// need matching eyes around ^ or _, as (^_^), (T_T), (>_<), so that "(-f)" or
/// "(0,0)" stay split; and (笑)-style one-character notes.
fn kaomoji_length(text: &str) -> Option<usize> {
    const MAX_INSIDE: usize = 12;
    const ONE_CHAR_FACES: &[char] = &['笑', '泣', '汗', '怒', '喜', '爆'];
    let open = text.chars().next()?;
    let close = match open {
        '(' => ')',
        '（' => '）',
        _ => return None,
    };
    let body = &text[open.len_utf8()..];
    let (end, found) = body.char_indices().take(MAX_INSIDE + 1).find(|&(_, c)| c == close || c.is_whitespace())?;
    if found != close || end == 0 {
        return None;
    }
    let content = &body[..end];
    let chars: Vec<char> = content.chars().collect();
    let face = if let [only] = chars[..] {
        ONE_CHAR_FACES.contains(&only)
    } else if content.is_ascii() {
        let eyes = match (chars[0], chars[chars.len() - 1]) {
            (left, right) if left == right => true,
            (left, right) => matches!((left, right), ('>', '<') | ('<', '>')),
        };
        eyes && content.contains(['^', '_'])
    } else {
        let letters_in_a_row = chars.windows(2).any(|w| w[0].is_alphanumeric() && w[1].is_alphanumeric());
        !letters_in_a_row && chars.iter().any(|c| !c.is_alphanumeric() && !c.is_ascii())
    };
    face.then_some(open.len_utf8() + end + close.len_utf8())
}

/// Digits, with inner separators: 2024, 3.14, 1,000, 12:30 (MeCab keeps plain
/// digit runs whole too; the fallback segmenter would split them).
fn number_length(text: &str) -> Option<usize> {
    let digits = |s: &str| s.chars().take_while(char::is_ascii_digit).count();
    let mut end = digits(text);
    if end == 0 {
        return None;
    }
    while let Some(separator @ ('.' | ',' | ':')) = text[end..].chars().next() {
        let more = digits(&text[end + separator.len_utf8()..]);
        if more == 0 {
            break;
        }
        end += 1 + more;
    }
    Some(end)
}

/// Latin words joined by apostrophes: don't, it's, rock'n'roll.
fn contraction_length(text: &str) -> Option<usize> {
    let letters = |s: &str| s.chars().take_while(char::is_ascii_alphabetic).count();
    let mut end = letters(text);
    if end == 0 {
        return None;
    }
    let mut joined = false;
    while let Some(apostrophe @ ('\'' | '’')) = text[end..].chars().next() {
        let more = letters(&text[end + apostrophe.len_utf8()..]);
        if more == 0 {
            break;
        }
        end += apostrophe.len_utf8() + more;
        joined = true;
    }
    joined.then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sentence: &str) -> Vec<&str> {
        Tokenizer::fallback().tokenize(sentence).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn keeps_tweet_things_whole() {
        let sentence =
            "見て2024年 https://example.com/a?b=1 @user_1 #ハッシュタグ 👍🏽 👨‍👩‍👧 🇯🇵 3.14 1,000 12:30 (^_^) (´・ω・`)";
        let tokens = texts(sentence);
        for whole in [
            "2024",
            "https://example.com/a?b=1",
            "@user_1",
            "#ハッシュタグ",
            "👍🏽",
            "👨‍👩‍👧",
            "🇯🇵",
            "3.14",
            "1,000",
            "12:30",
            "(^_^)",
            "(´・ω・`)",
        ] {
            assert!(tokens.contains(&whole), "{whole:?} not a token in {tokens:?}");
        }
    }

    #[test]
    fn brackets_around_words_are_not_faces() {
        assert!(texts("リターン(return) キー").contains(&"return"));
        assert!(texts("(笑)").contains(&"(笑)"));
        assert!(!texts("(ab)").contains(&"(ab)"));
        for not_a_face in ["(-f)", "(0,0)", "('\\0')", "(C/H/S)"] {
            assert!(!texts(not_a_face).contains(&not_a_face), "{not_a_face}");
        }
        for face in ["(^_^)", "(T_T)", "(>_<)", "(^^)", "(*´▽`*)", "（´；ω；`）"] {
            assert_eq!(texts(face), [face]);
        }
    }

    #[test]
    fn latin_spacing_survives_a_round_trip() {
        let tokenizer = Tokenizer::fallback();
        for sentence in ["Don't panic, it's only 3.14 km.", "Hello,  world!", "今日は Rust を書いた。"] {
            let tokens = tokenizer.tokenize(sentence);
            assert_eq!(join(tokens.iter().copied()), sentence.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        assert!(texts("Don't panic").contains(&"Don't"));
    }

    #[test]
    fn links_end_before_sentence_punctuation() {
        assert!(texts("see https://example.com.").contains(&"https://example.com"));
    }

    #[test]
    fn mail_addresses_are_not_mentions() {
        assert!(!texts("me@example.com").contains(&"@example"));
    }

    #[test]
    fn tokenizing_in_parallel_keeps_the_order() {
        let sentences: Vec<String> = (0..2_500).map(|i| format!("文 {i} は 短い")).collect();
        let tokenizer = Tokenizer::fallback();
        let sequential: Vec<Vec<Token>> = sentences.iter().map(|s| tokenizer.tokenize(s)).collect();
        assert_eq!(tokenizer.tokenize_all(&sentences), sequential);
    }

    #[test]
    fn tokens_never_hold_whitespace_and_cover_the_text() {
        let sentence = " \u{3000}今日は\tとても 良い天気 ";
        let tokens = Tokenizer::fallback().tokenize(sentence);
        assert!(tokens.iter().all(|t| !t.text.is_empty() && !t.text.contains(char::is_whitespace)));
        assert!(!tokens[0].spaced);
        let joined: String = tokens.iter().map(|t| t.text).collect();
        assert_eq!(joined, sentence.split_whitespace().collect::<String>());
    }
}
