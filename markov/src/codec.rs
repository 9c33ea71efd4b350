//! The storage format: compact, versioned, checksummed.
//!
//! ```text
//! "TGM" | version u8 | zstd(payload) | crc32 (LE, of all before)
//! payload = order u8 | sentences | vocabulary | corpus | spacing
//! vocabulary = count, then per token: byte length, UTF-8 bytes (ids 1.., by frequency)
//! corpus     = length, then the token ids after the leading boundary
//! spacing    = one bit per corpus position (LSB first), whitespace before the token
//! ```
//! Integers but the version and order are unsigned LEB128 varints. Only the corpus
//! is stored: the chain is rebuilt from it on load (see `model`), so the same bytes
//! serve every order. Version 1 (a transition table) is no longer read.

use crate::model::{check_order, Model, Vocabulary, BOUNDARY, MAX_CORPUS_TOKENS};
use crate::Error;

const MAGIC: &[u8; 3] = b"TGM";
const VERSION: u8 = 2;
/// A decompressed payload larger than this is refused (a compression bomb).
const MAX_PAYLOAD_BYTES: usize = 256 << 20;
/// zstd's strongest regular level: the smallest models, and decoding stays fast
/// (decompression speed hardly depends on the level; `bench/engine` measures it).
const ZSTD_LEVEL: i32 = 19;

impl Model {
    pub fn encode(&self) -> Vec<u8> {
        let mut payload = Vec::with_capacity(self.corpus.len() * 2 + self.vocabulary.text.len());
        payload.push(self.order as u8);
        put_varint(&mut payload, u64::from(self.sentences));
        put_varint(&mut payload, (self.vocabulary.len() - 1) as u64);
        for id in 1..self.vocabulary.len() as u32 {
            let token = self.vocabulary.token(id);
            put_varint(&mut payload, token.len() as u64);
            payload.extend_from_slice(token.as_bytes());
        }
        put_varint(&mut payload, (self.corpus.len() - 1) as u64);
        for &id in &self.corpus[1..] {
            put_varint(&mut payload, u64::from(id));
        }
        let spacing_bytes = self.corpus.len().div_ceil(8);
        payload.extend(self.spaced.iter().flat_map(|word| word.to_le_bytes()).take(spacing_bytes));

        let mut out = Vec::with_capacity(payload.len() / 2);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.extend_from_slice(&compress(&payload, ZSTD_LEVEL));
        let checksum = crc32fast::hash(&out);
        out.extend_from_slice(&checksum.to_le_bytes());
        out
    }

    /// Reads bytes written by `encode`; any damage is an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let body_len = bytes.len().checked_sub(4).ok_or(Error::Corrupt("too short"))?;
        let (body, checksum) = bytes.split_at(body_len);
        if body.get(..3) != Some(MAGIC) {
            return Err(Error::Corrupt("not a tweetgen model"));
        }
        if crc32fast::hash(body).to_le_bytes() != checksum {
            return Err(Error::Corrupt("checksum mismatch"));
        }
        let version = *body.get(3).ok_or(Error::Corrupt("too short"))?;
        if version != VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        let payload = zstd::bulk::decompress(&body[4..], MAX_PAYLOAD_BYTES)
            .map_err(|_| Error::Corrupt("compressed data is damaged or too large"))?;
        let mut reader = Reader { bytes: &payload };

        let order = usize::from(reader.byte()?);
        check_order(order).map_err(|_| Error::Corrupt("order out of range"))?;
        let sentences = u32::try_from(reader.varint()?).map_err(|_| Error::Corrupt("sentence count"))?;
        let token_count = reader.count()?;
        let mut vocabulary = Vocabulary { text: String::new(), ends: Vec::with_capacity(token_count + 1) };
        vocabulary.ends.push(0);
        for _ in 0..token_count {
            let len = reader.count()?;
            let token = std::str::from_utf8(reader.take(len)?).map_err(|_| Error::Corrupt("token is not UTF-8"))?;
            if token.is_empty() {
                return Err(Error::Corrupt("empty token"));
            }
            vocabulary.text.push_str(token);
            vocabulary.ends.push(u32::try_from(vocabulary.text.len()).map_err(|_| Error::Corrupt("vocabulary size"))?);
        }

