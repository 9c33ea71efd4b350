//! Tweets from an uploaded X (Twitter) data archive: the archive's `.zip`, or its
//! `data/tweets.js` alone; and (`pick`, with no dependencies, for the browser)
//! the few entries of a whole archive that hold them.
//!
//! A tweets file is JavaScript, `window.YTD.tweets.part0 = [ {"tweet": {…}}, … ]`;
//! big archives continue in `data/tweets-part1.js`, `data/tweets-part2.js` … and
//! older ones name it `data/tweet.js` (`window.YTD.tweet.part0`, elements without
//! the `"tweet"` wrapper in 2019). The files are parsed as a stream straight out of
//! the inflater, keeping only the fields we need, so memory follows the tweets'
//! text rather than the file's size. Long posts' full texts, in
//! `data/note-tweet.js`, replace their cut copies (`notes`).
//!
//! Invariant: what a read holds is bounded by [`ArchiveLimits`] before it is held.
//! Sizes declared in zip headers are never trusted: bytes are counted as they come
//! out of the inflater and reading stops one byte past `max_unpacked_bytes`; every
//! JSON string is measured as its bytes stream past, so no string longer than
//! `max_string_bytes` is ever buffered (a tweet, or any line of it, is at most
//! that, a long post's note at most `max_note_bytes`); and tweets stop being
//! kept once their text reaches `max_text_bytes` (notes too, counted apart).

mod names;
pub mod pick;

pub use names::{files_to_read, ArchiveFileName, FileKind};

#[cfg(feature = "read")]
mod notes;
#[cfg(feature = "read")]
mod read;
#[cfg(feature = "read")]
pub use read::*;
