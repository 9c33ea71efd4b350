#![no_main]
//! A trained model's payload, damaged, then compressed and checksummed the way
//! `encode` frames it, so that every edit reaches the payload parser instead of
//! stopping at the checksum.
//!
//! Input: `TEXT`, or `TEXT 0x00 ORDER EDIT…`. TEXT (lossy UTF-8, a sentence a
//! line) trains a model of order `ORDER % MAX_ORDER + 1` (the default without
//! one); each EDIT is 4 bytes: operation, position (u16 LE), value. Plain text
//! is a valid input, so text seeds work as they are, and must round-trip.

mod model_checks;

use libfuzzer_sys::fuzz_target;
use tweetgen_markov::{Model, Tokenizer, DEFAULT_ORDER, MAX_ORDER};

/// Magic and format version: the part of the frame before the compressed payload.
/// This target frames payloads as markov/src/codec.rs does and must follow it.
const HEADER: &[u8] = b"TGM\x02";

fuzz_target!(|data: &[u8]| {
    let (text, tail) = data.split_at(data.iter().position(|&b| b == 0).unwrap_or(data.len()));
    let (order, edits) = match tail.get(1..).and_then(<[u8]>::split_first) {
        Some((&order, edits)) => (usize::from(order) % MAX_ORDER + 1, edits),
        None => (DEFAULT_ORDER, &[][..]),
    };
    let text = String::from_utf8_lossy(text);
    let sentences: Vec<&str> = text.lines().collect();
    let Ok(model) = Model::train(&Tokenizer::fallback(), &sentences, order) else { return };

    let encoded = model.encode();
    let compressed = encoded[..encoded.len() - 4].strip_prefix(HEADER).expect("codec.rs changed its header");
    let original = zstd::decode_all(compressed).expect("codec.rs changed its compression");
    let mut payload = original.clone();
    for edit in edits.chunks_exact(4) {
        let position = usize::from(u16::from_le_bytes([edit[1], edit[2]]));
        let value = edit[3];
        match edit[0] % 4 {
            0 if !payload.is_empty() => {
                let at = position % payload.len();
                payload[at] ^= value;
            }
            1 => payload.truncate(position % (payload.len() + 1)),
            2 => payload.insert(position % (payload.len() + 1), value),
            3 if !payload.is_empty() => {
                payload.remove(position % payload.len());
            }
            _ => {}
        }
    }

    let mut bytes = HEADER.to_vec();
    bytes.extend_from_slice(&zstd::bulk::compress(&payload, 1).expect("zstd compresses a buffer in memory"));
    bytes.extend_from_slice(&crc32fast::hash(&bytes).to_le_bytes());
    match Model::decode(&bytes) {
        Ok(decoded) => {
            assert!(payload != original || decoded == model, "an undamaged model decoded differently");
            model_checks::check(&decoded);
        }
        Err(e) => assert!(payload != original, "an undamaged model did not decode: {e}"),
    }
});
