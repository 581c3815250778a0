//! One client's session: the command loop. Each command is routed on its own
//! (see `execute`): outside transactions and pins the session holds no backend
//! connection between statements, and many sessions share each server's pool.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::net::TcpStream;
use tracing::{debug, info, warn};

use super::handle::{SessionHandle, SIGNAL_KILLED, SIGNAL_SHUTDOWN};
use super::handshake::handshake;
use super::listener::Shared;
use crate::backend::{Guard, SessionParams};
use crate::protocol::command::{self, response_kind, ResponseKind};
use crate::protocol::err::code;
use crate::protocol::ok::STATUS_IN_TRANS;
use crate::protocol::packet::RawPacket;
use crate::protocol::stream::{PacketStream, StreamError};
use crate::protocol::track::ClientTracking;
use crate::protocol::ErrPacket;
use crate::session::{Pins, Replayable};

pub(super) struct Session {
    pub shared: Arc<Shared>,
    pub client: PacketStream,
    pub peer: SocketAddr,
    pub id: u32,
    pub handle: Arc<SessionHandle>,
    /// The scramble the client last saw; COM_CHANGE_USER is checked against it.
    pub scramble: [u8; 20],
    pub capabilities: u32,
    pub user: String,
    /// How backend connections are logged in for this session.
    pub params: SessionParams,
    /// What the client asked its OK packets to track.
    pub tracking: ClientTracking,
    /// The state at login, which COM_RESET_CONNECTION returns to.
    pub initial: Replayable,
    /// The state the client has set up, replayed on whatever connection serves it.
    pub state: Replayable,
    pub pins: Pins,
    /// The connection kept across statements while pinned.
    pub held: Option<Held>,
    /// Status flags of the last reply.
    pub status: u16,
    pub read_your_writes: crate::session::ReadYourWrites,
    /// Where the session's last write landed (MariaDB's `last_gtid`).
    pub last_gtid: Option<String>,
    /// Servers known to have applied `last_gtid`.
    pub caught_up: Vec<usize>,
    /// LAST_INSERT_ID() as the session's last insert left it.
    pub last_insert_id: u64,
    /// (server, thread id) of the connection that ran the last write.
    pub last_write_thread: Option<(usize, u32)>,
    /// The replica this session's reads go to while it stays usable
    /// (`routing.read_affinity = "session"`).
    pub read_home: Option<crate::balance::ReadHome>,
    /// The placement epoch at which `read_home` was last found right.
    pub home_epoch: u64,
    /// Where executions of prepared statements are framed for a backend.
    pub frame_buf: bytes::BytesMut,
    /// The connection of the last read, kept while the session reads on
    /// from the same replica (`super::lease`).
    pub lease: Option<super::lease::Lease>,
    /// The session killed its own connection: it ends at the next command.
    pub killed_self: bool,
    /// Prepared statements by the ids the proxy gave the client.
    pub statements: super::prepared::Statements,
    /// The runtime the session's server indexes refer to.
    pub runtime: Arc<crate::runtime::Runtime>,
    /// `Shared::runtime_version` when `runtime` was current.
    pub runtime_version: u64,
    /// While logging in: waits for a master end by then.
    pub login_deadline: Option<tokio::time::Instant>,
}

pub(super) struct Held {
    pub server: usize,
    pub conn: Guard,
}

/// Why a session ended, for the log.
pub(super) enum End {
    ClientQuit,
    ClientGone,
    Shutdown,
    Killed,
    /// The session's backend connection went away: the client's connection is
    /// dropped the way the server would have dropped it.
    BackendGone(String),
    /// The held connection was closed by its server without a word (its
    /// wait_timeout): the client's connection ends as the server ends such a
    /// one, with a reset even under TLS (a killed one ends without one).
    BackendTimedOut(String),
    Error(String),
    /// A statement failed before any of its reply reached the client and
    /// without running: run it again.
    Retry(String),
}

pub async fn run(shared: Arc<Shared>, socket: TcpStream, peer: SocketAddr, id: u32) {
    let client = PacketStream::new(socket);
    let limit = shared.runtime.load().config.proxy.handshake_timeout;
    // Boxed and gone once the client is in: inline, the session's task would
    // keep room for the handshake's state for its whole life.
    let mut session = match tokio::time::timeout(limit, Box::pin(handshake(shared, client, peer, id))).await {
        Ok(Some(s)) => s,
        Ok(None) => return,
        Err(_) => {
            debug!("handshake timed out");
            return;
        }
    };
    session.shared.sessions.insert(session.id, session.handle.clone());
    // Shutdown signals the sessions registered when it began; one that
    // registered after looks for itself.
    if *session.shared.shutdown.borrow() {
        session.handle.signal(SIGNAL_SHUTDOWN);
    }
    let end = session.command_loop().await;
    session.shared.sessions.remove(&session.id);
    session.release_at_end();
    match end {
        End::ClientQuit | End::ClientGone => debug!(user = %session.user, "client disconnected"),
        End::Shutdown => info!(user = %session.user, "session closed for shutdown"),
        End::Killed => info!(user = %session.user, "session killed"),
        End::Error(why) => warn!(user = %session.user, reason = %why, "session closed"),
        End::BackendGone(why) | End::Retry(why) => {
            warn!(user = %session.user, reason = %why, "session closed: its backend connection went away");
            session.client.abort().await;
            return;
        }
        End::BackendTimedOut(why) => {
            info!(user = %session.user, reason = %why, "session closed: its backend connection timed out");
            session.client.server_timed_out();
            return;
        }
    }
    session.client.end_session().await;
}

