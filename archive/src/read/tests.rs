use std::io::{Cursor, Write};
use std::time::Instant;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::*;

const PREFIX: &str = "window.YTD.tweets.part0 = ";

/// A tweet object laid out as X writes them (`"key" : value`, two-space indents).
fn tweet_object(id: u64, text: &str, reply_to: Option<&str>) -> String {
    let text = serde_json::to_string(text).unwrap();
    let reply = match reply_to {
        Some(name) => format!(
            "      \"in_reply_to_status_id_str\" : \"{}\",\n      \"in_reply_to_user_id\" : \"42\",\n      \
             \"in_reply_to_screen_name\" : \"{name}\",\n      \"in_reply_to_user_id_str\" : \"42\",\n",
            id - 1
        ),
        None => String::new(),
    };
    format!(
        r#"  {{
    "tweet" : {{
      "edit_info" : {{
        "initial" : {{
          "editTweetIds" : [
            "{id}"
          ],
          "editableUntil" : "2023-02-01T10:00:00.000Z",
          "editsRemaining" : "5",
          "isEditEligible" : true
        }}
      }},
      "retweeted" : false,
      "source" : "<a href=\"https://mobile.twitter.com\" rel=\"nofollow\">Twitter Web App</a>",
      "entities" : {{
        "hashtags" : [ ],
        "symbols" : [ ],
        "user_mentions" : [ ],
        "urls" : [ ]
      }},
      "display_text_range" : [
        "0",
        "100"
      ],
      "favorite_count" : "3",
{reply}      "id_str" : "{id}",
      "truncated" : false,
      "retweet_count" : "0",
      "id" : "{id}",
      "created_at" : "Wed Oct 10 20:19:24 +0000 2018",
      "favorited" : false,
      "full_text" : {text},
      "lang" : "en"
    }}
  }}"#
    )
}

