use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::*;
use crate::{read_upload, ArchiveLimits};

fn tweets(part: u32, texts: &[&str]) -> Vec<u8> {
    let tweets: Vec<String> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            format!(
                "{{\"tweet\" : {{\"id_str\" : \"{i}\", \"created_at\" : \"Wed Oct 10 20:19:24 +0000 2018\", \"full_text\" : {}}}}}",
                serde_json::to_string(text).unwrap()
            )
        })
        .collect();
    format!("window.YTD.tweets.part{part} = [\n{}\n]", tweets.join(",\n")).into_bytes()
}

/// An archive as X lays it out, media around the files that matter, some stored
/// and some deflated; `zip64` forces zip64 headers on the tweets files and pads
/// the directory past 65,535 entries, so that the end records are zip64's too.
fn archive(zip64: bool) -> Vec<u8> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
    let deflated = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    let tweets_options = deflated.large_file(zip64);
    let note = "{\"noteTweet\" : {\"createdAt\" : \"2018-10-10T20:19:24.000Z\", \"core\" : {\"text\" : \"a long post, whole and unabridged\"}}}";
    let notes = format!("window.YTD.note_tweet.part0 = [ {note} ]");
    let media: Vec<u8> = (0..200_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let entries: Vec<(String, SimpleFileOptions, Vec<u8>)> = vec![
        ("Your archive.html".into(), deflated, b"<html></html>".to_vec()),
        ("data/tweets_media/1-a.jpg".into(), stored, media.clone()),
        ("data/tweets.js".into(), tweets_options, tweets(0, &["the first tweet", "a long post, whole…"])),
        ("data/direct-messages.js".into(), deflated, b"window.YTD.direct_messages.part0 = []".to_vec()),
        ("data/tweets_media/2-b.mp4".into(), stored, media),
        ("data/tweets-part1.js".into(), stored.large_file(zip64), tweets(1, &["the second part's tweet"])),
        ("data/note-tweet.js".into(), tweets_options, notes.into_bytes()),
    ];
    for (name, options, data) in &entries {
        writer.start_file(name.as_str(), *options).unwrap();
        writer.write_all(data).unwrap();
    }
    if zip64 {
        for i in 0..65_536 {
            writer.start_file(format!("data/m/{i}"), stored).unwrap();
        }
    }
    writer.finish().unwrap().into_inner()
}

#[test]
fn the_small_zip_reads_as_the_whole_archive_does() {
    for zip64 in [false, true] {
        let whole = archive(zip64);
        let small = small_zip_of(&whole).unwrap();
        assert!(small.len() < 2_000, "{zip64}: {} bytes sent of {}", small.len(), whole.len());
        let limits = ArchiveLimits::default();
        let (from_whole, from_small) = (read_upload(&whole, &limits).unwrap(), read_upload(&small, &limits).unwrap());
        assert_eq!(from_small, from_whole, "{zip64}");
        assert_eq!(from_small.files, ["data/tweets.js", "data/tweets-part1.js", "data/note-tweet.js"]);
        assert_eq!(from_small.long_posts, 1);
    }
}

#[test]
fn the_end_records_of_a_zip64_archive_are_read() {
    let whole = archive(true);
    let tail = &whole[whole.len() - TAIL_BYTES as usize..];
    assert!(matches!(find_end(tail, whole.len() as u64), Ok(End::Zip64Record { .. })));
}

#[test]
fn an_archive_without_tweets_is_said_so_before_anything_is_sent() {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    writer.start_file("data/like.js", SimpleFileOptions::default()).unwrap();
    writer.write_all(b"window.YTD.like.part0 = []").unwrap();
    let zip = writer.finish().unwrap().into_inner();
    assert_eq!(small_zip_of(&zip), Err(PickError::NoTweetsFile));
}

/// Every cut and every flipped byte of an archive's end gives an error or a
/// small zip, never a panic or a range outside the file.
#[test]
fn damaged_archives_are_errors() {
    let whole = archive(false);
    for keep in (0..whole.len()).step_by(4_093).chain(whole.len() - 200..whole.len()) {
        let _ = small_zip_of(&whole[..keep]);
    }
    let End::Directory(directory) = find_end(&whole[whole.len() - 22..], whole.len() as u64).unwrap() else {
        panic!("a small archive has no zip64 end records");
    };
    for at in directory.offset as usize..whole.len() {
        for value in [0x00, 0xFF, 0x50] {
            let mut damaged = whole.clone();
            damaged[at] = value;
            if let Ok(small) = small_zip_of(&damaged) {
                // What was picked still reads, or the server says what is wrong.
                let _ = read_upload(&small, &ArchiveLimits::default());
            }
        }
    }
    assert_eq!(find_end(b"not a zip at all, just text", 27), Err(PickError::Damaged("no end record: incomplete?")));
}
