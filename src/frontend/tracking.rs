//! What a reply's OK packets say about the session (from the backend's session
//! tracking) and their rewriting into what the client asked to see.

use crate::protocol::ok::SESSION_STATE_CHANGED;
use crate::protocol::packet::read_lenenc;
use crate::protocol::track::{entries, parse_ok, rewrite_for_client, ClientTracking, TrackEntry};
use crate::protocol::ErrPacket;
use crate::relay::OkObserver;
use crate::session::WritePositions;

/// What the server reported during one reply.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Learned {
    /// `last_gtid` after a write: where the session's last commit landed.
    pub last_gtid: Option<String>,
    /// The schema the session switched to.
    pub schema: Option<String>,
    /// System variables that changed, lower-case name → value.
    pub variables: Vec<(String, String)>,
    /// The server said "session state changed" (user variables, temporary tables,
    /// prepared statements... anything, including what the proxy cannot replay).
    pub state_changed: bool,
    /// The last insert id an OK packet reported (0 when none was generated).
    pub insert_id: Option<u64>,
    /// The proxy-wide write epoch `last_gtid` made current.
    pub write_epoch: Option<u64>,
    /// The master refused the write as read-only and the client was not told.
    pub refused_read_only: bool,
}

pub struct Observer<'a> {
    pub client: &'a ClientTracking,
    /// Writes are recorded here as soon as their OK is seen, before the client
    /// gets it: a read the client starts after the acknowledgement sees them.
    pub writes: &'a WritePositions,
    pub learned: Learned,
    /// The statement runs in a READ ONLY transaction on a replica: a write fails
    /// there for the replica's read_only (1290), where on the master it would
    /// fail for the transaction (1792); the client gets the master's error.
    pub read_only_transaction_on_replica: bool,
    /// An autocommit write to the master that may run again elsewhere if the
    /// master refuses it as read-only (a switchover in progress).
    pub hold_read_only_error: bool,
}

impl<'a> Observer<'a> {
    pub fn new(client: &'a ClientTracking, writes: &'a WritePositions) -> Self {
        Self {
            client,
            writes,
            learned: Learned::default(),
            read_only_transaction_on_replica: false,
            hold_read_only_error: false,
        }
    }
}

impl OkObserver for Observer<'_> {
    fn on_ok(&mut self, payload: &[u8]) -> Option<Vec<u8>> {
        if let Some((affected_len, rest)) = payload.get(1..).and_then(|r| read_lenenc(r).map(|(_, n)| (n, r))) {
            if let Some((id, _)) = rest.get(affected_len..).and_then(read_lenenc) {
                if id != 0 {
                    self.learned.insert_id = Some(id);
                }
            }
        }
        let ok = parse_ok(payload)?;
        if ok.status & SESSION_STATE_CHANGED == 0 {
            return None;
        }
        for e in entries(ok.state?) {
            match e {
                TrackEntry::SystemVariable { name, value } => {
                    let name = String::from_utf8_lossy(name).to_ascii_lowercase();
                    let value = String::from_utf8_lossy(value).into_owned();
                    if name == "last_gtid" {
                        if !value.is_empty() {
                            self.learned.write_epoch = Some(self.writes.record(&value));
                            self.learned.last_gtid = Some(value);
                        }
                    } else {
                        self.learned.variables.push((name, value));
                    }
                }
                TrackEntry::Schema(s) => self.learned.schema = Some(String::from_utf8_lossy(s).into_owned()),
                TrackEntry::StateChange => self.learned.state_changed = true,
                TrackEntry::Other { .. } => {}
            }
        }
        rewrite_for_client(payload, self.client)
    }

    fn on_err(&mut self, payload: &[u8]) -> Option<Vec<u8>> {
        let err = ErrPacket::parse(payload)?;
        if self.hold_read_only_error && err.code == ER_OPTION_PREVENTS_STATEMENT {
            // Nothing ran: the statement can go to the next master.
            self.learned.refused_read_only = true;
            return Some(Vec::new());
        }
        if self.read_only_transaction_on_replica && err.code == ER_OPTION_PREVENTS_STATEMENT {
            let e = ErrPacket::new(
                ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION,
                "25006",
                "Cannot execute statement in a READ ONLY transaction",
            );
            return Some(e.to_payload());
        }
        None
    }
}

const ER_OPTION_PREVENTS_STATEMENT: u16 = 1290;
const ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION: u16 = 1792;
