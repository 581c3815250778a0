//! Why a session must stay on one backend connection. Each reason is counted, so
//! that degraded multiplexing shows in stats instead of hiding.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Pin {
    /// SERVER_STATUS_IN_TRANS from the server.
    Transaction,
    UserVariable,
    TemporaryTable,
    LockTables,
    /// GET_LOCK() and friends: the lock belongs to the connection.
    UserLock,
    /// SQL-level PREPARE: the statement lives on the connection.
    SqlPrepare,
    /// SQL_CALC_FOUND_ROWS: FOUND_ROWS() must run where it ran.
    FoundRows,
    /// A cursor opened by COM_STMT_EXECUTE, to be read by COM_STMT_FETCH.
    Cursor,
    /// SET TRANSACTION without SESSION: applies to the connection's next transaction.
    NextTransaction,
    /// XA: the transaction belongs to the connection.
    Xa,
    /// The server reported a state change the proxy cannot replay.
    UntrackedState,
    /// The last statement left warnings: SHOW WARNINGS must run where it ran.
    Warnings,
    /// The session read CONNECTION_ID(): that id must stay its own (for KILL).
    ConnectionId,
    /// wait_timeout / interactive_timeout set: the server must enforce them on
    /// the session's own connection.
    SessionTimeout,
}

impl Pin {
    pub const ALL: [Pin; 14] = [
        Pin::Transaction,
        Pin::UserVariable,
        Pin::TemporaryTable,
        Pin::LockTables,
        Pin::UserLock,
        Pin::SqlPrepare,
        Pin::FoundRows,
        Pin::Cursor,
        Pin::NextTransaction,
        Pin::Xa,
        Pin::UntrackedState,
        Pin::Warnings,
        Pin::ConnectionId,
        Pin::SessionTimeout,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Pin::Transaction => "transaction",
            Pin::UserVariable => "user_variable",
            Pin::TemporaryTable => "temporary_table",
            Pin::LockTables => "lock_tables",
            Pin::UserLock => "user_lock",
            Pin::SqlPrepare => "sql_prepare",
            Pin::FoundRows => "found_rows",
            Pin::Cursor => "cursor",
            Pin::NextTransaction => "next_transaction",
            Pin::Xa => "xa",
            Pin::UntrackedState => "untracked_state",
            Pin::Warnings => "warnings",
            Pin::ConnectionId => "connection_id",
            Pin::SessionTimeout => "session_timeout",
        }
    }

    fn index(self) -> usize {
        Pin::ALL.iter().position(|p| *p == self).unwrap_or(0)
    }

    fn bit(self) -> u32 {
        1 << self.index()
    }

    /// The reasons set in a mask from [`Pins::mask`].
    pub fn from_mask(mask: u32) -> impl Iterator<Item = Pin> {
        Pin::ALL.into_iter().filter(move |p| mask & p.bit() != 0)
    }
}

/// Process-wide count of pins taken, per reason.
pub struct PinCounters([AtomicU64; 14]);

pub static PIN_COUNTERS: PinCounters = PinCounters([const { AtomicU64::new(0) }; 14]);

impl PinCounters {
    pub fn get(&self, pin: Pin) -> u64 {
        self.0[pin.index()].load(Ordering::Relaxed)
    }

    fn bump(&self, pin: Pin) {
        self.0[pin.index()].fetch_add(1, Ordering::Relaxed);
    }
}

/// The reasons a session currently has to keep its connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pins {
    /// One bit per [`Pin`], in [`Pin::ALL`] order.
    reasons: u32,
    /// Temporary tables the session created (lower-case names).
    pub temporary_tables: BTreeSet<String>,
}

impl Pins {
    pub fn add(&mut self, pin: Pin) {
        if self.reasons & pin.bit() == 0 {
            self.reasons |= pin.bit();
            PIN_COUNTERS.bump(pin);
        }
    }

    pub fn remove(&mut self, pin: Pin) {
        self.reasons &= !pin.bit();
    }

    pub fn has(&self, pin: Pin) -> bool {
        self.reasons & pin.bit() != 0
    }

    pub fn is_empty(&self) -> bool {
        self.reasons == 0
    }

    pub fn reasons(&self) -> impl Iterator<Item = Pin> {
        Pin::from_mask(self.reasons)
    }

    /// The current reasons as a bit mask, for stats.
    pub fn mask(&self) -> u32 {
        self.reasons
    }

    /// COM_RESET_CONNECTION / COM_CHANGE_USER: the server forgot everything.
    pub fn clear(&mut self) {
        self.reasons = 0;
        self.temporary_tables.clear();
    }
}
