//! Dictionary-free Japanese word segmentation: a port of TinySegmenter (Taku Kudo, 2008; BSD licence, notice
//! in `fallback_weights.rs`), following the Python port in the PyPI package `tinysegmenter` 0.4 line for line.
//!
//! Each gap between two chars gets a score from a linear model over the surrounding chars, their classes
//! (kanji, kana, Latin, ...) and the previous three decisions; a positive score is a word boundary.

use std::ops::Range;

// A child module so the caller only declares `mod fallback;`; the file is generated, see its first line.
#[path = "fallback_weights.rs"]
mod weights;

use weights::*;

/// Padding before and after the text, as in the original. The original builds its lookup keys by string
/// concatenation, so these are strings too: keys such as "B1あ" or "E1" then match exactly as they do there.
const HEAD: [&str; 3] = ["B3", "B2", "B1"];
const TAIL: [&str; 3] = ["E1", "E2", "E3"];
/// The class of the padding, and of chars in none of `CHAR_TYPES`.
const OTHER: &str = "O";

/// Splits `text` (no whitespace) into words, as byte ranges that cover it exactly, in order.
pub(crate) fn segment(text: &str) -> Vec<Range<usize>> {
    if text.is_empty() {
        return Vec::new();
    }
    let chars: Vec<(usize, &str)> = text.char_indices().map(|(i, c)| (i, &text[i..i + c.len_utf8()])).collect();
    let seg: Vec<&str> = HEAD.into_iter().chain(chars.iter().map(|&(_, s)| s)).chain(TAIL).collect();
    let ctype: Vec<&str> = [OTHER; 3].into_iter().chain(text.chars().map(char_type)).chain([OTHER; 3]).collect();

    let mut words = Vec::new();
    let mut word_start = 0;
    // The last three decisions: "B" boundary, "O" none, "U" before the text.
    let (mut p1, mut p2, mut p3) = ("U", "U", "U");
    // As in the original: seg[i] is char i - 3, and each i decides whether a word starts there.
    for i in 4..seg.len() - 3 {
        let w = [seg[i - 3], seg[i - 2], seg[i - 1], seg[i], seg[i + 1], seg[i + 2]];
        let c = [ctype[i - 3], ctype[i - 2], ctype[i - 1], ctype[i], ctype[i + 1], ctype[i + 2]];
        let p = if score(w, c, [p1, p2, p3]) > 0 {
            let start = chars[i - 3].0;
            words.push(word_start..start);
            word_start = start;
            "B"
        } else {
            "O"
        };
        (p1, p2, p3) = (p2, p3, p);
    }
    words.push(word_start..text.len());
    words
}

/// The class of `c`: the first of `CHAR_TYPES` that has it, else `OTHER`.
fn char_type(c: char) -> &'static str {
    CHAR_TYPES.iter().find(|(_, ranges)| ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi)).map_or(OTHER, |&(t, _)| t)
}

/// The boundary score of the gap between `w[2]` and `w[3]`, given the chars `w`, their classes `c` and the
/// previous decisions `p`. The terms are the original's, in its order.
fn score([w1, w2, w3, w4, w5, w6]: [&str; 6], [c1, c2, c3, c4, c5, c6]: [&str; 6], [p1, p2, p3]: [&str; 3]) -> i32 {
    let mut score = BIAS;
    score += weight(UP1, &[p1]);
    score += weight(UP2, &[p2]);
    score += weight(UP3, &[p3]);
    score += weight(BP1, &[p1, p2]);
    score += weight(BP2, &[p2, p3]);
    score += weight(UW1, &[w1]);
    score += weight(UW2, &[w2]);
    score += weight(UW3, &[w3]);
    score += weight(UW4, &[w4]);
    score += weight(UW5, &[w5]);
    score += weight(UW6, &[w6]);
    score += weight(BW1, &[w2, w3]);
    score += weight(BW2, &[w3, w4]);
    score += weight(BW3, &[w4, w5]);
    score += weight(TW1, &[w1, w2, w3]);
    score += weight(TW2, &[w2, w3, w4]);
    score += weight(TW3, &[w3, w4, w5]);
    score += weight(TW4, &[w4, w5, w6]);
    score += weight(UC1, &[c1]);
    score += weight(UC2, &[c2]);
    score += weight(UC3, &[c3]);
    score += weight(UC4, &[c4]);
    score += weight(UC5, &[c5]);
    score += weight(UC6, &[c6]);
    score += weight(BC1, &[c2, c3]);
    score += weight(BC2, &[c3, c4]);
    score += weight(BC3, &[c4, c5]);
    score += weight(TC1, &[c1, c2, c3]);
    score += weight(TC2, &[c2, c3, c4]);
    score += weight(TC3, &[c3, c4, c5]);
    score += weight(TC4, &[c4, c5, c6]);
    score += weight(UQ1, &[p1, c1]);
    score += weight(UQ2, &[p2, c2]);
    score += weight(UQ3, &[p3, c3]);
    score += weight(BQ1, &[p2, c2, c3]);
    score += weight(BQ2, &[p2, c3, c4]);
    score += weight(BQ3, &[p3, c2, c3]);
    score += weight(BQ4, &[p3, c3, c4]);
    score += weight(TQ1, &[p2, c1, c2, c3]);
    score += weight(TQ2, &[p2, c2, c3, c4]);
    score += weight(TQ3, &[p3, c1, c2, c3]);
    score += weight(TQ4, &[p3, c2, c3, c4]);
    score
}

