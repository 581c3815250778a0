//! A pool of connections to one server. Connections are keyed by the capabilities
//! that shape replies, reset with COM_CHANGE_USER when handed to a new session,
//! and returned by the `Guard`'s `Drop`, or closed when they cannot be trusted.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tracing::debug;

use super::conn::{BackendConn, PoolKey, SessionParams};
use super::error::BackendError;
use crate::protocol::command::COM_RESET_CONNECTION;
use crate::protocol::handshake::Greeting;
use crate::session::Replayable;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerAddr {
    pub name: String,
    pub address: String,
    /// TLS towards this server; None: plain.
    pub tls: Option<Arc<crate::tls::BackendTls>>,
}

/// What a checkout waiting on a full pool got.
enum Room {
    /// A connection came back to the pool (or may have): look again.
    Returned,
    /// A slot for a new connection.
    Slot(OwnedSemaphorePermit),
    /// Nothing within the connect timeout (or the pool closed).
    TimedOut,
}

#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub min_idle: usize,
    pub max: usize,
    pub connect_timeout: Duration,
    pub idle_timeout: Duration,
}

struct Idle {
    conn: Box<BackendConn>,
    permit: OwnedSemaphorePermit,
    since: Instant,
}

#[derive(Debug, Default)]
pub struct PoolStats {
    pub connects: AtomicU64,
    pub connect_errors: AtomicU64,
    pub reuses: AtomicU64,
    pub discarded: AtomicU64,
    /// Commands the proxy sent to this server for clients, and how many failed.
    pub queries: AtomicU64,
    pub errors: AtomicU64,
    /// Bytes of client commands sent to this server, and of its replies relayed.
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
}

pub struct Pool {
    pub server: Arc<ServerAddr>,
    settings: PoolSettings,
    /// One permit per open connection, idle or in use.
    slots: Arc<Semaphore>,
    /// A plain mutex: held only to push or pop, never across an await.
    idle: Mutex<Vec<Idle>>,
    /// The last greeting seen from this server (version and capabilities that the
    /// proxy's own greeting to clients mirrors).
    greeting: Mutex<Option<Greeting>>,
    /// Woken when a connection goes back to the idle list, if `waiters` says
    /// someone waits (notifying takes a lock, and nobody waits most of the time).
    returned: Notify,
    waiters: AtomicUsize,
    /// The health checks say the server is down: connections coming back are
    /// closed rather than kept.
    down: AtomicBool,
    pub stats: PoolStats,
    /// Sessions whose reads stay on this server (`read_affinity = "session"`):
    /// a new session's reads go where the fewest are (`balance::ReadHome`).
    pub homes: AtomicUsize,
    /// Connections sessions keep between reads (`frontend::lease`).
    pub leases: AtomicUsize,
}

impl Pool {
    pub fn new(server: ServerAddr, settings: PoolSettings) -> Arc<Self> {
        let pool = Arc::new(Self {
            server: Arc::new(server),
            slots: Arc::new(Semaphore::new(settings.max)),
            settings,
            idle: Mutex::new(Vec::new()),
            greeting: Mutex::new(None),
            returned: Notify::new(),
            waiters: AtomicUsize::new(0),
            down: AtomicBool::new(false),
            stats: PoolStats::default(),
            homes: AtomicUsize::new(0),
            leases: AtomicUsize::new(0),
        });
        spawn_reaper(Arc::downgrade(&pool));
        pool
    }

    pub fn greeting(&self) -> Option<Greeting> {
        self.greeting.lock().ok().and_then(|g| g.clone())
    }

    pub fn idle_count(&self) -> usize {
        self.idle.lock().map(|i| i.len()).unwrap_or(0)
    }

    /// Connections checked out right now (for least-connections balancing).
    pub fn in_use(&self) -> usize {
        self.open_count().saturating_sub(self.idle_count())
    }

    /// `pool_max`: most connections, in use and idle together.
    pub fn max(&self) -> usize {
        self.settings.max
    }

    pub fn open_count(&self) -> usize {
        self.settings.max - self.slots.available_permits()
    }

    /// A connection in the state `want`, logged in as `params` says: an idle one
    /// of the same key (one already in that state if there is one), or a new one.
    /// Returns the server's OK when the connection was logged in afresh (a new
    /// connection or a reset): the session's login needs it.
    pub async fn checkout(
        self: &Arc<Self>,
        params: &SessionParams,
        want: &Replayable,
    ) -> Result<(Guard, Option<Vec<u8>>), BackendError> {
        self.checkout_for(params, want, 0).await
    }