/// A tweets file: `window.YTD.tweets.part<part> = [ ... ]`.
fn tweets_file(part: u32, tweets: &[(u64, &str, Option<&str>)]) -> String {
    let body: Vec<String> = tweets.iter().map(|&(id, text, reply)| tweet_object(id, text, reply)).collect();
    format!("window.YTD.tweets.part{part} = [\n{}\n]", body.join(",\n"))
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for (name, data) in entries {
        writer.start_file(*name, options).unwrap();
        writer.write_all(data).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

fn read(bytes: &[u8]) -> Result<Archive, ArchiveError> {
    read_upload(bytes, &ArchiveLimits::default())
}

fn texts(archive: &Archive) -> Vec<&str> {
    archive.tweets.iter().map(|t| t.text.as_str()).collect()
}

/// A realistic archive: two tweets files, manifest, a media file, the HTML viewer.
fn real_archive(top: &str) -> Vec<u8> {
    let part0 = tweets_file(
        0,
        &[
            (100, "Hello &amp; welcome", None),
            (101, "@bob I agree", Some("bob")),
            (102, "RT @carol: something worth sharing", None),
        ],
    );
    let part1 = tweets_file(1, &[(50, "Older tweet from part one", None)]);
    let manifest = "window.__THAR_CONFIG = {\n  \"userInfo\" : {\n    \"userName\" : \"alice\"\n  }\n}";
    let names = ["data/manifest.js", "data/tweets.js", "data/tweets-part1.js", "data/tweets_media/100-abc.jpg"];
    let names: Vec<String> = names.iter().map(|n| format!("{top}{n}")).collect();
    zip_of(&[
        ("Your archive.html", b"<html></html>"),
        (&names[0], manifest.as_bytes()),
        (&names[2], part1.as_bytes()),
        (&names[1], part0.as_bytes()),
        (&names[3], &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10]),
    ])
}

#[test]
fn reads_a_real_format_archive_with_two_parts() {
    let archive = read(&real_archive("")).unwrap();
    assert_eq!(archive.files, ["data/tweets.js", "data/tweets-part1.js"]);
    assert_eq!(
        texts(&archive),
        ["Hello &amp; welcome", "@bob I agree", "RT @carol: something worth sharing", "Older tweet from part one"]
    );
    assert!(!archive.truncated);
    let first = &archive.tweets[0];
    assert_eq!(first.id.as_deref(), Some("100"));
    assert_eq!(first.created_at.as_deref(), Some("Wed Oct 10 20:19:24 +0000 2018"));
    let flags: Vec<(bool, bool)> = archive.tweets.iter().map(|t| (t.reply, t.retweet)).collect();
    assert_eq!(flags, [(false, false), (true, false), (false, true), (false, false)]);
}

#[test]
fn accepts_a_top_folder_added_by_rezipping() {
    let archive = read(&real_archive("twitter-2024-05-01-abc/")).unwrap();
    assert_eq!(archive.files, ["twitter-2024-05-01-abc/data/tweets.js", "twitter-2024-05-01-abc/data/tweets-part1.js"]);
    assert_eq!(archive.tweets.len(), 4);
}

#[test]
fn reads_tweets_js_alone_with_or_without_bom() {
    let file = tweets_file(0, &[(1, "こんにちは、世界", None), (2, "@x そうですね", Some("x"))]);
    for bytes in [file.clone().into_bytes(), [BOM, file.as_bytes()].concat()] {
        let archive = read(&bytes).unwrap();
        assert_eq!(archive.files, [PLAIN_UPLOAD_NAME]);
        assert_eq!(texts(&archive), ["こんにちは、世界", "@x そうですね"]);
        assert!(archive.tweets[1].reply);
    }
    let zipped = zip_of(&[("data/tweets.js", &[BOM, file.as_bytes()].concat())]);
    assert_eq!(read(&zipped).unwrap().tweets.len(), 2);
}

#[test]
fn accepts_a_bare_json_array_and_any_part_number() {
    let archive = read(br#" [{"tweet": {"full_text": "bare"}}] "#).unwrap();
    assert_eq!(texts(&archive), ["bare"]);
    assert_eq!(archive.tweets[0].id, None);
    let part3 = tweets_file(3, &[(1, "from part three", None)]);
    assert_eq!(texts(&read(part3.as_bytes()).unwrap()), ["from part three"]);
}

#[test]
fn reads_old_tweet_js_with_unwrapped_objects() {
    // 2019 archives: `tweet.js`, `window.YTD.tweet.part0`, no `"tweet"` wrapper.
    let file = "window.YTD.tweet.part0 = [ {\n  \"retweeted\" : false,\n  \"id_str\" : \"7\",\n  \
                \"in_reply_to_status_id_str\" : \"6\",\n  \"full_text\" : \"old reply\"\n}, {\n  \
                \"full_text\" : \"old tweet\",\n  \"in_reply_to_status_id_str\" : null\n} ]";
    let archive = read(&zip_of(&[("data/tweet.js", file.as_bytes())])).unwrap();
    assert_eq!(archive.files, ["data/tweet.js"]);
    assert_eq!(texts(&archive), ["old reply", "old tweet"]);
    assert_eq!(archive.tweets[0].id.as_deref(), Some("7"));
    assert!(archive.tweets[0].reply);
    assert!(!archive.tweets[1].reply);
}

#[test]
fn reads_parts_in_numeric_order_and_ignores_other_files() {
    let part = |n: u32| tweets_file(n, &[(n as u64, &format!("part {n}"), None)]);
    let (p0, p2, p10) = (part(0), part(2), part(10));
    let zip = zip_of(&[
        ("data/tweets-part10.js", p10.as_bytes()),
        ("data/tweets-part2.js", p2.as_bytes()),
        ("data/deleted-tweets.js", b"window.YTD.deleted_tweets.part0 = []"),
        ("data/note-tweet.js", b"window.YTD.note_tweet.part0 = []"),
        ("__MACOSX/data/._tweets.js", b"\x00\x05\x16\x07"),
        ("data/tweets.js", p0.as_bytes()),
        // A second, deeper archive inside is not mixed in.
        ("backup/old/data/tweets.js", p2.as_bytes()),
    ]);
    let archive = read(&zip).unwrap();
    assert_eq!(texts(&archive), ["part 0", "part 2", "part 10"]);
}

#[test]
fn keeps_the_first_max_tweets() {
    let limits = ArchiveLimits { max_tweets: 2, ..ArchiveLimits::default() };
    let archive = read_upload(&real_archive(""), &limits).unwrap();
    assert!(archive.truncated);
    assert_eq!(texts(&archive), ["Hello &amp; welcome", "@bob I agree"]);
    // Exactly full at the end of the last file: nothing was dropped.
    let limits = ArchiveLimits { max_tweets: 4, ..ArchiveLimits::default() };
    assert!(!read_upload(&real_archive(""), &limits).unwrap().truncated);
    // Full at the end of a part: the next part is not read.
    let limits = ArchiveLimits { max_tweets: 3, ..ArchiveLimits::default() };
    let archive = read_upload(&real_archive(""), &limits).unwrap();
    assert!(archive.truncated);
    assert_eq!(archive.files, ["data/tweets.js"]);
}

#[test]
fn keeps_tweets_while_their_text_fits() {
    // The texts are 19, 12, 34 and 25 bytes.
    let limits = ArchiveLimits { max_text_bytes: 19 + 12 + 33, ..ArchiveLimits::default() };
    let archive = read_upload(&real_archive(""), &limits).unwrap();
    assert!(archive.truncated);
    assert_eq!(texts(&archive), ["Hello &amp; welcome", "@bob I agree"]);
    assert_eq!(archive.files, ["data/tweets.js"], "full: the next part is not read");
    let limits = ArchiveLimits { max_text_bytes: 19 + 12 + 34 + 25, ..ArchiveLimits::default() };
    assert!(!read_upload(&real_archive(""), &limits).unwrap().truncated);
}

#[test]
fn a_string_past_its_limit_stops_the_read_where_it_is() {
    let limits = ArchiveLimits { max_string_bytes: 100, ..ArchiveLimits::default() };
    let fits = "あ".repeat(33) + "a"; // 100 bytes
    let file = tweets_file(0, &[(1, "short", None), (2, &fits, None)]);
    assert_eq!(read_upload(file.as_bytes(), &limits).unwrap().tweets[1].text, fits);
    // Escapes count as written: 100 bytes of text, 102 in the file.
    let escaped = format!("{}\\\\\\\\", "a".repeat(98));
    let file = tweets_file(0, &[(1, "short", None), (2, "x", None)]).replace("\"x\"", &format!("\"{escaped}\""));
    let line = file.lines().position(|l| l.contains(&escaped)).unwrap() as u64 + 1;
    let err = read_upload(file.as_bytes(), &limits).unwrap_err();
    assert_eq!(err, ArchiveError::StringTooLong { file: PLAIN_UPLOAD_NAME.into(), line, limit: 100 });
    // Any string, not only a text, and in a zip: here a 300 MB one, refused within its first bytes
    // (the unpacked limit would have stopped it at 256 MiB).
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    writer.start_file("data/tweets.js", SimpleFileOptions::default()).unwrap();
    writer.write_all(b"window.YTD.tweets.part0 = [ { \"tweet\" : { \"source\" : \"").unwrap();
    for _ in 0..300 {
        writer.write_all(&[b'a'; 1 << 20]).unwrap();
    }
    writer.write_all(b"\" } } ]").unwrap();
    let zip = writer.finish().unwrap().into_inner();
    let err = read_upload(&zip, &ArchiveLimits::default()).unwrap_err();
    assert_eq!(err, ArchiveError::StringTooLong { file: "data/tweets.js".into(), line: 1, limit: 64 << 10 });
}

#[test]
fn strings_are_measured_across_reads_and_escapes() {
    let text = br#"x = [ {"a\"b": "\\", "t": "ab\"cd\\"}, "e" ]"#;
    // The longest string, `ab\"cd\\`, is 8 bytes as written.
    for max in [7, 8] {
        for cut in 0..=text.len() {
            let mut strings = JsonStrings { max, inside: false, escaped: false, length: 0 };
            let first = strings.scan(&text[..cut]);
            let over = first.or_else(|| strings.scan(&text[cut..]).map(|at| at + cut));
            let expected = (max == 7).then(|| text.windows(2).position(|w| w == b"cd").unwrap() + 3);
            assert_eq!(over, expected, "max {max}, cut at {cut}");
        }
    }
}

#[test]
fn rejects_an_upload_over_the_limit() {
    let limits = ArchiveLimits { max_upload_bytes: 10, ..ArchiveLimits::default() };
    let err = read_upload(b"[{\"full_text\": \"x\"}]", &limits).unwrap_err();
    assert_eq!(err, ArchiveError::UploadTooLarge { size: 20, limit: 10 });
}

#[test]
fn unpacked_limit_is_summed_over_parts() {
    let zip = real_archive("");
    let part0_len = tweets_file(
        0,
        &[
            (100, "Hello &amp; welcome", None),
            (101, "@bob I agree", Some("bob")),
            (102, "RT @carol: something worth sharing", None),
        ],
    )
    .len() as u64;
    // part0 fits, part0 + part1 does not.
    let limits = ArchiveLimits { max_unpacked_bytes: part0_len + 10, ..ArchiveLimits::default() };
    let err = read_upload(&zip, &limits).unwrap_err();
    assert_eq!(err, ArchiveError::UnpackedTooLarge { file: "data/tweets-part1.js".into(), limit: part0_len + 10 });
    // A file exactly at the limit is fine.
    let limits = ArchiveLimits { max_unpacked_bytes: part0_len, max_tweets: 3, ..ArchiveLimits::default() };
    assert_eq!(read_upload(&zip, &limits).unwrap().tweets.len(), 3);
}

#[test]
fn stops_a_zip_bomb_while_inflating() {
    // 300 MB of JSON whitespace after a valid prefix deflates to about 300 KB;
    // the zip header declares the true size, which must not matter either way.
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    writer.start_file("data/tweets.js", options).unwrap();
    writer.write_all(b"window.YTD.tweets.part0 = [").unwrap();
    let spaces = vec![b' '; 1 << 20];
    for _ in 0..300 {
        writer.write_all(&spaces).unwrap();
    }
    writer.write_all(b"]").unwrap();
    let bomb = writer.finish().unwrap().into_inner();
    assert!(bomb.len() < 2 << 20, "bomb is {} bytes", bomb.len());

    // A 32 MiB limit keeps the test quick in debug builds (the default 256 MiB
    // behaves the same, after some 5 s of unoptimised JSON whitespace skipping).
    let limits = ArchiveLimits { max_unpacked_bytes: 32 << 20, ..ArchiveLimits::default() };
    let err = read_upload(&bomb, &limits).unwrap_err();
    assert_eq!(err, ArchiveError::UnpackedTooLarge { file: "data/tweets.js".into(), limit: 32 << 20 });
    // Zeros, the classic bomb, are not even a tweets file.
    let zeros = zip_of(&[("data/tweets.js", &vec![0; 300 << 20])]);
    assert!(matches!(read(&zeros), Err(ArchiveError::NotTweetsFile { .. })));
}

#[test]
fn reports_broken_json_where_it_is_in_the_file() {
    // On the prefix's line: "window.YTD.tweets.part0 = " is 26 characters, `x` is the 29th.
    let err = read(format!("{PREFIX}[ x ]").as_bytes()).unwrap_err();
    let ArchiveError::InvalidJson { file, line, column, message } = err else { panic!("{err:?}") };
    assert_eq!((file.as_str(), line, column), (PLAIN_UPLOAD_NAME, 1, 29));
    assert_eq!(message, "expected value");

    // The same with a BOM, which is no column of its own.
    let err = read(format!("\u{FEFF}{PREFIX}[ x ]").as_bytes()).unwrap_err();
    assert!(matches!(err, ArchiveError::InvalidJson { line: 1, column: 29, .. }), "{err:?}");

    // Further down, after Japanese text on the same line (columns count characters).
    let bad_line = r#"  {"tweet" : {"full_text" : "日本語のテキスト" "id_str" : "2"}}"#;
    let text = format!("{PREFIX}[\n{},\n{bad_line}\n]", tweet_object(1, "一つ目", None));
    let expected_line = text.lines().position(|l| l == bad_line).unwrap() as u64 + 1;
    // The `"` opening "id_str" is where a comma was expected.
    let expected_column = bad_line[..bad_line.find("\"id_str").unwrap()].chars().count() as u64 + 1;
    let zip = zip_of(&[("data/tweets.js", text.as_bytes())]);
    let err = read(&zip).unwrap_err();
    let ArchiveError::InvalidJson { file, line, column, message } = err else { panic!("{err:?}") };
    assert_eq!((file.as_str(), line, column), ("data/tweets.js", expected_line, expected_column));
    assert_eq!(message, "expected `,` or `}`");

    // Cut short.
    let good = tweets_file(0, &[(1, "一つ目", None)]);
    let cut = &good[..good.len() / 2];
    assert!(matches!(read(cut.as_bytes()), Err(ArchiveError::InvalidJson { .. })));
}

#[test]
fn reports_json_of_the_wrong_shape() {
    let err = read(format!("{PREFIX}[\n  {{\"tweet\" : {{\"id_str\" : \"1\"}}}}\n]").as_bytes()).unwrap_err();
    let ArchiveError::UnexpectedShape { line, message, .. } = err else { panic!("{err:?}") };
    assert_eq!((line, message.as_str()), (2, "missing field `full_text`"));

    let err = read(format!("{PREFIX}{{\"tweet\": 1}}").as_bytes()).unwrap_err();
    assert!(matches!(&err, ArchiveError::UnexpectedShape { message, .. } if message.contains("an array of tweets")));

    let err = read(format!("{PREFIX}[{{\"full_text\": 5}}]").as_bytes()).unwrap_err();
    assert!(matches!(&err, ArchiveError::UnexpectedShape { message, .. } if message.contains("expected a string")));
}

#[test]
fn reports_invalid_utf8_by_line_and_column() {
    let mut bytes = format!("{PREFIX}[\n  {{\"full_text\" : \"ok\"}},\n  {{\"full_text\" : \"日本").into_bytes();
    bytes.push(0xFF);
    bytes.extend_from_slice("語\"}\n]".as_bytes());
    // `  {"full_text" : "日本` is 20 characters: the bad byte is the 21st.
    let expected = ArchiveError::InvalidUtf8 { file: PLAIN_UPLOAD_NAME.into(), line: 3, column: 21 };
    assert_eq!(read(&bytes).unwrap_err(), expected);

    // In a zip, and far enough in that it is not in the first buffer.
    let filler: Vec<(u64, String)> = (0..500).map(|i| (i, format!("ツイート{i}"))).collect();
    let filler: Vec<(u64, &str, Option<&str>)> = filler.iter().map(|(i, t)| (*i, t.as_str(), None)).collect();
    let mut file = tweets_file(0, &filler).into_bytes();
    let at = file.len() - 200;
    let line = file[..at].iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let line_start = file[..at].iter().rposition(|&b| b == b'\n').unwrap() + 1;
    let column = std::str::from_utf8(&file[line_start..at]).unwrap().chars().count() as u64 + 1;
    file.insert(at, 0xC3); // a lead byte followed by ASCII
    let err = read(&zip_of(&[("data/tweets.js", &file)])).unwrap_err();
    assert_eq!(err, ArchiveError::InvalidUtf8 { file: "data/tweets.js".into(), line, column });
}

#[test]
fn characters_cut_by_read_boundaries_survive() {
    // Three-byte characters in a file much bigger than the 64 KiB buffer: many
    // are cut by reads, in the plain file and behind the inflater.
    let long: Vec<String> = (0..3000).map(|i| format!("これは{i}番目の、長めの日本語ツイートです。")).collect();
    let tweets: Vec<(u64, &str, Option<&str>)> =
        long.iter().enumerate().map(|(i, t)| (i as u64, t.as_str(), None)).collect();
    let file = tweets_file(0, &tweets);
    assert!(file.len() > 2 << 20);
    for bytes in [file.clone().into_bytes(), zip_of(&[("data/tweets.js", file.as_bytes())])] {
        let archive = read(&bytes).unwrap();
        assert_eq!(texts(&archive), long);
    }
}

#[test]
fn checked_reader_keeps_cut_characters_with_tiny_reads() {
    /// Hands out one byte per read, the worst case for sequences cut by reads.
    struct Trickle<'a>(&'a [u8]);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.0.len().min(1).min(buf.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let text = "aé日😀\nz";
    let mut budget = 100;
    let mut out = String::new();
    BufReader::with_capacity(4, Checked::new(Trickle(text.as_bytes()), &mut budget, usize::MAX))
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, text);
    assert_eq!(budget, 100 - text.len() as u64);

    // A character cut by the end of the file is an error, positioned at its start
    // (its first bytes were already passed on).
    let mut budget = 100;
    let mut out = Vec::new();
    let err = Checked::new(&b"ab\ncd\xE6\x97"[..], &mut budget, usize::MAX).read_to_end(&mut out).unwrap_err();
    let err = err.get_ref().unwrap().downcast_ref::<CheckError>().unwrap();
    assert_eq!(*err, CheckError::InvalidUtf8 { line: 2, index: 2 });
    assert_eq!(out, b"ab\ncd\xE6\x97");
}

#[test]
fn rejects_files_that_are_not_tweets() {
    let not = |bytes: &[u8]| match read(bytes) {
        Err(ArchiveError::NotTweetsFile { file, found }) => (file, found),
        other => panic!("{other:?}"),
    };
    assert_eq!(not(b"window.YTD.like.part0 = [ ]").1, "window.YTD.like.part0");
    assert_eq!(not(b"{\"data\": []}").1, "{\"data\":");
    assert_eq!(not(b"").1, "");
    assert_eq!(not(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR").1, "");
    assert_eq!(not(&[b'a'; 1000]).1, "a".repeat(40));

    let zip = zip_of(&[("data/like.js", b"window.YTD.like.part0 = []"), ("data/tweets_media/a.jpg", b"x")]);
    assert_eq!(read(&zip).unwrap_err(), ArchiveError::NoTweetsFile { expected: EXPECTED_FILES });
    let like_as_tweets = zip_of(&[("data/tweets.js", b"window.YTD.like.part0 = []")]);
    assert_eq!(
        read(&like_as_tweets).unwrap_err(),
        ArchiveError::NotTweetsFile { file: "data/tweets.js".into(), found: "window.YTD.like.part0".into() }
    );
}

#[test]
fn long_posts_take_their_full_text_from_note_tweet_js() {
    let whole = "This post goes on and on. ".repeat(30) + "The end, with <tags> & ampersands.";
    let cut = format!("{}… https://t.co/AbCdEf", &whole[..270]);
    let tweets = tweets_file(0, &[(7, &cut, None), (8, "A short one", None)]);
    let note = |text: &str| {
        format!(
            "{{\"noteTweet\" : {{\"noteTweetId\" : \"99\", \"updatedAt\" : \"2018-10-10T20:19:24.000Z\", \
             \"lifecycle\" : {{\"value\" : \"1\"}}, \"createdAt\" : \"2018-10-10T20:19:24.000Z\", \
             \"core\" : {{\"styletags\" : [ ], \"urls\" : [ ], \"text\" : {}, \"mentions\" : [ ]}}}}}}",
            serde_json::to_string(text).unwrap()
        )
    };
    let notes = format!("window.YTD.note_tweet.part0 = [ {}, {} ]", note("Unrelated long post"), note(&whole));
    let zip = zip_of(&[
        ("data/note-tweet.js", notes.as_bytes()),
        ("data/tweets.js", tweets.as_bytes()),
        ("data/tweets_media/7-a.jpg", b"\xFF\xD8"),
    ]);
    let archive = read(&zip).unwrap();
    assert_eq!(archive.files, ["data/tweets.js", "data/note-tweet.js"]);
    assert_eq!(archive.long_posts, 1);
    assert_eq!(texts(&archive), [whole.as_str(), "A short one"]);

    // A note longer than X allows is refused with its own limit, named.
    let limits = ArchiveLimits { max_note_bytes: 100, ..ArchiveLimits::default() };
    let error = read_upload(&zip, &limits).unwrap_err();
    assert_eq!(error, ArchiveError::StringTooLong { file: "data/note-tweet.js".into(), line: 1, limit: 100 });
    // A file under the notes' name that is not one is refused.
    let wrong = zip_of(&[("data/tweets.js", tweets.as_bytes()), ("data/note-tweet.js", tweets.as_bytes())]);
    assert!(
        matches!(read(&wrong).unwrap_err(), ArchiveError::NotTweetsFile { file, .. } if file == "data/note-tweet.js")
    );
}

#[test]
fn empty_archives_have_no_tweets() {
    assert_eq!(read(format!("{PREFIX}[ ]").as_bytes()).unwrap_err(), ArchiveError::NoTweets);
    assert_eq!(
        read(&zip_of(&[("data/tweets.js", b"window.YTD.tweets.part0 = []")])).unwrap_err(),
        ArchiveError::NoTweets
    );
}

/// Sets the "encrypted" flag of every entry, in the local and the central headers.
fn mark_encrypted(zip: &mut [u8]) {
    for i in 0..zip.len().saturating_sub(10) {
        match &zip[i..i + 4] {
            b"PK\x03\x04" => zip[i + 6] |= 1,
            b"PK\x01\x02" => zip[i + 8] |= 1,
            _ => {}
        }
    }
}

#[test]
fn rejects_encrypted_and_damaged_zips() {
    let mut zip = real_archive("");
    mark_encrypted(&mut zip);
    assert_eq!(read(&zip).unwrap_err(), ArchiveError::EncryptedZip { file: "data/tweets.js".into() });

    let zip = real_archive("");
    let cut = &zip[..zip.len() * 2 / 3];
    assert!(matches!(read(cut), Err(ArchiveError::DamagedZip { file: None, .. })), "{:?}", read(cut));

    // Flipped bytes inside the deflated tweets: bad deflate data or a CRC mismatch.
    let file = tweets_file(0, &[(1, &"long text ".repeat(200), None)]);
    let mut zip = zip_of(&[("data/tweets.js", file.as_bytes())]);
    for b in &mut zip[60..90] {
        *b ^= 0x55;
    }
    match read(&zip) {
        Err(ArchiveError::DamagedZip { file: Some(file), .. }) => assert_eq!(file, "data/tweets.js"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn rejects_unsupported_compression() {
    let mut zip = zip_of(&[("data/tweets.js", b"window.YTD.tweets.part0 = []")]);
    // Method 12 (bzip2), in the local and central headers.
    for i in 0..zip.len() - 12 {
        match &zip[i..i + 4] {
            b"PK\x03\x04" => zip[i + 8] = 12,
            b"PK\x01\x02" => zip[i + 10] = 12,
            _ => {}
        }
    }
    assert_eq!(
        read(&zip).unwrap_err(),
        ArchiveError::UnsupportedCompression { file: "data/tweets.js".into(), method: 12 }
    );
}

/// xorshift64*: deterministic noise for the fuzz-ish test, no dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

#[test]
fn never_panics_on_garbage() {
    let mut noise = Noise(0x9E37_79B9_7F4A_7C15);
    let zip = real_archive("top/");
    let text = tweets_file(0, &[(1, "日本語 & English", Some("x")), (2, "RT @y: hi", None)]);
    // Deep nesting stops at serde_json's recursion limit, not the stack's.
    let deep = format!("{PREFIX}[{}", "{\"tweet\": ".repeat(100_000));
    let err = read(deep.as_bytes()).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::InvalidJson { message, .. } if message == "recursion limit exceeded"),
        "{err:?}"
    );
    let deep = format!("{PREFIX}{}", "[".repeat(100_000));
    assert!(matches!(read(deep.as_bytes()), Err(ArchiveError::UnexpectedShape { .. })));
    // Every cut of a valid zip and of a valid tweets.js.
    for len in 0..zip.len() {
        let _ = read(&zip[..len]);
    }
    for len in 0..text.len() {
        let _ = read(&text.as_bytes()[..len]);
    }
    // Random bytes, with and without a zip or tweets.js start, and random flips in valid input.
    for round in 0..3000 {
        let len = (noise.next() % 400) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| noise.next() as u8).collect();
        let start: &[u8] = [&b"PK\x03\x04"[..], PREFIX.as_bytes(), b""][round % 3];
        bytes.splice(0..0, start.iter().copied());
        let _ = read(&bytes);
        for source in [&zip[..], text.as_bytes()] {
            let mut flipped = source.to_vec();
            for _ in 0..1 + noise.next() % 4 {
                let i = (noise.next() % flipped.len() as u64) as usize;
                flipped[i] = noise.next() as u8;
            }
            let _ = read(&flipped);
        }
    }
}

/// Parse speed on a generated 50,000-tweet archive:
/// `cargo test --release -- --ignored --nocapture parse_speed`.
#[test]
#[ignore]
fn parse_speed() {
    let texts: Vec<String> = (0..50_000)
        .map(|i| match i % 3 {
            0 => format!("Tweet number {i}: the quick brown fox jumps over the lazy dog &amp; friends #{i}"),
            1 => format!("{i}番目のツイートです。今日はいい天気なので、散歩に出かけようと思います。"),
            _ => format!("RT @someone: a retweeted thought, number {i}"),
        })
        .collect();
    let tweets: Vec<(u64, &str, Option<&str>)> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| (1_000_000 + i as u64, t.as_str(), (i % 5 == 0).then_some("bob")))
        .collect();
    let part0 = tweets_file(0, &tweets[..25_000]);
    let part1 = tweets_file(1, &tweets[25_000..]);
    let unpacked = (part0.len() + part1.len()) as f64;
    let zip = zip_of(&[("data/tweets.js", part0.as_bytes()), ("data/tweets-part1.js", part1.as_bytes())]);
    let limits = ArchiveLimits { max_upload_bytes: usize::MAX, ..ArchiveLimits::default() };
    for (what, bytes) in [("zip", zip.as_slice()), ("tweets.js", part0.as_bytes())] {
        let start = Instant::now();
        let archive = read_upload(bytes, &limits).unwrap();
        let secs = start.elapsed().as_secs_f64();
        let mb = if what == "zip" { unpacked } else { part0.len() as f64 } / 1e6;
        eprintln!(
            "{what}: {} tweets, {mb:.1} MB unpacked ({:.1} MB upload) in {:.0} ms: {:.0} MB/s",
            archive.tweets.len(),
            bytes.len() as f64 / 1e6,
            secs * 1e3,
            mb / secs
        );
    }
}
