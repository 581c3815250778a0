//! The connection phase: the server greeting, the client's handshake response and
//! auth switch requests, in both directions (clients talk to the proxy as a server,
//! the proxy talks to backends as a client).
//! <https://mariadb.com/kb/en/connection/>

use mysql_common::constants::{CapabilityFlags, MariadbCapabilities, StatusFlags};
use mysql_common::io::ParseBuf;
use mysql_common::packets::{HandshakePacket, HandshakeResponse};
use mysql_common::proto::MyDeserialize;
use mysql_common::proto::MySerialize;

use super::auth::SCRAMBLE_LEN;
use super::packet::put_lenenc;

pub const CLIENT_LONG_PASSWORD: u32 = 0x0000_0001;
pub const CLIENT_CONNECT_WITH_DB: u32 = 0x0000_0008;
pub const CLIENT_COMPRESS: u32 = 0x0000_0020;
pub const CLIENT_LOCAL_FILES: u32 = 0x0000_0080;
pub const CLIENT_PROTOCOL_41: u32 = 0x0000_0200;
pub const CLIENT_SSL: u32 = 0x0000_0800;
pub const CLIENT_SECURE_CONNECTION: u32 = 0x0000_8000;
pub const CLIENT_MULTI_STATEMENTS: u32 = 0x0001_0000;
pub const CLIENT_PLUGIN_AUTH: u32 = 0x0008_0000;
pub const CLIENT_CONNECT_ATTRS: u32 = 0x0010_0000;
pub const CLIENT_PLUGIN_AUTH_LENENC: u32 = 0x0020_0000;
pub const CLIENT_SESSION_TRACK: u32 = 0x0080_0000;
pub const CLIENT_DEPRECATE_EOF: u32 = 0x0100_0000;

/// Everything the proxy offers clients, before intersecting with what the backend
/// offers. Left out on purpose: compression (not implemented), SSL (not yet),
/// CLIENT_OPTIONAL_RESULTSET_METADATA, query attributes and zstd (MySQL 8 reply
/// shapes the response scanner does not know).
pub const PROXY_CAPABILITIES: u32 = CLIENT_LONG_PASSWORD
    | 0x0000_0002 // FOUND_ROWS
    | 0x0000_0004 // LONG_FLAG
    | CLIENT_CONNECT_WITH_DB
    | 0x0000_0010 // NO_SCHEMA
    | 0x0000_0040 // ODBC
    | CLIENT_LOCAL_FILES
    | 0x0000_0100 // IGNORE_SPACE
    | CLIENT_PROTOCOL_41
    | 0x0000_0400 // INTERACTIVE
    | 0x0000_1000 // IGNORE_SIGPIPE
    | 0x0000_2000 // TRANSACTIONS
    | CLIENT_SECURE_CONNECTION
    | CLIENT_MULTI_STATEMENTS
    | 0x0002_0000 // MULTI_RESULTS
    | 0x0004_0000 // PS_MULTI_RESULTS
    | CLIENT_PLUGIN_AUTH
    | CLIENT_CONNECT_ATTRS
    | CLIENT_PLUGIN_AUTH_LENENC
    | 0x0040_0000 // CAN_HANDLE_EXPIRED_PASSWORDS
    | CLIENT_SESSION_TRACK
    | CLIENT_DEPRECATE_EOF;

/// MariaDB extended capabilities the proxy relays. Progress reports (interleaved
/// 0xFF packets) are not offered. Metadata caching is: executions of prepared
/// statements then skip the column definitions, which saves the servers the
/// work of encoding them; the proxy puts them back when a client's cached set
/// differs from what the executing connection has (see `relay_reply`).
pub const PROXY_MARIADB_CAPABILITIES: u32 = MariadbCapabilities::MARIADB_CLIENT_STMT_BULK_OPERATIONS.bits()
    | MariadbCapabilities::MARIADB_CLIENT_EXTENDED_METADATA.bits()
    | MARIADB_CACHE_METADATA;

pub const MARIADB_CACHE_METADATA: u32 = MariadbCapabilities::MARIADB_CLIENT_CACHE_METADATA.bits();

