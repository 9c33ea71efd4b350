//! Reading an upload: the zip's tweets files (or a tweets.js alone) as a stream,
//! within [`ArchiveLimits`], then the long posts' notes.

use std::fmt;
use std::io::{self, BufRead, BufReader, Cursor, Read};

use serde::de::{self, Deserializer as _, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use zip::result::ZipError;
use zip::ZipArchive;

use crate::names::{files_to_read, FileKind};
use crate::notes::{complete_long_posts, Note, NoteElement};
use crate::pick::is_zip;

/// How much an upload may make us read. The defaults suit a web upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveLimits {
    /// The uploaded bytes (zip or tweets.js). Default 32 MiB.
    pub max_upload_bytes: usize,
    /// Bytes inflated from the tweets files, summed over all of them. Default 256 MiB.
    pub max_unpacked_bytes: u64,
    /// Tweets kept; later ones are dropped and [`Archive::truncated`] is set. Default 100,000.
    pub max_tweets: usize,
    /// Bytes of their text kept, summed over the tweets; past it, later tweets are
    /// dropped as past `max_tweets`. Default 16 MiB: 100,000 tweets of 55
    /// Japanese characters (an archive's average is shorter), and what keeps a
    /// training within its share of a small instance's memory (deploy/README.md).
    pub max_text_bytes: usize,
    /// Bytes of any one JSON string as written in the file (a tweet's text with its
    /// escapes), checked as the bytes stream past: a longer one fails the read with
    /// [`ArchiveError::StringTooLong`]. Default 64 KiB, the engine's line limit;
    /// a tweet's text is at most 280 characters (the archive keeps long posts'
    /// full text elsewhere).
    pub max_string_bytes: usize,
    /// Bytes of a long post's full text in `note-tweet.js`, as written. Default
    /// 256 KiB: X allows 25,000 characters, at most 100 KB of UTF-8.
    pub max_note_bytes: usize,
}

impl Default for ArchiveLimits {
    fn default() -> Self {
        Self {
            max_upload_bytes: 32 << 20,
            max_unpacked_bytes: 256 << 20,
            max_tweets: 100_000,
            max_text_bytes: 16 << 20,
            max_string_bytes: 64 << 10,
            max_note_bytes: 256 << 10,
        }
    }
}

/// One tweet, as the archive has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveTweet {
    /// `id_str`; useful to skip tweets already imported.
    pub id: Option<String>,
    /// `full_text`, still HTML-escaped (`&amp;`, `&lt;`, `&gt;`) as X writes it.
    pub text: String,
    /// A reply: `in_reply_to_status_id_str` is present (self-replies in threads too).
    pub reply: bool,
    /// A retweet: the text starts with `RT @` (the archive's `retweeted` flag is unreliable).
    pub retweet: bool,
    /// `created_at` as written, e.g. `Wed Oct 10 20:19:24 +0000 2018`.
    pub created_at: Option<String>,
}

/// What an upload held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archive {
    /// In file order: `tweets.js`, then `tweets-part1.js`, `tweets-part2.js` …
    pub tweets: Vec<ArchiveTweet>,
    /// The files read: zip entry names, or [`PLAIN_UPLOAD_NAME`] for a bare tweets.js.
    pub files: Vec<String>,
    /// The archive had more than [`ArchiveLimits::max_tweets`] tweets, or more text than
    /// [`ArchiveLimits::max_text_bytes`]; the first ones were kept.
    pub truncated: bool,
    /// Long posts whose full text replaced their cut copy.
    pub long_posts: usize,
}

/// The name errors and [`Archive::files`] give an upload that is not a zip.
pub const PLAIN_UPLOAD_NAME: &str = "tweets.js";

/// The tweets files looked for in a zip, for [`ArchiveError::NoTweetsFile`].
pub const EXPECTED_FILES: &[&str] = &["data/tweets.js", "data/tweet.js"];

