//! Splitting text into tokens whose concatenation reads naturally.
//!
//! A token carries the space that preceded it in the source (" world"), so joining
//! tokens restores Latin word spacing while Japanese, which has no spaces, stays
//! unspaced. Japanese is split where the script changes (kanji, hiragana,
//! katakana): crude, dictionary-free word boundaries.

/// How a character groups with its neighbours.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Letters, digits and joiners of Latin-like words; also `#`/`@` tags and URLs.
    Word,
    Hiragana,
    /// Katakana (full and half width) and the prolonged sound mark.
    Katakana,
    /// Kanji and the iteration marks.
    Kanji,
    /// Anything else (punctuation, symbols, emoji): a token per character.
    Other,
}

fn class_of(c: char) -> Class {
    match c {
        '\u{3040}'..='\u{309F}' => Class::Hiragana,
        '\u{30A0}'..='\u{30FF}' | '\u{FF66}'..='\u{FF9F}' => Class::Katakana,
        '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}' | '々' | '〆' => Class::Kanji,
        c if c.is_alphanumeric() => Class::Word,
        '_' | '\'' | '’' | '#' | '@' => Class::Word,
        _ => Class::Other,
    }
}

/// Splits one sentence into tokens. `tokenize(s).concat()` equals `s` with runs of
/// whitespace collapsed to one space and leading/trailing whitespace removed.
pub fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    for chunk in text.split_whitespace() {
        let mut first_in_chunk = true;
        for piece in split_by_class(chunk) {
            let leading_space = first_in_chunk && !tokens.is_empty();
            first_in_chunk = false;
            let mut token = piece.to_string();
            if leading_space {
                token.insert(0, ' ');
            }
            tokens.push(token);
        }
    }
    tokens
}

/// Splits a whitespace-free chunk where the character class changes; `Other`
/// characters stand alone, except URLs, which stay whole.
fn split_by_class(chunk: &str) -> Vec<&str> {
    if chunk.starts_with("http://") || chunk.starts_with("https://") {
        return vec![chunk];
    }
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut previous: Option<Class> = None;
    for (index, c) in chunk.char_indices() {
        let class = class_of(c);
        // Variation selectors and zero-width joiners belong to the emoji before them.
        let continues_emoji = matches!(c, '\u{FE0F}' | '\u{200D}' | '\u{1F3FB}'..='\u{1F3FF}');
        let boundary = match previous {
            None => false,
            Some(_) if continues_emoji => false,
            Some(Class::Other) => !chunk[start..index].ends_with('\u{200D}'),
            Some(p) => p != class,
        };
        if boundary {
            pieces.push(&chunk[start..index]);
            start = index;
        }
        previous = Some(class);
    }
    pieces.push(&chunk[start..]);
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_keeps_its_spaces() {
        let tokens = tokenize("Hello,  world! It's #rust time");
        assert_eq!(tokens, ["Hello", ",", " world", "!", " It's", " #rust", " time"]);
        assert_eq!(tokens.concat(), "Hello, world! It's #rust time");
    }

    #[test]
    fn japanese_has_no_spaces_between_tokens() {
        let tokens = tokenize("今日は良い天気ですね。");
        assert_eq!(tokens, ["今日", "は", "良", "い", "天気", "ですね", "。"]);
        assert!(tokens.iter().all(|t| !t.starts_with(' ')));
        assert_eq!(tokens.concat(), "今日は良い天気ですね。");
    }

    #[test]
    fn mixed_text_urls_and_emoji_survive() {
        let text = "Rustで書いた 🦀 https://example.com/a?b=1 👍🏽 です";
        let tokens = tokenize(text);
        assert!(tokens.contains(&" https://example.com/a?b=1".to_string()), "{tokens:?}");
        assert!(tokens.contains(&" 👍🏽".to_string()), "{tokens:?}");
        assert_eq!(tokens.concat(), text);
    }

    #[test]
    fn blank_text_has_no_tokens() {
        assert!(tokenize(" \t ").is_empty());
    }
}