/// Capabilities that shape the conversation after the handshake. Two connections
/// that agree on these can serve each other's clients; the rest (auth details,
/// CONNECT_WITH_DB, attributes) only matter during the handshake. Session
/// tracking is not among them: backend connections always track, and OK packets
/// are rewritten for clients that did not ask for it.
pub const SESSION_CAPABILITIES: u32 = 0x0000_0002
    | 0x0000_0004
    | 0x0000_0010
    | 0x0000_0040
    | CLIENT_LOCAL_FILES
    | 0x0000_0100
    | CLIENT_PROTOCOL_41
    | 0x0000_0400
    | 0x0000_2000
    | CLIENT_MULTI_STATEMENTS
    | 0x0002_0000
    | 0x0004_0000
    | CLIENT_DEPRECATE_EOF;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("unsupported protocol version {0}")]
    ProtocolVersion(u8),
}

/// A server's initial handshake, as the proxy needs it from a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    pub server_version: String,
    pub connection_id: u32,
    pub nonce: Vec<u8>,
    pub capabilities: u32,
    pub mariadb_capabilities: u32,
    pub collation: u8,
    pub status: u16,
    pub auth_plugin: String,
}

impl Greeting {
    pub fn parse(payload: &[u8]) -> Result<Self, HandshakeError> {
        match payload.first() {
            Some(10) => {}
            Some(v) => return Err(HandshakeError::ProtocolVersion(*v)),
            None => return Err(HandshakeError::Malformed("greeting")),
        }
        // mysql_common computes `max(13, auth_plugin_data_len as i8 - 8)`, which
        // overflows (a panic with overflow checks on) for a length byte of
        // 0x80..=0x87. It treats every length with the high bit set as "negative",
        // i.e. 13 bytes; clear such a byte to 0 so all of them mean just that.
        let fixed;
        let mut payload = payload;
        if let Some(at) = auth_data_len_offset(payload).filter(|&at| payload[at] >= 0x80) {
            fixed = [&payload[..at], &[0], &payload[at + 1..]].concat();
            payload = &fixed;
        }
        let p = HandshakePacket::deserialize((), &mut ParseBuf(payload))
            .map_err(|_| HandshakeError::Malformed("greeting"))?;
        let caps = p.capabilities().bits();
        // MariaDB clears CLIENT_LONG_PASSWORD ("CLIENT_MYSQL") to say that the last
        // four filler bytes carry its extended capabilities.
        let mariadb_capabilities =
            if caps & CLIENT_LONG_PASSWORD == 0 { p.mariadb_ext_capabilities().bits() } else { 0 };
        Ok(Self {
            server_version: p.server_version_str().into_owned(),
            connection_id: p.connection_id(),
            nonce: p.nonce(),
            capabilities: caps,
            mariadb_capabilities,
            collation: p.default_collation(),
            status: p.status_flags().bits(),
            auth_plugin: p.auth_plugin_name_str().map(|s| s.into_owned()).unwrap_or_default(),
        })
    }

    /// The greeting the proxy sends a client.
    pub fn to_payload(&self) -> Vec<u8> {
        let (part1, part2) = self.nonce.split_at(self.nonce.len().min(8));
        let mut scramble_1 = [0u8; 8];
        scramble_1[..part1.len()].copy_from_slice(part1);
        // Part two goes out NUL-terminated, as servers send it.
        let mut scramble_2 = part2.to_vec();
        scramble_2.push(0);
        let mut caps = self.capabilities;
        if self.mariadb_capabilities != 0 {
            caps &= !CLIENT_LONG_PASSWORD;
        }
        let p = HandshakePacket::new(
            10,
            self.server_version.as_bytes(),
            self.connection_id,
            scramble_1,
            Some(scramble_2),
            CapabilityFlags::from_bits_retain(caps),
            self.collation,
            StatusFlags::from_bits_retain(self.status),
            Some(self.auth_plugin.as_bytes()),
        )
        .with_mariadb_ext_capabilities(MariadbCapabilities::from_bits_retain(self.mariadb_capabilities));
        let mut out = Vec::with_capacity(128);
        p.serialize(&mut out);
        out
    }
}

/// Where a greeting's auth_plugin_data_len byte sits: after the protocol version,
/// the NUL-terminated server version, the connection id (4), the first part of
/// the nonce (8), a filler (1), capabilities (2), collation (1), status (2) and
/// the upper capabilities (2).
fn auth_data_len_offset(payload: &[u8]) -> Option<usize> {
    let nul = 1 + payload.get(1..)?.iter().position(|b| *b == 0)?;
    let at = nul + 1 + 4 + 8 + 1 + 2 + 1 + 2 + 2;
    (at < payload.len()).then_some(at)
}

