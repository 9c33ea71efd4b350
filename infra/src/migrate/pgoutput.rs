//! The messages of PostgreSQL's `pgoutput` logical decoding plugin, protocol
//! version 1 (the format is in the PostgreSQL documentation, "Logical Replication
//! Message Formats"). Values arrive as text; `Unchanged` marks a TOASTed column an
//! update did not touch, which the stream does not repeat.

use anyhow::{bail, ensure, Context};

use crate::pg::Lsn;

#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    Begin {
        final_lsn: Lsn,
        xid: u32,
    },
    Commit {
        commit_lsn: Lsn,
        end_lsn: Lsn,
        commit_time: i64,
    },
    Relation(Relation),
    Insert {
        relation: u32,
        new: Tuple,
    },
    /// `old` holds the key (or, with REPLICA IDENTITY FULL, the whole row) when
    /// the update changed it; otherwise the key is in `new`.
    Update {
        relation: u32,
        old: Option<Tuple>,
        new: Tuple,
    },
    Delete {
        relation: u32,
        old: Tuple,
    },
    Truncate {
        relations: Vec<u32>,
        cascade: bool,
        restart_identity: bool,
    },
    /// The transaction was written by a session with this replication origin
    /// (the follower's own sessions set one: see `follow.rs`).
    Origin {
        name: String,
    },
    /// Type and logical-message records: nothing to apply.
    Other(u8),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Relation {
    pub id: u32,
    pub schema: String,
    pub name: String,
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    /// Part of the replica identity (the primary key, or every column with FULL).
    pub key: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Unchanged,
    Text(String),
}

pub type Tuple = Vec<Value>;

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

impl Message {
    pub fn decode(bytes: &[u8]) -> anyhow::Result<Message> {
        let mut reader = Reader { bytes, at: 0 };
        let message = reader.message().with_context(|| {
            format!(
                "decoding a pgoutput message ({} bytes, starting {:?})",
                bytes.len(),
                bytes.first().map(|b| *b as char)
            )
        })?;
        ensure!(reader.at == bytes.len(), "{} bytes left over after a pgoutput message", bytes.len() - reader.at);
        Ok(message)
    }
}

