//! One connection to a backend server: connecting, authenticating as a client,
//! handing the connection to a new session with COM_CHANGE_USER.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use super::error::BackendError;
use super::pool::ServerAddr;
use crate::protocol::auth::{client_auth_response, CACHING_SHA2_PASSWORD, NATIVE_PASSWORD};
use crate::protocol::handshake::{self, parse_auth_switch, BackendHello, Greeting, SESSION_CAPABILITIES};
use crate::protocol::stream::{PacketStream, StreamError};
use crate::protocol::ErrPacket;

const CLIENT_IGNORE_SPACE: u32 = 0x0000_0100;

/// Replies in the connection phase are small; anything bigger is not a server.
const AUTH_PACKET_LIMIT: usize = 1 << 20;

/// What a client session needs of a backend connection.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionParams {
    pub user: String,
    pub password: String,
    pub database: Option<String>,
    pub collation: u8,
    /// The client's capabilities that shape replies (see `SESSION_CAPABILITIES`).
    pub capabilities: u32,
    pub mariadb_capabilities: u32,
    pub max_packet: u32,
}

impl std::fmt::Debug for SessionParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionParams")
            .field("user", &self.user)
            .field("database", &self.database)
            .field("collation", &self.collation)
            .field("capabilities", &format_args!("{:#x}", self.capabilities))
            .finish_non_exhaustive()
    }
}

impl SessionParams {
    /// Connections agreeing on this key frame replies the same way and can be
    /// handed from one session to another.
    pub fn pool_key(&self) -> (u32, u32) {
        (self.capabilities & SESSION_CAPABILITIES, self.mariadb_capabilities)
    }
}

pub struct BackendConn {
    pub io: PacketStream,
    pub server: Arc<ServerAddr>,
    pub greeting: Greeting,
    key: (u32, u32),
    /// The nonce a COM_CHANGE_USER must be scrambled with: the greeting's, or the
    /// last auth switch's.
    nonce: Vec<u8>,
    /// A command was sent and its reply not yet read to the end.
    pub busy: bool,
    /// The session changed something COM_CHANGE_USER does not reset (capabilities
    /// through COM_SET_OPTION), or the connection failed: never reuse.
    pub poisoned: bool,
    /// Used by a session since its last reset.
    pub dirty: bool,
}

impl BackendConn {
    /// Connects and logs in with `params`; returns the connection and the server's
    /// final OK payload.
    pub async fn connect(
        server: Arc<ServerAddr>,
        params: &SessionParams,
        timeout: Duration,
    ) -> Result<(Self, Vec<u8>), BackendError> {
        let fut = Self::connect_inner(server.clone(), params);
        match tokio::time::timeout(timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(BackendError::Timeout {
                server: server.name.clone(),
                address: server.address.clone(),
                after: timeout,
            }),
        }
    }

    async fn connect_inner(server: Arc<ServerAddr>, params: &SessionParams) -> Result<(Self, Vec<u8>), BackendError> {
        let stream = TcpStream::connect(&server.address).await.map_err(|source| BackendError::Connect {
            server: server.name.clone(),
            address: server.address.clone(),
            source,
        })?;
        let mut io = PacketStream::new(stream);
        let (seq, payload) = io.read_payload(AUTH_PACKET_LIMIT).await.map_err(|e| stream_err(&server, e))?;
        if payload.first() == Some(&0xFF) {
            // "Too many connections" and "host blocked" arrive instead of a greeting.
            return Err(refused(&server, &payload));
        }
        let greeting = Greeting::parse(&payload).map_err(|e| protocol_err(&server, e.to_string()))?;
        let plugin =
            if greeting.auth_plugin == CACHING_SHA2_PASSWORD { CACHING_SHA2_PASSWORD } else { NATIVE_PASSWORD };
        let auth = client_auth_response(plugin, &greeting.nonce, &params.password).unwrap_or_default();
        let hello = BackendHello {
            capabilities: params.capabilities & greeting.capabilities,
            mariadb_capabilities: params.mariadb_capabilities & greeting.mariadb_capabilities,
            max_packet: params.max_packet,
            collation: params.collation,
            user: &params.user,
            auth_response: &auth,
            database: params.database.as_deref(),
            auth_plugin: plugin,
            attributes: &[("_client_name", "rwsplit"), ("_client_version", env!("CARGO_PKG_VERSION"))],
        };
        io.write_payload(seq.wrapping_add(1), &hello.to_payload()).await.map_err(|e| stream_err(&server, e.into()))?;
        let nonce = greeting.nonce.clone();
        let mut conn =
            Self { io, server, greeting, key: params.pool_key(), nonce, busy: false, poisoned: false, dirty: false };
        let ok = conn.finish_auth(plugin, &params.password).await?;
        Ok((conn, ok))
    }