/// A client's handshake response, as the proxy needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientHello {
    pub capabilities: u32,
    pub mariadb_capabilities: u32,
    pub max_packet: u32,
    pub collation: u8,
    pub user: String,
    pub auth_response: Vec<u8>,
    pub database: Option<String>,
    pub auth_plugin: Option<String>,
    pub attributes: Vec<(String, String)>,
}

impl std::fmt::Debug for ClientHello {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientHello")
            .field("capabilities", &format_args!("{:#x}", self.capabilities))
            .field("user", &self.user)
            .field("database", &self.database)
            .field("auth_plugin", &self.auth_plugin)
            .finish_non_exhaustive()
    }
}

/// Length of an SSLRequest: a handshake response cut after its fixed part.
pub const SSL_REQUEST_LEN: usize = 32;

impl ClientHello {
    pub fn parse(payload: &[u8]) -> Result<Self, HandshakeError> {
        if payload.len() < 4 {
            return Err(HandshakeError::Malformed("handshake response"));
        }
        let caps = u32::from_le_bytes([payload[0], payload[1], payload[2], payload[3]]);
        if caps & CLIENT_PROTOCOL_41 == 0 {
            // Pre-4.1 clients (the 323 handshake) are long gone; MariaDB refuses them too.
            return Err(HandshakeError::Malformed("handshake response (pre-4.1 protocol)"));
        }
        let r = HandshakeResponse::deserialize((), &mut ParseBuf(payload))
            .map_err(|_| HandshakeError::Malformed("handshake response"))?;
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let mut attributes: Vec<(String, String)> = r.connect_attributes().unwrap_or_default().into_iter().collect();
        attributes.sort();
        Ok(Self {
            capabilities: caps,
            mariadb_capabilities: if caps & CLIENT_LONG_PASSWORD == 0 {
                r.mariadb_ext_capabilities().bits()
            } else {
                0
            },
            max_packet: u32::from_le_bytes([payload[4], payload[5], payload[6], payload[7]]),
            collation: r.collation(),
            user: text(r.user()),
            auth_response: r.scramble_buf().to_vec(),
            database: r.db_name().filter(|d| !d.is_empty()).map(text),
            auth_plugin: r.auth_plugin().map(|p| text(p.as_bytes())),
            attributes,
        })
    }
}

/// An SSLRequest: the fixed part of a handshake response with CLIENT_SSL,
/// after which the client starts TLS and sends the whole response over it.
pub fn ssl_request(capabilities: u32, mariadb_capabilities: u32, max_packet: u32, collation: u8) -> Vec<u8> {
    let mut caps = (capabilities | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_SSL) & !CLIENT_COMPRESS;
    if mariadb_capabilities != 0 {
        caps &= !CLIENT_LONG_PASSWORD;
    }
    let mut out = Vec::with_capacity(SSL_REQUEST_LEN);
    out.extend_from_slice(&caps.to_le_bytes());
    out.extend_from_slice(&max_packet.to_le_bytes());
    out.push(collation);
    out.extend_from_slice(&[0u8; 19]);
    out.extend_from_slice(&mariadb_capabilities.to_le_bytes());
    out
}

/// What the proxy sends a backend in its handshake response.
pub struct BackendHello<'a> {
    /// Sent over TLS (after an SSLRequest): CLIENT_SSL stays set, as it was there.
    pub tls: bool,
    pub capabilities: u32,
    pub mariadb_capabilities: u32,
    pub max_packet: u32,
    pub collation: u8,
    pub user: &'a str,
    pub auth_response: &'a [u8],
    pub database: Option<&'a str>,
    pub auth_plugin: &'a str,
    pub attributes: &'a [(&'a str, &'a str)],
}

