//! The types and limits that the server and the browser both hold to: what the
//! server functions (`api`) take and return, the forms' limits, X's rules. Plain
//! data and pure functions, compiled into both builds; nothing here reaches the
//! database or the network.

mod voice;

use serde::{Deserialize, Serialize};

pub use voice::{Mix, MixMember, Voice, MAX_MIX_VOICES, MIX_WEIGHTS};

/// A user with a trained model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub screen_name: String,
    pub sentences: i32,
    /// "YYYY-MM-DD HH:MM UTC"
    pub trained_at: String,
    /// Only the owner may generate from a protected account's model.
    pub protected: bool,
}

/// The signed-in visitor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Viewer {
    pub screen_name: String,
    pub protected: bool,
}

/// A generated tweet, kept so that it has a permalink.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generated {
    pub id: i64,
    pub voice: Voice,
    pub text: String,
    /// The tweet's page, absolute (for sharing).
    pub permalink: String,
    /// Its card image, absolute (`None` where the server renders no cards).
    pub card_url: Option<String>,
    pub post: PostToX,
}

/// X's limit, in its weighted characters.
pub const X_MAX_WEIGHT: usize = 280;
/// The hashtag every post carries.
pub const POST_HASHTAG: &str = "tweetgen";

/// What "Post to X" fills in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostToX {
    /// The tweet, cut at a word and marked "…" when it and the rest would be over
    /// [`X_MAX_WEIGHT`].
    pub text: String,
    /// The whole post's length as X counts it: the text, " #tweetgen" and the link.
    pub weighted_length: usize,
    pub cut: bool,
}

/// A user page: the profile and the absolute addresses its share tags need.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfilePage {
    pub profile: Profile,
    pub page_url: String,
    pub card_url: Option<String>,
}

/// A mix's page: the mix as its members spell their names, their profiles in
/// the mix's order, and the absolute addresses its share tags need.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MixPage {
    pub mix: Mix,
    pub members: Vec<Profile>,
    pub page_url: String,
    pub card_url: Option<String>,
}

impl Generated {
    /// The tweet's page, local.
    pub fn local_permalink(&self) -> String {
        format!("{}?tweet={}", self.voice.path(), self.id)
    }

    /// X's documented Web Intent, filled with the tweet (cut to fit), the
    /// hashtag and the link back.
    pub fn post_to_x_url(&self) -> String {
        format!(
            "https://x.com/intent/tweet?text={}&hashtags={POST_HASHTAG}&url={}",
            percent_encode(&self.post.text, b""),
            percent_encode(&self.permalink, b"")
        )
    }
}

/// What an archive upload taught.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Learned {
    pub screen_name: String,
    /// Tweets read from the archive (before retweets and replies were skipped).
    pub tweets: usize,
    pub sentences: i32,
    /// The archive held more tweets than tweetgen reads; the first ones were used.
    pub truncated: bool,
}

/// Where the archive upload form posts (the hydrated form posts there itself,
/// to report upload progress).
pub const UPLOAD_ARCHIVE_PATH: &str = "/api/upload_archive";
/// The form field that carries the file.
pub const ARCHIVE_FIELD: &str = "archive";

/// One line of the ranking.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ranked {
    pub screen_name: String,
    pub generations: i64,
}

/// RFC 3986 query encoding: everything but the unreserved characters and `keep`
/// (a local path in a query can keep its `/` readable).
pub(crate) fn percent_encode(text: &str, keep: &[u8]) -> String {
    let mut encoded = String::with_capacity(text.len() * 3);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || keep.contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// The generator's length option, in characters: a tweet is at most 280.
pub const MAX_CHARS_RANGE: std::ops::RangeInclusive<usize> = 10..=280;
pub const DEFAULT_MAX_CHARS: usize = 140;
/// Start words, in characters: the page's field and the server both hold to it
/// (the start scan's work grows with the words).
pub const MAX_START_CHARS: usize = 50;

pub const MAX_PASTE_LINES: usize = 20_000;
pub const MAX_PASTE_BYTES: usize = 2 * 1024 * 1024;

/// X's rule: 1 to 15 ASCII letters, digits and underscores.
pub fn is_valid_screen_name(name: &str) -> bool {
    (1..=15).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_post_to_x_link_carries_text_hashtag_and_page() {
        let text = "今日は晴れ & rain?".to_string();
        let tweet = Generated {
            id: 7,
            voice: Voice::One("a".into()),
            text: text.clone(),
            permalink: "https://tweetgen.example/@a?tweet=7".into(),
            card_url: None,
            post: PostToX { text, weighted_length: 10 + 6 + 34, cut: false },
        };
        assert_eq!(
            tweet.post_to_x_url(),
            "https://x.com/intent/tweet?text=%E4%BB%8A%E6%97%A5%E3%81%AF%E6%99%B4%E3%82%8C%20%26%20rain%3F\
             &hashtags=tweetgen&url=https%3A%2F%2Ftweetgen.example%2F%40a%3Ftweet%3D7"
        );
    }

    #[test]
    fn screen_names_follow_x_rules() {
        for ok in ["a", "tweetgen_ja", "ABC123_", "fifteen_chars_x"] {
            assert!(is_valid_screen_name(ok), "{ok}");
        }
        for bad in ["", "sixteen_chars_xx", "has space", "日本語", "a-b", "@name"] {
            assert!(!is_valid_screen_name(bad), "{bad}");
        }
    }
}
