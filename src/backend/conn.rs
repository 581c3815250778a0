//! One connection to a backend server: connecting, authenticating as a client,
//! handing the connection to a new session with COM_CHANGE_USER.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

use super::error::BackendError;
use super::pool::ServerAddr;
use crate::protocol::auth::{client_auth_response, CACHING_SHA2_PASSWORD, NATIVE_PASSWORD};
use crate::protocol::command::{ResponseKind, COM_INIT_DB, COM_QUERY, COM_SET_OPTION};
use crate::protocol::handshake::{self, parse_auth_switch, BackendHello, Greeting, SESSION_CAPABILITIES};
use crate::protocol::handshake::{CLIENT_DEPRECATE_EOF, CLIENT_MULTI_STATEMENTS, CLIENT_SESSION_TRACK, CLIENT_SSL};
use crate::protocol::packet::read_lenenc;
use crate::protocol::response::{ResponseScanner, Step};
use crate::protocol::stream::{PacketStream, StreamError};
use crate::protocol::track::ClientTracking;
use crate::protocol::ErrPacket;
use crate::session::{sync::plan, ConnSession, Replayable, SyncPlan};

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
    /// Connections agreeing on this key frame replies the same way, are logged in
    /// as the same account, and can serve each other's sessions.
    pub fn pool_key(&self) -> PoolKey {
        PoolKey {
            capabilities: self.capabilities & SESSION_CAPABILITIES,
            mariadb_capabilities: self.mariadb_capabilities,
            user: self.user.clone(),
        }
    }

    /// The replayable state a new connection for these parameters starts in.
    pub fn initial_state(&self) -> Replayable {
        Replayable::new(self.database.clone(), self.collation, self.capabilities & CLIENT_MULTI_STATEMENTS != 0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PoolKey {
    pub capabilities: u32,
    pub mariadb_capabilities: u32,
    pub user: String,
}

static NEXT_CONN_UID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

pub struct BackendConn {
    pub io: PacketStream,
    pub server: Arc<ServerAddr>,
    pub greeting: Greeting,
    key: PoolKey,
    /// The nonce a COM_CHANGE_USER must be scrambled with: the greeting's, or the
    /// last auth switch's.
    nonce: Vec<u8>,
    /// A command was sent and its reply not yet read to the end.
    pub busy: bool,
    /// The session changed something COM_CHANGE_USER does not reset (capabilities
    /// through COM_SET_OPTION), or the connection failed: never reuse.
    pub poisoned: bool,
    /// The replayable session state the connection is in.
    pub session: ConnSession,
    /// Statements prepared on this connection.
    pub statements: super::statements::StatementCache,
    /// Unique for the process's life (thread ids repeat across servers and
    /// restarts): what a client statement remembers its backend statement by.
    pub uid: u64,
    /// The session that checked the connection out last (0: none).
    pub last_owner: u32,
    /// What a fresh session on this server tracks (CLIENT_SESSION_TRACK): what a
    /// client asking for tracking is told by default. The connection itself
    /// tracks everything, for the proxy's own use.
    pub tracking_defaults: ClientTracking,
}

/// Session tracking the proxy sets on every backend connection: every system
/// variable (including last_gtid), the schema, and "something else changed", the
/// safety net behind the statement classifier.
const TRACK_EVERYTHING: &str =
    "session_track_system_variables='*', session_track_schema=ON, session_track_state_change=ON";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    NewConnection,
    AfterChangeUser,
    /// A client's SET changed the tracking variables.
    Retrack,
}
const READ_TRACKING: &str =
    "SELECT @@session_track_system_variables, @@session_track_schema, @@session_track_state_change";

/// A row of a text result set: columns as bytes, `None` for NULL.
pub type TextRow = Vec<Option<Vec<u8>>>;

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
        // Always tracked on the backend side; rewritten for clients that did not ask.
        let capabilities = (params.capabilities | CLIENT_SESSION_TRACK) & greeting.capabilities;
        let mut seq = seq.wrapping_add(1);
        let mut tls = false;
        if let Some(setup) = &server.tls {
            if greeting.capabilities & CLIENT_SSL != 0 {
                let request = handshake::ssl_request(
                    capabilities,
                    params.mariadb_capabilities & greeting.mariadb_capabilities,
                    params.max_packet,
                    params.collation,
                );
                seq = io.write_payload(seq, &request).await.map_err(|e| stream_err(&server, e.into()))?;
                let name = crate::tls::server_name(&server.address).map_err(|e| tls_err(&server, e))?;
                io = io
                    .connect_tls(&setup.connector, name)
                    .await
                    .map_err(|e| tls_err(&server, format!("handshake: {e}")))?;
                tls = true;
            } else if setup.required() {
                return Err(tls_err(&server, "the server does not offer TLS and backend.tls requires it".into()));
            }
        }
        let hello = BackendHello {
            tls,
            capabilities,
            mariadb_capabilities: params.mariadb_capabilities & greeting.mariadb_capabilities,
            max_packet: params.max_packet,
            collation: params.collation,
            user: &params.user,
            auth_response: &auth,
            database: params.database.as_deref(),
            auth_plugin: plugin,
            attributes: &[("_client_name", "rwsplit"), ("_client_version", env!("CARGO_PKG_VERSION"))],
        };
        io.write_payload(seq, &hello.to_payload()).await.map_err(|e| stream_err(&server, e.into()))?;
        let nonce = greeting.nonce.clone();
        let tracking_defaults =
            ClientTracking { enabled: true, variables: Some(Vec::new()), schema: false, state_change: false };
        let mut conn = Self {
            io,
            server,
            greeting,
            key: params.pool_key(),
            nonce,
            busy: false,
            poisoned: false,
            session: ConnSession { state: params.initial_state(), unknown: false },
            statements: Default::default(),
            last_owner: 0,
            uid: NEXT_CONN_UID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            tracking_defaults,
        };
        let ok = conn.finish_auth(plugin, &params.password).await?;
        conn.setup_tracking(Setup::NewConnection).await?;
        Ok((conn, ok))
    }

    pub fn key(&self) -> &PoolKey {
        &self.key
    }

    /// MARIADB_CLIENT_CACHE_METADATA was negotiated: executions of prepared
    /// statements may leave out column definitions the server knows it sent.
    pub fn cache_metadata(&self) -> bool {
        self.key.mariadb_capabilities & self.greeting.mariadb_capabilities & handshake::MARIADB_CACHE_METADATA != 0
    }

    fn deprecate_eof(&self) -> bool {
        self.key.capabilities & CLIENT_DEPRECATE_EOF != 0
    }

    /// Brings the connection to `want` (the session's replayable state): nothing,
    /// the missing part, or a reset and everything. Returns the server's OK to the
    /// reset, if there was one.
    pub async fn sync(&mut self, params: &SessionParams, want: &Replayable) -> Result<Option<Vec<u8>>, BackendError> {
        match plan(&self.session, want) {
            SyncPlan::Nothing => Ok(None),
            // Boxed: the work is round trips to the server, and inline its
            // state would sit in every future that may sync (a session's
            // command future among them), copied and touched per statement.
            work => Box::pin(self.apply(params, want, work)).await,
        }
    }

    async fn apply(
        &mut self,
        params: &SessionParams,
        want: &Replayable,
        work: SyncPlan,
    ) -> Result<Option<Vec<u8>>, BackendError> {
        let mut reset_ok = None;
        let (init_db, set, set_option) = match work {
            SyncPlan::Nothing => return Ok(None),
            SyncPlan::Apply { init_db, set, set_option } => (init_db, set, set_option),
            SyncPlan::Reset { set, set_option } => {
                // The database follows as COM_INIT_DB: MariaDB delays a failed
                // COM_CHANGE_USER by a second, a failed COM_INIT_DB not at all.
                let p = SessionParams { database: None, collation: want.collation, ..params.clone() };
                // Whatever happens next, the state is no longer the recorded one.
                self.session.unknown = true;
                reset_ok = Some(self.change_user(&p).await?);
                (want.database.clone(), set, set_option)
            }
        };
        self.session.unknown = true;
        if let Some(db) = init_db {
            let mut cmd = vec![COM_INIT_DB];
            cmd.extend_from_slice(db.as_bytes());
            // Its OK carries the schema (session tracking) as a login OK does.
            let ok = self.expect_ok(&cmd).await?;
            if reset_ok.is_some() {
                reset_ok = Some(ok);
            }
        }
        if let Some(on) = set_option {
            // COM_SET_OPTION: 0 turns multi-statements on, 1 off. The reply is an EOF.
            self.expect_ok(&[COM_SET_OPTION, u8::from(!on), 0]).await?;
        }
        if let Some(sql) = set {
            let mut cmd = vec![COM_QUERY];
            cmd.extend_from_slice(sql.as_bytes());
            if let Err(e) = self.expect_ok(&cmd).await {
                tracing::debug!(server = %self.server.name, sql = %sql, error = %e, "replaying session state failed");
                return Err(e);
            }
        }
        self.session = ConnSession { state: want.clone(), unknown: false };
        Ok(reset_ok)
    }

    /// Sends a command whose reply is one packet; an ERR becomes `Refused`.
    async fn expect_ok(&mut self, payload: &[u8]) -> Result<Vec<u8>, BackendError> {
        let reply = self.simple_command(payload).await?;
        if reply.first() == Some(&0xFF) {
            return Err(refused(&self.server, &reply));
        }
        Ok(reply)
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
        self.statements.clear();
        // COM_CHANGE_USER put the tracking variables back to their defaults.
        self.setup_tracking(Setup::AfterChangeUser).await?;
        self.session = ConnSession {
            state: Replayable::new(params.database.clone(), params.collation, self.session.state.multi_statements),
            unknown: false,
        };
        Ok(ok)
    }

    /// Runs a statement whose reply is a single OK or ERR packet (KILL, SET) and
    /// returns that packet's payload.
    pub async fn simple_query(&mut self, sql: &str) -> Result<Vec<u8>, BackendError> {
        let mut payload = Vec::with_capacity(1 + sql.len());
        payload.push(COM_QUERY);
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

    /// Turns full session tracking back on after a client's SET changed it.
    pub async fn retrack(&mut self) -> Result<(), BackendError> {
        self.setup_tracking(Setup::Retrack).await
    }

    fn tracks_sessions(&self) -> bool {
        self.greeting.capabilities & CLIENT_SESSION_TRACK != 0
    }

    /// Learns the server's default tracking (on a new connection) and turns on
    /// tracking of everything.
    async fn setup_tracking(&mut self, setup: Setup) -> Result<(), BackendError> {
        let mut sets = Vec::new();
        if self.tracks_sessions() {
            sets.push(TRACK_EVERYTHING);
        }
        if setup == Setup::AfterChangeUser && self.key.capabilities & CLIENT_IGNORE_SPACE != 0 {
            // The server turns IGNORE_SPACE on in sql_mode for such clients at
            // login only; COM_CHANGE_USER dropped it with the rest of the session.
            sets.push("sql_mode = CONCAT(@@sql_mode, ',IGNORE_SPACE')");
        }
        if sets.is_empty() {
            return Ok(());
        }
        if setup == Setup::NewConnection && self.tracks_sessions() {
            let rows = self.query_rows(READ_TRACKING).await?;
            let row = rows.first().ok_or_else(|| protocol_err(&self.server, "no row for tracking defaults".into()))?;
            let text = |i: usize| row.get(i).and_then(|v| v.as_ref()).map(|v| String::from_utf8_lossy(v).into_owned());
            let vars = text(0).unwrap_or_default();
            self.tracking_defaults = ClientTracking {
                enabled: true,
                variables: parse_tracked_variables(&vars),
                schema: text(1).is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("on")),
                state_change: text(2).is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("on")),
            };
        }
        let sql = format!("SET SESSION {}", sets.join(", "));
        let reply = self.simple_query(&sql).await?;
        if reply.first() == Some(&0xFF) {
            return Err(refused(&self.server, &reply));
        }
        Ok(())
    }

    /// Runs a query that returns a small text result set and returns its rows.
    pub async fn query_rows(&mut self, sql: &str) -> Result<Vec<TextRow>, BackendError> {
        self.query_table(sql).await.map(|(_, rows)| rows)
    }

    /// Like `query_rows`, with the column names (for replies such as SHOW SLAVE
    /// STATUS whose columns vary by server version).
    pub async fn query_table(&mut self, sql: &str) -> Result<(Vec<String>, Vec<TextRow>), BackendError> {
        let server = self.server.clone();
        let mut payload = Vec::with_capacity(1 + sql.len());
        payload.push(COM_QUERY);
        payload.extend_from_slice(sql.as_bytes());
        self.busy = true;
        self.io.write_payload(0, &payload).await.map_err(|e| stream_err(&server, e.into()))?;
        let mut scanner = ResponseScanner::new(ResponseKind::Results { cursor: false }, self.deprecate_eof());
        let mut packets = Vec::new();
        loop {
            let (_, p) = self.io.read_payload(AUTH_PACKET_LIMIT).await.map_err(|e| stream_err(&server, e))?;
            let step = scanner.on_packet(p.len(), &p).map_err(|e| protocol_err(&server, e.to_string()))?;
            if p.first() == Some(&0xFF) && packets.is_empty() {
                self.busy = false;
                return Err(refused(&server, &p));
            }
            packets.push(p);
            match step {
                Step::Done => break,
                Step::More => {}
                Step::LocalInfile => return Err(protocol_err(&server, "unexpected LOCAL INFILE request".into())),
            }
        }
        self.busy = false;
        let columns = packets.first().and_then(|p| read_lenenc(p)).map(|(n, _)| n as usize).unwrap_or(0);
        let skip = 1 + columns + usize::from(!self.deprecate_eof());
        let names = packets.get(1..1 + columns).unwrap_or(&[]).iter().map(|def| column_name(def)).collect();
        let rows = packets.get(skip..packets.len().saturating_sub(1)).unwrap_or(&[]);
        Ok((names, rows.iter().map(|r| parse_text_row(r, columns)).collect()))
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
                    // Over TLS the password itself is sent, as the MySQL client does.
                    Some(4) if self.io.is_tls() => {
                        let mut pass = password.as_bytes().to_vec();
                        pass.push(0);
                        self.io.write_payload(next, &pass).await.map_err(|e| stream_err(&server, e.into()))?;
                    }
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
                        // mysql_common panics on a key it cannot parse; a server's
                        // bytes must not bring the proxy down.
                        let encrypted = std::panic::catch_unwind(|| mysql_common::crypto::encrypt(&pass, pem))
                            .map_err(|_| protocol_err(&server, "unusable RSA public key from the server".into()))?;
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

/// `session_track_system_variables` as a list of names; `None` for `*`.
fn parse_tracked_variables(text: &str) -> Option<Vec<String>> {
    let names: Vec<String> = text.split(',').map(|v| v.trim().to_ascii_lowercase()).filter(|v| !v.is_empty()).collect();
    if names.iter().any(|n| n == "*") {
        None
    } else {
        Some(names)
    }
}

fn parse_text_row(packet: &[u8], columns: usize) -> TextRow {
    let mut out = Vec::with_capacity(columns);
    let mut rest = packet;
    for _ in 0..columns {
        if rest.first() == Some(&0xFB) {
            out.push(None);
            rest = &rest[1..];
            continue;
        }
        match read_lenenc(rest) {
            Some((len, n)) => {
                let end = n.saturating_add(len as usize).min(rest.len());
                out.push(Some(rest[n..end].to_vec()));
                rest = &rest[end..];
            }
            None => out.push(None),
        }
    }
    out
}

fn stream_err(server: &ServerAddr, e: StreamError) -> BackendError {
    match e {
        StreamError::Io(source) => {
            BackendError::Connect { server: server.name.clone(), address: server.address.clone(), source }
        }
        other => protocol_err(server, other.to_string()),
    }
}

fn tls_err(server: &ServerAddr, what: String) -> BackendError {
    BackendError::Tls { server: server.name.clone(), address: server.address.clone(), what }
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

/// The name in a column definition: its fifth length-encoded string (after
/// catalog, schema, table and org_table).
fn column_name(def: &[u8]) -> String {
    let mut rest = def;
    for _ in 0..4 {
        match read_lenenc(rest) {
            Some((n, used)) => rest = rest.get(used + n as usize..).unwrap_or(&[]),
            None => return String::new(),
        }
    }
    match read_lenenc(rest) {
        Some((n, used)) => String::from_utf8_lossy(rest.get(used..used + n as usize).unwrap_or(&[])).into_owned(),
        None => String::new(),
    }
}