impl BackendHello<'_> {
    /// Serialised by hand: mysql_common's builder picks the collation itself, and
    /// the proxy must pass on the client's.
    pub fn to_payload(&self) -> Vec<u8> {
        let mut caps = self.capabilities
            | CLIENT_PROTOCOL_41
            | CLIENT_SECURE_CONNECTION
            | CLIENT_PLUGIN_AUTH
            | CLIENT_PLUGIN_AUTH_LENENC
            | CLIENT_CONNECT_ATTRS;
        caps &= !(CLIENT_SSL | CLIENT_COMPRESS);
        if self.tls {
            caps |= CLIENT_SSL;
        }
        if self.database.is_some() {
            caps |= CLIENT_CONNECT_WITH_DB;
        } else {
            caps &= !CLIENT_CONNECT_WITH_DB;
        }
        if self.mariadb_capabilities != 0 {
            caps &= !CLIENT_LONG_PASSWORD;
        }
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(&caps.to_le_bytes());
        out.extend_from_slice(&self.max_packet.to_le_bytes());
        out.push(self.collation);
        out.extend_from_slice(&[0u8; 19]);
        out.extend_from_slice(&self.mariadb_capabilities.to_le_bytes());
        put_cstr(&mut out, self.user);
        put_lenenc(&mut out, self.auth_response.len() as u64);
        out.extend_from_slice(self.auth_response);
        if let Some(db) = self.database {
            put_cstr(&mut out, db);
        }
        put_cstr(&mut out, self.auth_plugin);
        let mut attrs = Vec::new();
        for (k, v) in self.attributes {
            put_lenenc(&mut attrs, k.len() as u64);
            attrs.extend_from_slice(k.as_bytes());
            put_lenenc(&mut attrs, v.len() as u64);
            attrs.extend_from_slice(v.as_bytes());
        }
        put_lenenc(&mut out, attrs.len() as u64);
        out.extend_from_slice(&attrs);
        out
    }
}

fn put_cstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

/// An auth switch request (0xFE, plugin name, plugin data).
pub fn auth_switch_payload(plugin: &str, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + plugin.len() + data.len() + 1);
    out.push(0xFE);
    put_cstr(&mut out, plugin);
    out.extend_from_slice(data);
    out.push(0);
    out
}

/// Parses an auth switch request from a server: (plugin, nonce without its NUL).
pub fn parse_auth_switch(payload: &[u8]) -> Option<(String, Vec<u8>)> {
    let rest = payload.strip_prefix(&[0xFE])?;
    let nul = rest.iter().position(|b| *b == 0)?;
    let plugin = String::from_utf8_lossy(&rest[..nul]).into_owned();
    let data = &rest[nul + 1..];
    let data = data.strip_suffix(&[0]).unwrap_or(data);
    Some((plugin, data.to_vec()))
}

/// A COM_CHANGE_USER from a client, parsed with the client's capabilities.
#[derive(Clone)]
pub struct ChangeUser {
    pub user: String,
    pub auth_response: Vec<u8>,
    pub database: Option<String>,
    pub collation: Option<u16>,
    pub auth_plugin: Option<String>,
}

impl ChangeUser {
    /// Parsed by hand: the fields after the database are optional and their
    /// presence depends on capabilities, and hostile input must not panic.
    pub fn parse(payload: &[u8], client_caps: u32) -> Result<Self, HandshakeError> {
        let bad = || HandshakeError::Malformed("COM_CHANGE_USER");
        let rest = payload.strip_prefix(&[super::command::COM_CHANGE_USER]).ok_or_else(bad)?;
        let (user, rest) = take_cstr(rest).ok_or_else(bad)?;
        let (&len, rest) = rest.split_first().ok_or_else(bad)?;
        let auth = rest.get(..usize::from(len)).ok_or_else(bad)?.to_vec();
        let rest = &rest[usize::from(len)..];
        let (db, rest) = take_cstr(rest).ok_or_else(bad)?;
        let mut collation = None;
        let mut plugin = None;
        if rest.len() >= 2 {
            collation = Some(u16::from_le_bytes([rest[0], rest[1]]));
            let rest = &rest[2..];
            if client_caps & CLIENT_PLUGIN_AUTH != 0 {
                if let Some((p, _)) = take_cstr(rest) {
                    plugin = Some(p.to_string()).filter(|p| !p.is_empty());
                }
            }
        }
        Ok(Self {
            user: user.to_string(),
            auth_response: auth,
            database: Some(db.to_string()).filter(|d| !d.is_empty()),
            collation,
            auth_plugin: plugin,
        })
    }
}

fn take_cstr(buf: &[u8]) -> Option<(&str, &[u8])> {
    let nul = buf.iter().position(|b| *b == 0)?;
    let s = std::str::from_utf8(&buf[..nul]).ok()?;
    Some((s, &buf[nul + 1..]))
}

