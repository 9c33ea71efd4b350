//! What every read must keep to, whatever the input: small limits, so that the
//! fuzzer reaches them often.

use tweetgen_archive::{Archive, ArchiveError, ArchiveLimits};

pub fn limits() -> ArchiveLimits {
    ArchiveLimits {
        max_upload_bytes: 1 << 20,
        max_unpacked_bytes: 256 << 10,
        max_tweets: 50,
        max_text_bytes: 4 << 10,
        max_string_bytes: 512,
        max_note_bytes: 2 << 10,
    }
}

/// A read's result keeps every limit: no more tweets or text than allowed, no
/// text longer than a string may be, and errors that name what they should.
pub fn check(result: &Result<Archive, ArchiveError>, limits: &ArchiveLimits) {
    match result {
        Ok(archive) => {
            assert!(!archive.tweets.is_empty(), "an archive without tweets is an error");
            assert!(!archive.files.is_empty());
            assert!(archive.tweets.len() <= limits.max_tweets);
            // Long posts' notes are kept within their own max_text_bytes.
            let text: usize = archive.tweets.iter().map(|tweet| tweet.text.len()).sum();
            assert!(text <= 2 * limits.max_text_bytes, "{text} bytes of text kept");
            for tweet in &archive.tweets {
                let longest = limits.max_string_bytes.max(limits.max_note_bytes);
                assert!(tweet.text.len() <= longest, "a text of {} bytes", tweet.text.len());
                assert_eq!(tweet.retweet, tweet.text.starts_with("RT @"));
            }
        }
        Err(ArchiveError::StringTooLong { limit, line, .. }) => {
            assert!(*limit == limits.max_string_bytes || *limit == limits.max_note_bytes, "{limit}");
            assert!(*line >= 1);
        }
        Err(ArchiveError::UnpackedTooLarge { limit, .. }) => assert_eq!(*limit, limits.max_unpacked_bytes),
        Err(
            ArchiveError::InvalidUtf8 { line, column, .. }
            | ArchiveError::InvalidJson { line, column, .. }
            | ArchiveError::UnexpectedShape { line, column, .. },
        ) => assert!(*line >= 1 && *column >= 1, "a position counts from 1"),
        Err(_) => {}
    }
}
