//! Server-side prepared statements through the proxy. Statement ids belong to
//! the proxy: each maps to its SQL and classification, so that a read executes
//! on a replica and a write on the master, each backend connection preparing
//! the statement the first time it runs it there. Long data is kept by the
//! proxy and sent to whichever connection executes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::classify::Classification;

pub(super) struct ClientStmt {
    pub sql: Bytes,
    pub class: Arc<Classification>,
    pub params: u16,
    /// Parameter types of the last execution that sent them: later executions
    /// may omit them, and another connection needs them.
    pub types: Option<Vec<u8>>,
    /// Names `types` (unique in the process, 0 while there are none): a
    /// backend statement that last received the types of this tag still has
    /// them, and an execution there may leave them out.
    pub types_tag: u64,
    /// COM_STMT_SEND_LONG_DATA chunks, kept until the execution; only
    /// `Statements` changes them, keeping the session's total.
    long_data: Vec<(u16, Bytes)>,
    /// Long data was dropped for going over the limit: executions get the
    /// server's error instead of running, until a COM_STMT_RESET.
    pub long_data_refused: bool,
    /// A hash of the column definitions the client was last given for the
    /// statement (the prepare reply's, or an execution's): under
    /// MARIADB_CLIENT_CACHE_METADATA the client decodes rows with them.
    pub metadata: Option<u64>,
    /// The backend statement of the last execution: (connection uid, that
    /// connection's statement-cache generation, statement). While both match,
    /// the next execution there needs no lookup of the SQL text (a lease
    /// keeps the connection, so most executions match).
    pub on: Option<(u64, u64, crate::backend::statements::Prepared)>,
    /// Executions through `on` since the last full lookup, which also keeps
    /// the statement's place in the connection's least-recently-used order.
    pub on_hits: u32,
}

impl ClientStmt {
    pub fn new(sql: Bytes, class: Arc<Classification>, params: u16, metadata: Option<u64>) -> Self {
        Self {
            sql,
            class,
            params,
            types: None,
            types_tag: 0,
            long_data: Vec::new(),
            long_data_refused: false,
            metadata,
            on: None,
            on_hits: 0,
        }
    }
}

#[derive(Default)]
pub(super) struct Statements {
    pub by_id: HashMap<u32, ClientStmt, foldhash::fast::RandomState>,
    next_id: u32,
    /// MariaDB lets a client execute "the statement just prepared" as id
    /// 0xFFFFFFFF (prepare and execute pipelined).
    pub last: Option<u32>,
    /// What the long data of all statements costs (`long_data_cost`).
    long_data_held: usize,
}

/// Bookkeeping per kept chunk (its entry, its packet's header and fixed part),
/// counted with its bytes so that a flood of tiny chunks is bounded too.
const LONG_DATA_CHUNK_OVERHEAD: usize = 64;

fn long_data_cost(chunks: &[(u16, Bytes)]) -> usize {
    chunks.iter().map(|(_, d)| d.len() + LONG_DATA_CHUNK_OVERHEAD).sum()
}

pub(super) const LAST_PREPARED: u32 = u32::MAX;

impl Statements {
    pub fn add(&mut self, stmt: ClientStmt) -> u32 {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let id = self.next_id;
        self.by_id.insert(id, stmt);
        self.last = Some(id);
        id
    }

    pub fn resolve(&self, id: u32) -> Option<u32> {
        if id == LAST_PREPARED {
            self.last
        } else {
            self.by_id.contains_key(&id).then_some(id)
        }
    }

    pub fn clear(&mut self) {
        self.by_id.clear();
        self.last = None;
        self.long_data_held = 0;
    }

    pub fn remove(&mut self, id: u32) {
        if let Some(st) = self.by_id.remove(&id) {
            self.long_data_held = self.long_data_held.saturating_sub(long_data_cost(&st.long_data));
        }
    }

    /// Keeps a long data chunk for statement `id` until its execution, which
    /// may run on any connection. Without a bound, a client could grow the
    /// proxy's memory for as long as it keeps sending. The server holds at most
    /// max_allowed_packet bytes per parameter; the proxy holds everything until
    /// the execution, so it bounds the session's total by `max`. Past it, the
    /// statement's long data is dropped, and its executions get the server's
    /// error until a COM_STMT_RESET, as there.
    pub fn add_long_data(&mut self, id: u32, param: u16, data: Bytes, max: usize) {
        let Some(st) = self.by_id.get_mut(&id) else { return };
        if st.long_data_refused {
            return;
        }
        let cost = data.len() + LONG_DATA_CHUNK_OVERHEAD;
        if self.long_data_held + cost > max {
            self.long_data_held = self.long_data_held.saturating_sub(long_data_cost(&st.long_data));
            st.long_data = Vec::new();
            st.long_data_refused = true;
            return;
        }
        st.long_data.push((param, data));
        self.long_data_held += cost;
    }