/// Why an upload could not be read. Each variant carries what the person
/// uploading needs to fix it; `Display` is plain English for logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    #[error("the upload is {size} bytes, more than the limit of {limit} bytes")]
    UploadTooLarge { size: usize, limit: usize },
    /// `file` is the tweets file whose data is damaged, if the damage is there.
    #[error("the zip file is damaged or incomplete ({detail})")]
    DamagedZip { file: Option<String>, detail: String },
    #[error("`{file}` in the zip file is encrypted; upload the archive without a password")]
    EncryptedZip { file: String },
    #[error("`{file}` in the zip file is compressed with method {method}, which is not supported; zip it again with ordinary (deflate) compression")]
    UnsupportedCompression { file: String, method: u16 },
    #[error("the zip file has no tweets file (looked for {})", expected.join(", "))]
    NoTweetsFile { expected: &'static [&'static str] },
    #[error("the tweets files unpack to more than {limit} bytes (stopped in `{file}`)")]
    UnpackedTooLarge { file: String, limit: u64 },
    #[error("`{file}` has a text longer than {limit} bytes at line {line}")]
    StringTooLong { file: String, line: u64, limit: usize },
    #[error("`{file}` is not valid UTF-8 text at line {line}, column {column}")]
    InvalidUtf8 { file: String, line: u64, column: u64 },
    #[error("`{file}` is not the X archive file its name says: it starts with {found:?}")]
    NotTweetsFile { file: String, found: String },
    #[error("`{file}` has broken JSON at line {line}, column {column}: {message}")]
    InvalidJson { file: String, line: u64, column: u64, message: String },
    #[error("`{file}` does not hold tweets as expected at line {line}, column {column}: {message}")]
    UnexpectedShape { file: String, line: u64, column: u64, message: String },
    #[error("the archive has no tweets")]
    NoTweets,
}

/// Reads the tweets from an upload: a zip (told by its magic bytes), else the text
/// of a tweets file (`window.YTD.tweets.partN = [...]`, or a bare JSON array).
pub fn read_upload(bytes: &[u8], limits: &ArchiveLimits) -> Result<Archive, ArchiveError> {
    if bytes.len() > limits.max_upload_bytes {
        return Err(ArchiveError::UploadTooLarge { size: bytes.len(), limit: limits.max_upload_bytes });
    }
    let mut reading = Reading {
        archive: Archive { tweets: Vec::new(), files: Vec::new(), truncated: false, long_posts: 0 },
        notes: Vec::new(),
        notes_bytes: 0,
        budget: limits.max_unpacked_bytes,
        text_bytes: 0,
        limits,
    };
    if is_zip(bytes) {
        let mut zip = ZipArchive::new(Cursor::new(bytes)).map_err(|e| zip_error(e, None))?;
        let names = (0..zip.len()).filter_map(|index| Some((index, zip.name_for_index(index)?.ok()?.into_owned())));
        let names: Vec<(usize, String)> = names.collect();
        let files = files_to_read(names.iter().map(|(index, name)| (*index, name.as_str())));
        if files.is_empty() {
            return Err(ArchiveError::NoTweetsFile { expected: EXPECTED_FILES });
        }
        for (index, file) in files {
            let name = zip.name_for_index(index).and_then(Result::ok).map(|name| name.into_owned()).unwrap_or_default();
            if file.kind != FileKind::Notes && reading.full() {
                // Full: the remaining parts are not read.
                reading.archive.truncated = true;
                continue;
            }
            reading.file(&mut Source::Zip { zip: &mut zip, index }, name, file.kind)?;
        }
    } else {
        reading.file(&mut Source::Text(bytes), PLAIN_UPLOAD_NAME.to_owned(), FileKind::Tweets)?;
    }
    if reading.archive.tweets.is_empty() {
        return Err(ArchiveError::NoTweets);
    }
    reading.archive.long_posts = complete_long_posts(&mut reading.archive.tweets, &reading.notes);
    Ok(reading.archive)
}

