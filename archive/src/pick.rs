//! The tweets files of a whole X archive, picked out without reading the rest:
//! the browser's side of an upload. An archive is hundreds of MB to several GB,
//! nearly all of it media; tweetgen needs its tweets files and long posts' notes
//! ([`files_to_read`]). From the zip's end records and central directory alone
//! (zip64 too) this finds those entries and lays out a small zip of just them:
//! new headers around the entries' original compressed bytes, which the caller
//! slices out of the file without reading them. Nothing is inflated here; the
//! server reads the small zip as it reads any upload (and checks every CRC).
//!
//! Invariant: an offset or length read from the archive is checked against the
//! file's size before it is used, and a layout holds each picked entry's
//! compressed bytes exactly once, behind a header that gives their true size.

use crate::names::files_to_read;

/// The file's last bytes to hand to [`find_end`]: the end record (22 bytes and a
/// comment of up to 65,535) and the zip64 locator before it.
pub const TAIL_BYTES: u64 = 22 + 65_535 + 20;
/// The zip64 end record's fixed part, to hand to [`zip64_directory`].
pub const ZIP64_RECORD_BYTES: u64 = 56;
/// A local header's fixed part, to hand to [`data_start`].
pub const LOCAL_HEADER_BYTES: u64 = 30;

const END_SIGNATURE: u32 = 0x0605_4b50;
const ZIP64_LOCATOR_SIGNATURE: u32 = 0x0706_4b50;
const ZIP64_RECORD_SIGNATURE: u32 = 0x0606_4b50;
const DIRECTORY_SIGNATURE: u32 = 0x0201_4b50;
const LOCAL_SIGNATURE: u32 = 0x0403_4b50;
/// General purpose flag: sizes and CRC follow the data (the new header has them).
const DATA_DESCRIPTOR_FLAG: u16 = 1 << 3;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickError {
    #[error("the zip file is damaged ({0})")]
    Damaged(&'static str),
    #[error("the zip file has no tweets file (data/tweets.js)")]
    NoTweetsFile,
    #[error("the tweets files are larger than 4 GB together")]
    TooLarge,
}

/// Where the central directory is, as the end records tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Directory(Directory),
    /// A zip64 archive: its end record, at this offset, tells.
    Zip64Record {
        offset: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Directory {
    pub offset: u64,
    pub size: u64,
    pub entries: u64,
}

/// One picked entry, as the central directory describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    name_bytes: Vec<u8>,
    flags: u16,
    method: u16,
    time: u16,
    date: u16,
    crc: u32,
    pub compressed: u64,
    uncompressed: u64,
    pub local_header: u64,
}

/// A piece of the small zip: bytes made here, or a range of the archive's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Bytes(Vec<u8>),
    File { start: u64, end: u64 },
}

