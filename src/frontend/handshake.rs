//! The connection phase: greet, authenticate the client against the proxy's
//! users, check its login on the master (database, account), say OK.

use std::net::SocketAddr;
use std::sync::Arc;

use tracing::{debug, info};

use super::auth::{self, AuthOutcome};
use super::handle::SessionHandle;
use super::listener::Shared;
use super::session::Session;
use crate::backend::SessionParams;
use crate::protocol::auth::new_scramble;
use crate::protocol::err::code;
use crate::protocol::handshake::{
    ClientHello, Greeting, CLIENT_MULTI_STATEMENTS, CLIENT_SESSION_TRACK, CLIENT_SSL, PROXY_CAPABILITIES,
    PROXY_MARIADB_CAPABILITIES, SSL_REQUEST_LEN,
};
use crate::protocol::ok::STATUS_AUTOCOMMIT;
use crate::protocol::stream::{PacketStream, StreamError};
use crate::protocol::track::ClientTracking;
use crate::protocol::ErrPacket;
use crate::runtime::Runtime;
use crate::session::{Pins, Replayable};

const ER_TOO_MANY_USER_CONNECTIONS: u16 = 1203;

/// The handshake response carries user, database and attributes: bounded.
const HANDSHAKE_LIMIT: usize = 64 * 1024;
/// How long the rest of a refused, oversized handshake response is read and
/// dropped so that the client sees the error and a clean close (see
/// `PacketStream::close_after_error`). `handshake_timeout` bounds it too.
const REFUSED_LINGER: std::time::Duration = std::time::Duration::from_secs(1);
/// utf8mb4_general_ci, offered when no backend has been reached yet.
const DEFAULT_COLLATION: u8 = 45;