/// Where a tweets file's bytes come from; reopened to locate an error.
enum Source<'z, 'b> {
    Text(&'b [u8]),
    Zip { zip: &'z mut ZipArchive<Cursor<&'b [u8]>>, index: usize },
}

impl Source<'_, '_> {
    fn open(&mut self, name: &str) -> Result<Box<dyn Read + '_>, ArchiveError> {
        match self {
            Source::Text(bytes) => Ok(Box::new(*bytes)),
            Source::Zip { zip, index } => match zip.by_index(*index) {
                Ok(file) => Ok(Box::new(file)),
                Err(err) => Err(zip_error(err, Some(name))),
            },
        }
    }
}

/// `file`: the entry being opened, if any.
fn zip_error(err: ZipError, file: Option<&str>) -> ArchiveError {
    let file = file.map(str::to_owned);
    match err {
        ZipError::UnsupportedArchive(ZipError::PASSWORD_REQUIRED) => {
            ArchiveError::EncryptedZip { file: file.unwrap_or_default() }
        }
        ZipError::CompressionMethodNotSupported(method) => {
            ArchiveError::UnsupportedCompression { file: file.unwrap_or_default(), method }
        }
        other => ArchiveError::DamagedZip { file, detail: other.to_string() },
    }
}

/// The state of one upload being read.
struct Reading<'l> {
    archive: Archive,
    /// Long posts' full texts, matched to their tweets once all is read.
    notes: Vec<Note>,
    /// Bytes of the kept notes' texts (at most `max_text_bytes`).
    notes_bytes: usize,
    /// Unpacked bytes still allowed.
    budget: u64,
    /// Bytes of the kept tweets' texts.
    text_bytes: usize,
    limits: &'l ArchiveLimits,
}

impl Reading<'_> {
    fn file(&mut self, source: &mut Source, name: String, kind: FileKind) -> Result<(), ArchiveError> {
        let mut budget = self.budget;
        let max_string_bytes = match kind {
            FileKind::Notes => self.limits.max_note_bytes,
            FileKind::Tweets | FileKind::OldTweets => self.limits.max_string_bytes,
        };
        let result = {
            let checked = Checked::new(source.open(&name)?, &mut budget, max_string_bytes);
            // serde_json reads byte by byte: std's `Bytes<BufReader<_>>` (by value,
            // not `&mut`) takes them straight from the buffer.
            let input = BufReader::with_capacity(64 << 10, checked);
            parse_archive_file(input, kind, self)
        };
        self.budget = budget;
        result.map_err(|failure| failure.into_error(source, &name, max_string_bytes, self.limits))?;
        self.archive.files.push(name);
        Ok(())
    }

    /// No more tweets are kept.
    fn full(&self) -> bool {
        self.archive.tweets.len() >= self.limits.max_tweets || self.text_bytes >= self.limits.max_text_bytes
    }

    /// Keeps `note` while the notes' text is within `max_text_bytes`.
    fn keep_note(&mut self, note: Note) {
        if self.notes_bytes + note.text.len() <= self.limits.max_text_bytes {
            self.notes_bytes += note.text.len();
            self.notes.push(note);
        }
    }

    /// Keeps `tweet` unless that would pass a limit; then the read is full.
    fn keep(&mut self, tweet: ArchiveTweet) {
        let text_bytes = self.text_bytes + tweet.text.len();
        if text_bytes > self.limits.max_text_bytes {
            self.text_bytes = self.limits.max_text_bytes;
            self.archive.truncated = true;
        } else {
            self.text_bytes = text_bytes;
            self.archive.tweets.push(tweet);
        }
    }
}

/// A failure while parsing, before it is put in terms of the file.
enum Failure {
    Io(io::Error),
    NotTweetsFile(String),
    Json(serde_json::Error, Prefix),
}

impl From<io::Error> for Failure {
    fn from(err: io::Error) -> Self {
        Failure::Io(err)
    }
}