    /// `checkout` for session `owner` (non-zero): the idle connection that
    /// session used last, if there is one, as an L4 proxy would always give it.
    /// Its server thread and statement cache are the session's; measured: less
    /// server CPU per statement than any warm connection.
    pub async fn checkout_for(
        self: &Arc<Self>,
        params: &SessionParams,
        want: &Replayable,
        owner: u32,
    ) -> Result<(Guard, Option<Vec<u8>>), BackendError> {
        let key = params.pool_key();
        let wait = self.settings.connect_timeout;
        // Taken when the first wait starts: most checkouts find an idle
        // connection and never read the clock.
        let mut deadline = None;
        loop {
            while let Some(idle) = self.take_idle(&key, want, owner) {
                let Idle { mut conn, permit, .. } = idle;
                conn.last_owner = owner;
                if !conn.io.is_idle_and_open() {
                    // Killed, timed out or restarted while idle.
                    debug!(server = %self.server.name, "discarding a pooled connection the server closed");
                    self.stats.discarded.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                match conn.sync(params, want).await {
                    Ok(ok) => {
                        self.stats.reuses.fetch_add(1, Ordering::Relaxed);
                        return Ok((self.guard(conn, permit), ok));
                    }
                    // The server refused the session's state (a database dropped
                    // meanwhile, say): the client must hear why. The connection is
                    // in an unknown state and goes.
                    Err(e @ BackendError::Refused { .. }) => {
                        self.stats.discarded.fetch_add(1, Ordering::Relaxed);
                        return Err(e);
                    }
                    // A pooled connection the server has closed meanwhile: try the next.
                    Err(e) => {
                        debug!(server = %self.server.name, error = %e, "discarding a dead pooled connection");
                        self.stats.discarded.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            // Connecting is boxed: its state (handshake, authentication, TLS)
            // is kilobytes, which inline would make every checkout's future,
            // and the session futures holding one, that much larger.
            if let Ok(permit) = self.slots.clone().try_acquire_owned() {
                return Box::pin(self.connect(params, want, permit, owner)).await;
            }
            // The pool is full: an idle connection of another key makes room.
            if self.evict_idle() {
                continue;
            }
            // Boxed like connecting: a wait's timer and registrations would
            // make every checkout's future larger.
            let deadline = *deadline.get_or_insert_with(|| tokio::time::Instant::now() + wait);
            match Box::pin(self.wait_for_room(deadline)).await {
                Room::Returned => continue,
                Room::Slot(permit) => return Box::pin(self.connect(params, want, permit, owner)).await,
                Room::TimedOut => break,
            }
        }
        Err(BackendError::PoolExhausted { server: self.server.name.clone(), max: self.settings.max, after: wait })
    }

    /// Waits, the pool being full, until a connection comes back (or may
    /// have) or a slot frees up, up to `deadline`.
    async fn wait_for_room(&self, deadline: tokio::time::Instant) -> Room {
        // Registered, then a last look: a connection returned after the
        // caller's look found no one waiting and notified no one.
        let _waiting = Waiting::new(&self.waiters);
        let returned = self.returned.notified();
        tokio::pin!(returned);
        returned.as_mut().enable();
        if self.idle_count() > 0 {
            return Room::Returned;
        }
        tokio::select! {
            permit = self.slots.clone().acquire_owned() => match permit {
                Ok(permit) => Room::Slot(permit),
                Err(_) => Room::TimedOut,
            },
            _ = &mut returned => Room::Returned,
            _ = tokio::time::sleep_until(deadline) => Room::TimedOut,
        }
    }

    async fn connect(
        self: &Arc<Self>,
        params: &SessionParams,
        want: &Replayable,
        permit: OwnedSemaphorePermit,
        owner: u32,
    ) -> Result<(Guard, Option<Vec<u8>>), BackendError> {
        self.stats.connects.fetch_add(1, Ordering::Relaxed);
        let initial = SessionParams { database: want.database.clone(), collation: want.collation, ..params.clone() };
        match BackendConn::connect(self.server.clone(), &initial, self.settings.connect_timeout).await {
            Ok((mut conn, ok)) => {
                if let Ok(mut g) = self.greeting.lock() {
                    *g = Some(conn.greeting.clone());
                }
                conn.sync(params, want).await?;
                conn.last_owner = owner;
                Ok((self.guard(Box::new(conn), permit), Some(ok)))
            }
            Err(e) => {
                self.stats.connect_errors.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    fn guard(self: &Arc<Self>, conn: Box<BackendConn>, permit: OwnedSemaphorePermit) -> Guard {
        Guard { conn: Some(conn), permit: Some(permit), pool: self.clone() }
    }

    fn take_idle(&self, key: &PoolKey, want: &Replayable, owner: u32) -> Option<Idle> {
        let mut idle = self.idle.lock().ok()?;
        // One already in the wanted state saves the round trips of a sync; among
        // those the owner's own, then the most recently used (warm caches; the
        // oldest are left for the reaper).
        let ready = |i: &Idle| i.conn.key() == key && !i.conn.session.unknown && i.conn.session.state == *want;
        let pos = (owner != 0)
            .then(|| idle.iter().rposition(|i| i.conn.last_owner == owner && ready(i)))
            .flatten()
            .or_else(|| idle.iter().rposition(ready))
            .or_else(|| idle.iter().rposition(|i| i.conn.key() == key))?;
        Some(idle.remove(pos))
    }

    /// Closes the oldest idle connection to free its slot; false when none is idle.
    fn evict_idle(&self) -> bool {
        let evicted = self.idle.lock().ok().and_then(|mut idle| (!idle.is_empty()).then(|| idle.remove(0)));
        evicted.is_some()
    }

    /// Takes a connection back. One a session left in an unknown state (it was
    /// pinned: a transaction the client abandoned, table or named locks,
    /// temporary tables) is reset with COM_RESET_CONNECTION first, in the
    /// background, so that locks are released now rather than when the
    /// connection is next used, which may be never (until `idle_timeout`).
    /// The server went down (`true`) or came back: while down, idle connections
    /// are closed and none is kept.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::Release);
        if !down {
            return;
        }
        let drained: Vec<Idle> = match self.idle.lock() {
            Ok(mut idle) => idle.drain(..).collect(),
            Err(_) => return,
        };
        self.stats.discarded.fetch_add(drained.len() as u64, Ordering::Relaxed);
    }

    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Acquire)
    }

    fn check_in(self: &Arc<Self>, mut conn: Box<BackendConn>, permit: OwnedSemaphorePermit) {
        if conn.busy || conn.poisoned || self.is_down() {
            self.stats.discarded.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if !conn.session.unknown {
            self.push_idle(conn, permit);
            return;
        }
        let pool = self.clone();
        tokio::spawn(async move {
            match conn.simple_command(&[COM_RESET_CONNECTION]).await {
                // Still `unknown`: the reset put variables back to their global
                // values, and the next session's sync resets it fully.
                Ok(reply) if reply.first() == Some(&0x00) => {
                    conn.statements.clear();
                    pool.push_idle(conn, permit)
                }
                _ => {
                    pool.stats.discarded.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }

    fn push_idle(&self, conn: Box<BackendConn>, permit: OwnedSemaphorePermit) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(Idle { conn, permit, since: Instant::now() });
        }
        // Pairs with `checkout_for`: it counts itself, registers, then looks
        // (under the lock); this pushes (under the lock), then reads the count.
        // Either it sees the connection or it is counted and woken.
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.returned.notify_waiters();
        }
    }

    /// Closes idle connections past `idle_timeout`, keeping `min_idle`.
    fn reap(&self) {
        let Ok(mut idle) = self.idle.lock() else { return };
        let now = Instant::now();
        let mut keep = idle.len();
        idle.retain(|i| {
            let expired = now.duration_since(i.since) >= self.settings.idle_timeout;
            if expired && keep > self.settings.min_idle {
                keep -= 1;
                false
            } else {
                true
            }
        });
    }
}

/// Counts a checkout waiting for a connection while it lives.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn spawn_reaper(pool: Weak<Pool>) {
    tokio::spawn(async move {
        let period = match pool.upgrade() {
            Some(p) => (p.settings.idle_timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(30)),
            None => return,
        };
        let mut tick = tokio::time::interval(period);
        loop {
            tick.tick().await;
            let Some(p) = pool.upgrade() else { return };
            p.reap();
        }
    });
}

/// A checked-out connection. Dropping it returns the connection to the pool if its
/// last reply was read to the end, and closes it otherwise.
pub struct Guard {
    /// Boxed: the connection moves between the pool, the guard and the
    /// session on every statement, and a pointer is cheaper to move.
    conn: Option<Box<BackendConn>>,
    permit: Option<OwnedSemaphorePermit>,
    pool: Arc<Pool>,
}

impl Guard {
    pub fn pool(&self) -> &Arc<Pool> {
        &self.pool
    }
}

impl Deref for Guard {
    type Target = BackendConn;
    fn deref(&self) -> &BackendConn {
        // Both are Some from construction until drop.
        self.conn.as_ref().expect("guard holds a connection until dropped")
    }
}

impl DerefMut for Guard {
    fn deref_mut(&mut self) -> &mut BackendConn {
        self.conn.as_mut().expect("guard holds a connection until dropped")
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let (Some(conn), Some(permit)) = (self.conn.take(), self.permit.take()) {
            self.pool.check_in(conn, permit);
        }
    }
}
