//! The storage format: compact, versioned, checksummed.
//!
//! ```text
//! "TGM" | version u8 | order u8 | sentences | vocabulary | states | crc32 (LE, of all before)
//! vocabulary = count, then per token: byte length, UTF-8 bytes
//! states     = count, then per state: `order` token ids, successor count,
//!              then per successor: token id, count
//! ```
//! Every integer but the version, the order and the checksum is an unsigned LEB128
//! varint. States are written in sorted order, so equal models encode to equal bytes.

use crate::model::{successors_from_counts, Model, MAX_ORDER};
use crate::Error;

const MAGIC: &[u8; 3] = b"TGM";
const VERSION: u8 = 1;

impl Model {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.chain.len() * 8);
        out.extend_from_slice(MAGIC);
        out.push(VERSION);
        out.push(self.order as u8);
        put_varint(&mut out, u64::from(self.sentences));
        put_varint(&mut out, self.vocabulary.len() as u64);
        for token in &self.vocabulary {
            put_varint(&mut out, token.len() as u64);
            out.extend_from_slice(token.as_bytes());
        }
        let mut states: Vec<_> = self.chain.iter().collect();
        states.sort_unstable_by(|a, b| a.0.cmp(b.0));
        put_varint(&mut out, states.len() as u64);
        for (state, successors) in states {
            for &id in state.iter() {
                put_varint(&mut out, u64::from(id));
            }
            put_varint(&mut out, successors.tokens.len() as u64);
            let mut previous = 0;
            for (&token, &cumulative) in successors.tokens.iter().zip(&successors.cumulative) {
                put_varint(&mut out, u64::from(token));
                put_varint(&mut out, u64::from(cumulative - previous));
                previous = cumulative;
            }
        }
        let checksum = crc32fast::hash(&out);
        out.extend_from_slice(&checksum.to_le_bytes());
        out
    }

    /// Reads bytes written by `encode`; any damage is an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let body_len = bytes.len().checked_sub(4).ok_or(Error::Corrupt("too short"))?;
        let (body, checksum) = bytes.split_at(body_len);
        if crc32fast::hash(body).to_le_bytes() != checksum {
            return Err(Error::Corrupt("checksum mismatch"));
        }
        let mut reader = Reader { bytes: body };
        if reader.take(3)? != MAGIC {
            return Err(Error::Corrupt("not a tweetgen model"));
        }
        let version = reader.byte()?;
        if version != VERSION {
            return Err(Error::UnsupportedVersion(version));
        }
        let order = usize::from(reader.byte()?);
        if !(1..=MAX_ORDER).contains(&order) {
            return Err(Error::Corrupt("order out of range"));
        }
        let sentences = u32::try_from(reader.varint()?).map_err(|_| Error::Corrupt("sentence count"))?;
        let vocabulary_len = reader.count()?;
        let mut vocabulary = Vec::with_capacity(vocabulary_len);
        for _ in 0..vocabulary_len {
            let len = reader.count()?;
            let token = std::str::from_utf8(reader.take(len)?).map_err(|_| Error::Corrupt("token is not UTF-8"))?;
            vocabulary.push(token.to_string());
        }
        let token_id = |raw: u64| -> Result<u32, Error> {
            usize::try_from(raw)
                .ok()
                .filter(|&id| id < vocabulary_len)
                .map(|id| id as u32)
                .ok_or(Error::Corrupt("token id out of range"))
        };
        let state_count = reader.count()?;
        let mut chain = std::collections::HashMap::with_capacity(state_count);
        for _ in 0..state_count {
            let state = (0..order).map(|_| token_id(reader.varint()?)).collect::<Result<Box<[u32]>, _>>()?;
            let successor_count = reader.count()?;
            if successor_count == 0 {
                return Err(Error::Corrupt("state without successors"));
            }
            let mut counts = Vec::with_capacity(successor_count);
            for _ in 0..successor_count {
                let token = token_id(reader.varint()?)?;
                let count = u32::try_from(reader.varint()?).ok().filter(|&c| c > 0).ok_or(Error::Corrupt("count"))?;
                counts.push((token, count));
            }
            chain.insert(state, successors_from_counts(counts));
        }
        if !reader.bytes.is_empty() {
            return Err(Error::Corrupt("trailing bytes"));
        }
        Ok(Model { order, vocabulary, chain, sentences })
    }
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

    fn sample() -> Model {
        Model::train(&["今日は良い天気ですね。", "Hello brave new world!", "今日は雨。"], 2).unwrap()
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
        bytes[3] = 9;
        let body_len = bytes.len() - 4;
        let checksum = crc32fast::hash(&bytes[..body_len]).to_le_bytes();
        bytes[body_len..].copy_from_slice(&checksum);
        assert_eq!(Model::decode(&bytes), Err(Error::UnsupportedVersion(9)));
    }
}