/// How long a session may stay silent once shutdown began before it is
/// closed. Not at once: a client that just connected (to the old process of a
/// binary upgrade, say) is about to send its statement and would see its fresh
/// connection closed.
const DRAIN_IDLE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// `DRAIN_IDLE_GRACE` as a future that reads the clock only when first
/// polled: `select!` builds every branch's future, enabled or not, on every
/// command.
async fn drain_grace() {
    tokio::time::sleep(DRAIN_IDLE_GRACE).await;
}

enum Wake {
    Packet(Result<Option<RawPacket>, StreamError>),
    /// The session's timer fired: its lease or its idle limit may be due.
    Timer,
    /// Shutdown began: the session ends once it stays silent for
    /// `DRAIN_IDLE_GRACE` outside a transaction.
    Draining,
    Shutdown,
    Killed,
    BackendGone(Gone),
}

impl Session {
    async fn command_loop(&mut self) -> End {
        let handle = self.handle.clone();
        // The futures that outlive a command (the session's timer, KILL and
        // shutdown) are made once for the session and polled by reference:
        // made afresh in every iteration, a Notify and a watch registered and
        // dropped a waiter per command under a lock (with callgrind: about
        // 1,000 instructions of a point select's 12,000), and a timer
        // re-armed the timer wheel.
        let mut last_command = tokio::time::Instant::now();
        // One timer for the idle limit and the lease: armed for the earlier
        // deadline, and only moved earlier; when it fires it says what is
        // due, and the next iteration arms it again.
        let timer = tokio::time::sleep(std::time::Duration::ZERO);
        tokio::pin!(timer);
        let mut armed: Option<tokio::time::Instant> = None;
        let mut draining = false;
        loop {
            let (max, idle_limit, lease_idle) = {
                let rt = &self.current_runtime().config;
                (rt.proxy.max_allowed_packet, rt.proxy.client_idle_timeout, rt.backend.lease)
            };
            let idle_due = (!idle_limit.is_zero()).then(|| last_command + idle_limit);
            let lease_due = self.lease.is_some().then(|| last_command + lease_idle);
            let due = match (idle_due, lease_due) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if let Some(due) = due.filter(|d| armed.is_none_or(|a| *d < a)) {
                timer.as_mut().reset(due);
                armed = Some(due);
            }
            let signals = if draining { SIGNAL_KILLED } else { SIGNAL_KILLED | SIGNAL_SHUTDOWN };
            let Session { client, held, status, .. } = self;
            let in_trans = *status & STATUS_IN_TRANS != 0;
            // Biased, the client's packet first: when it is there the other
            // branches are not polled at all (a timer poll and a waker
            // registration each, per command). The signals, which the client
            // could otherwise starve by never letting the read wait, are
            // looked at first, with one load.
            let given = handle.signals() & signals;
            let wake = if given != 0 {
                if given & SIGNAL_KILLED != 0 {
                    Wake::Killed
                } else {
                    Wake::Draining
                }
            } else {
                tokio::select! {
                biased;
                p = client.read_packet(max) => Wake::Packet(p),
                // Made afresh while draining, so the grace counts from the
                // session's last command.
                _ = drain_grace(), if draining && !in_trans => Wake::Shutdown,
                _ = &mut timer, if armed.is_some() => Wake::Timer,
                given = handle.signalled(signals) => {
                    if given & SIGNAL_KILLED != 0 { Wake::Killed } else { Wake::Draining }
                }
                // Between commands a server says nothing; if a held connection
                // speaks or closes, it is going away (KILL, wait_timeout).
                gone = backend_gone(held) => Wake::BackendGone(gone),
                }
            };
            let packet = match wake {
                Wake::Packet(p) => p,
                Wake::Draining => {
                    draining = true;
                    continue;
                }
                Wake::Shutdown => return End::Shutdown,
                Wake::Killed => return End::Killed,
                Wake::Timer => {
                    armed = None;
                    let now = tokio::time::Instant::now();
                    if lease_due.is_some_and(|d| d <= now) {
                        self.lease = None;
                        self.handle.clear_backend();
                    }
                    if idle_due.is_some_and(|d| d <= now) {
                        return End::Error("idle longer than proxy.client_idle_timeout".into());
                    }
                    continue;
                }
                Wake::BackendGone(_) if handle.killing.load(Ordering::Relaxed) => return End::Killed,
                Wake::BackendGone(gone) => {
                    // Pass on what the server said (it may say why it closes) so the
                    // client reacts exactly as it would to the server itself.
                    // Killed, a server says why first (1927); timed out, it says
                    // nothing and closes (with a FIN or, unread data pending, a reset).
                    if gone.said.is_empty() {
                        return End::BackendTimedOut(gone.why);
                    }
                    if !gone.said.is_empty() {
                        let _ = self.client.write_all(&gone.said).await;
                    }
                    return End::BackendGone(gone.why);
                }
            };
            if self.killed_self {
                return End::Killed;
            }
            let packet = match packet {
                Ok(Some(p)) => p,
                Ok(None) => return End::ClientGone,
                Err(StreamError::TooLarge { .. }) => {
                    // The server's answer, and like the server the connection is then
                    // closed: the rest of the packet is never read.
                    let err = ErrPacket::new(
                        code::ER_NET_PACKET_TOO_LARGE,
                        "08S01",
                        "Got a packet bigger than 'max_allowed_packet' bytes",
                    );
                    let seq = self.client.buffered().get(3).copied().unwrap_or(0).wrapping_add(1);
                    let _ = self.client.write_payload(seq, &err.to_payload()).await;
                    return End::Error("client packet over max_allowed_packet".into());
                }
                Err(e) => return End::Error(format!("reading from client: {e}")),
            };
            if packet.first_seq != 0 {
                // Every command starts at sequence id 0. The server refuses any
                // other at the network layer and closes; so does the proxy, rather
                // than forwarding it for a server to refuse, which would cost a
                // backend connection each time (and, for a read, could look like a
                // failing replica).
                let err = ErrPacket::new(code::ER_NET_PACKETS_OUT_OF_ORDER, "08S01", "Got packets out of order");
                let _ = self.client.write_payload(0, &err.to_payload()).await;
                return End::Error(format!("client packet out of order (sequence id {})", packet.first_seq));
            }
            let result = self.dispatch(packet).await;
            last_command = tokio::time::Instant::now();
            self.handle.count_command();
            self.handle.set_pins(self.pins.mask());
            if let Err(end) = result {
                return end;
            }
        }
    }