    pub fn has_long_data(&self, id: u32) -> bool {
        self.by_id.get(&id).is_some_and(|st| !st.long_data.is_empty())
    }

    /// Hands over statement `id`'s long data (to send it with its execution,
    /// or to drop it on a reset).
    pub fn take_long_data(&mut self, id: u32) -> Vec<(u16, Bytes)> {
        let Some(st) = self.by_id.get_mut(&id) else { return Vec::new() };
        let chunks = std::mem::take(&mut st.long_data);
        self.long_data_held = self.long_data_held.saturating_sub(long_data_cost(&chunks));
        chunks
    }
}

/// The statement id of a COM_STMT_* payload.
pub(super) fn stmt_id(payload: &[u8]) -> Option<u32> {
    Some(u32::from_le_bytes(payload.get(1..5)?.try_into().ok()?))
}

/// Appends the payload with its statement id replaced.
pub(super) fn put_with_id(out: &mut BytesMut, payload: &[u8], id: u32) {
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(slot) = out.get_mut(start + 1..start + 5) {
        slot.copy_from_slice(&id.to_le_bytes());
    }
}

/// Tags of parameter types (`ClientStmt::types_tag`).
static TYPES_TAGS: AtomicU64 = AtomicU64::new(1);

/// Appends a COM_STMT_EXECUTE for backend statement `id`, whose connection
/// last received the parameter types tagged `on_conn`; returns the tag of
/// the types it has after this execution. When the client bound new
/// parameter types they are remembered; when it did not (it sent them with an
/// earlier execution, maybe on another connection), they are put in unless
/// the backend statement already has them: the server then reuses them, as
/// it would for the client directly, instead of setting them up again.
/// <https://mariadb.com/kb/en/com_stmt_execute/>
pub(super) fn put_execute(out: &mut BytesMut, payload: &[u8], id: u32, st: &mut ClientStmt, on_conn: u64) -> u64 {
    let n = usize::from(st.params);
    let bound_at = 10 + n.div_ceil(8);
    match payload.get(bound_at) {
        Some(1) if n > 0 => {
            if let Some(t) = payload.get(bound_at + 1..bound_at + 1 + 2 * n) {
                // Connector/C sends the same types with every execution after a
                // rebind: kept without an allocation when they did not change.
                if st.types.as_deref() != Some(t) {
                    st.types = Some(t.to_vec());
                    st.types_tag = TYPES_TAGS.fetch_add(1, Ordering::Relaxed);
                }
                put_with_id(out, payload, id);
                return st.types_tag;
            }
        }
        Some(0) if n > 0 && on_conn != st.types_tag => {
            if let Some(t) = st.types.as_ref() {
                put_with_id(out, &payload[..bound_at], id);
                out.extend_from_slice(&[1]);
                out.extend_from_slice(t);
                out.extend_from_slice(&payload[bound_at + 1..]);
                return st.types_tag;
            }
        }
        _ => {}
    }
    put_with_id(out, payload, id);
    on_conn
}

