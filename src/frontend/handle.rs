//! What the rest of the proxy (KILL, the admin port) may see of a session while
//! the session's own task runs it: lock-free fields the session keeps current.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Instant;

use atomic_waker::AtomicWaker;

use crate::backend::Pool;

/// KILL CONNECTION: the session closes its client connection.
pub const SIGNAL_KILLED: u8 = 1;
/// The proxy is shutting down: the session ends once idle.
pub const SIGNAL_SHUTDOWN: u8 = 2;

pub struct SessionHandle {
    user: Mutex<String>,
    pub peer: SocketAddr,
    /// The TLS version and cipher suite of the client connection; None: plain.
    pub tls: Option<String>,
    pub since: Instant,
    /// The pool (server) of the session's backend connection and that
    /// connection's thread id there. A pool, not a server index: indexes change
    /// with a reload, and a KILL sent to the wrong server kills a stranger.
    backend: Mutex<Option<(Arc<Pool>, u32)>>,
    /// The uid of the connection `backend` shows (0: none). Only the session's
    /// own task sets or clears `backend`, so it can tell the same connection
    /// again (a lease's, statement after statement) without the lock.
    backend_uid: AtomicU64,
    /// Why the session holds its connection ([`crate::session::Pins::mask`]).
    pins: AtomicU32,
    /// Commands run.
    commands: AtomicU64,
    /// What other tasks asked of the session ([`SIGNAL_KILLED`],
    /// [`SIGNAL_SHUTDOWN`]), and the session task's waker. Not a `Notify`
    /// or a watch: the session polls this once per command, and registering
    /// with those takes a lock each time; this is an atomic load and, when
    /// the waker is the same, no write.
    signals: AtomicU8,
    waker: AtomicWaker,
    /// Set before the backend connection is killed, so that the session, seeing
    /// it vanish, closes the client connection as a KILL does (an orderly close)
    /// rather than as a dead server does (a reset).
    pub killing: AtomicBool,
}

impl SessionHandle {
    pub fn new(user: String, peer: SocketAddr, tls: Option<String>) -> Self {
        Self {
            user: Mutex::new(user),
            peer,
            tls,
            since: Instant::now(),
            backend: Mutex::new(None),
            backend_uid: AtomicU64::new(0),
            pins: AtomicU32::new(0),
            commands: AtomicU64::new(0),
            signals: AtomicU8::new(0),
            waker: AtomicWaker::new(),
            killing: AtomicBool::new(false),
        }
    }

    /// The session's user: COM_CHANGE_USER changes it.
    pub fn user(&self) -> String {
        self.user.lock().map(|u| u.clone()).unwrap_or_default()
    }

    pub fn set_user(&self, user: &str) {
        if let Ok(mut u) = self.user.lock() {
            user.clone_into(&mut u);
        }
    }

    /// Shows connection `uid` (thread `thread_id` on `pool`'s server) as the
    /// session's. Called by the session's own task only.
    pub fn set_backend(&self, pool: &Arc<Pool>, thread_id: u32, uid: u64) {
        if self.backend_uid.load(Ordering::Relaxed) == uid {
            return;
        }
        if let Ok(mut b) = self.backend.lock() {
            *b = Some((pool.clone(), thread_id));
            self.backend_uid.store(uid, Ordering::Relaxed);
        }
    }

    /// Called by the session's own task only.
    pub fn clear_backend(&self) {
        if let Ok(mut b) = self.backend.lock() {
            *b = None;
            self.backend_uid.store(0, Ordering::Relaxed);
        }
    }

    pub fn backend(&self) -> Option<(Arc<Pool>, u32)> {
        self.backend.lock().ok().and_then(|b| b.clone())
    }

    pub fn set_pins(&self, mask: u32) {
        self.pins.store(mask, Ordering::Relaxed);
    }

    pub fn pins(&self) -> u32 {
        self.pins.load(Ordering::Relaxed)
    }

    /// Tells the session `what` ([`SIGNAL_KILLED`], [`SIGNAL_SHUTDOWN`]) and
    /// wakes it.
    pub fn signal(&self, what: u8) {
        self.signals.fetch_or(what, Ordering::SeqCst);
        self.waker.wake();
    }

    /// The signals given so far.
    pub fn signals(&self) -> u8 {
        self.signals.load(Ordering::SeqCst)
    }

    /// Completes with the signals in `mask` that have been given.
    pub fn signalled(&self, mask: u8) -> impl Future<Output = u8> + '_ {
        std::future::poll_fn(move |cx| {
            let given = self.signals.load(Ordering::SeqCst) & mask;
            if given != 0 {
                return Poll::Ready(given);
            }
            self.waker.register(cx.waker());
            // A signal given between the load and the registration woke no one.
            match self.signals.load(Ordering::SeqCst) & mask {
                0 => Poll::Pending,
                given => Poll::Ready(given),
            }
        })
    }

    pub fn count_command(&self) {
        self.commands.fetch_add(1, Ordering::Relaxed);
    }

    pub fn commands(&self) -> u64 {
        self.commands.load(Ordering::Relaxed)
    }
}