    async fn dispatch(&mut self, packet: RawPacket) -> Result<(), End> {
        let reply_seq = packet.last_seq.wrapping_add(1);
        let raw = self.client.consume(packet.raw_len).freeze();
        let payload = if packet.raw_len == packet.payload_len + 4 {
            raw.slice(4..)
        } else {
            bytes::Bytes::from(crate::protocol::packet::join_payload(&raw))
        };
        let cmd = payload.first().copied().unwrap_or(0xFF);
        match cmd {
            command::COM_QUIT => Err(End::ClientQuit),
            command::COM_CHANGE_USER => self.change_user(&payload, reply_seq).await,
            command::COM_QUERY | command::COM_PROCESS_KILL => match self.kill_request(cmd, &payload) {
                Some(kill) => self.kill(kill, cmd == command::COM_PROCESS_KILL, reply_seq).await,
                None => self.execute(raw, payload, reply_seq).await,
            },
            _ => match response_kind(&payload) {
                ResponseKind::Unsupported => {
                    let err = ErrPacket::new(
                        code::ER_NOT_SUPPORTED_YET,
                        "42000",
                        format!("rwsplit: {} is not supported through the proxy", command::name(cmd)),
                    );
                    self.reply_err(reply_seq, &err).await
                }
                _ => self.execute(raw, payload, reply_seq).await,
            },
        }
    }

    pub(super) async fn reply_err(&mut self, seq: u8, err: &ErrPacket) -> Result<(), End> {
        self.client.write_payload(seq, &err.to_payload()).await.map(|_| ()).map_err(|_| End::ClientGone)
    }

    /// At the end of a session: a held connection carries state nobody else may
    /// inherit (a transaction, locks, temporary tables): it is reset before reuse.
    fn release_at_end(&mut self) {
        if let Some(mut held) = self.held.take() {
            held.conn.session.unknown = true;
        }
    }
}

pub(super) struct Gone {
    why: String,
    /// Bytes the server sent before closing.
    said: bytes::BytesMut,
}

/// Resolves when the held backend connection closes or sends something unasked,
/// which a server only does when it is about to close the connection.
async fn backend_gone(held: &mut Option<Held>) -> Gone {
    let Some(held) = held.as_mut() else { return std::future::pending().await };
    let conn = &mut held.conn;
    // Readiness first: polled on every command, this must not cost a read.
    if let Err(e) = conn.io.readable().await {
        conn.poisoned = true;
        return Gone { why: format!("backend {} {e}", conn.server.name), said: bytes::BytesMut::new() };
    }
    let why = match conn.io.fill().await {
        Ok(0) => "closed the connection".to_string(),
        Ok(_) => {
            // Give the server a moment to finish what it is sending and close.
            let _ = tokio::time::timeout(std::time::Duration::from_millis(100), async {
                while matches!(conn.io.fill().await, Ok(n) if n > 0) {}
            })
            .await;
            "spoke while idle and closed (killed or timed out)".to_string()
        }
        Err(e) => e.to_string(),
    };
    conn.poisoned = true;
    let pending = conn.io.buffered().len();
    let said = conn.io.consume(pending);
    Gone { why: format!("backend {} {why}", conn.server.name), said }
}