        let stored = reader.count()?;
        if stored > MAX_CORPUS_TOKENS {
            return Err(Error::Corrupt("corpus too long"));
        }
        let mut corpus = Vec::with_capacity(stored + 1);
        corpus.push(BOUNDARY);
        let mut boundaries = 0u32;
        for _ in 0..stored {
            let id = u32::try_from(reader.varint()?).ok().filter(|&id| id as usize <= token_count);
            let id = id.ok_or(Error::Corrupt("token id out of range"))?;
            if id == BOUNDARY {
                if corpus.last() == Some(&BOUNDARY) {
                    return Err(Error::Corrupt("empty sentence"));
                }
                boundaries += 1;
            }
            corpus.push(id);
        }
        if corpus.last() != Some(&BOUNDARY) || corpus.len() < 3 || boundaries != sentences {
            return Err(Error::Corrupt("corpus does not match its sentence count"));
        }
        let spacing = reader.take(corpus.len().div_ceil(8))?;
        let spaced = spacing
            .chunks(8)
            .map(|chunk| {
                let mut word = [0u8; 8];
                word[..chunk.len()].copy_from_slice(chunk);
                u64::from_le_bytes(word)
            })
            .collect();
        if !reader.bytes.is_empty() {
            return Err(Error::Corrupt("trailing bytes"));
        }
        Ok(Model::from_parts(order, vocabulary, corpus, spaced, sentences))
    }
}

fn compress(payload: &[u8], level: i32) -> Vec<u8> {
    // Compressing a buffer in memory only fails on allocation failure.
    zstd::bulk::compress(payload, level).expect("zstd compression of an in-memory buffer")
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], Error> {
        if len > self.bytes.len() {
            return Err(Error::Corrupt("truncated"));
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }

    fn varint(&mut self) -> Result<u64, Error> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.byte()?;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Error::Corrupt("varint too long"))
    }

    /// A length or count: bounded by the remaining bytes, so that a corrupt
    /// count cannot make us allocate gigabytes before failing.
    fn count(&mut self) -> Result<usize, Error> {
        usize::try_from(self.varint()?)
            .ok()
            .filter(|&n| n <= self.bytes.len())
            .ok_or(Error::Corrupt("count exceeds data"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Tokenizer;

    fn sample() -> Model {
        let sentences = ["今日は良い天気ですね。", "Hello brave new world!", "今日は雨。"];
        Model::train(&Tokenizer::fallback(), &sentences, 2).unwrap()
    }

    fn with_checksum(mut body: Vec<u8>) -> Vec<u8> {
        let checksum = crc32fast::hash(&body).to_le_bytes();
        body.extend_from_slice(&checksum);
        body
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        let model = sample();
        let bytes = model.encode();
        assert_eq!(Model::decode(&bytes).unwrap(), model);
        assert_eq!(sample().encode(), bytes);
    }

    #[test]
    fn every_truncation_and_bit_flip_is_an_error() {
        let bytes = sample().encode();
        for len in 0..bytes.len() {
            assert!(Model::decode(&bytes[..len]).is_err(), "truncated to {len}");
        }
        for index in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[index] ^= 0x10;
            assert!(Model::decode(&damaged).is_err(), "flipped byte {index}");
        }
    }

    #[test]
    fn unknown_version_is_reported() {
        let mut bytes = sample().encode();
        bytes.truncate(bytes.len() - 4);
        bytes[3] = 9;
        assert_eq!(Model::decode(&with_checksum(bytes)), Err(Error::UnsupportedVersion(9)));
    }

    #[test]
    fn well_checksummed_nonsense_is_an_error() {
        let payloads: [&[u8]; 5] = [
            b"",
            &[2, 1, 1, 1, b'a', 1, 1],       // corpus without its closing boundary
            &[2, 1, 1, 1, b'a', 2, 1, 5, 0], // token id 5 of 1
            &[2, 2, 1, 1, b'a', 2, 1, 0, 0], // sentence count 2, one sentence
            &[9, 1, 1, 1, b'a', 2, 1, 0, 0], // order 9
        ];
        for payload in payloads {
            let mut body = b"TGM\x02".to_vec();
            body.extend_from_slice(&compress(payload, 1));
            assert!(matches!(Model::decode(&with_checksum(body)), Err(Error::Corrupt(_))), "{payload:?}");
        }
    }

    #[test]
    fn a_compression_bomb_is_refused() {
        let mut body = b"TGM\x02".to_vec();
        body.extend_from_slice(&compress(&vec![0u8; MAX_PAYLOAD_BYTES + 1], 1));
        assert!(matches!(Model::decode(&with_checksum(body)), Err(Error::Corrupt(_))));
    }
}