impl Piece {
    pub fn len(&self) -> u64 {
        match self {
            Piece::Bytes(bytes) => bytes.len() as u64,
            Piece::File { start, end } => end - start,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A zip's first bytes: a local header, or the end record of an empty zip.
pub fn is_zip(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06")
}

/// Reads the end records from the file's last bytes (`tail`, at most
/// [`TAIL_BYTES`], ending at the end of a file of `file_size` bytes).
pub fn find_end(tail: &[u8], file_size: u64) -> Result<End, PickError> {
    let tail_start = file_size.checked_sub(tail.len() as u64).ok_or(PickError::Damaged("shorter than its end"))?;
    let no_end = PickError::Damaged("no end record: incomplete?");
    // The last end record (22 bytes) whose comment runs exactly to the end of the file.
    let last = tail.len().checked_sub(22).ok_or(no_end.clone())?;
    let at = (0..=last)
        .rev()
        .find(|&at| u32_at(tail, at) == Some(END_SIGNATURE) && u16_at(tail, at + 20) == Some((last - at) as u16))
        .ok_or(no_end)?;
    let locator = at.checked_sub(20).filter(|&locator| u32_at(tail, locator) == Some(ZIP64_LOCATOR_SIGNATURE));
    if let Some(locator) = locator {
        let offset = u64_at(tail, locator + 8).ok_or(PickError::Damaged("zip64 locator"))?;
        if offset.checked_add(ZIP64_RECORD_BYTES).is_none_or(|end| end > tail_start + locator as u64) {
            return Err(PickError::Damaged("zip64 end record out of the file"));
        }
        return Ok(End::Zip64Record { offset });
    }
    let entries = u64::from(u16_at(tail, at + 10).ok_or(PickError::Damaged("end record"))?);
    let size = u64::from(u32_at(tail, at + 12).ok_or(PickError::Damaged("end record"))?);
    let offset = u64::from(u32_at(tail, at + 16).ok_or(PickError::Damaged("end record"))?);
    checked_directory(Directory { offset, size, entries }, tail_start + at as u64).map(End::Directory)
}

/// Reads a zip64 end record ([`ZIP64_RECORD_BYTES`] at [`End::Zip64Record`]'s offset).
pub fn zip64_directory(record: &[u8], record_offset: u64) -> Result<Directory, PickError> {
    if u32_at(record, 0) != Some(ZIP64_RECORD_SIGNATURE) {
        return Err(PickError::Damaged("zip64 end record"));
    }
    let field = |at| u64_at(record, at).ok_or(PickError::Damaged("zip64 end record"));
    checked_directory(Directory { entries: field(32)?, size: field(40)?, offset: field(48)? }, record_offset)
}

/// The directory must end where the end records begin.
fn checked_directory(directory: Directory, ends_by: u64) -> Result<Directory, PickError> {
    let fits = directory.offset.checked_add(directory.size).is_some_and(|end| end <= ends_by);
    // 46 bytes is the smallest directory entry.
    let plausible = directory.entries.checked_mul(46).is_some_and(|least| least <= directory.size);
    if fits && plausible {
        Ok(directory)
    } else {
        Err(PickError::Damaged("central directory out of the file"))
    }
}

/// The entries to send, in reading order, from the central directory's bytes.
pub fn pick_entries(directory: &[u8], file_size: u64) -> Result<Vec<Entry>, PickError> {
    let damaged = || PickError::Damaged("central directory entry");
    let mut entries = Vec::new();
    let mut at = 0;
    while at < directory.len() {
        if u32_at(directory, at) != Some(DIRECTORY_SIGNATURE) {
            return Err(damaged());
        }
        let u16_field = |offset| u16_at(directory, at + offset).ok_or_else(damaged);
        let u32_field = |offset| u32_at(directory, at + offset).ok_or_else(damaged);
        let (name_len, extra_len, comment_len) =
            (usize::from(u16_field(28)?), usize::from(u16_field(30)?), usize::from(u16_field(32)?));
        let name_bytes = directory.get(at + 46..at + 46 + name_len).ok_or_else(damaged)?;
        let extra = directory.get(at + 46 + name_len..at + 46 + name_len + extra_len).ok_or_else(damaged)?;
        let mut entry = Entry {
            name: String::from_utf8_lossy(name_bytes).into_owned(),
            name_bytes: name_bytes.to_vec(),
            flags: u16_field(8)?,
            method: u16_field(10)?,
            time: u16_field(12)?,
            date: u16_field(14)?,
            crc: u32_field(16)?,
            compressed: u64::from(u32_field(20)?),
            uncompressed: u64::from(u32_field(24)?),
            local_header: u64::from(u32_field(42)?),
        };
        apply_zip64_extra(&mut entry, extra)?;
        let end = entry.compressed.checked_add(LOCAL_HEADER_BYTES).and_then(|len| entry.local_header.checked_add(len));
        if end.is_none_or(|end| end > file_size) {
            return Err(PickError::Damaged("an entry reaches past the end of the file"));
        }
        entries.push(entry);
        at += 46 + name_len + extra_len + comment_len;
    }
    let chosen = files_to_read(entries.iter().enumerate().map(|(index, entry)| (index, entry.name.as_str())));
    if chosen.is_empty() {
        return Err(PickError::NoTweetsFile);
    }
    Ok(chosen.into_iter().map(|(index, _)| entries[index].clone()).collect())
}

/// Zip64's extra field (id 1) holds, in this order, each of the uncompressed
/// size, compressed size and header offset that did not fit its 32-bit field.
fn apply_zip64_extra(entry: &mut Entry, mut extra: &[u8]) -> Result<(), PickError> {
    while extra.len() >= 4 {
        let (id, len) = (u16_at(extra, 0).unwrap_or(0), usize::from(u16_at(extra, 2).unwrap_or(0)));
        let data = extra.get(4..4 + len).ok_or(PickError::Damaged("extra field"))?;
        if id == 1 {
            let mut values = data.chunks_exact(8).map(|chunk| u64::from_le_bytes(chunk.try_into().unwrap_or_default()));
            for field in [&mut entry.uncompressed, &mut entry.compressed, &mut entry.local_header] {
                if *field == u64::from(u32::MAX) {
                    *field = values.next().ok_or(PickError::Damaged("zip64 extra field"))?;
                }
            }
        }
        extra = &extra[4 + len..];
    }
    Ok(())
}

/// Where `entry`'s compressed bytes begin, from the [`LOCAL_HEADER_BYTES`] at its
/// `local_header` (whose name and extra field may differ from the directory's).
pub fn data_start(entry: &Entry, local_header: &[u8], file_size: u64) -> Result<u64, PickError> {
    if u32_at(local_header, 0) != Some(LOCAL_SIGNATURE) {
        return Err(PickError::Damaged("local header"));
    }
    let name_len = u64::from(u16_at(local_header, 26).ok_or(PickError::Damaged("local header"))?);
    let extra_len = u64::from(u16_at(local_header, 28).ok_or(PickError::Damaged("local header"))?);
    let past_end = || PickError::Damaged("an entry reaches past the end of the file");
    let start = entry.local_header.checked_add(LOCAL_HEADER_BYTES + name_len + extra_len).ok_or_else(past_end)?;
    if start.checked_add(entry.compressed).is_none_or(|end| end > file_size) {
        return Err(past_end());
    }
    Ok(start)
}

/// The small zip: each entry's new local header and its compressed bytes (from
/// `data_start`), then a central directory and end record for them.
pub fn layout(entries: &[(Entry, u64)]) -> Result<Vec<Piece>, PickError> {
    let mut pieces = Vec::with_capacity(2 * entries.len() + 1);
    let mut directory = Vec::new();
    let mut offset: u64 = 0;
    for (entry, data_start) in entries {
        let too_large = |value: u64| u32::try_from(value).map_err(|_| PickError::TooLarge);
        let (compressed, uncompressed, at) =
            (too_large(entry.compressed)?, too_large(entry.uncompressed)?, too_large(offset)?);
        let name_len = u16::try_from(entry.name_bytes.len()).map_err(|_| PickError::Damaged("entry name"))?;
        let flags = entry.flags & !DATA_DESCRIPTOR_FLAG;
        let common = |out: &mut Vec<u8>| {
            for value in [flags, entry.method, entry.time, entry.date] {
                out.extend_from_slice(&value.to_le_bytes());
            }
            for value in [entry.crc, compressed, uncompressed] {
                out.extend_from_slice(&value.to_le_bytes());
            }
            out.extend_from_slice(&name_len.to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes()); // no extra field
        };
        let mut local = Vec::with_capacity(30 + entry.name_bytes.len());
        local.extend_from_slice(&LOCAL_SIGNATURE.to_le_bytes());
        local.extend_from_slice(&20u16.to_le_bytes()); // version needed: 2.0
        common(&mut local);
        local.extend_from_slice(&entry.name_bytes);

        directory.extend_from_slice(&DIRECTORY_SIGNATURE.to_le_bytes());
        directory.extend_from_slice(&20u16.to_le_bytes()); // made by: 2.0, MS-DOS
        directory.extend_from_slice(&20u16.to_le_bytes());
        common(&mut directory);
        directory.extend_from_slice(&[0; 10]); // comment length, disk, internal and external attributes
        directory.extend_from_slice(&at.to_le_bytes());
        directory.extend_from_slice(&entry.name_bytes);

        offset += local.len() as u64 + entry.compressed;
        pieces.push(Piece::Bytes(local));
        pieces.push(Piece::File { start: *data_start, end: data_start + entry.compressed });
    }
    let count = u16::try_from(entries.len()).map_err(|_| PickError::TooLarge)?;
    let mut end = Vec::with_capacity(22);
    end.extend_from_slice(&END_SIGNATURE.to_le_bytes());
    end.extend_from_slice(&[0; 4]); // this disk, the directory's disk
    end.extend_from_slice(&count.to_le_bytes());
    end.extend_from_slice(&count.to_le_bytes());
    end.extend_from_slice(&u32::try_from(directory.len()).map_err(|_| PickError::TooLarge)?.to_le_bytes());
    end.extend_from_slice(&u32::try_from(offset).map_err(|_| PickError::TooLarge)?.to_le_bytes());
    end.extend_from_slice(&0u16.to_le_bytes()); // no comment
    directory.extend_from_slice(&end);
    pieces.push(Piece::Bytes(directory));
    Ok(pieces)
}

/// The steps the browser takes (`app/src/pages/upload/send.rs`: the tail, the
/// zip64 record if any, the directory, each picked entry's local header, then
/// the pieces), over an archive in memory: for the tests and the fuzzer.
pub fn small_zip_of(archive: &[u8]) -> Result<Vec<u8>, PickError> {
    let size = archive.len() as u64;
    let range = |start: u64, len: u64| {
        let end = start.checked_add(len).filter(|&end| end <= size).ok_or(PickError::Damaged("out of the file"))?;
        Ok::<_, PickError>(&archive[start as usize..end as usize])
    };
    let tail = range(size.saturating_sub(TAIL_BYTES), size.min(TAIL_BYTES))?;
    let directory = match find_end(tail, size)? {
        End::Directory(directory) => directory,
        End::Zip64Record { offset } => zip64_directory(range(offset, ZIP64_RECORD_BYTES)?, offset)?,
    };
    let mut picked = Vec::new();
    for entry in pick_entries(range(directory.offset, directory.size)?, size)? {
        let start = data_start(&entry, range(entry.local_header, LOCAL_HEADER_BYTES)?, size)?;
        picked.push((entry, start));
    }
    let mut small = Vec::new();
    for piece in layout(&picked)? {
        match piece {
            Piece::Bytes(bytes) => small.extend_from_slice(&bytes),
            Piece::File { start, end } => small.extend_from_slice(range(start, end - start)?),
        }
    }
    Ok(small)
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(bytes.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(bytes.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn u64_at(bytes: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(bytes.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

#[cfg(all(test, feature = "read"))]
mod tests;
