#![no_main]
//! Any bytes as a whole archive the browser picks the tweets files from: an
//! error, or a small zip that reads within the limits; never a panic nor a
//! range outside the file.

mod limits_checks;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(small) = tweetgen_archive::pick::small_zip_of(data) {
        let limits = limits_checks::limits();
        limits_checks::check(&tweetgen_archive::read_upload(&small, &limits), &limits);
    }
});
