//! Which entries of an X archive's zip hold what tweetgen reads: the tweets files
//! (`data/tweets.js`, `data/tweets-part1.js` …; `data/tweet.js` before 2020) and
//! the long posts' full texts (`data/note-tweet.js`, and its parts). The same rule
//! serves the server, which reads an uploaded zip, and the browser, which sends
//! only these entries out of the whole archive.

/// An entry name of the form `<dir>data/<file>[-partN].js` that tweetgen reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveFileName {
    /// The folder holding `data/`: "" or e.g. "twitter-2024-01-01/".
    pub dir: String,
    pub kind: FileKind,
    pub part: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FileKind {
    Tweets,
    /// `tweet.js`, the name before 2020.
    OldTweets,
    /// `note-tweet.js`: the full text of posts longer than 280.
    Notes,
}

impl ArchiveFileName {
    pub fn parse(name: &str) -> Option<Self> {
        // Some Windows tools write backslashes.
        let name = name.replace('\\', "/");
        if name.starts_with("__MACOSX/") {
            return None;
        }
        let (dir, file) = match name.rsplit_once("/data/") {
            Some((top, file)) => (format!("{top}/"), file),
            None => (String::new(), name.strip_prefix("data/")?),
        };
        let stem = file.strip_suffix(".js")?;
        let (base, part) = match stem.split_once("-part") {
            Some((base, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => (base, n.parse().ok()?),
            Some(_) => return None,
            None => (stem, 0),
        };
        let kind = match base {
            "tweets" => FileKind::Tweets,
            "tweet" => FileKind::OldTweets,
            "note-tweet" => FileKind::Notes,
            _ => return None,
        };
        Some(Self { dir, kind, part })
    }
}

/// The entries of one archive to read, in reading order: its tweets files by
/// part, then its note files by part. `names` gives each entry's index and name.
///
/// `data/` may be under any top folder (re-zipping tools add one); if several
/// archives sit in one zip, the shallowest is read, `tweets` before old `tweet`.
/// Empty when there is no tweets file.
pub fn files_to_read<'n>(names: impl IntoIterator<Item = (usize, &'n str)>) -> Vec<(usize, ArchiveFileName)> {
    let mut found: Vec<(usize, ArchiveFileName)> =
        names.into_iter().filter_map(|(index, name)| Some((index, ArchiveFileName::parse(name)?))).collect();
    let chosen = found
        .iter()
        .map(|(_, file)| file)
        .filter(|file| file.kind != FileKind::Notes)
        .min_by_key(|file| (file.dir.matches('/').count(), file.dir.clone(), file.kind))
        .map(|file| (file.dir.clone(), file.kind));
    let Some((dir, kind)) = chosen else { return Vec::new() };
    found.retain(|(_, file)| file.dir == dir && (file.kind == kind || file.kind == FileKind::Notes));
    found.sort_by_key(|(_, file)| (file.kind == FileKind::Notes, file.part));
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_the_files_read() {
        let parse = |name| ArchiveFileName::parse(name).map(|f| (f.dir, f.kind, f.part));
        assert_eq!(parse("data/tweets.js"), Some((String::new(), FileKind::Tweets, 0)));
        assert_eq!(parse("a/b/data/tweet-part12.js"), Some(("a/b/".into(), FileKind::OldTweets, 12)));
        assert_eq!(parse("top\\data\\tweets-part1.js"), Some(("top/".into(), FileKind::Tweets, 1)));
        assert_eq!(parse("data/note-tweet.js"), Some((String::new(), FileKind::Notes, 0)));
        for name in ["data/tweets-part.js", "data/tweets-partx.js", "data/tweets.json", "tweets.js", "data/likes.js"] {
            assert_eq!(parse(name), None, "{name}");
        }
    }

    #[test]
    fn one_archives_tweets_then_notes_in_part_order() {
        let names = [
            "data/tweets-part10.js",
            "data/note-tweet.js",
            "data/tweets-part2.js",
            "data/deleted-tweets.js",
            "__MACOSX/data/._tweets.js",
            "data/tweets.js",
            "backup/old/data/tweets.js",
            "backup/old/data/note-tweet.js",
            "data/tweets_media/1-a.jpg",
        ];
        let read: Vec<&str> =
            files_to_read(names.iter().copied().enumerate()).into_iter().map(|(index, _)| names[index]).collect();
        assert_eq!(read, ["data/tweets.js", "data/tweets-part2.js", "data/tweets-part10.js", "data/note-tweet.js"]);
        assert!(files_to_read([(0, "data/note-tweet.js")]).is_empty(), "notes alone are no tweets");
    }
}