impl Failure {
    fn into_error(
        self,
        source: &mut Source,
        file: &str,
        max_string_bytes: usize,
        limits: &ArchiveLimits,
    ) -> ArchiveError {
        let file = file.to_owned();
        let (err, prefix) = match self {
            Failure::Io(err) => return io_error(err, source, file, max_string_bytes, limits),
            Failure::NotTweetsFile(found) => return ArchiveError::NotTweetsFile { file, found },
            Failure::Json(err, prefix) => (err, prefix),
        };
        let category = err.classify();
        if category == serde_json::error::Category::Io {
            return io_error(io::Error::from(err), source, file, max_string_bytes, limits);
        }
        // serde_json counts from the start of the JSON, in bytes; we report the
        // position in the file, in characters.
        let json_line = err.line() as u64;
        let line = json_line + prefix.newlines;
        let before = if json_line == 1 { prefix.tail } else { 0 };
        let column = char_column(source, &file, line, before + (err.column() as u64).saturating_sub(1));
        // The message without serde_json's own " at line L column C".
        let message = err.to_string();
        let message = message.rsplit_once(" at line ").map_or(message.as_str(), |(m, _)| m).to_owned();
        if category == serde_json::error::Category::Data {
            ArchiveError::UnexpectedShape { file, line, column, message }
        } else {
            ArchiveError::InvalidJson { file, line, column, message }
        }
    }
}

fn io_error(
    err: io::Error,
    source: &mut Source,
    file: String,
    max_string_bytes: usize,
    limits: &ArchiveLimits,
) -> ArchiveError {
    let inner = err.get_ref();
    if let Some(zip) = inner.and_then(|e| e.downcast_ref::<ZipError>()) {
        // The zip crate finds an unsupported compression method at the first read.
        return zip_error(zip.clone(), Some(&file));
    }
    match inner.and_then(|e| e.downcast_ref::<CheckError>()) {
        Some(CheckError::TooLarge) => ArchiveError::UnpackedTooLarge { file, limit: limits.max_unpacked_bytes },
        Some(&CheckError::StringTooLong { line }) => {
            ArchiveError::StringTooLong { file, line, limit: max_string_bytes }
        }
        Some(&CheckError::InvalidUtf8 { line, index }) => {
            let column = char_column(source, &file, line, index);
            ArchiveError::InvalidUtf8 { file, line, column }
        }
        // Corrupt deflate data, a CRC mismatch …
        None => ArchiveError::DamagedZip { detail: err.to_string(), file: Some(file) },
    }
}

/// The character column (1-based; a BOM is not a character) of byte `index`
/// (0-based) of line `line` (1-based), found by reading the file again: errors
/// are rare, and this keeps the happy path free of per-character bookkeeping.
fn char_column(source: &mut Source, file: &str, line: u64, index: u64) -> u64 {
    let count = |reader: Box<dyn Read + '_>| -> io::Result<u64> {
        let mut reader = BufReader::new(reader);
        let bom = line == 1 && reader.fill_buf()?.starts_with(BOM);
        for _ in 1..line {
            if reader.skip_until(b'\n')? == 0 {
                break;
            }
        }
        let mut rest = reader.take(index);
        let mut chars = 0;
        loop {
            let buf = rest.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            chars += buf.iter().filter(|&&b| !is_utf8_continuation(b)).count() as u64;
            let n = buf.len();
            rest.consume(n);
        }
        Ok(chars + 1 - u64::from(bom && chars > 0))
    };
    // The file was readable a moment ago; if not now, a byte column is the best we have.
    source.open(file).ok().and_then(|reader| count(reader).ok()).unwrap_or(index + 1)
}

fn is_utf8_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What precedes the JSON array in the file: BOM, `window.YTD.tweets.part0 = `.
#[derive(Debug, Clone, Copy)]
struct Prefix {
    newlines: u64,
    /// Bytes of the prefix after its last newline.
    tail: u64,
}

/// The longest `window.YTD.<name>.part<N> =` (with a BOM and spaces) we look through.
const MAX_PREFIX: usize = 128;

