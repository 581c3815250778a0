//! One client's session: the handshake, then a loop of read command → route →
//! forward → relay reply. Every command goes to the server `route` picks, over the
//! session's connection to it.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpStream;
use tracing::{debug, info, warn};

use super::auth::{self, AuthOutcome};
use super::kill::{parse_kill, KillRequest, KillScope, SessionHandle};
use super::listener::Shared;
use crate::backend::{BackendError, Guard, SessionParams};
use crate::protocol::auth::{new_scramble, NATIVE_PASSWORD};
use crate::protocol::command::{self, response_kind, ResponseKind};
use crate::protocol::err::code;
use crate::protocol::handshake::{
    ChangeUser, ClientHello, Greeting, CLIENT_DEPRECATE_EOF, CLIENT_SSL, PROXY_CAPABILITIES,
    PROXY_MARIADB_CAPABILITIES, SSL_REQUEST_LEN,
};
use crate::protocol::ok::{ok_payload, ok_status, STATUS_AUTOCOMMIT, STATUS_IN_TRANS};
use crate::protocol::response::ResponseScanner;
use crate::protocol::stream::{PacketStream, StreamError};
use crate::protocol::ErrPacket;
use crate::relay::{relay_reply, Relayed};
use crate::route::{route, Target};
use crate::runtime::Runtime;

/// The handshake response carries user, database and attributes: bounded.
const HANDSHAKE_LIMIT: usize = 64 * 1024;
/// utf8mb4_general_ci, offered when no backend has been reached yet.
const DEFAULT_COLLATION: u8 = 45;

struct Session {
    shared: Arc<Shared>,
    client: PacketStream,
    peer: SocketAddr,
    /// The scramble the client last saw; COM_CHANGE_USER is checked against it.
    scramble: [u8; 20],
    capabilities: u32,
    user: String,
    params: SessionParams,
    /// The session's connection to its server and which server it is.
    backend: Option<(usize, Guard)>,
    /// Status flags of the last reply (transaction state).
    status: u16,
    id: u32,
    handle: Arc<SessionHandle>,
    /// The session killed its own connection: it ends at the next command.
    killed_self: bool,
}

/// Why a session ended, for the log.
enum End {
    ClientQuit,
    ClientGone,
    Shutdown,
    Killed,
    /// The session's backend connection went away: the client's connection is
    /// dropped the way the server would have dropped it.
    BackendGone(String),
    Error(String),
}

pub async fn run(shared: Arc<Shared>, socket: TcpStream, peer: SocketAddr, id: u32) {
    let client = PacketStream::new(socket);
    let limit = shared.runtime.load().config.proxy.handshake_timeout;
    let mut session = match tokio::time::timeout(limit, handshake(shared, client, peer, id)).await {
        Ok(Some(s)) => s,
        Ok(None) => return,
        Err(_) => {
            debug!("handshake timed out");
            return;
        }
    };
    session.shared.sessions.insert(session.id, session.handle.clone());
    let end = session.command_loop().await;
    session.shared.sessions.remove(&session.id);
    match end {
        End::ClientQuit | End::ClientGone => debug!(user = %session.user, "client disconnected"),
        End::Shutdown => info!(user = %session.user, "session closed for shutdown"),
        End::Killed => info!(user = %session.user, "session killed"),
        End::Error(why) => warn!(user = %session.user, reason = %why, "session closed"),
        End::BackendGone(why) => {
            warn!(user = %session.user, reason = %why, "session closed: its backend connection went away");
            session.client.abort();
            return;
        }
    }
    session.client.shutdown().await;
}

