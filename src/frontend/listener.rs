//! Accepting clients: one task per connection, a bounded back-off when the process
//! runs out of file descriptors, and a drain on shutdown.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use dashmap::DashMap;
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify};
use tracing::{info, warn, Instrument};

use super::handle::SessionHandle;
use super::session;
use crate::runtime::Runtime;

/// Distinct statement shapes with their own stats.
const DIGEST_STATS_CAPACITY: usize = 10_000;

/// State every session shares: the runtime snapshot and process-wide counters.
pub struct Shared {
    /// Replaced only through `set_runtime`, which also bumps `runtime_version`.
    pub runtime: ArcSwap<Runtime>,
    /// Bumped after every replacement of `runtime`: a session checks this one
    /// atomic per command instead of loading the snapshot.
    pub runtime_version: AtomicU64,
    next_connection_id: AtomicU32,
    active: AtomicUsize,
    idle_notify: Notify,
    /// Flips to true when the proxy is shutting down.
    pub shutdown: watch::Receiver<bool>,
    /// Authenticated sessions by connection id, for KILL.
    pub sessions: DashMap<u32, Arc<SessionHandle>>,
    /// Where writes through the proxy landed (global read-your-writes).
    pub writes: crate::session::WritePositions,
    pub digests: crate::stats::DigestStats,
    pub logins: crate::stats::Logins,
    pub statements: crate::stats::StatementStats,
    pub started: std::time::Instant,
    /// A health check finished: the topology may have changed.
    pub monitor_wake: Notify,
    /// The topology changed (a master appeared, say).
    pub topology_changed: Notify,
    /// Reloads and listeners.
    pub control: crate::control::Control,
}

impl Shared {
    pub fn new(runtime: Runtime, shutdown: watch::Receiver<bool>, config_path: std::path::PathBuf) -> Arc<Self> {
        Arc::new(Self {
            runtime: ArcSwap::from_pointee(runtime),
            runtime_version: AtomicU64::new(0),
            next_connection_id: AtomicU32::new(1),
            active: AtomicUsize::new(0),
            idle_notify: Notify::new(),
            shutdown,
            sessions: DashMap::new(),
            writes: Default::default(),
            digests: crate::stats::DigestStats::new(DIGEST_STATS_CAPACITY),
            logins: Default::default(),
            statements: Default::default(),
            started: std::time::Instant::now(),
            monitor_wake: Notify::new(),
            topology_changed: Notify::new(),
            control: crate::control::Control::new(config_path),
        })
    }

    pub fn next_connection_id(&self) -> u32 {
        self.next_connection_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The session a KILL names: by the id the proxy gave it, or by the thread id
    /// of its backend connection.
    pub fn find_session(&self, id: u64) -> Option<(u32, Arc<SessionHandle>)> {
        if let Some(h) = u32::try_from(id).ok().and_then(|id| self.sessions.get(&id)) {
            return Some((*h.key(), h.value().clone()));
        }
        self.sessions
            .iter()
            .find(|h| h.value().backend().is_some_and(|(_, tid)| u64::from(tid) == id))
            .map(|h| (*h.key(), h.value().clone()))
    }

    /// Publishes a new runtime snapshot (a reload).
    pub fn set_runtime(&self, runtime: Arc<Runtime>) {
        self.runtime.store(runtime);
        self.runtime_version.fetch_add(1, Ordering::Release);
    }

    /// Tells every session that shutdown began (after the shutdown watch
    /// flipped: a session registering later sees the flag itself).
    pub fn signal_shutdown(&self) {
        for h in self.sessions.iter() {
            h.value().signal(super::handle::SIGNAL_SHUTDOWN);
        }
    }

    pub fn active_sessions(&self) -> usize {
        self.active.load(Ordering::Relaxed)
    }

    /// Waits until no session is left or `deadline` passes; returns how many are left.
    pub async fn drained(&self, deadline: Duration) -> usize {
        let wait = async {
            loop {
                let notified = self.idle_notify.notified();
                if self.active_sessions() == 0 {
                    return;
                }
                notified.await;
            }
        };
        let _ = tokio::time::timeout(deadline, wait).await;
        self.active_sessions()
    }
}

/// Counts a session for the drain, whatever way its task ends.
struct ActiveSession(Arc<Shared>);

impl Drop for ActiveSession {
    fn drop(&mut self) {
        if self.0.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle_notify.notify_waiters();
        }
    }
}

/// Accepts clients until shutdown, or until `stop` (a reload moved the
/// listener elsewhere; the sessions it accepted go on).
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, stop: watch::Receiver<bool>) {
    let shutdown = shared.shutdown.clone();
    accept_until(listener, shutdown, stop, |socket, peer| spawn_session(&shared, socket, peer)).await;
    info!("stopped accepting connections");
}

/// The accept loop of every listener: hands each connection to `accepted`
/// until shutdown or `stop`.
pub async fn accept_until(
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
    mut stop: watch::Receiver<bool>,
    mut accepted: impl FnMut(tokio::net::TcpStream, SocketAddr),
) {
    let mut backoff = Duration::from_millis(5);
    loop {
        let next = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.wait_for(|s| *s) => break,
            _ = stop.wait_for(|s| *s) => break,
        };
        match next {
            Ok((socket, peer)) => {
                backoff = Duration::from_millis(5);
                accepted(socket, peer);
            }
            Err(e) => {
                // EMFILE/ENFILE and friends: keep serving the clients we have and
                // retry later instead of spinning on accept.
                warn!(error = %e, retry_in = ?backoff, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

fn spawn_session(shared: &Arc<Shared>, socket: tokio::net::TcpStream, peer: SocketAddr) {
    let id = shared.next_connection_id();
    let max = shared.runtime.load().config.proxy.max_connections;
    if shared.active.fetch_add(1, Ordering::AcqRel) >= max {
        shared.active.fetch_sub(1, Ordering::AcqRel);
        // As the server does: the error instead of a greeting, then close. It
        // has no SQLSTATE: before the handshake the client has not said it
        // speaks protocol 4.1 (clients report HY000).
        tokio::spawn(async move {
            let mut client = crate::protocol::stream::PacketStream::new(socket);
            let mut err = vec![0xFF];
            err.extend_from_slice(&crate::protocol::err::code::ER_CON_COUNT_ERROR.to_le_bytes());
            err.extend_from_slice(b"Too many connections");
            let _ = client.write_payload(0, &err).await;
            client.shutdown().await;
        });
        warn!(%peer, max, "client refused: proxy.max_connections reached");
        return;
    }
    let guard = ActiveSession(shared.clone());
    let shared = shared.clone();
    let span = tracing::info_span!("client", id, %peer);
    tokio::spawn(
        async move {
            session::run(shared, socket, peer, id).await;
            drop(guard);
        }
        .instrument(span),
    );
}