fn parse_archive_file<R: Read>(mut input: BufReader<R>, kind: FileKind, reading: &mut Reading) -> Result<(), Failure> {
    let prefix = read_prefix(&mut input, kind)?;
    let mut de = serde_json::Deserializer::from_reader(input);
    let parsed = match kind {
        FileKind::Notes => de.deserialize_seq(NotesArray(reading)),
        FileKind::Tweets | FileKind::OldTweets => de.deserialize_seq(TweetsArray(reading)),
    };
    parsed.and_then(|()| de.end()).map_err(|err| Failure::Json(err, prefix))
}

/// Consumes everything before the JSON array and checks it names what `kind` holds.
fn read_prefix(input: &mut impl BufRead, kind: FileKind) -> Result<Prefix, Failure> {
    let mut head = Vec::new();
    let ended = loop {
        let next = match input.fill_buf() {
            Ok(buf) => buf.first().copied(),
            // Bytes that are not UTF-8 right at the start: not a text file at all.
            Err(err)
                if matches!(
                    err.get_ref().and_then(|e| e.downcast_ref::<CheckError>()),
                    Some(CheckError::InvalidUtf8 { .. })
                ) =>
            {
                return Err(Failure::NotTweetsFile(String::from_utf8_lossy(&head).trim().to_owned()));
            }
            Err(err) => return Err(err.into()),
        };
        match next {
            None => break None,
            Some(b'[') => break Some(b'['),
            Some(b) => {
                input.consume(1);
                head.push(b);
                if b == b'=' {
                    break Some(b'=');
                }
                if head.len() == MAX_PREFIX {
                    break None;
                }
            }
        }
    };
    // `head` holds whole characters: the input is checked UTF-8 and we stop at ASCII.
    let text = String::from_utf8_lossy(&head);
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(&text).trim();
    let accepted = match ended {
        Some(b'[') => text.is_empty(),
        Some(_) => is_assignment(text.trim_end_matches('='), kind),
        None => false,
    };
    if !accepted {
        let found: String = text.chars().take(40).collect();
        return Err(Failure::NotTweetsFile(found.trim_end_matches('=').trim_end().to_owned()));
    }
    let newlines = head.iter().filter(|&&b| b == b'\n').count() as u64;
    let tail = head.iter().rev().take_while(|&&b| b != b'\n').count() as u64;
    Ok(Prefix { newlines, tail })
}

/// `window.YTD.tweets.part0` (or `tweet`; `note_tweet` for notes; any part number).
fn is_assignment(lhs: &str, kind: FileKind) -> bool {
    let Some(rest) = lhs.trim().strip_prefix("window.YTD.") else { return false };
    let Some((name, part)) = rest.split_once(".part") else { return false };
    let named = match kind {
        FileKind::Notes => name == "note_tweet",
        FileKind::Tweets | FileKind::OldTweets => matches!(name, "tweets" | "tweet"),
    };
    named && !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit())
}

/// The top-level array: tweets are kept as they are parsed.
struct TweetsArray<'r, 'l>(&'r mut Reading<'l>);

impl<'de> Visitor<'de> for TweetsArray<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of tweets")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let reading = self.0;
        while !reading.full() {
            match seq.next_element::<Tweet>()? {
                Some(tweet) => reading.keep(tweet.0),
                None => return Ok(()),
            }
        }
        // Full: the rest of the array is still checked, not kept.
        while seq.next_element::<IgnoredAny>()?.is_some() {
            reading.archive.truncated = true;
        }
        Ok(())
    }
}

/// The top-level array of `note-tweet.js`: notes kept while they fit.
struct NotesArray<'r, 'l>(&'r mut Reading<'l>);

impl<'de> Visitor<'de> for NotesArray<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of long posts")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(element) = seq.next_element::<NoteElement>()? {
            if let Some(note) = element.into_note() {
                self.0.keep_note(note);
            }
        }
        Ok(())
    }
}

/// An array element: `{"tweet": {...}}`, or the tweet object itself (2019 archives).
struct Tweet(ArchiveTweet);