/// The weight of the key that is `parts` concatenated, or 0 if the table has no such key.
fn weight(table: &[(&str, i16)], parts: &[&str]) -> i32 {
    // Built on the stack: this runs 42 times a char.
    let mut key = [0; MAX_KEY_LEN];
    let mut len = 0;
    for part in parts {
        // Longer than every key in the model, so in no table.
        let Some(dst) = key.get_mut(len..len + part.len()) else { return 0 };
        dst.copy_from_slice(part.as_bytes());
        len += part.len();
    }
    let key = &key[..len];
    table.binary_search_by(|(k, _)| k.as_bytes().cmp(key)).map_or(0, |i| i32::from(table[i].1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<&str> {
        segment(text).into_iter().map(|r| &text[r]).collect()
    }

    /// The ranges are non-empty, in order, on char boundaries, and tile `text` exactly.
    fn assert_tiles(text: &str) {
        let ranges = segment(text);
        let mut end = 0;
        for r in &ranges {
            assert_eq!(r.start, end, "gap or overlap in {text:?}: {ranges:?}");
            assert!(r.start < r.end, "empty range in {text:?}: {ranges:?}");
            assert!(text.is_char_boundary(r.start) && text.is_char_boundary(r.end));
            end = r.end;
        }
        assert_eq!(end, text.len(), "{text:?} not covered: {ranges:?}");
    }

    #[test]
    fn matches_the_original() {
        // Expected outputs are those of the PyPI package: `TinySegmenter().tokenize(text)`, tinysegmenter 0.4.
        let cases: &[(&str, &[&str])] = &[
            ("私の名前は中野です", &["私", "の", "名前", "は", "中野", "です"]),
            ("東京に住む", &["東京", "に", "住む"]),
            ("フランスで赤ちゃんはbébéです。", &["フランス", "で", "赤ちゃん", "は", "bébé", "です", "。"]),
            (
                "極めてコンパクトな日本語分かち書きソフトウェアです。",
                &["極めて", "コンパクト", "な", "日本", "語分", "かち", "書き", "ソフトウェア", "です", "。"],
            ),
            (
                "今日は2024年12月31日、天気が良いですね！",
                &[
                    "今日", "は", "2", "0", "2", "4", "年", "1", "2", "月", "3", "1", "日", "、", "天気", "が", "良い",
                    "です", "ね", "！",
                ],
            ),
            ("ﾊﾝｶｸｶﾀｶﾅとＺＥＮＫＡＫＵを混ぜた文", &["ﾊﾝｶｸｶﾀｶﾅ", "と", "ＺＥＮＫＡＫＵ", "を", "混ぜ", "た", "文"]),
            ("RTありがとう😀👍🏽おやすみ", &["RT", "あり", "が", "とう", "😀", "👍🏽", "おやすみ"]),
            ("ヵ月ヶ所", &["ヵ月", "ヶ所"]),
            // Chars, not grapheme clusters: an emoji ZWJ sequence can come apart, as in the original.
            ("👩🏽\u{200d}💻です", &["👩", "🏽", "\u{200d}💻", "です"]),
            ("日", &["日"]),
        ];
        for &(text, expected) in cases {
            assert_eq!(words(text), expected, "{text}");
        }
    }

    #[test]
    fn char_types_follow_the_original_classes() {
        // Ideogram numbers are also in the kanji range: the first class listed wins, as in the original.
        let cases = [
            ('一', "M"),
            ('兆', "M"),
            ('日', "H"),
            ('々', "H"),
            ('ヶ', "H"),
            ('あ', "I"),
            ('ア', "K"),
            ('ー', "K"),
            ('ｱ', "K"),
            ('ﾟ', "O"),
            ('é', "A"),
            ('Ｚ', "A"),
            ('7', "N"),
            ('９', "N"),
            ('、', "O"),
            ('😀', "O"),
        ];
        for (c, class) in cases {
            assert_eq!(char_type(c), class, "{c}");
        }
    }

    #[test]
    fn tables_are_sorted_for_binary_search() {
        let tables = [
            UP1, UP2, UP3, BP1, BP2, UW1, UW2, UW3, UW4, UW5, UW6, BW1, BW2, BW3, TW1, TW2, TW3, TW4, UC1, UC2, UC3,
            UC4, UC5, UC6, BC1, BC2, BC3, TC1, TC2, TC3, TC4, UQ1, UQ2, UQ3, BQ1, BQ2, BQ3, BQ4, TQ1, TQ2, TQ3, TQ4,
        ];
        for table in tables {
            assert!(table.windows(2).all(|pair| pair[0].0 < pair[1].0), "{table:?}");
            assert!(table.iter().all(|(k, _)| k.len() <= MAX_KEY_LEN));
        }
    }

    #[test]
    fn tiles_any_input() {
        let long_kana = "あいうえおカキクケコ漢字ａｂ１２".repeat(625);
        let long_emoji = "👨‍👩‍👧‍👦".repeat(10_000);
        let inputs = [
            "",
            "a",
            "あ",
            "😀",
            "\u{301}",
            "e\u{301}\u{302}あ\u{3099}",
            "👨‍👩‍👧‍👦家族👩🏽‍💻です",
            "🇯🇵🇯🇵日本",
            "hello,world!",
            "https://example.com/パス?q=検索",
            "#ハッシュタグ@mention",
            "1234567890１２３４５",
            "B1E1E2B2",
            "\u{0}\u{7f}\u{feff}\u{10ffff}\u{e000}",
            "ｶﾞｷﾞｸﾞｹﾞｺﾞﾟ",
            &long_kana,
            &long_emoji,
        ];
        assert_eq!(long_kana.chars().count(), 10_000);
        for text in inputs {
            assert_tiles(text);
        }
        assert!(segment("").is_empty());
        assert_eq!(words("😀"), ["😀"]);
    }
}
