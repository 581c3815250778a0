//! Where does a server's reply end? A scanner fed one packet at a time that knows
//! just enough of each reply's grammar to say "more", "done" or "the server wants
//! the client's file", and which status flags the reply ended with.
//!
//! It never needs a row's content: a row can be streamed through while only its
//! first byte has been seen. Grammar:
//! <https://mariadb.com/kb/en/result-set-packets/>,
//! <https://mariadb.com/kb/en/com_stmt_prepare/>, <https://mariadb.com/kb/en/com_stmt_fetch/>.

use super::command::ResponseKind;
use super::ok::{ok_status, terminator_status, MORE_RESULTS_EXISTS, STATUS_CURSOR_EXISTS};
use super::packet::{read_lenenc, MAX_PAYLOAD};

const OK: u8 = 0x00;
const EOF: u8 = 0xFE;
const ERR: u8 = 0xFF;
const LOCAL_INFILE: u8 = 0xFB;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    More,
    Done,
    /// The server sent a LOCAL INFILE request: the client's file packets must be
    /// relayed (up to an empty packet) before the reply goes on.
    LocalInfile,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed server reply: {0}")]
pub struct ScanError(pub &'static str);

/// What the first result set of a reply said of its column definitions, when
/// they are being watched (`watch_metadata`): prepared-statement executions under
/// MARIADB_CLIENT_CACHE_METADATA may leave them out when the client has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metadata {
    /// No result set yet (an OK, an ERR), or not watched.
    Unknown,
    /// The server left them out ("metadata follows" was 0).
    Skipped,
    /// The server sent them; a hash of their payloads, to tell whether two
    /// sets of definitions are the same.
    Sent(u64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    Rows,
    PrepareColumns(u16),
    Done,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The first packet of a reply, or of the next result after MORE_RESULTS_EXISTS.
    First,
    /// `left` column (or parameter) definitions to go.
    Defs {
        left: u64,
        then: After,
    },
    /// The classic EOF that follows definitions without CLIENT_DEPRECATE_EOF.
    DefsEof {
        then: After,
    },
    Rows,
    /// COM_FIELD_LIST: definitions up to an EOF.
    FieldDefs,
    Done,
}

#[derive(Debug, Clone)]
pub struct ResponseScanner {
    kind: ResponseKind,
    deprecate_eof: bool,
    state: State,
    status: Option<u16>,
    /// Whether the reply carried an ERR packet (for error counters and retries).
    saw_error: bool,
    /// The error code of that ERR packet.
    error_code: Option<u16>,
    /// The packet just fed was an OK packet (possibly carrying session tracking).
    last_ok: bool,
    /// Warning count of the last OK/EOF seen.
    warnings: u16,
    /// Rows seen (of every result set of the reply).
    rows: u64,
    /// MARIADB_CLIENT_CACHE_METADATA was negotiated: a column count is followed
    /// by a "metadata follows" byte.
    cache_metadata: bool,
    /// Hash the column definitions of the first result set (or of a prepare
    /// reply) into `metadata`.
    watch_metadata: bool,
    metadata: Metadata,
    /// FNV-1a state over the definitions seen so far.
    defs_hash: u64,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// A hash of one more column definition: its length, then its bytes, so that
/// packet boundaries count.
fn fold_definition(mut h: u64, payload: &[u8]) -> u64 {
    for b in (payload.len() as u32).to_le_bytes().iter().chain(payload) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

impl ResponseScanner {
    pub fn new(kind: ResponseKind, deprecate_eof: bool) -> Self {
        let state = match kind {
            ResponseKind::None | ResponseKind::Unsupported => State::Done,
            ResponseKind::Fetch => State::Rows,
            ResponseKind::FieldList => State::FieldDefs,
            _ => State::First,
        };
        Self {
            kind,
            deprecate_eof,
            state,
            status: None,
            saw_error: false,
            error_code: None,
            last_ok: false,
            warnings: 0,
            rows: 0,
            cache_metadata: false,
            watch_metadata: false,
            metadata: Metadata::Unknown,
            defs_hash: FNV_OFFSET,
        }
    }

    /// The connection negotiated MARIADB_CLIENT_CACHE_METADATA.
    pub fn with_cache_metadata(mut self, on: bool) -> Self {
        self.cache_metadata = on;
        self
    }

    /// Watch the column definitions of the reply's first result set (or of a
    /// prepare reply): see `metadata`. Their packets are then needed whole.
    pub fn watching_metadata(mut self) -> Self {
        self.watch_metadata = true;
        self
    }

    pub fn metadata(&self) -> Metadata {
        self.metadata
    }

    /// Whether the definitions being read are the ones `watch_metadata` hashes:
    /// result columns (not a prepare's parameters), before any metadata was seen.
    fn hashing_defs(&self) -> bool {
        self.watch_metadata
            && self.metadata == Metadata::Unknown
            && matches!(self.state, State::Defs { then: After::Rows | After::Done, .. })
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Status flags of the last OK/EOF seen, if any.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    pub fn saw_error(&self) -> bool {
        self.saw_error
    }

    /// Warnings the last statement of the reply left (from its final OK or EOF).
    pub fn warnings(&self) -> u16 {
        self.warnings
    }

    /// Rows the reply carried.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The code of the ERR packet that ended the reply, if one did.
    pub fn error_code(&self) -> Option<u16> {
        self.error_code
    }

    /// Whether the packet just fed was in OK-packet format: a reply's OK, or a
    /// result set's 0xFE terminator under CLIENT_DEPRECATE_EOF.
    pub fn last_was_ok(&self) -> bool {
        self.last_ok
    }

    /// Whether `on_packet` needs the whole payload of a packet of `len` bytes starting
    /// with `first`, or only that first byte (rows and definitions are streamed).
    #[inline]
    pub fn needs_whole(&self, first: u8, len: usize) -> bool {
        if len >= MAX_PAYLOAD {
            return false;
        }
        match self.state {
            State::Rows | State::FieldDefs => first == EOF || first == ERR,
            State::Defs { .. } => self.hashing_defs(),
            _ => true,
        }
    }

    /// Feeds the next logical packet: its total payload length and either its whole
    /// payload or (when `needs_whole` said no) at least its first byte. Continuation
    /// packets of a split packet are not fed.
    pub fn on_packet(&mut self, len: usize, payload: &[u8]) -> Result<Step, ScanError> {
        let first = payload.first().copied();
        self.last_ok = self.is_ok_format(first, len);
        match self.state {
            State::Done => Err(ScanError("data after the end of the reply")),
            State::First => self.on_first(len, payload),
            State::Defs { left, then } => {
                if self.hashing_defs() {
                    self.defs_hash = fold_definition(self.defs_hash, payload);
                    if left == 1 {
                        self.metadata = Metadata::Sent(self.defs_hash);
                    }
                }
                let left = left - 1;
                if left > 0 {
                    self.state = State::Defs { left, then };
                    Ok(Step::More)
                } else if self.deprecate_eof {
                    Ok(self.enter(then))
                } else {
                    self.state = State::DefsEof { then };
                    Ok(Step::More)
                }
            }
            State::DefsEof { then } => match first {
                Some(EOF) => {
                    let status = super::ok::eof_status(payload).ok_or(ScanError("short EOF"))?;
                    self.status = Some(status);
                    self.warnings = super::ok::warnings(payload, false).unwrap_or(0);
                    if then == After::Rows && self.cursor_opened(status) {
                        return Ok(self.finish());
                    }
                    Ok(self.enter(then))
                }
                Some(ERR) => Ok(self.error(payload)),
                _ => Err(ScanError("expected EOF after definitions")),
            },
            State::Rows => match first {
                Some(EOF) if len < MAX_PAYLOAD => {
                    let status = terminator_status(payload, self.deprecate_eof).ok_or(ScanError("short terminator"))?;
                    self.status = Some(status);
                    self.warnings = super::ok::warnings(payload, self.deprecate_eof).unwrap_or(0);
                    Ok(self.after_result(status))
                }
                Some(ERR) if len < MAX_PAYLOAD => Ok(self.error(payload)),
                _ => {
                    self.rows += 1;
                    Ok(Step::More)
                }
            },
            State::FieldDefs => match first {
                Some(EOF) if len < MAX_PAYLOAD => {
                    self.status = terminator_status(payload, self.deprecate_eof);
                    Ok(self.finish())
                }
                Some(ERR) if len < MAX_PAYLOAD => Ok(self.error(payload)),
                _ => Ok(Step::More),
            },
        }
    }

    fn is_ok_format(&self, first: Option<u8>, len: usize) -> bool {
        match (self.state, first) {
            (State::First, Some(OK)) => self.kind != ResponseKind::Prepare,
            (State::Rows | State::FieldDefs, Some(EOF)) => self.deprecate_eof && len < MAX_PAYLOAD && len != 5,
            _ => false,
        }
    }

    fn on_first(&mut self, len: usize, payload: &[u8]) -> Result<Step, ScanError> {
        let first = *payload.first().ok_or(ScanError("empty packet"))?;
        if first == ERR {
            return Ok(self.error(payload));
        }
        match self.kind {
            ResponseKind::Single => {
                if first == OK {
                    self.status = ok_status(payload);
                } else if first == EOF && len < 9 {
                    self.status = super::ok::eof_status(payload);
                }
                Ok(self.finish())
            }
            ResponseKind::Prepare => {
                if first != OK || payload.len() < 9 {
                    return Err(ScanError("bad prepare reply"));
                }
                let columns = u16::from_le_bytes([payload[5], payload[6]]);
                let params = u16::from_le_bytes([payload[7], payload[8]]);
                if params > 0 {
                    self.state = State::Defs { left: u64::from(params), then: After::PrepareColumns(columns) };
                    Ok(Step::More)
                } else {
                    Ok(self.enter(After::PrepareColumns(columns)))
                }
            }
            _ => match first {
                OK => {
                    let status = ok_status(payload).ok_or(ScanError("short OK"))?;
                    self.status = Some(status);
                    self.warnings = super::ok::warnings(payload, true).unwrap_or(0);
                    Ok(self.after_result(status))
                }
                LOCAL_INFILE => Ok(Step::LocalInfile),
                _ => {
                    let (columns, n) = read_lenenc(payload).ok_or(ScanError("bad column count"))?;
                    if columns == 0 {
                        return Err(ScanError("zero column count"));
                    }
                    // Under CACHE_METADATA a 0 after the count says the client's
                    // cached definitions stand: none follow (the classic EOF
                    // that ends them still does).
                    if self.cache_metadata && payload.get(n) == Some(&0) {
                        if self.watch_metadata && self.metadata == Metadata::Unknown {
                            self.metadata = Metadata::Skipped;
                        }
                        if self.deprecate_eof {
                            return Ok(self.enter(After::Rows));
                        }
                        self.state = State::DefsEof { then: After::Rows };
                        return Ok(Step::More);
                    }
                    self.state = State::Defs { left: columns, then: After::Rows };
                    Ok(Step::More)
                }
            },
        }
    }

    /// A cursor was opened for a COM_STMT_EXECUTE: no rows follow, COM_STMT_FETCH
    /// will read them.
    fn cursor_opened(&self, status: u16) -> bool {
        matches!(self.kind, ResponseKind::Results { cursor: true }) && status & STATUS_CURSOR_EXISTS != 0
    }

    fn after_result(&mut self, status: u16) -> Step {
        if self.kind == ResponseKind::Fetch || self.cursor_opened(status) {
            return self.finish();
        }
        if status & MORE_RESULTS_EXISTS != 0 {
            self.state = State::First;
            Step::More
        } else {
            self.finish()
        }
    }

    fn enter(&mut self, then: After) -> Step {
        match then {
            After::Rows => {
                self.state = State::Rows;
                Step::More
            }
            After::PrepareColumns(n) if n > 0 => {
                self.state = State::Defs { left: u64::from(n), then: After::Done };
                Step::More
            }
            After::PrepareColumns(_) | After::Done => self.finish(),
        }
    }

    fn error(&mut self, payload: &[u8]) -> Step {
        self.saw_error = true;
        if let (Some(lo), Some(hi)) = (payload.get(1), payload.get(2)) {
            self.error_code = Some(u16::from_le_bytes([*lo, *hi]));
        }
        self.finish()
    }

    fn finish(&mut self) -> Step {
        self.state = State::Done;
        Step::Done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ok::ok_payload;

    fn feed_all(s: &mut ResponseScanner, packets: &[Vec<u8>]) -> Vec<Step> {
        packets.iter().map(|p| s.on_packet(p.len(), p).expect("valid")).collect()
    }

    fn coldef() -> Vec<u8> {
        b"\x03def\x04test\x01t\x01t\x01i\x01i\x0c?\x00\x0b\x00\x00\x00\x03\x00\x00\x00\x00\x00".to_vec()
    }

    fn eof(status: u16) -> Vec<u8> {
        let mut p = vec![0xFE, 0, 0];
        p.extend_from_slice(&status.to_le_bytes());
        p
    }

    fn ok_fe(status: u16) -> Vec<u8> {
        let mut p = ok_payload(status, 0);
        p[0] = 0xFE;
        p
    }

    const RESULTS: ResponseKind = ResponseKind::Results { cursor: false };

    #[test]
    fn result_set_with_eof() {
        let mut s = ResponseScanner::new(RESULTS, false);
        let steps = feed_all(&mut s, &[vec![1], coldef(), eof(2), b"\x011".to_vec(), b"\x012".to_vec(), eof(2)]);
        assert_eq!(steps.last(), Some(&Step::Done));
        assert!(steps[..5].iter().all(|s| *s == Step::More));
        assert_eq!(s.status(), Some(2));
    }

    #[test]
    fn result_set_deprecate_eof() {
        let mut s = ResponseScanner::new(RESULTS, true);
        let steps = feed_all(&mut s, &[vec![2], coldef(), coldef(), b"\x011\x012".to_vec(), ok_fe(3)]);
        assert_eq!(steps, vec![Step::More, Step::More, Step::More, Step::More, Step::Done]);
        assert_eq!(s.status(), Some(3));
    }

    #[test]
    fn multi_results_of_call() {
        let mut s = ResponseScanner::new(RESULTS, true);
        let more = MORE_RESULTS_EXISTS | 2;
        let steps = feed_all(
            &mut s,
            &[vec![1], coldef(), b"\x011".to_vec(), ok_fe(more), vec![1], coldef(), ok_fe(more), ok_payload(2, 0)],
        );
        assert_eq!(steps.last(), Some(&Step::Done));
        assert_eq!(steps.iter().filter(|s| **s == Step::Done).count(), 1);
    }

    #[test]
    fn error_mid_rows_ends_reply() {
        let mut s = ResponseScanner::new(RESULTS, true);
        let steps = feed_all(&mut s, &[vec![1], coldef(), b"\x011".to_vec(), b"\xff\x15\x04#HY000boom".to_vec()]);
        assert_eq!(steps.last(), Some(&Step::Done));
        assert!(s.saw_error());
        assert_eq!(s.error_code(), Some(0x0415));
    }

    #[test]
    fn warnings_of_the_final_packet_are_kept() {
        let mut s = ResponseScanner::new(RESULTS, false);
        feed_all(&mut s, &[vec![1], coldef(), eof(2), b"\x011".to_vec(), vec![0xFE, 2, 0, 2, 0]]);
        assert_eq!(s.warnings(), 2);
        let mut s = ResponseScanner::new(RESULTS, true);
        feed_all(&mut s, &[vec![1], coldef(), b"\x011".to_vec(), vec![0xFE, 0, 0, 2, 0, 3, 0]]);
        assert_eq!(s.warnings(), 3);
        let mut s = ResponseScanner::new(RESULTS, true);
        feed_all(&mut s, &[ok_payload(2, 1)]);
        assert_eq!(s.warnings(), 1);
    }

    #[test]
    fn local_infile_then_ok() {
        let mut s = ResponseScanner::new(RESULTS, true);
        assert_eq!(s.on_packet(6, b"\xfbx.csv"), Ok(Step::LocalInfile));
        assert_eq!(s.on_packet(7, &ok_payload(2, 0)), Ok(Step::Done));
    }

    #[test]
    fn prepare_with_params_and_columns() {
        let mut prep = vec![0u8, 1, 0, 0, 0];
        prep.extend_from_slice(&1u16.to_le_bytes());
        prep.extend_from_slice(&2u16.to_le_bytes());
        prep.extend_from_slice(&[0, 0, 0]);
        let mut s = ResponseScanner::new(ResponseKind::Prepare, false);
        let steps = feed_all(&mut s, &[prep.clone(), coldef(), coldef(), eof(2), coldef(), eof(2)]);
        assert_eq!(steps.last(), Some(&Step::Done));
        assert_eq!(steps.iter().filter(|s| **s == Step::Done).count(), 1);
        let mut s = ResponseScanner::new(ResponseKind::Prepare, true);
        let steps = feed_all(&mut s, &[prep, coldef(), coldef(), coldef()]);
        assert_eq!(steps.last(), Some(&Step::Done));
    }

    #[test]
    fn prepare_without_anything_is_one_packet() {
        let prep = vec![0u8, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let mut s = ResponseScanner::new(ResponseKind::Prepare, false);
        assert_eq!(s.on_packet(prep.len(), &prep), Ok(Step::Done));
    }

    #[test]
    fn cursor_execute_ends_after_metadata() {
        let kind = ResponseKind::Results { cursor: true };
        let mut s = ResponseScanner::new(kind, false);
        let steps = feed_all(&mut s, &[vec![1], coldef(), eof(STATUS_CURSOR_EXISTS | 2)]);
        assert_eq!(steps.last(), Some(&Step::Done));
        let mut s = ResponseScanner::new(ResponseKind::Fetch, false);
        let steps = feed_all(&mut s, &[b"\x00\x00\x01".to_vec(), eof(STATUS_CURSOR_EXISTS | 2)]);
        assert_eq!(steps.last(), Some(&Step::Done));
    }

    #[test]
    fn field_list_and_single() {
        let mut s = ResponseScanner::new(ResponseKind::FieldList, false);
        assert_eq!(feed_all(&mut s, &[coldef(), coldef(), eof(2)]).last(), Some(&Step::Done));
        let mut s = ResponseScanner::new(ResponseKind::Single, true);
        assert_eq!(s.on_packet(5, b"Uptim"), Ok(Step::Done));
    }

    #[test]
    fn huge_rows_are_streamed_not_terminators() {
        let s = ResponseScanner { state: State::Rows, ..ResponseScanner::new(RESULTS, true) };
        assert!(!s.needs_whole(0xFE, MAX_PAYLOAD));
        assert!(s.needs_whole(0xFE, 7));
        assert!(!s.needs_whole(0x03, 7));
    }

    #[test]
    fn cached_metadata_can_be_skipped() {
        let exec = ResponseKind::Results { cursor: false };
        // Skipped, with and without DEPRECATE_EOF (the classic EOF stays).
        let mut s = ResponseScanner::new(exec, true).with_cache_metadata(true).watching_metadata();
        let steps = feed_all(&mut s, &[vec![1, 0], b"\x011".to_vec(), ok_fe(2)]);
        assert_eq!(steps, vec![Step::More, Step::More, Step::Done]);
        assert_eq!(s.metadata(), Metadata::Skipped);
        assert_eq!(s.rows(), 1);
        let mut s = ResponseScanner::new(exec, false).with_cache_metadata(true).watching_metadata();
        let steps = feed_all(&mut s, &[vec![1, 0], eof(2), b"\x011".to_vec(), eof(2)]);
        assert_eq!(steps.last(), Some(&Step::Done));
        assert_eq!(s.metadata(), Metadata::Skipped);
        // Sent: hashed, and the same definitions in a prepare reply hash the same.
        let mut s = ResponseScanner::new(exec, true).with_cache_metadata(true).watching_metadata();
        feed_all(&mut s, &[vec![2, 1], coldef(), coldef(), b"\x011".to_vec(), ok_fe(2)]);
        let sent = s.metadata();
        assert!(matches!(sent, Metadata::Sent(_)));
        assert!(s.needs_whole(0x03, 20) || s.is_done());
        let mut prep = vec![0u8, 1, 0, 0, 0];
        prep.extend_from_slice(&2u16.to_le_bytes());
        prep.extend_from_slice(&1u16.to_le_bytes());
        prep.extend_from_slice(&[0, 0, 0]);
        let mut p = ResponseScanner::new(ResponseKind::Prepare, true).watching_metadata();
        let mut other = coldef();
        other[5] = b'X';
        feed_all(&mut p, &[prep.clone(), other.clone(), coldef(), coldef()]);
        assert_eq!(p.metadata(), sent, "parameter definitions are not result metadata");
        let mut p = ResponseScanner::new(ResponseKind::Prepare, true).watching_metadata();
        feed_all(&mut p, &[prep, coldef(), coldef(), other]);
        assert_ne!(p.metadata(), sent);
        // Without the capability a 0 after the count is not a flag.
        let mut s = ResponseScanner::new(exec, true);
        let steps = feed_all(&mut s, &[vec![1, 0], coldef(), b"\x011".to_vec(), ok_fe(2)]);
        assert_eq!(steps.last(), Some(&Step::Done));
        // Text results carry the flag as 1 under the capability.
        let mut s = ResponseScanner::new(exec, true).with_cache_metadata(true);
        let steps = feed_all(&mut s, &[vec![1, 1], coldef(), b"\x011".to_vec(), ok_fe(2)]);
        assert_eq!(steps.last(), Some(&Step::Done));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut s = ResponseScanner::new(RESULTS, true);
        assert!(s.on_packet(1, &[0xFF, 0xFF]).is_ok());
        let mut s = ResponseScanner::new(RESULTS, true);
        assert!(s.on_packet(0, &[]).is_err());
        let mut s = ResponseScanner::new(ResponseKind::Prepare, true);
        assert!(s.on_packet(3, &[0, 1, 2]).is_err());
    }
}