/// The connection phase: greet, authenticate, get a backend connection, say OK.
async fn handshake(shared: Arc<Shared>, mut client: PacketStream, peer: SocketAddr, id: u32) -> Option<Session> {
    let rt = shared.runtime.load_full();
    let greeting = greeting_for(&rt, id);
    let mut scramble = [0u8; 20];
    scramble.copy_from_slice(&greeting.nonce);
    client.write_payload(0, &greeting.to_payload()).await.ok()?;

    let (seq, payload) = match client.read_payload(HANDSHAKE_LIMIT).await {
        Ok(p) => p,
        Err(e) => {
            debug!(error = %e, "no handshake response");
            return None;
        }
    };
    let seq = seq.wrapping_add(1);
    if payload.len() == SSL_REQUEST_LEN && payload.get(1).is_some_and(|b| u32::from(*b) << 8 & CLIENT_SSL != 0) {
        // TLS was not offered; a client asking anyway gets a clear refusal.
        let err = ErrPacket::new(code::ER_HANDSHAKE_ERROR, "08S01", "rwsplit: TLS is not enabled on this listener");
        let _ = client.write_payload(seq, &err.to_payload()).await;
        return None;
    }
    let hello = match ClientHello::parse(&payload) {
        Ok(h) => h,
        Err(e) => {
            debug!(error = %e, "bad handshake response");
            let err = ErrPacket::new(code::ER_HANDSHAKE_ERROR, "08S01", "Bad handshake");
            let _ = client.write_payload(seq, &err.to_payload()).await;
            return None;
        }
    };
    let outcome = auth::authenticate(
        &mut client,
        &rt,
        peer,
        &hello.user,
        hello.auth_plugin.as_deref(),
        &hello.auth_response,
        &mut scramble,
        seq,
    )
    .await;
    let seq = match outcome {
        Ok(AuthOutcome::Ok { seq }) => seq,
        Ok(AuthOutcome::Denied { seq, err }) => {
            info!(user = %hello.user, "access denied");
            let _ = client.write_payload(seq, &err.to_payload()).await;
            return None;
        }
        Err(e) => {
            debug!(error = %e, "client left during authentication");
            return None;
        }
    };
    let user = rt.users.get(&hello.user)?;
    let params = SessionParams {
        user: user.backend_user.clone(),
        password: user.backend_password.clone(),
        database: hello.database.clone(),
        collation: hello.collation,
        capabilities: hello.capabilities & greeting.capabilities,
        mariadb_capabilities: hello.mariadb_capabilities & greeting.mariadb_capabilities,
        max_packet: rt.config.proxy.max_allowed_packet as u32,
    };
    let mut session = Session {
        shared: shared.clone(),
        client,
        peer,
        scramble,
        capabilities: hello.capabilities & greeting.capabilities,
        user: hello.user.clone(),
        params,
        backend: None,
        status: STATUS_AUTOCOMMIT,
        id,
        handle: Arc::new(SessionHandle::new(hello.user.clone())),
        killed_self: false,
    };
    // Connect now rather than at the first command, so that an unknown database or
    // an unreachable server is reported at login, as the server itself would.
    let ok = match route(&[], &rt) {
        Target::Server(i) => session.connect(&rt, i).await,
        Target::Unavailable => Err(no_server()),
    };
    match ok {
        Ok(ok) => {
            session.status = ok_status(&ok).unwrap_or(STATUS_AUTOCOMMIT);
            session.client.write_payload(seq, &ok).await.ok()?;
            debug!(user = %session.user, db = ?session.params.database, "client authenticated");
            Some(session)
        }
        Err(err) => {
            info!(user = %session.user, error = %err, "login failed at the backend");
            let _ = session.client.write_payload(seq, &err.to_payload()).await;
            None
        }
    }
}

/// The greeting mirrors the master's: clients pick features (and detect MariaDB)
/// from its version string and capabilities.
fn greeting_for(rt: &Runtime, id: u32) -> Greeting {
    let known = rt.master().and_then(|m| m.pool.greeting());
    let (version, caps, mcaps, collation) = match &known {
        Some(g) => (g.server_version.clone(), g.capabilities | 1, g.mariadb_capabilities, g.collation),
        None => (rt.config.proxy.server_version.clone(), u32::MAX, u32::MAX, DEFAULT_COLLATION),
    };
    Greeting {
        server_version: version,
        connection_id: id,
        nonce: new_scramble().to_vec(),
        capabilities: PROXY_CAPABILITIES & caps,
        mariadb_capabilities: PROXY_MARIADB_CAPABILITIES & mcaps,
        collation,
        status: STATUS_AUTOCOMMIT,
        auth_plugin: NATIVE_PASSWORD.into(),
    }
}

fn no_server() -> ErrPacket {
    ErrPacket::new(code::CR_CONN_HOST_ERROR, "08S01", "rwsplit: no server is available for this command")
}

impl Session {
    /// Checks out a connection to server `index` set up for this session; returns
    /// the server's OK to the login, or the error the client should get.
    async fn connect(&mut self, rt: &Runtime, index: usize) -> Result<Vec<u8>, ErrPacket> {
        let server = rt.servers.get(index).ok_or_else(no_server)?;
        match server.pool.checkout(&self.params).await {
            Ok((guard, ok)) => {
                self.handle.set_backend(index, guard.greeting.connection_id);
                self.backend = Some((index, guard));
                Ok(ok)
            }
            Err(e) => {
                if e.is_server_fault() {
                    warn!(server = %server.name, error = %e, "backend unavailable");
                }
                Err(e.to_err_packet())
            }
        }
    }

