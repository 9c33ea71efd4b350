//! Turning tweets into training sentences, the way the old service did.

use crate::Error;

/// Longest tweet or pasted line accepted, in bytes (a tweet is at most ~1 KiB).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanOptions {
    /// Skip tweets starting with "RT @".
    pub skip_retweets: bool,
    /// Skip tweets that start with a mention (replies).
    pub skip_replies: bool,
    /// Remove @mentions inside the remaining tweets.
    pub drop_mentions: bool,
    /// Remove http(s) links.
    pub drop_urls: bool,
    /// Turn &amp; &lt; &gt; &quot; &#39; &#NNN; &#xHH; back into characters
    /// (X's archive escapes them).
    pub unescape_html: bool,
}

impl Default for CleanOptions {
    fn default() -> Self {
        Self { skip_retweets: true, skip_replies: true, drop_mentions: true, drop_urls: true, unescape_html: true }
    }
}

/// Splits raw bytes into lines, rejecting invalid UTF-8 and over-long lines with
/// the line number (1-based) so that the person can find it.
pub fn lines(bytes: &[u8]) -> Result<Vec<&str>, Error> {
    bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, line)| {
            if line.len() > MAX_LINE_BYTES {
                return Err(Error::LineTooLong { line: i + 1, bytes: line.len(), max: MAX_LINE_BYTES });
            }
            let line = std::str::from_utf8(line)
                .map_err(|e| Error::InvalidUtf8 { line: i + 1, column: e.valid_up_to() + 1 })?;
            Ok(line.strip_suffix('\r').unwrap_or(line))
        })
        .collect()
}

/// Cleans tweets into sentences: one per non-empty line of each kept tweet.
pub fn clean<S: AsRef<str>>(tweets: &[S], options: &CleanOptions) -> Result<Vec<String>, Error> {
    let mut sentences = Vec::new();
    for (i, tweet) in tweets.iter().enumerate() {
        let tweet = tweet.as_ref();
        if tweet.len() > MAX_LINE_BYTES {
            return Err(Error::LineTooLong { line: i + 1, bytes: tweet.len(), max: MAX_LINE_BYTES });
        }
        let unescaped;
        let tweet = if options.unescape_html {
            unescaped = unescape_html(tweet);
            unescaped.as_str()
        } else {
            tweet
        };
        let trimmed = tweet.trim_start();
        if (options.skip_retweets && trimmed.starts_with("RT @"))
            || (options.skip_replies && trimmed.starts_with(['@', '＠']))
        {
            continue;
        }
        for line in tweet.lines() {
            let sentence = drop_words(line, options);
            let sentence = sentence.trim();
            if !sentence.is_empty() {
                sentences.push(sentence.to_string());
            }
        }
    }
    Ok(sentences)
}

/// Removes links and mentions, keeping the rest of the whitespace-separated word
/// (a link glued to Japanese text ends where the ASCII ends).
fn drop_words(line: &str, options: &CleanOptions) -> String {
    let mut kept = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(c) = rest.chars().next() {
        let previous_is_word = kept.chars().next_back().is_some_and(char::is_alphanumeric);
        let drop = if options.drop_urls && (rest.starts_with("http://") || rest.starts_with("https://")) {
            rest.find(|c: char| !c.is_ascii_graphic()).unwrap_or(rest.len())
        } else if options.drop_mentions && matches!(c, '@' | '＠') && !previous_is_word {
            let name = rest[c.len_utf8()..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
            let name_len = name.unwrap_or(rest.len() - c.len_utf8());
            if name_len == 0 {
                0
            } else {
                c.len_utf8() + name_len
            }
        } else {
            0
        };
        if drop > 0 {
            rest = &rest[drop..];
        } else {
            kept.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    kept
}

fn unescape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let entity = rest.find(';').filter(|&end| end <= 10).and_then(|end| Some((decode_entity(&rest[1..end])?, end)));
        match entity {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn decode_entity(name: &str) -> Option<char> {
    match name {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        "nbsp" => Some(' '),
        _ => {
            let number = name.strip_prefix('#')?;
            let code = match number.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            char::from_u32(code)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cleaned(tweets: &[&str]) -> Vec<String> {
        clean(tweets, &CleanOptions::default()).unwrap()
    }

    #[test]
    fn skips_retweets_and_replies() {
        assert_eq!(cleaned(&["RT @a: hello", "@b thanks!", "good morning"]), ["good morning"]);
        let keep_all = CleanOptions { skip_retweets: false, skip_replies: false, ..Default::default() };
        assert_eq!(clean(&["RT @a: hi", "@b thanks"], &keep_all).unwrap(), ["RT : hi", "thanks"]);
    }

    #[test]
    fn drops_links_and_mentions_but_not_mail_addresses() {
        assert_eq!(cleaned(&["見てhttps://t.co/abc123です cc @friend"]), ["見てです cc"]);
        assert_eq!(cleaned(&["write to me@example.com"]), ["write to me@example.com"]);
        let keep = CleanOptions { drop_urls: false, drop_mentions: false, ..Default::default() };
        assert_eq!(clean(&["see https://x.com hi @a"], &keep).unwrap(), ["see https://x.com hi @a"]);
    }

    #[test]
    fn unescapes_entities_once() {
        assert_eq!(
            cleaned(&["a &amp; b &lt;3 &#12354;&#x3044; &amp;amp; &bogus; & done"]),
            ["a & b <3 あい &amp; &bogus; & done"]
        );
        let raw = CleanOptions { unescape_html: false, ..Default::default() };
        assert_eq!(clean(&["a &amp; b"], &raw).unwrap(), ["a &amp; b"]);
    }

    #[test]
    fn newlines_split_sentences() {
        assert_eq!(cleaned(&["一行目\n\n二行目\r\n三行目"]), ["一行目", "二行目", "三行目"]);
    }

    #[test]
    fn bad_bytes_are_reported_with_their_line() {
        assert_eq!(lines(b"ok\nbad \xff here"), Err(Error::InvalidUtf8 { line: 2, column: 5 }));
        let long = vec![b'a'; 10 * 1024 * 1024];
        assert_eq!(lines(&long), Err(Error::LineTooLong { line: 1, bytes: long.len(), max: MAX_LINE_BYTES }));
        let long = "a".repeat(MAX_LINE_BYTES + 1);
        assert!(matches!(
            clean(&["fine", long.as_str()], &CleanOptions::default()),
            Err(Error::LineTooLong { line: 2, .. })
        ));
        assert_eq!(lines(b"a\r\nb").unwrap(), ["a", "b"]);
    }
}
