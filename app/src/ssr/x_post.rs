//! What "Post to X" sends: the tweet cut, when it must be, so that it, the
//! hashtag and the link back fit X's 280 as X counts them.
//!
//! The count follows twitter-text v3 (`config/v3.json`): after NFC, a code point
//! in U+0000–U+10FF, U+2000–U+200D, U+2010–U+201F or U+2032–U+2037 counts 1 and
//! any other 2 (CJK, kana, hangul, most symbols); an emoji counts 2 however many
//! code points make it (skin tones, ZWJ families, flags, keycaps); a link counts
//! 23 whatever its length. Where this module cannot tell what X will see, it
//! counts the larger: a bare domain (`node.js`, `example.com`) or a link with a
//! non-ASCII host at least 23, and at least its characters. One case can come
//! out below X's count: an emoji is taken as a grapheme holding a pictograph, and
//! a ZWJ sequence missing from Unicode's list of emoji X counts in pieces.

use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

use tweetgen_markov::Tokenizer;

use crate::shared::{PostToX, POST_HASHTAG, X_MAX_WEIGHT};

/// Every link, as t.co wraps it.
const LINK_WEIGHT: usize = 23;
/// Marks a cut tweet.
const ELLIPSIS: &str = "…";

/// The intent's text: the tweet whole when it fits beside " #tweetgen" and the
/// link, else its longest run of whole tokens that fits, with "…".
pub fn post_to_x(tokenizer: &Tokenizer, tweet: &str) -> PostToX {
    let text: String = tweet.nfc().collect();
    let extras = extras_weight();
    let budget = X_MAX_WEIGHT - extras;
    let whole = weighted_length(&text);
    if whole <= budget {
        return PostToX { text, weighted_length: whole + extras, cut: false };
    }
    let room = budget - weighted_length(ELLIPSIS);
    let ends = tokenizer
        .tokenize(&text)
        .into_iter()
        .map(|token| token.text.as_ptr().addr() - text.as_ptr().addr() + token.text.len());
    // Token ends, then grapheme ends for a first token too long to keep whole.
    let cut = ends
        .take_while(|&end| weighted_length(text[..end].trim_end()) <= room)
        .last()
        .or_else(|| {
            text.grapheme_indices(true)
                .map(|(start, grapheme)| start + grapheme.len())
                .take_while(|&end| weighted_length(&text[..end]) <= room)
                .last()
        })
        .unwrap_or(0);
    let text = format!("{}{ELLIPSIS}", text[..cut].trim_end());
    PostToX { weighted_length: weighted_length(&text) + extras, text, cut: true }
}

/// What X adds to the text: " " + the link, " #tweetgen".
fn extras_weight() -> usize {
    1 + LINK_WEIGHT + 1 + weighted_length(&format!("#{POST_HASHTAG}"))
}

/// The length of `text` as X counts it (see the module's note); `text` in NFC.
pub fn weighted_length(text: &str) -> usize {
    let mut weight = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let (word, spaces) = split_word(rest);
        weight += word_weight(word) + spaces.chars().map(char_weight).sum::<usize>();
        rest = &rest[word.len() + spaces.len()..];
    }
    weight
}

/// The leading run of non-whitespace, then the whitespace after it.
fn split_word(text: &str) -> (&str, &str) {
    let word_end = text.find(char::is_whitespace).unwrap_or(text.len());
    let spaces_end = text[word_end..].find(|c: char| !c.is_whitespace()).map_or(text.len(), |at| word_end + at);
    (&text[..word_end], &text[word_end..spaces_end])
}

fn word_weight(word: &str) -> usize {
    if let Some(at) = word.find("http://").or_else(|| word.find("https://")) {
        // A link ends at whitespace or at a direction mark or other format character.
        let end = word[at..].find(is_format_char).map_or(word.len(), |end| at + end);
        let link = &word[at..end];
        // Not a link to X (an invalid host), or one it may shorten (an IDN): the larger.
        let link_weight =
            if host_is_ascii_and_valid(link) { LINK_WEIGHT } else { graphemes_weight(link).max(LINK_WEIGHT) };
        return graphemes_weight(&word[..at]) + link_weight + word_weight(&word[end..]);
    }
    let weight = graphemes_weight(word);
    if looks_like_a_bare_domain(word) {
        weight.max(LINK_WEIGHT)
    } else {
        weight
    }
}

