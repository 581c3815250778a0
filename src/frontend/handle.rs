//! What the rest of the proxy (KILL, the admin port) may see of a session while
//! the session's own task runs it: lock-free fields the session keeps current.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::Notify;

use crate::backend::Pool;

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
    /// Why the session holds its connection ([`crate::session::Pins::mask`]).
    pins: AtomicU32,
    /// Commands run.
    commands: AtomicU64,
    /// Woken by KILL CONNECTION: the session closes its client connection.
    pub killed: Notify,
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
            pins: AtomicU32::new(0),
            commands: AtomicU64::new(0),
            killed: Notify::new(),
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

    pub fn set_backend(&self, pool: &Arc<Pool>, thread_id: u32) {
        if let Ok(mut b) = self.backend.lock() {
            match &*b {
                Some((p, t)) if Arc::ptr_eq(p, pool) && *t == thread_id => {}
                _ => *b = Some((pool.clone(), thread_id)),
            }
        }
    }

    pub fn clear_backend(&self) {
        if let Ok(mut b) = self.backend.lock() {
            *b = None;
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

    pub fn count_command(&self) {
        self.commands.fetch_add(1, Ordering::Relaxed);
    }

    pub fn commands(&self) -> u64 {
        self.commands.load(Ordering::Relaxed)
    }
}
