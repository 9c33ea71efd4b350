#![no_main]
//! The fuzzer's bytes as tweets files inside a zip, as an archive holds them
//! (deflated or stored, split in parts at a 0xFF byte), so that mutations reach
//! the JSON parser through the inflater rather than stop at the zip's checksums.

mod limits_checks;

use std::io::{Cursor, Write};

use libfuzzer_sys::fuzz_target;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

fuzz_target!(|data: &[u8]| {
    let Some((&layout, files)) = data.split_first() else { return };
    let method = if layout & 1 == 0 { CompressionMethod::Deflated } else { CompressionMethod::Stored };
    let top = if layout & 2 == 0 { "" } else { "twitter-2024/" };
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    for (part, file) in files.split(|&b| b == 0xFF).enumerate().take(4) {
        let name = match part {
            0 => format!("{top}data/tweets.js"),
            n => format!("{top}data/tweets-part{n}.js"),
        };
        writer.start_file(name, SimpleFileOptions::default().compression_method(method)).unwrap();
        writer.write_all(file).unwrap();
    }
    let zip = writer.finish().unwrap().into_inner();
    let limits = limits_checks::limits();
    limits_checks::check(&tweetgen_archive::read_upload(&zip, &limits), &limits);
});