/// The keys we keep; the rest are skipped without being stored.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum Field {
    Tweet,
    IdStr,
    FullText,
    CreatedAt,
    InReplyToStatusIdStr,
    #[serde(other)]
    Other,
}

impl<'de> Deserialize<'de> for Tweet {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TweetVisitor)
    }
}

struct TweetVisitor;

impl<'de> Visitor<'de> for TweetVisitor {
    type Value = Tweet;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a tweet object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tweet, A::Error> {
        let (mut wrapped, mut id, mut text, mut created_at, mut reply_to) = (None, None, None, None, None::<String>);
        while let Some(field) = map.next_key()? {
            match field {
                Field::Tweet => wrapped = Some(map.next_value::<Tweet>()?),
                Field::IdStr => id = map.next_value()?,
                Field::FullText => text = Some(map.next_value::<String>()?),
                Field::CreatedAt => created_at = map.next_value()?,
                Field::InReplyToStatusIdStr => reply_to = map.next_value()?,
                Field::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if let Some(tweet) = wrapped {
            return Ok(tweet);
        }
        let text = text.ok_or_else(|| de::Error::missing_field("full_text"))?;
        Ok(Tweet(ArchiveTweet { id, retweet: text.starts_with("RT @"), text, reply: reply_to.is_some(), created_at }))
    }
}

/// Why [`Checked`] stopped; travels inside an `io::Error` through serde_json.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CheckError {
    TooLarge,
    /// A JSON string past `max_string_bytes`, on line `line` (1-based).
    StringTooLong {
        line: u64,
    },
    /// At byte `index` (0-based) of line `line` (1-based).
    InvalidUtf8 {
        line: u64,
        index: u64,
    },
}

impl fmt::Display for CheckError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            CheckError::TooLarge => f.write_str("over the unpacked size limit"),
            CheckError::StringTooLong { line } => write!(f, "a string over the size limit at line {line}"),
            CheckError::InvalidUtf8 { line, index } => write!(f, "invalid UTF-8 at line {line}, byte {index}"),
        }
    }
}

impl std::error::Error for CheckError {}

/// Passes on bytes while they are within the size budget, valid UTF-8 and no
/// JSON string in them is too long, and knows the line of the last byte passed
/// on, so that errors have a position. Nothing is buffered: a character cut by the
/// end of a read is passed on and its first bytes remembered, to be checked with
/// the rest in the next read.
struct Checked<'b, R> {
    inner: R,
    /// Bytes still allowed to come out of `inner`.
    budget: &'b mut u64,
    strings: JsonStrings,
    /// The first bytes of a character cut by the end of the last read.
    cut: [u8; 4],
    cut_len: usize,
    /// The error to return from now on.
    failed: Option<CheckError>,
    offset: u64,
    line: u64,
    line_start: u64,
}

impl<'b, R: Read> Checked<'b, R> {
    fn new(inner: R, budget: &'b mut u64, max_string_bytes: usize) -> Self {
        let strings = JsonStrings { max: max_string_bytes, inside: false, escaped: false, length: 0 };
        Self { inner, budget, strings, cut: [0; 4], cut_len: 0, failed: None, offset: 0, line: 1, line_start: 0 }
    }

    fn pass(&mut self, bytes: &[u8]) {
        if let Some(last) = bytes.iter().rposition(|&b| b == b'\n') {
            self.line += bytes.iter().filter(|&&b| b == b'\n').count() as u64;
            self.line_start = self.offset + last as u64 + 1;
        }
        self.offset += bytes.len() as u64;
    }

    /// Fails from now on, at `back` bytes before the last byte passed on (a
    /// character has no newline, so the line is the current one).
    fn fail(&mut self, back: usize) -> io::Error {
        let err = CheckError::InvalidUtf8 { line: self.line, index: self.offset - back as u64 - self.line_start };
        self.failed = Some(err);
        io::Error::other(err)
    }

