#![no_main]
//! Any upload, zip or text: a result or an error that keeps the limits, never a
//! panic, and memory within the budget (libFuzzer's -rss_limit_mb).

mod limits_checks;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = limits_checks::limits();
    limits_checks::check(&tweetgen_archive::read_upload(data, &limits), &limits);
});