pub(super) async fn handshake(
    shared: Arc<Shared>,
    mut client: PacketStream,
    peer: SocketAddr,
    id: u32,
) -> Option<Session> {
    let started = tokio::time::Instant::now();
    // The version first: a reload between the two reads then shows as one
    // at the first command, never the other way round.
    let runtime_version = shared.runtime_version.load(std::sync::atomic::Ordering::Acquire);
    let rt = shared.runtime.load_full();
    let greeting = greeting_for(&rt, id);
    let mut scramble = [0u8; 20];
    scramble.copy_from_slice(&greeting.nonce);
    client.write_payload(0, &greeting.to_payload()).await.ok()?;

    let (mut seq, mut payload) = match client.read_payload(HANDSHAKE_LIMIT).await {
        Ok(p) => p,
        Err(StreamError::TooLarge { size, .. }) => {
            // Refused from its header alone, before its body is read (a header
            // claiming 16 MiB costs nothing). MariaDB answers a handshake response
            // it will not take (attributes over 64 KiB, say) with "Bad handshake";
            // a silent close would leave the client guessing.
            debug!(size, "handshake response over the limit");
            let seq = client.buffered().get(3).copied().unwrap_or(1).wrapping_add(1);
            let err = ErrPacket::new(code::ER_HANDSHAKE_ERROR, "08S01", "Bad handshake");
            let _ = client.write_payload(seq, &err.to_payload()).await;
            client.close_after_error(REFUSED_LINGER).await;
            return None;
        }
        Err(e) => {
            debug!(error = %e, "no handshake response");
            return None;
        }
    };
    // The response to the greeting (sequence id 0) is packet 1. The server
    // refuses anything else at the network layer, with this error numbered as
    // the packet it expected; so does the proxy. (The response is at most
    // 64 KiB, one physical packet: its last sequence id is its first.)
    if seq != 1 {
        out_of_order(&mut client, seq, 1).await;
        return None;
    }
    if payload.len() == SSL_REQUEST_LEN && payload.get(1).is_some_and(|b| u32::from(*b) << 8 & CLIENT_SSL != 0) {
        let Some(tls) = rt.tls.as_ref() else {
            // TLS was not offered; a client asking anyway gets a clear refusal.
            let err = ErrPacket::new(code::ER_HANDSHAKE_ERROR, "08S01", "rwsplit: TLS is not enabled on this listener");
            let _ = client.write_payload(seq.wrapping_add(1), &err.to_payload()).await;
            return None;
        };
        client = match client.accept_tls(&tls.acceptor).await {
            Ok(c) => c,
            Err(e) => {
                debug!(error = %e, %peer, "TLS handshake failed");
                return None;
            }
        };
        (seq, payload) = match client.read_payload(HANDSHAKE_LIMIT).await {
            Ok(p) => p,
            Err(e) => {
                debug!(error = %e, "no handshake response after TLS");
                return None;
            }
        };
        if seq != 2 {
            out_of_order(&mut client, seq, 2).await;
            return None;
        }
    }
    let seq = seq.wrapping_add(1);
    let hello = match ClientHello::parse(&payload) {
        Ok(h) => h,
        Err(e) => {
            debug!(error = %e, "bad handshake response");
            let err = ErrPacket::new(code::ER_HANDSHAKE_ERROR, "08S01", "Bad handshake");
            let _ = client.write_payload(seq, &err.to_payload()).await;
            return None;
        }
    };
    let attempt =
        auth::Attempt { user: &hello.user, plugin: hello.auth_plugin.as_deref(), response: &hello.auth_response, peer };
    let outcome = auth::authenticate(&mut client, rt.users.get(&hello.user), attempt, &mut scramble, seq).await;
    let seq = match outcome {
        Ok(AuthOutcome::Ok { seq, method }) => {
            shared.logins.succeeded(method, client.is_tls());
            seq
        }
        Ok(AuthOutcome::Denied { seq, err }) => {
            shared.logins.denied();
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
    if let Some(max) = user.max_connections {
        let open = shared.sessions.iter().filter(|s| s.value().user() == hello.user).count();
        if open >= max {
            info!(user = %hello.user, max, "login refused: the user's max_connections reached");
            let err = ErrPacket::new(
                ER_TOO_MANY_USER_CONNECTIONS,
                "42000",
                format!("User {} already has more than 'max_user_connections' active connections", hello.user),
            );
            let _ = client.write_payload(seq, &err.to_payload()).await;
            return None;
        }
    }
    let capabilities = hello.capabilities & greeting.capabilities;
    let params = SessionParams {
        user: user.backend_user.clone(),
        password: user.backend_password.clone(),
        database: None,
        collation: hello.collation,
        capabilities,
        mariadb_capabilities: hello.mariadb_capabilities & greeting.mariadb_capabilities,
        max_packet: rt.config.proxy.max_allowed_packet as u32,
    };
    let state = Replayable::new(hello.database.clone(), hello.collation, capabilities & CLIENT_MULTI_STATEMENTS != 0);
    let tls_description = client.tls_description();
    let mut session = Session {
        shared: shared.clone(),
        client,
        peer,
        id,
        handle: Arc::new(SessionHandle::new(hello.user.clone(), peer, tls_description)),
        scramble,
        capabilities,
        user: hello.user.clone(),
        params,
        tracking: ClientTracking {
            enabled: capabilities & CLIENT_SESSION_TRACK != 0,
            variables: None,
            schema: false,
            state_change: false,
        },
        initial: state.clone(),
        state,
        pins: Pins::default(),
        held: None,
        status: STATUS_AUTOCOMMIT,
        read_your_writes: user.read_your_writes,
        last_gtid: None,
        caught_up: Vec::new(),
        last_insert_id: 0,
        last_write_thread: None,
        read_home: None,
        home_epoch: 0,
        lease: None,
        frame_buf: bytes::BytesMut::new(),
        killed_self: false,
        statements: Default::default(),
        runtime: rt.clone(),
        runtime_version,
        // A second before handshake_timeout, so the client gets the reason.
        login_deadline: Some(
            started + rt.config.proxy.handshake_timeout.saturating_sub(std::time::Duration::from_secs(1)),
        ),
    };
    // The login is tried on the master now rather than at the first statement,
    // so that an unknown database or an unreachable server is reported at login,
    // as the server itself would.
    let login = session.login_on_master(&rt).await;
    session.login_deadline = None;
    match login {
        Ok(ok) => {
            session.client.write_payload(seq, &ok).await.ok()?;
            debug!(user = %session.user, db = ?session.state.database, "client authenticated");
            Some(session)
        }
        Err(err) => {
            info!(user = %session.user, error = %err, "login failed at the backend");
            let _ = session.client.write_payload(seq, &err.to_payload()).await;
            None
        }
    }
}

async fn out_of_order(client: &mut PacketStream, got: u8, expected: u8) {
    debug!(got, expected, "handshake response out of order");
    let err = ErrPacket::new(code::ER_NET_PACKETS_OUT_OF_ORDER, "08S01", "Got packets out of order");
    let _ = client.write_payload(expected, &err.to_payload()).await;
}

/// The greeting mirrors the master's: clients pick features (and detect MariaDB)
/// from its version string and capabilities.
fn greeting_for(rt: &Runtime, id: u32) -> Greeting {
    let known = rt.master().and_then(|m| m.pool.greeting());
    let (version, caps, mcaps, collation) = match &known {
        Some(g) => (g.server_version.clone(), g.capabilities | 1, g.mariadb_capabilities, g.collation),
        None => (rt.config.proxy.server_version.clone(), u32::MAX, u32::MAX, DEFAULT_COLLATION),
    };
    let tls = if rt.tls.is_some() { CLIENT_SSL } else { 0 };
    Greeting {
        server_version: version,
        connection_id: id,
        nonce: new_scramble().to_vec(),
        capabilities: (PROXY_CAPABILITIES & caps) | tls,
        mariadb_capabilities: PROXY_MARIADB_CAPABILITIES & mcaps,
        collation,
        status: STATUS_AUTOCOMMIT,
        auth_plugin: rt.config.proxy.default_auth_plugin.name().into(),
    }
}