    pub fn key(&self) -> (u32, u32) {
        self.key
    }

    /// Resets the connection's session and logs in as `params` in one round trip
    /// (two with an auth switch). Returns the server's OK payload.
    pub async fn change_user(&mut self, params: &SessionParams) -> Result<Vec<u8>, BackendError> {
        self.busy = true;
        let plugin =
            if self.greeting.auth_plugin == CACHING_SHA2_PASSWORD { CACHING_SHA2_PASSWORD } else { NATIVE_PASSWORD };
        let auth = client_auth_response(plugin, &self.nonce, &params.password).unwrap_or_default();
        let payload =
            handshake::change_user_payload(&params.user, &auth, params.database.as_deref(), params.collation, plugin);
        let server = self.server.clone();
        self.io.write_payload(0, &payload).await.map_err(|e| stream_err(&server, e.into()))?;
        let ok = self.finish_auth(plugin, &params.password).await?;
        self.dirty = false;
        Ok(ok)
    }

    /// Hands the connection to a session: COM_CHANGE_USER without a database, then
    /// COM_INIT_DB. In one step a bad database would cost a second: MariaDB delays
    /// every failed COM_CHANGE_USER, while COM_INIT_DB fails at once. Returns the
    /// last OK (the COM_INIT_DB one carries the schema, as a login OK does).
    pub async fn reset_for(&mut self, params: &SessionParams) -> Result<Vec<u8>, BackendError> {
        let without_db = SessionParams { database: None, ..params.clone() };
        let ok = self.change_user(&without_db).await?;
        if params.capabilities & CLIENT_IGNORE_SPACE != 0 {
            // The server turns IGNORE_SPACE on in sql_mode for such clients at login
            // only; COM_CHANGE_USER drops it with the rest of the session.
            let reply = self.simple_query("SET SESSION sql_mode = CONCAT(@@sql_mode, ',IGNORE_SPACE')").await?;
            if reply.first() == Some(&0xFF) {
                return Err(refused(&self.server, &reply));
            }
        }
        let Some(db) = &params.database else { return Ok(ok) };
        let mut cmd = vec![crate::protocol::command::COM_INIT_DB];
        cmd.extend_from_slice(db.as_bytes());
        self.busy = true;
        let server = self.server.clone();
        self.io.write_payload(0, &cmd).await.map_err(|e| stream_err(&server, e.into()))?;
        let (_, reply) = self.io.read_payload(AUTH_PACKET_LIMIT).await.map_err(|e| stream_err(&server, e))?;
        self.busy = false;
        match reply.first() {
            Some(0x00) => Ok(reply),
            Some(0xFF) => Err(refused(&server, &reply)),
            _ => Err(protocol_err(&server, "unexpected reply to COM_INIT_DB".into())),
        }
    }

    /// Runs a statement whose reply is a single OK or ERR packet (KILL, SET) and
    /// returns that packet's payload.
    pub async fn simple_query(&mut self, sql: &str) -> Result<Vec<u8>, BackendError> {
        let mut payload = Vec::with_capacity(1 + sql.len());
        payload.push(crate::protocol::command::COM_QUERY);
        payload.extend_from_slice(sql.as_bytes());
        self.simple_command(&payload).await
    }