fn graphemes_weight(text: &str) -> usize {
    text.graphemes(true)
        .map(|grapheme| if is_emoji(grapheme) { 2 } else { grapheme.chars().map(char_weight).sum() })
        .sum()
}

fn char_weight(c: char) -> usize {
    match u32::from(c) {
        0..=0x10FF | 0x2000..=0x200D | 0x2010..=0x201F | 0x2032..=0x2037 => 1,
        _ => 2,
    }
}

/// An emoji presentation: a pictograph, a variation selector 16, a keycap or a
/// regional indicator anywhere in the grapheme.
fn is_emoji(grapheme: &str) -> bool {
    grapheme.chars().any(|c| {
        matches!(u32::from(c),
            0xA9 | 0xAE | 0x203C | 0x2049 | 0x2122 | 0x2139 | 0x2194..=0x21AA | 0x20E3
            | 0x2300..=0x23FF | 0x24C2 | 0x25AA..=0x25FE | 0x2600..=0x27BF | 0x2934 | 0x2935
            | 0x2B00..=0x2BFF | 0x3030 | 0x303D | 0x3297 | 0x3299 | 0xFE0F | 0x1F000..=0x1FAFF)
    })
}

fn is_format_char(c: char) -> bool {
    matches!(u32::from(c), 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0xFEFF)
}

/// X takes a link only where every label of its host is 1 to 63 characters.
fn host_is_ascii_and_valid(link: &str) -> bool {
    let after_scheme = link.split_once("://").map_or(link, |(_, rest)| rest);
    let host = after_scheme.split(['/', '?', '#', ':']).next().unwrap_or("");
    host.is_ascii() && host.split('.').all(|label| (1..=63).contains(&label.len()))
}

