//! Long posts. A post over 280 characters is in `tweets.js` cut short, ending in
//! "…"; its whole text is in `note-tweet.js`
//! (`window.YTD.note_tweet.part0 = [{"noteTweet": {"createdAt", "core": {"text"}}}]`),
//! which does not name the tweet. A note is the tweet's when both were made in
//! the same second and the note begins with the tweet's text: the tweet then
//! takes the note's text.

use std::collections::HashMap;

use serde::Deserialize;

use crate::ArchiveTweet;

/// How much of a cut tweet's text must begin its note (more is not needed to
/// tell two notes of one second apart, and a cut can fall inside an entity).
const MATCHED_PREFIX_CHARS: usize = 200;

/// One element of `note-tweet.js`; other fields are skipped unread.
#[derive(Debug, Deserialize)]
pub(crate) struct NoteElement {
    #[serde(rename = "noteTweet")]
    note: NoteTweet,
}

#[derive(Debug, Deserialize)]
struct NoteTweet {
    #[serde(rename = "createdAt")]
    created_at: Option<String>,
    core: NoteCore,
}

#[derive(Debug, Deserialize)]
struct NoteCore {
    text: String,
}

/// A long post's full text and the second it was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Note {
    pub(crate) created: i64,
    pub(crate) text: String,
}

impl NoteElement {
    /// The note, if it says when it was made (else no tweet can be matched to it).
    pub(crate) fn into_note(self) -> Option<Note> {
        let created = iso_seconds(self.note.created_at.as_deref()?)?;
        Some(Note { created, text: self.note.core.text })
    }
}

/// Gives each cut tweet its note's whole text, as the note has it (bounded as
/// it was read: were it not HTML-escaped as tweets' texts are, unescaping it
/// again changes only a literal "&amp;"). Returns how many tweets were completed.
pub(crate) fn complete_long_posts(tweets: &mut [ArchiveTweet], notes: &[Note]) -> usize {
    let mut by_second: HashMap<i64, Vec<&Note>> = HashMap::new();
    for note in notes {
        by_second.entry(note.created).or_default().push(note);
    }
    let mut completed = 0;
    for tweet in tweets.iter_mut() {
        let Some(prefix) = cut_text(&tweet.text) else { continue };
        let Some(created) = tweet.created_at.as_deref().and_then(twitter_seconds) else { continue };
        let found =
            by_second.get(&created).into_iter().flatten().find(|note| unescape(&note.text).starts_with(&prefix));
        if let Some(note) = found {
            tweet.text.clone_from(&note.text);
            completed += 1;
        }
    }
    completed
}

/// The text a cut tweet kept (unescaped, at most [`MATCHED_PREFIX_CHARS`]), if
/// it was cut: it ends in "…", perhaps followed by a t.co link to the post.
fn cut_text(text: &str) -> Option<String> {
    let mut text = text.trim_end();
    if let Some((before, link)) = text.rsplit_once(' ') {
        if link.starts_with("https://t.co/") {
            text = before.trim_end();
        }
    }
    let kept = unescape(text.strip_suffix('…')?);
    (!kept.trim().is_empty()).then(|| kept.chars().take(MATCHED_PREFIX_CHARS).collect())
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// Seconds since 1970 of `Wed Oct 10 20:19:24 +0000 2018` (tweets' `created_at`).
fn twitter_seconds(text: &str) -> Option<i64> {
    let [_, month, day, time, offset, year] = text.split_whitespace().collect::<Vec<_>>()[..] else { return None };
    let month = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        .iter()
        .position(|name| *name == month)? as i64
        + 1;
    let offset_minutes = {
        let sign = match offset.as_bytes().first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let digits: i64 = offset.get(1..5)?.parse().ok()?;
        sign * (digits / 100 * 60 + digits % 100)
    };
    Some(seconds(year.parse().ok()?, month, day.parse().ok()?, time)? - offset_minutes * 60)
}

/// Seconds since 1970 of `2023-05-01T12:34:56.000Z` (notes' `createdAt`, UTC).
fn iso_seconds(text: &str) -> Option<i64> {
    let (date, time) = text.strip_suffix('Z')?.split_once('T')?;
    let mut date = date.split('-').map(|part| part.parse::<i64>().ok());
    let (year, month, day) = (date.next()??, date.next()??, date.next()??);
    seconds(year, month, day, time.split('.').next()?)
}

/// Seconds since 1970 of a UTC date and `HH:MM:SS` (days from the civil
/// calendar, as in Howard Hinnant's `days_from_civil`).
fn seconds(year: i64, month: i64, day: i64, time: &str) -> Option<i64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut hms = time.split(':').map(|part| part.parse::<i64>().ok());
    let (hour, minute, second) = (hms.next()??, hms.next()??, hms.next()??);
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tweet(text: &str, created_at: &str) -> ArchiveTweet {
        ArchiveTweet { id: None, text: text.into(), reply: false, retweet: false, created_at: Some(created_at.into()) }
    }

    #[test]
    fn both_dates_agree() {
        assert_eq!(twitter_seconds("Thu Jan 01 00:00:00 +0000 1970"), Some(0));
        assert_eq!(twitter_seconds("Mon May 01 12:34:56 +0000 2023"), Some(1_682_944_496));
        assert_eq!(iso_seconds("2023-05-01T12:34:56.000Z"), Some(1_682_944_496));
        assert_eq!(twitter_seconds("Mon May 01 21:34:56 +0900 2023"), Some(1_682_944_496));
        assert_eq!(iso_seconds("2024-02-29T23:59:59Z"), Some(1_709_251_199));
        for bad in ["", "Mon Foo 01 12:34:56 +0000 2023", "Mon May 01 12:34 +0000 2023"] {
            assert_eq!(twitter_seconds(bad), None, "{bad}");
        }
        assert_eq!(iso_seconds("2023-13-01T00:00:00Z"), None);
    }

    #[test]
    fn a_cut_tweet_takes_its_notes_whole_text() {
        let whole = "長い投稿です。".repeat(60) + "最後まで読んでくれてありがとう & またね";
        let cut = format!("{}… https://t.co/AbCdEf", whole.chars().take(140).collect::<String>());
        let mut tweets = vec![
            tweet(&cut, "Mon May 01 12:34:56 +0000 2023"),
            // Same start, another second: not this note's.
            tweet(&cut, "Mon May 01 12:35:56 +0000 2023"),
            tweet("A short one…", "Mon May 01 12:34:56 +0000 2023"),
        ];
        let notes = [
            Note { created: 1_682_944_496, text: "Another note of the same second".into() },
            Note { created: 1_682_944_496, text: whole.clone() },
        ];
        assert_eq!(complete_long_posts(&mut tweets, &notes), 1);
        assert_eq!(tweets[0].text, whole);
        assert_eq!(tweets[1].text, cut);
        assert_eq!(tweets[2].text, "A short one…");
    }
}
