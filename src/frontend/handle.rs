//! What the rest of the proxy (KILL, the admin port) may see of a session while
//! the session's own task runs it: lock-free fields the session keeps current.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use tokio::sync::Notify;

pub struct SessionHandle {
    user: Mutex<String>,
    pub peer: SocketAddr,
    pub since: Instant,
    /// Index of the server holding the session's backend connection (usize::MAX: none).
    server: AtomicUsize,
    /// That connection's thread id on the server (0: none).
    thread_id: AtomicU32,
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
    pub fn new(user: String, peer: SocketAddr) -> Self {
        Self {
            user: Mutex::new(user),
            peer,
            since: Instant::now(),
            server: AtomicUsize::new(usize::MAX),
            thread_id: AtomicU32::new(0),
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

    pub fn set_backend(&self, server: usize, thread_id: u32) {
        self.server.store(server, Ordering::Relaxed);
        self.thread_id.store(thread_id, Ordering::Relaxed);
    }

    pub fn backend(&self) -> Option<(usize, u32)> {
        let server = self.server.load(Ordering::Relaxed);
        let tid = self.thread_id.load(Ordering::Relaxed);
        (server != usize::MAX && tid != 0).then_some((server, tid))
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
