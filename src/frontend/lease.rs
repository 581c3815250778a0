//! A session's lease: the replica connection its last read ran on, kept
//! while the session goes on reading from that replica, as an L4 proxy keeps
//! a client's server connection. The next read then skips the pool (its
//! lock, the idle-list search, the check-in, the session-handle updates:
//! measured with callgrind, about an eighth of the proxy's instructions per
//! point select). A lease holds no session state: the session is free to go
//! anywhere, and anything but a read on the same replica gives it back
//! first. It is given back too when the session stays silent for
//! `backend.lease`, and at most half of a pool is ever leased, so that idle
//! clients hold no connection and leases never make others wait.

use std::sync::atomic::Ordering;

use super::session::Held;

pub(super) struct Lease {
    /// Some until handed back to the session.
    held: Option<Held>,
}

impl Lease {
    /// Leases `held` when its pool has room for one more lease.
    pub fn take(held: Held) -> Result<Self, Held> {
        let pool = held.conn.pool();
        let limit = pool.max() / 2;
        // Counted first, so that two sessions cannot both take the last one.
        if pool.leases.fetch_add(1, Ordering::Relaxed) >= limit {
            pool.leases.fetch_sub(1, Ordering::Relaxed);
            return Err(held);
        }
        Ok(Self { held: Some(held) })
    }

    pub fn server(&self) -> Option<usize> {
        self.held.as_ref().map(|h| h.server)
    }

    /// The connection, for the session's next statement.
    pub fn into_held(mut self) -> Option<Held> {
        let held = self.held.take();
        if let Some(h) = &held {
            h.conn.pool().leases.fetch_sub(1, Ordering::Relaxed);
        }
        held
    }

    /// The server killed it, or will: it must not go back to the pool.
    pub fn poison(&mut self) {
        if let Some(h) = &mut self.held {
            h.conn.poisoned = true;
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Dropping the connection's guard gives it back to the pool.
        if let Some(h) = self.held.take() {
            h.conn.pool().leases.fetch_sub(1, Ordering::Relaxed);
        }
    }
}