    /// Checks the start of `bytes` as the rest of the cut character; returns
    /// how many bytes of `bytes` belong to it.
    fn finish_cut(&mut self, bytes: &[u8]) -> Result<usize, io::Error> {
        let len = match self.cut[0] {
            0xF0.. => 4,
            0xE0.. => 3,
            _ => 2,
        };
        let take = (len - self.cut_len).min(bytes.len());
        self.cut[self.cut_len..self.cut_len + take].copy_from_slice(&bytes[..take]);
        match std::str::from_utf8(&self.cut[..self.cut_len + take]) {
            Ok(_) => self.cut_len = 0,
            // Still not whole (the input comes a byte at a time): wait for more.
            Err(e) if e.error_len().is_none() && take > 0 => self.cut_len += take,
            Err(_) => return Err(self.fail(self.cut_len)),
        }
        Ok(take)
    }
}

impl<R: Read> Read for Checked<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(err) = self.failed {
            return Err(io::Error::other(err));
        }
        // One byte past the budget tells an oversized file from one that fits exactly.
        let room = buf.len().min(usize::try_from(self.budget.saturating_add(1)).unwrap_or(usize::MAX));
        let got = self.inner.read(&mut buf[..room])?;
        if got as u64 > *self.budget {
            self.failed = Some(CheckError::TooLarge);
            return Err(io::Error::other(CheckError::TooLarge));
        }
        *self.budget -= got as u64;
        let bytes = &buf[..got];
        let start = if self.cut_len > 0 { self.finish_cut(bytes)? } else { 0 };
        let (valid, invalid) = match std::str::from_utf8(&bytes[start..]) {
            Ok(_) => (got, false),
            Err(e) if e.error_len().is_none() => {
                let valid = start + e.valid_up_to();
                self.cut_len = got - valid;
                self.cut[..self.cut_len].copy_from_slice(&bytes[valid..]);
                (got, false)
            }
            Err(e) => (start + e.valid_up_to(), true),
        };
        if let Some(at) = self.strings.scan(&buf[..valid]) {
            let line = self.line + buf[..at].iter().filter(|&&b| b == b'\n').count() as u64;
            self.failed = Some(CheckError::StringTooLong { line });
            return Err(io::Error::other(CheckError::StringTooLong { line }));
        }
        self.pass(&buf[..valid]);
        if invalid {
            // The bytes before the bad one are passed on now, the error on the next read.
            let err = self.fail(0);
            if valid == 0 {
                return Err(err);
            }
        }
        Ok(valid)
    }
}

/// Follows the JSON text's strings as its bytes go by, to measure each one
/// before the parser buffers it. The text before the array (`window.YTD… =`)
/// has no quotes, so the bytes of the whole file can be followed.
struct JsonStrings {
    max: usize,
    inside: bool,
    /// The last byte inside the string was an unescaped backslash.
    escaped: bool,
    /// Bytes of the current string so far.
    length: usize,
}

impl JsonStrings {
    /// Follows `bytes`; the index of the first byte past the limit, if any.
    /// Keeps `length <= max`.
    fn scan(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut at = 0;
        while at < bytes.len() {
            if !self.inside {
                let quote = bytes[at..].iter().position(|&b| b == b'"')?;
                (self.inside, self.escaped, self.length) = (true, false, 0);
                at += quote + 1;
                continue;
            }
            // The string's bytes from `at` up to its closing quote or its next
            // backslash (counted); a byte after a backslash is never the end.
            let from = at + usize::from(self.escaped);
            let stop = bytes[from..].iter().position(|&b| b == b'"' || b == b'\\').map(|i| from + i);
            let end = match stop {
                Some(i) if bytes[i] == b'\\' => i + 1,
                Some(i) => i,
                None => bytes.len(),
            };
            if self.length + (end - at) > self.max {
                return Some(at + self.max - self.length);
            }
            self.length += end - at;
            self.escaped = matches!(stop, Some(i) if bytes[i] == b'\\');
            self.inside = stop.is_none() || self.escaped;
            at = stop.map_or(bytes.len(), |i| i + 1);
        }
        None
    }
}

#[cfg(test)]
mod tests;
