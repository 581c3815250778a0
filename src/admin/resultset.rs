//! Admin replies as text-protocol result sets. Column definitions are
//! mysql_common's; rows are length-encoded strings, NULL as 0xFB. The admin
//! handshake does not offer CLIENT_DEPRECATE_EOF, so definitions and rows both
//! end with a classic EOF packet.

use bytes::BytesMut;
use mysql_common::constants::{ColumnFlags, ColumnType};
use mysql_common::packets::Column;
use mysql_common::proto::MySerialize;

use crate::protocol::ok::STATUS_AUTOCOMMIT;
use crate::protocol::packet::{put_lenenc, write_packet};

/// utf8mb4_general_ci.
const UTF8MB4: u16 = 45;
/// binary, which clients expect on numeric columns.
const BINARY: u16 = 63;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Text(String),
    Int(i64),
    Null,
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Self {
        Value::Int(i64::try_from(n).unwrap_or(i64::MAX))
    }
}

impl From<usize> for Value {
    fn from(n: usize) -> Self {
        Value::from(n as u64)
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Self {
        Value::Int(i64::from(n))
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
}

/// A result set to send: named, typed columns and rows of values.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub columns: Vec<(String, Kind)>,
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    pub fn new(columns: &[(&'static str, Kind)]) -> Self {
        Self { columns: columns.iter().map(|(n, k)| ((*n).to_owned(), *k)).collect(), rows: Vec::new() }
    }

    pub fn push(&mut self, row: Vec<Value>) {
        debug_assert_eq!(row.len(), self.columns.len());
        self.rows.push(row);
    }

    /// The whole reply, sequence ids from `seq`.
    pub fn encode(&self, mut seq: u8) -> BytesMut {
        let mut out = BytesMut::new();
        let mut payload = Vec::new();
        put_lenenc(&mut payload, self.columns.len() as u64);
        seq = write_packet(&mut out, seq, &payload);
        for (name, kind) in &self.columns {
            payload.clear();
            column(name, *kind).serialize(&mut payload);
            seq = write_packet(&mut out, seq, &payload);
        }
        seq = write_packet(&mut out, seq, &eof());
        for row in &self.rows {
            payload.clear();
            for value in row {
                match value {
                    Value::Null => payload.push(0xFB),
                    Value::Text(s) => put_str(&mut payload, s),
                    Value::Int(n) => put_str(&mut payload, &n.to_string()),
                }
            }
            seq = write_packet(&mut out, seq, &payload);
        }
        write_packet(&mut out, seq, &eof());
        out
    }
}

fn column(name: &str, kind: Kind) -> Column {
    let column = Column::new(match kind {
        Kind::Text => ColumnType::MYSQL_TYPE_VAR_STRING,
        Kind::Int => ColumnType::MYSQL_TYPE_LONGLONG,
    })
    .with_name(name.as_bytes())
    .with_org_name(name.as_bytes());
    match kind {
        Kind::Text => column.with_character_set(UTF8MB4).with_column_length(4 * 1024),
        Kind::Int => column.with_character_set(BINARY).with_column_length(20).with_flags(ColumnFlags::NUM_FLAG),
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_lenenc(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

fn eof() -> [u8; 5] {
    let status = STATUS_AUTOCOMMIT.to_le_bytes();
    [0xFE, 0, 0, status[0], status[1]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::command::ResponseKind;
    use crate::protocol::response::{ResponseScanner, Step};

    /// The encoding is one the proxy's own reply scanner (written from the
    /// protocol docs) reads as one complete result set.
    #[test]
    fn encodes_a_complete_result_set() {
        let mut t = Table::new(&[("name", Kind::Text), ("n", Kind::Int)]);
        t.push(vec!["a".into(), Value::Int(1)]);
        t.push(vec![Value::Null, 2u64.into()]);
        let out = t.encode(1);
        let mut scanner = ResponseScanner::new(ResponseKind::Results { cursor: false }, false);
        let mut rest = &out[..];
        let mut steps = Vec::new();
        let mut seqs = Vec::new();
        while rest.len() >= 4 {
            let len = usize::from(rest[0]) | usize::from(rest[1]) << 8 | usize::from(rest[2]) << 16;
            seqs.push(rest[3]);
            steps.push(scanner.on_packet(len, &rest[4..4 + len]).expect("well formed"));
            rest = &rest[4 + len..];
        }
        assert!(rest.is_empty());
        assert_eq!(steps.last(), Some(&Step::Done));
        assert_eq!(steps.iter().filter(|s| **s == Step::Done).count(), 1);
        assert_eq!(scanner.rows(), 2);
        // Count, two definitions, EOF, two rows, EOF.
        assert_eq!(seqs, (1..=7).collect::<Vec<u8>>());
    }
}