/// A COM_CHANGE_USER the proxy sends a backend to hand a pooled connection to a new
/// session: it resets the whole session (variables, temporary tables, prepared
/// statements, transaction) and sets user, database and character set in one trip.
pub fn change_user_payload(user: &str, auth: &[u8], database: Option<&str>, collation: u8, plugin: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    out.push(super::command::COM_CHANGE_USER);
    put_cstr(&mut out, user);
    out.push(auth.len() as u8);
    out.extend_from_slice(auth);
    put_cstr(&mut out, database.unwrap_or(""));
    out.extend_from_slice(&u16::from(collation).to_le_bytes());
    put_cstr(&mut out, plugin);
    // CLIENT_CONNECT_ATTRS is always on for backend connections: an empty set.
    out.push(0);
    out
}

pub fn scramble_from_nonce(nonce: &[u8]) -> [u8; SCRAMBLE_LEN] {
    let mut s = [0u8; SCRAMBLE_LEN];
    let n = nonce.len().min(SCRAMBLE_LEN);
    s[..n].copy_from_slice(&nonce[..n]);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn greeting() -> Greeting {
        Greeting {
            server_version: "5.5.5-10.11.19-MariaDB-0+deb12u1-log".into(),
            connection_id: 42,
            nonce: b"abcdefghijklmnopqrst".to_vec(),
            capabilities: PROXY_CAPABILITIES,
            mariadb_capabilities: PROXY_MARIADB_CAPABILITIES,
            collation: 45,
            status: 2,
            auth_plugin: "mysql_native_password".into(),
        }
    }

    #[test]
    fn greeting_round_trip() {
        let g = greeting();
        let parsed = Greeting::parse(&g.to_payload()).expect("parses");
        assert_eq!(parsed.server_version, g.server_version);
        assert_eq!(parsed.nonce, g.nonce);
        assert_eq!(parsed.mariadb_capabilities, g.mariadb_capabilities);
        assert_eq!(parsed.capabilities, g.capabilities & !CLIENT_LONG_PASSWORD);
        assert_eq!(parsed.auth_plugin, "mysql_native_password");
    }

    #[test]
    fn backend_hello_parses_as_client_hello() {
        let h = BackendHello {
            tls: false,
            capabilities: PROXY_CAPABILITIES,
            mariadb_capabilities: PROXY_MARIADB_CAPABILITIES,
            max_packet: 1 << 24,
            collation: 224,
            user: "app",
            auth_response: &[7; 20],
            database: Some("test"),
            auth_plugin: "mysql_native_password",
            attributes: &[("_client_name", "rwsplit")],
        };
        let c = ClientHello::parse(&h.to_payload()).expect("parses");
        assert_eq!(c.user, "app");
        assert_eq!(c.collation, 224);
        assert_eq!(c.database.as_deref(), Some("test"));
        assert_eq!(c.auth_response, vec![7; 20]);
        assert_eq!(c.attributes, vec![("_client_name".into(), "rwsplit".into())]);
        assert_eq!(c.mariadb_capabilities, PROXY_MARIADB_CAPABILITIES);
    }

    #[test]
    fn change_user_round_trip() {
        let p = change_user_payload("app", &[1; 20], Some("test"), 33, "mysql_native_password");
        let c = ChangeUser::parse(&p, PROXY_CAPABILITIES).expect("parses");
        assert_eq!(c.user, "app");
        assert_eq!(c.database.as_deref(), Some("test"));
        assert_eq!(c.collation, Some(33));
        assert_eq!(c.auth_plugin.as_deref(), Some("mysql_native_password"));
    }

    #[test]
    fn garbage_never_panics() {
        for len in 0..64 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let _ = ClientHello::parse(&junk);
            let _ = Greeting::parse(&junk);
            let _ = ChangeUser::parse(&junk, PROXY_CAPABILITIES);
            let _ = parse_auth_switch(&junk);
        }
    }

    #[test]
    fn auth_switch_round_trip() {
        let p = auth_switch_payload("mysql_native_password", b"01234567890123456789");
        assert_eq!(parse_auth_switch(&p), Some(("mysql_native_password".into(), b"01234567890123456789".to_vec())));
    }
}
