#![no_main]
//! Model bytes as stored: any input decodes to a model or an error, never a
//! panic, and a model that decodes passes `model_checks`.

mod model_checks;

use libfuzzer_sys::fuzz_target;
use tweetgen_markov::Model;

fuzz_target!(|data: &[u8]| {
    if let Ok(model) = Model::decode(data) {
        model_checks::check(&model);
    }
    // libFuzzer cannot forge a CRC-32, so a mutated seed model would stop at the
    // checksum: decode it again with the checksum repaired, which lets the
    // mutations reach the decompressor and the payload parser.
    let Some(body_len) = data.len().checked_sub(4) else { return };
    let mut repaired = data[..body_len].to_vec();
    repaired.extend_from_slice(&crc32fast::hash(&repaired).to_le_bytes());
    if repaired != data {
        if let Ok(model) = Model::decode(&repaired) {
            model_checks::check(&model);
        }
    }
});