/// (id, columns, params) of a COM_STMT_PREPARE OK.
pub(super) fn parse_prepare_ok(payload: &[u8]) -> Option<(u32, u16, u16)> {
    if payload.first() != Some(&0x00) {
        return None;
    }
    let id = u32::from_le_bytes(payload.get(1..5)?.try_into().ok()?);
    let columns = u16::from_le_bytes(payload.get(5..7)?.try_into().ok()?);
    let params = u16::from_le_bytes(payload.get(7..9)?.try_into().ok()?);
    Some((id, columns, params))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn execute(id: u32, bound: bool) -> Vec<u8> {
        let mut p = vec![0x17];
        p.extend_from_slice(&id.to_le_bytes());
        p.push(0);
        p.extend_from_slice(&1u32.to_le_bytes());
        p.push(0); // null bitmap for 2 params
        p.push(u8::from(bound));
        if bound {
            p.extend_from_slice(&[3, 0, 254, 0]);
        }
        p.extend_from_slice(&[7, 0, 0, 0, 1, b'x']);
        p
    }

    fn stmt(params: u16) -> ClientStmt {
        let class = crate::classify::Classifier::new(16).classify(b"SELECT ?, ?");
        ClientStmt::new(Bytes::from_static(b"SELECT ?, ?"), class, params, None)
    }

    /// The execution as sent for backend statement `id` on a connection that
    /// has the types tagged `on_conn`, and the tag it has after it.
    fn rewritten(payload: &[u8], id: u32, st: &mut ClientStmt, on_conn: u64) -> (Vec<u8>, u64) {
        let mut out = BytesMut::from(&b"head"[..]);
        let tag = put_execute(&mut out, payload, id, st, on_conn);
        assert_eq!(&out[..4], b"head", "appended, not overwritten");
        (out[4..].to_vec(), tag)
    }

    fn with_id(payload: &[u8], id: u32) -> Vec<u8> {
        let mut out = BytesMut::new();
        put_with_id(&mut out, payload, id);
        out.to_vec()
    }

    #[test]
    fn types_are_remembered_and_put_back_where_missing() {
        let mut st = stmt(2);
        let (first, tag) = rewritten(&execute(5, true), 9, &mut st, 0);
        assert_eq!(stmt_id(&first), Some(9));
        assert_eq!(first, with_id(&execute(5, true), 9));
        assert_eq!(st.types.as_deref(), Some(&[3, 0, 254, 0][..]));
        assert!(tag != 0 && tag == st.types_tag);
        // Another connection (that never had them): put back.
        let (again, other_conn) = rewritten(&execute(5, false), 11, &mut st, 0);
        assert_eq!(again, with_id(&execute(5, true), 11));
        assert_eq!(other_conn, tag);
        // A connection that has them: left out, as the client left them out.
        let (same, kept) = rewritten(&execute(5, false), 11, &mut st, tag);
        assert_eq!(same, with_id(&execute(5, false), 11));
        assert_eq!(kept, tag);
        // Sent again unchanged: the same tag, so a connection holding them
        // still counts as having them.
        assert_eq!(rewritten(&execute(5, true), 11, &mut st, tag).1, tag);
        // Other types bound later replace the remembered ones, under a new tag:
        // a connection with the old ones gets the new ones put in.
        let mut other = execute(5, true);
        other[14] = 8;
        let (_, new_tag) = rewritten(&other, 11, &mut st, tag);
        assert_eq!(st.types.as_deref(), Some(&[3, 0, 8, 0][..]));
        assert_ne!(new_tag, tag);
        let mut expected = execute(5, true);
        expected[14] = 8;
        assert_eq!(rewritten(&execute(5, false), 12, &mut st, tag).0, with_id(&expected, 12));
    }

    #[test]
    fn without_params_only_the_id_changes() {
        let p = [0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0];
        let mut st = stmt(0);
        assert_eq!(rewritten(&p, 2, &mut st, 0), (vec![0x17, 2, 0, 0, 0, 0, 1, 0, 0, 0], 0));
        let mut st = stmt(3);
        assert_eq!(rewritten(&[0x17], 2, &mut st, 5), (vec![0x17], 5));
        assert_eq!(with_id(&[0x19, 1], 2), vec![0x19, 1]);
    }

    #[test]
    fn long_data_is_bounded_per_session() {
        let class = crate::classify::Classifier::new(16).classify(b"SELECT ?");
        let mut s = Statements::default();
        let a = s.add(ClientStmt::new(Bytes::from_static(b"SELECT ?"), class.clone(), 1, None));
        let b = s.add(ClientStmt::new(Bytes::from_static(b"SELECT ?"), class, 1, None));
        let chunk = Bytes::from(vec![b'x'; 1000]);
        let max = 4 * (1000 + LONG_DATA_CHUNK_OVERHEAD);
        for _ in 0..3 {
            s.add_long_data(a, 0, chunk.clone(), max);
        }
        s.add_long_data(b, 0, chunk.clone(), max);
        assert_eq!(s.long_data_held, max);
        // One more chunk for `b` goes over: `b` loses its long data, `a` keeps its own.
        s.add_long_data(b, 0, chunk.clone(), max);
        assert!(s.by_id[&b].long_data_refused && s.by_id[&b].long_data.is_empty());
        assert!(!s.by_id[&a].long_data_refused);
        assert_eq!(s.take_long_data(a).len(), 3);
        assert_eq!(s.long_data_held, 0);
        // Refused until a reset: later chunks are not kept either.
        s.add_long_data(b, 0, chunk.clone(), max);
        assert!(s.by_id[&b].long_data.is_empty());
        s.add_long_data(a, 0, chunk, max);
        s.remove(a);
        assert_eq!(s.long_data_held, 0);
    }

    #[test]
    fn last_prepared_resolves() {
        let mut s = Statements::default();
        assert_eq!(s.resolve(LAST_PREPARED), None);
        assert_eq!(parse_prepare_ok(&[0, 7, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0]), Some((7, 2, 1)));
        assert_eq!(parse_prepare_ok(&[0xFF, 1]), None);
        let _ = &mut s;
    }
}