/// `name.tld`, optionally with a path: X may make it a link.
fn looks_like_a_bare_domain(word: &str) -> bool {
    let host = word.split('/').next().unwrap_or("");
    let mut labels = host.rsplit('.');
    let top = labels.next().unwrap_or("");
    host.contains('.')
        && top.len() >= 2
        && top.chars().all(|c| c.is_alphabetic())
        && labels.all(|label| !label.is_empty() && label.chars().all(|c| c.is_alphanumeric() || c == '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cases from twitter-text's conformance suite (`validate.yml`,
    /// WeightedTweetsWithDiscountedEmojiCounterTest), with X's counts.
    #[test]
    fn counts_as_x_does() {
        let family = "👨\u{200D}👩\u{200D}👧\u{200D}👦";
        let chinese = "故人西辞黄鹤楼，烟花三月下扬州。孤帆远影碧空尽，唯见长江天际流。".repeat(5);
        let xs = "xxxxxxxxxx-".repeat(24);
        let cases: Vec<(String, usize)> = vec![
            ("Hi http://test.co".into(), 26),
            ("http://test.co".into(), 23),
            ("https://www.twitter.com/aloha ".repeat(10), 240),
            (format!("285 chars-{xs}"), 274),
            (format!("285 chars- http://www.twitter.com/jack {xs}"), 299),
            (chinese.clone(), 320),
            (format!("the{chinese}"), 323),
            ("😷".repeat(160), 320),
            (format!("H🐱☺{family}"), 7),
            ("😷👾😡🔥💩".into(), 10),
            ("🙋🏽👨\u{200D}🎤".into(), 4),
            (family.repeat(140), 280),
            ("1\u{20E3}".into(), 2),
            ("Unicode 10.0 emoji: 🤪; 🧕; 🧕🏾; 🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}".into(), 34),
            ("Unicode 9.0 emoji: 🤠; 💃; 💃🏾".into(), 29),
            ("ABC\u{202A}\u{FFFF}ABC\u{FFFE}".into(), 12),
            ("\u{2066}\u{202A}http://foobar.پاکستان/\u{202C}\u{2069}".into(), 31),
            ("randomurlrandomurlrandomurlrandomurlrandomurlrandomurlrandomurls.com".into(), 68),
            (format!("https://{}.com/foo", "somesuperlongurl".repeat(5)), 8 + 80 + 8),
        ];
        for (text, expected) in cases {
            let text: String = text.nfc().collect();
            assert_eq!(weighted_length(&text), expected, "{text:?}");
        }
        // NFC first: A + combining acute is one character.
        assert_eq!(weighted_length(&"xA\u{301}x".nfc().collect::<String>()), 3);
    }

    /// Where X's count cannot be known here, the count is never below it.
    #[test]
    fn counts_high_where_unsure() {
        // X counts an IDN link 23 when its punycode fits, else its characters.
        assert_eq!(weighted_length("http://あいう.com"), 23);
        let long_host = format!("http://{}.com", "あいうえおかきくけこ".repeat(5));
        assert_eq!(weighted_length(&long_host), 7 + 100 + 4);
        // A bare domain is a link to X when its TLD is real.
        assert_eq!(weighted_length("see example.com"), 4 + 23);
        assert_eq!(weighted_length("e.g. this"), 9);
    }

    fn tokenizer() -> Tokenizer {
        Tokenizer::fallback()
    }

    fn assert_fits(post: &PostToX) {
        assert_eq!(post.weighted_length, weighted_length(&post.text) + extras_weight());
        assert!(post.weighted_length <= X_MAX_WEIGHT, "{post:?}");
    }

    #[test]
    fn a_tweet_that_fits_is_sent_whole() {
        let tweet = "今日は晴れ。".repeat(20); // 120 wide characters: 240
        let post = post_to_x(&tokenizer(), &tweet);
        assert_eq!((post.text.as_str(), post.cut), (tweet.as_str(), false));
        assert_eq!(post.weighted_length, 240 + 34);
        assert_fits(&post);
    }

    #[test]
    fn japanese_at_the_limit_is_cut_at_a_word() {
        let tweet = "今日はとても良い天気なので公園へ散歩に行きました".repeat(6); // 144 characters
        let post = post_to_x(&tokenizer(), &tweet);
        assert!(post.cut);
        assert_fits(&post);
        let kept = post.text.strip_suffix(ELLIPSIS).unwrap();
        // The longest run of whole words that fits: one word more goes over.
        let tokenizer = tokenizer();
        let words: Vec<&str> = tokenizer.tokenize(&tweet).iter().map(|token| token.text).collect();
        let prefixes: Vec<String> = (1..=words.len()).map(|n| words[..n].concat()).collect();
        let at = prefixes.iter().position(|prefix| prefix == kept).expect("cut at a word");
        assert!(weighted_length(&prefixes[at + 1]) + weighted_length(ELLIPSIS) + extras_weight() > X_MAX_WEIGHT);
    }

    #[test]
    fn english_is_cut_between_words_without_a_trailing_space() {
        let tweet = "the quick brown fox jumps over the lazy dog ".repeat(7);
        let post = post_to_x(&tokenizer(), tweet.trim_end());
        assert!(post.cut);
        assert_fits(&post);
        assert!(!post.text.ends_with(" …"), "{}", post.text);
        let kept = post.text.strip_suffix(ELLIPSIS).unwrap();
        assert!(tweet.starts_with(&format!("{kept} ")), "{kept:?} ends at a word");
    }

    #[test]
    fn emoji_and_mixed_text_fit() {
        let emoji = format!("{}楽しい🎉", "👨\u{200D}👩\u{200D}👧 ".repeat(90));
        let mixed = "東京で meeting 🍣 のあと walk した ".repeat(12);
        for tweet in [emoji, mixed] {
            let post = post_to_x(&tokenizer(), &tweet);
            assert!(post.cut);
            assert_fits(&post);
            // No emoji is broken apart.
            let kept = post.text.strip_suffix(ELLIPSIS).unwrap();
            let kept_graphemes: Vec<&str> = kept.graphemes(true).collect();
            let tweet_graphemes: Vec<&str> = tweet.graphemes(true).take(kept_graphemes.len()).collect();
            assert_eq!(kept_graphemes, tweet_graphemes);
        }
    }

    #[test]
    fn one_word_longer_than_the_room_is_cut_at_a_character() {
        let tweet = "a".repeat(300);
        assert_eq!(tokenizer().tokenize(&tweet).len(), 1);
        let post = post_to_x(&tokenizer(), &tweet);
        assert_fits(&post);
        assert_eq!(post.weighted_length, X_MAX_WEIGHT);
        assert_eq!(post.text, format!("{}…", "a".repeat(244)));
    }
}