    async fn command_loop(&mut self) -> End {
        let mut shutdown = self.shared.shutdown.clone();
        let handle = self.handle.clone();
        loop {
            let max = self.shared.runtime.load().config.proxy.max_allowed_packet;
            let Session { client, backend, status, .. } = self;
            let in_trans = *status & STATUS_IN_TRANS != 0;
            enum Wake {
                Packet(Result<Option<crate::protocol::packet::RawPacket>, StreamError>),
                Shutdown,
                Killed,
                BackendGone(Gone),
            }
            let wake = tokio::select! {
                p = client.read_packet(max) => Wake::Packet(p),
                _ = shutdown.wait_for(|s| *s), if !in_trans => Wake::Shutdown,
                _ = handle.killed.notified() => Wake::Killed,
                // Between commands a server says nothing; if it speaks or closes, it
                // is going away (KILL, wait_timeout, shutdown). The client is
                // disconnected at once, as it would be from the server itself.
                gone = backend_gone(backend) => Wake::BackendGone(gone),
            };
            let packet = match wake {
                Wake::Packet(p) => p,
                Wake::Shutdown => return End::Shutdown,
                Wake::Killed => return End::Killed,
                Wake::BackendGone(_) if handle.killing.load(std::sync::atomic::Ordering::Relaxed) => {
                    return End::Killed;
                }
                Wake::BackendGone(gone) => {
                    // Pass on what the server said (MariaDB may say why it closes)
                    // so the client reacts exactly as it would to the server itself.
                    if !gone.said.is_empty() {
                        let _ = client.write_all(&gone.said).await;
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
            let reply_seq = packet.last_seq.wrapping_add(1);
            let head_len = packet.raw_len.min(4 + 16);
            let head: Vec<u8> = self.client.buffered()[4.min(head_len)..head_len].to_vec();
            let cmd = head.first().copied().unwrap_or(0xFF);
            match cmd {
                command::COM_QUIT => {
                    self.client.consume(packet.raw_len);
                    return End::ClientQuit;
                }
                command::COM_QUERY | command::COM_PROCESS_KILL => {
                    if let Some(kill) = self.kill_request(cmd, packet.raw_len) {
                        self.client.consume(packet.raw_len);
                        let by_command = cmd == command::COM_PROCESS_KILL;
                        if let Err(end) = self.kill(kill, by_command, reply_seq).await {
                            return end;
                        }
                        continue;
                    }
                }
                command::COM_CHANGE_USER => {
                    let raw = self.client.consume(packet.raw_len);
                    let payload = crate::protocol::packet::join_payload(&raw);
                    if let Err(end) = self.change_user(&payload, reply_seq).await {
                        return end;
                    }
                    continue;
                }
                _ => {}
            }
            let kind = response_kind(&head);
            if kind == ResponseKind::Unsupported {
                self.client.consume(packet.raw_len);
                let err = ErrPacket::new(
                    code::ER_NOT_SUPPORTED_YET,
                    "42000",
                    format!("rwsplit: {} is not supported through the proxy", command::name(cmd)),
                );
                if self.client.write_payload(reply_seq, &err.to_payload()).await.is_err() {
                    return End::ClientGone;
                }
                continue;
            }
            if let Err(end) = self.forward(packet.raw_len, &head, kind, reply_seq).await {
                return end;
            }
        }
    }

    /// Sends the buffered command to its server and relays the reply.
    async fn forward(&mut self, raw_len: usize, head: &[u8], kind: ResponseKind, reply_seq: u8) -> Result<(), End> {
        let rt = self.shared.runtime.load_full();
        let target = match route(head, &rt) {
            Target::Server(i) => i,
            Target::Unavailable => {
                self.client.consume(raw_len);
                return self.reply_err(reply_seq, &no_server()).await;
            }
        };
        if self.backend.as_ref().map(|(i, _)| *i) != Some(target) {
            // The session's connection is pinned: it holds state (variables,
            // temporary tables, transactions) that another connection would not.
            self.client.consume(raw_len);
            return Err(End::Error("the session's server changed role; reconnect".into()));
        }
        let Some((_, backend)) = self.backend.as_mut() else {
            return Err(End::Error("no backend connection".into()));
        };
        if head.first() == Some(&command::COM_SET_OPTION) {
            // It changes the connection's capabilities, which COM_CHANGE_USER does
            // not reset: this connection must not serve another session later.
            backend.poisoned = true;
        }
        let raw = self.client.consume(raw_len);
        backend.busy = true;
        if let Err(e) = backend.io.write_all(&raw).await {
            let server = backend.server.clone();
            backend.poisoned = true;
            return Err(End::BackendGone(format!("backend {} write failed: {e}", server.name)));
        }
        if kind == ResponseKind::None {
            backend.busy = false;
            return Ok(());
        }
        let mut scanner = ResponseScanner::new(kind, self.capabilities & CLIENT_DEPRECATE_EOF != 0);
        let mut relayed = Relayed::default();
        match relay_reply(&mut backend.io, &mut self.client, &mut scanner, &mut relayed).await {
            Ok(()) => {
                backend.busy = false;
                if let Some(status) = scanner.status() {
                    self.status = status;
                }
                if scanner.error_code() == Some(code::ER_CONNECTION_KILLED) {
                    // The server killed this connection and told the client so; like
                    // the server, the session ends when the client next speaks.
                    backend.poisoned = true;
                    self.backend = None;
                    self.killed_self = true;
                }
                Ok(())
            }
            Err(e) if e.is_backend_side() => {
                let server = backend.server.clone();
                backend.poisoned = true;
                warn!(server = %server.name, error = %e, "backend failed during a command");
                // The session's state lived on that connection: going on elsewhere
                // would silently change it, so the client is disconnected, which it
                // reports as it would a server going away (2013). An ERR packet
                // would not do: client libraries take a server-sent 2013 for a
                // malformed packet.
                Err(End::BackendGone(format!("backend {} failed: {e}", server.name)))
            }
            Err(_) => Err(End::ClientGone),
        }
    }

    /// COM_CHANGE_USER: authenticate the new user against the proxy's list, then
    /// reset the backend connection and log it in for that user.
    async fn change_user(&mut self, payload: &[u8], seq: u8) -> Result<(), End> {
        let rt = self.shared.runtime.load_full();
        let cu = match ChangeUser::parse(payload, self.capabilities) {
            Ok(cu) => cu,
            Err(_) => {
                let err = ErrPacket::new(code::ER_UNKNOWN_COM_ERROR, "08S01", "Unknown command");
                self.reply_err(seq, &err).await?;
                return Err(End::Error("malformed COM_CHANGE_USER".into()));
            }
        };
        let outcome = auth::authenticate(
            &mut self.client,
            &rt,
            self.peer,
            &cu.user,
            cu.auth_plugin.as_deref(),
            &cu.auth_response,
            &mut self.scramble,
            seq,
        )
        .await;
        let seq = match outcome {
            Ok(AuthOutcome::Ok { seq }) => seq,
            Ok(AuthOutcome::Denied { seq, err }) => {
                info!(user = %cu.user, "access denied on COM_CHANGE_USER");
                self.reply_err(seq, &err).await?;
                return Err(End::Error("COM_CHANGE_USER denied".into()));
            }
            Err(_) => return Err(End::ClientGone),
        };
        let Some(user) = rt.users.get(&cu.user) else {
            return Err(End::Error("user vanished during COM_CHANGE_USER".into()));
        };
        let mut params = self.params.clone();
        params.user = user.backend_user.clone();
        params.password = user.backend_password.clone();
        params.database = cu.database.clone();
        if let Some(c) = cu.collation.and_then(|c| u8::try_from(c).ok()) {
            params.collation = c;
        }
        let Some((_, backend)) = self.backend.as_mut() else {
            return Err(End::Error("no backend connection".into()));
        };
        match backend.change_user(&params).await {
            Ok(ok) => {
                self.params = params;
                self.user = cu.user;
                self.status = ok_status(&ok).unwrap_or(STATUS_AUTOCOMMIT);
                self.client.write_payload(seq, &ok).await.map_err(|_| End::ClientGone)?;
                Ok(())
            }
            Err(BackendError::Refused { err, .. }) => {
                // Like the server, refuse and close: the session is half reset.
                backend.poisoned = true;
                self.reply_err(seq, &err).await?;
                Err(End::Error(format!("COM_CHANGE_USER refused by backend: {err}")))
            }
            Err(e) => {
                backend.poisoned = true;
                self.reply_err(seq, &e.to_err_packet()).await?;
                Err(End::Error(format!("COM_CHANGE_USER failed: {e}")))
            }
        }
    }

    /// A KILL statement or COM_PROCESS_KILL in the buffered packet, if that is
    /// what it is. Only short packets starting like a KILL are parsed.
    fn kill_request(&self, cmd: u8, raw_len: usize) -> Option<KillRequest> {
        let payload = self.client.buffered().get(5..raw_len)?;
        if cmd == command::COM_PROCESS_KILL {
            let id = u32::from_le_bytes(payload.get(..4)?.try_into().ok()?);
            return Some(KillRequest::Thread { scope: KillScope::Connection, id: u64::from(id) });
        }
        let first = payload.iter().find(|b| !b.is_ascii_whitespace())?;
        if raw_len > 4 + 1024 || !matches!(first, b'k' | b'K' | b'/') {
            return None;
        }
        parse_kill(payload)
    }

    /// Carries out a KILL on the server holding the target session's backend
    /// connection, over a connection of its own.
    async fn kill(&mut self, kill: KillRequest, by_command: bool, seq: u8) -> Result<(), End> {
        let (scope, id) = match kill {
            KillRequest::Thread { scope, id } => (scope, id),
            KillRequest::Unsupported(what) => {
                let err = ErrPacket::new(
                    code::ER_NOT_SUPPORTED_YET,
                    "42000",
                    format!("rwsplit: {what} is not supported through the proxy; KILL a connection id instead"),
                );
                return self.reply_err(seq, &err).await;
            }
        };
        let Some((target_id, target)) = self.shared.find_session(id) else {
            let err = ErrPacket::new(code::ER_NO_SUCH_THREAD, "HY000", format!("Unknown thread id: {id}"));
            return self.reply_err(seq, &err).await;
        };
        if target.user != self.user {
            let err = ErrPacket::new(code::ER_KILL_DENIED_ERROR, "HY000", format!("You are not owner of thread {id}"));
            return self.reply_err(seq, &err).await;
        }
        let rt = self.shared.runtime.load_full();
        let mut reply = ok_payload(self.status, 0);
        if scope == KillScope::Connection {
            target.killing.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        if let Some((server, tid)) = target.backend() {
            let Some(pool) = rt.servers.get(server).map(|s| s.pool.clone()) else {
                return self.reply_err(seq, &no_server()).await;
            };
            let sql = match scope {
                KillScope::Query => format!("KILL QUERY {tid}"),
                KillScope::Connection => format!("KILL CONNECTION {tid}"),
            };
            let result = match pool.checkout(&self.params).await {
                Ok((mut conn, _)) => conn.simple_query(&sql).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(r) if r.first() == Some(&0xFF) => reply = r,
                Ok(_) => {}
                Err(e) => return self.reply_err(seq, &e.to_err_packet()).await,
            }
        }
        if reply.first() == Some(&0xFF) {
            self.client.write_payload(seq, &reply).await.map_err(|_| End::ClientGone)?;
            return Ok(());
        }
        info!(target = target_id, ?scope, "KILL");
        if scope == KillScope::Connection {
            if target_id == self.id {
                // The server answers a KILL statement of its own connection with
                // 1927 (COM_PROCESS_KILL with OK) and drops the connection when the
                // client next speaks: the client then reports a lost connection
                // rather than reconnecting silently.
                self.killed_self = true;
                if let Some((_, mut conn)) = self.backend.take() {
                    conn.poisoned = true;
                }
                if by_command {
                    return self.client.write_payload(seq, &reply).await.map(|_| ()).map_err(|_| End::ClientGone);
                }
                let err = ErrPacket::new(code::ER_CONNECTION_KILLED, "70100", "Connection was killed");
                return self.reply_err(seq, &err).await;
            }
            target.killed.notify_one();
        }
        self.client.write_payload(seq, &reply).await.map_err(|_| End::ClientGone)?;
        Ok(())
    }

    async fn reply_err(&mut self, seq: u8, err: &ErrPacket) -> Result<(), End> {
        self.client.write_payload(seq, &err.to_payload()).await.map(|_| ()).map_err(|_| End::ClientGone)
    }
}

struct Gone {
    why: String,
    /// Bytes the server sent before closing.
    said: bytes::BytesMut,
}

/// Resolves when the idle backend connection closes or sends something unasked,
/// which a server only does when it is about to close the connection.
async fn backend_gone(backend: &mut Option<(usize, Guard)>) -> Gone {
    let Some((_, conn)) = backend.as_mut() else { return std::future::pending().await };
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