    /// Sends a command whose reply is a single OK, EOF or ERR packet.
    pub async fn simple_command(&mut self, payload: &[u8]) -> Result<Vec<u8>, BackendError> {
        let server = self.server.clone();
        self.busy = true;
        self.io.write_payload(0, payload).await.map_err(|e| stream_err(&server, e.into()))?;
        let (_, reply) = self.io.read_payload(AUTH_PACKET_LIMIT).await.map_err(|e| stream_err(&server, e))?;
        if !matches!(reply.first(), Some(0x00) | Some(0xFF) | Some(0xFE)) {
            return Err(protocol_err(&server, "unexpected reply to an internal command".into()));
        }
        self.busy = false;
        Ok(reply)
    }

    /// The rest of an authentication exchange: auth switches and caching_sha2's
    /// extra round trips, up to the final OK or ERR.
    async fn finish_auth(&mut self, mut plugin: &'static str, password: &str) -> Result<Vec<u8>, BackendError> {
        let server = self.server.clone();
        loop {
            let (seq, payload) = self.io.read_payload(AUTH_PACKET_LIMIT).await.map_err(|e| stream_err(&server, e))?;
            let next = seq.wrapping_add(1);
            match payload.first() {
                Some(0x00) => {
                    self.busy = false;
                    return Ok(payload);
                }
                Some(0xFF) => {
                    self.busy = false;
                    return Err(refused(&server, &payload));
                }
                Some(0xFE) => {
                    let (name, nonce) =
                        parse_auth_switch(&payload).ok_or_else(|| protocol_err(&server, "bad auth switch".into()))?;
                    plugin = match name.as_str() {
                        NATIVE_PASSWORD => NATIVE_PASSWORD,
                        CACHING_SHA2_PASSWORD => CACHING_SHA2_PASSWORD,
                        other => return Err(protocol_err(&server, format!("backend asks for auth plugin {other}, which rwsplit cannot use; give the backend user mysql_native_password"))),
                    };
                    let resp = client_auth_response(plugin, &nonce, password).unwrap_or_default();
                    self.nonce = nonce;
                    self.io.write_payload(next, &resp).await.map_err(|e| stream_err(&server, e.into()))?;
                }
                Some(0x01) if plugin == CACHING_SHA2_PASSWORD => match payload.get(1) {
                    // Fast auth succeeded; the OK follows.
                    Some(3) => {}
                    // Full auth: without TLS the password goes RSA-encrypted with the
                    // server's public key, which has to be asked for first.
                    Some(4) => {
                        self.io.write_payload(next, &[0x02]).await.map_err(|e| stream_err(&server, e.into()))?;
                        let (seq, key) =
                            self.io.read_payload(AUTH_PACKET_LIMIT).await.map_err(|e| stream_err(&server, e))?;
                        let pem = key.get(1..).ok_or_else(|| protocol_err(&server, "empty public key".into()))?;
                        let mut pass = password.as_bytes().to_vec();
                        pass.push(0);
                        for (i, b) in pass.iter_mut().enumerate() {
                            *b ^= self.nonce.get(i % self.nonce.len().max(1)).copied().unwrap_or(0);
                        }
                        let encrypted = mysql_common::crypto::encrypt(&pass, pem);
                        self.io
                            .write_payload(seq.wrapping_add(1), &encrypted)
                            .await
                            .map_err(|e| stream_err(&server, e.into()))?;
                    }
                    _ => return Err(protocol_err(&server, "unexpected caching_sha2_password state".into())),
                },
                _ => return Err(protocol_err(&server, "unexpected packet during authentication".into())),
            }
        }
    }
}

fn stream_err(server: &ServerAddr, e: StreamError) -> BackendError {
    match e {
        StreamError::Io(source) => {
            BackendError::Connect { server: server.name.clone(), address: server.address.clone(), source }
        }
        other => protocol_err(server, other.to_string()),
    }
}

fn protocol_err(server: &ServerAddr, what: String) -> BackendError {
    BackendError::Protocol { server: server.name.clone(), address: server.address.clone(), what }
}

fn refused(server: &ServerAddr, payload: &[u8]) -> BackendError {
    match ErrPacket::parse(payload) {
        Some(err) => BackendError::Refused { server: server.name.clone(), err },
        None => protocol_err(server, "malformed error packet".into()),
    }
}