/// A commit time from the stream as seconds since the Unix epoch.
pub fn unix_seconds(commit_time: i64) -> f64 {
    (commit_time + POSTGRES_EPOCH_MICROS) as f64 / 1e6
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, count: usize) -> anyhow::Result<&[u8]> {
        let end = self.at.checked_add(count).filter(|end| *end <= self.bytes.len());
        let Some(end) = end else { bail!("message ends early") };
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u8(&mut self) -> anyhow::Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> anyhow::Result<u16> {
        Ok(u16::from_be_bytes(self.take(2)?.try_into()?))
    }

    fn u32(&mut self) -> anyhow::Result<u32> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into()?))
    }

    fn u64(&mut self) -> anyhow::Result<u64> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into()?))
    }

    fn string(&mut self) -> anyhow::Result<String> {
        let rest = &self.bytes[self.at..];
        let Some(length) = rest.iter().position(|byte| *byte == 0) else { bail!("unterminated string") };
        let text = std::str::from_utf8(&rest[..length])?.to_string();
        self.at += length + 1;
        Ok(text)
    }

    fn message(&mut self) -> anyhow::Result<Message> {
        let kind = self.u8()?;
        Ok(match kind {
            b'B' => {
                let final_lsn = Lsn(self.u64()?);
                let _commit_time = self.u64()?;
                Message::Begin { final_lsn, xid: self.u32()? }
            }
            b'C' => {
                let _flags = self.u8()?;
                let commit_lsn = Lsn(self.u64()?);
                let end_lsn = Lsn(self.u64()?);
                Message::Commit { commit_lsn, end_lsn, commit_time: self.u64()? as i64 }
            }
            b'R' => Message::Relation(self.relation()?),
            b'I' => {
                let relation = self.u32()?;
                self.expect(b'N')?;
                Message::Insert { relation, new: self.tuple()? }
            }
            b'U' => {
                let relation = self.u32()?;
                let old = match self.u8()? {
                    b'K' | b'O' => {
                        let old = self.tuple()?;
                        self.expect(b'N')?;
                        Some(old)
                    }
                    b'N' => None,
                    other => bail!("unexpected tuple kind {:?} in an update", other as char),
                };
                Message::Update { relation, old, new: self.tuple()? }
            }
            b'D' => {
                let relation = self.u32()?;
                match self.u8()? {
                    b'K' | b'O' => Message::Delete { relation, old: self.tuple()? },
                    other => bail!("unexpected tuple kind {:?} in a delete", other as char),
                }
            }
            b'T' => {
                let count = self.u32()?;
                let options = self.u8()?;
                let relations = (0..count).map(|_| self.u32()).collect::<anyhow::Result<_>>()?;
                Message::Truncate { relations, cascade: options & 1 != 0, restart_identity: options & 2 != 0 }
            }
            b'O' => {
                let _origin_lsn = self.u64()?;
                Message::Origin { name: self.string()? }
            }
            b'Y' | b'M' => {
                self.at = self.bytes.len();
                Message::Other(kind)
            }
            other => bail!("unknown pgoutput message {:?}", other as char),
        })
    }

    fn expect(&mut self, wanted: u8) -> anyhow::Result<()> {
        let found = self.u8()?;
        ensure!(found == wanted, "expected {:?}, found {:?}", wanted as char, found as char);
        Ok(())
    }

    fn relation(&mut self) -> anyhow::Result<Relation> {
        let id = self.u32()?;
        let schema = match self.string()? {
            empty if empty.is_empty() => "pg_catalog".to_string(),
            schema => schema,
        };
        let name = self.string()?;
        let _replica_identity = self.u8()?;
        let count = self.u16()?;
        let mut columns = Vec::with_capacity(count.into());
        for _ in 0..count {
            let flags = self.u8()?;
            let name = self.string()?;
            let _type_oid = self.u32()?;
            let _type_modifier = self.u32()?;
            columns.push(Column { name, key: flags & 1 != 0 });
        }
        Ok(Relation { id, schema, name, columns })
    }

    fn tuple(&mut self) -> anyhow::Result<Tuple> {
        let count = self.u16()?;
        (0..count)
            .map(|_| {
                Ok(match self.u8()? {
                    b'n' => Value::Null,
                    b'u' => Value::Unchanged,
                    b't' => {
                        let length = self.u32()? as usize;
                        Value::Text(String::from_utf8(self.take(length)?.to_vec())?)
                    }
                    other => bail!("unexpected column kind {:?}", other as char),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Bytes as `pg_logical_slot_peek_binary_changes(..., 'proto_version', '1', ...)`
    // returned them from PostgreSQL 15 for: CREATE TABLE t (id int PRIMARY KEY, b
    // text); INSERT (1,'x'); UPDATE SET b = 'y'; DELETE; in one transaction.
    const BEGIN: &[u8] = b"B\0\0\0\0\x01R\xd6\xa8\0\x03\x04\x87]\x8eW4\0\0\x02\xd7";
    const RELATION: &[u8] =
        b"R\0\0@\x08public\0t\0d\0\x02\x01id\0\0\0\0\x17\xff\xff\xff\xff\0b\0\0\0\0\x19\xff\xff\xff\xff";
    const INSERT: &[u8] = b"I\0\0@\x08N\0\x02t\0\0\0\x011t\0\0\0\x01x";
    const UPDATE: &[u8] = b"U\0\0@\x08N\0\x02t\0\0\0\x011t\0\0\0\x01y";
    const DELETE: &[u8] = b"D\0\0@\x08K\0\x02t\0\0\0\x011n";
    const COMMIT: &[u8] = b"C\0\0\0\0\0\x01R\xd6\xa8\0\0\0\0\x01R\xd6\xd8\0\x03\x04\x87]\x8eW4";

    fn text(value: &str) -> Value {
        Value::Text(value.into())
    }

    #[test]
    fn a_transaction_recorded_from_postgresql_decodes() {
        assert_eq!(Message::decode(BEGIN).unwrap(), Message::Begin { final_lsn: Lsn(0x152_D6A8), xid: 727 });
        let Message::Relation(relation) = Message::decode(RELATION).unwrap() else { panic!() };
        assert_eq!((relation.id, relation.schema.as_str(), relation.name.as_str()), (16392, "public", "t"));
        assert_eq!(
            relation.columns,
            [Column { name: "id".into(), key: true }, Column { name: "b".into(), key: false }]
        );
        assert_eq!(
            Message::decode(INSERT).unwrap(),
            Message::Insert { relation: 16392, new: vec![text("1"), text("x")] }
        );
        assert_eq!(
            Message::decode(UPDATE).unwrap(),
            Message::Update { relation: 16392, old: None, new: vec![text("1"), text("y")] }
        );
        assert_eq!(
            Message::decode(DELETE).unwrap(),
            Message::Delete { relation: 16392, old: vec![text("1"), Value::Null] }
        );
        let Message::Commit { commit_lsn, end_lsn, commit_time } = Message::decode(COMMIT).unwrap() else { panic!() };
        assert_eq!((commit_lsn, end_lsn), (Lsn(0x152_D6A8), Lsn(0x152_D6D8)));
        assert!((unix_seconds(commit_time) - 1.764e9).abs() < 1e8, "a 2025–2026 date: {}", unix_seconds(commit_time));
    }

    #[test]
    fn unchanged_toast_old_keys_and_truncates_decode() {
        let update = b"U\0\0\0\x07K\0\x01t\0\0\0\x015N\0\x02t\0\0\0\x016u";
        assert_eq!(
            Message::decode(update).unwrap(),
            Message::Update { relation: 7, old: Some(vec![text("5")]), new: vec![text("6"), Value::Unchanged] }
        );
        let truncate = b"T\0\0\0\x02\x03\0\0\0\x07\0\0\0\x08";
        assert_eq!(
            Message::decode(truncate).unwrap(),
            Message::Truncate { relations: vec![7, 8], cascade: true, restart_identity: true }
        );
    }

    #[test]
    fn an_origin_names_who_wrote_the_transaction() {
        let origin = b"O\0\0\0\0\x01R\xd6\xa8tweetgen_reverse_ab12\0";
        assert_eq!(Message::decode(origin).unwrap(), Message::Origin { name: "tweetgen_reverse_ab12".into() });
        assert!(Message::decode(&origin[..origin.len() - 1]).is_err(), "unterminated");
    }

    #[test]
    fn damaged_messages_are_errors_not_panics() {
        for message in [BEGIN, RELATION, INSERT, UPDATE, DELETE, COMMIT] {
            for cut in 0..message.len() {
                assert!(Message::decode(&message[..cut]).is_err(), "{message:?} cut at {cut}");
            }
        }
        assert!(Message::decode(b"Z").is_err());
        assert!(Message::decode(b"I\0\0\0\x07N\0\x01t\xff\xff\xff\xff").is_err(), "a huge length");
        let mut longer = INSERT.to_vec();
        longer.push(0);
        assert!(Message::decode(&longer).is_err());
    }
}
