//! A minimal synchronous MySQL client speaking raw packets, so tests can compare
//! what a server and the proxy send byte for byte, with chosen capabilities.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use rwsplit::protocol::auth::client_auth_response;
use rwsplit::protocol::command::ResponseKind;
use rwsplit::protocol::handshake::{BackendHello, Greeting, PROXY_CAPABILITIES};
use rwsplit::protocol::packet::{PacketHeader, MAX_PAYLOAD};
use rwsplit::protocol::response::{ResponseScanner, Step};

pub struct RawClient {
    stream: TcpStream,
    pub capabilities: u32,
    pub greeting: Greeting,
}

/// Capabilities a modern client sends: everything the proxy offers.
pub const MODERN: u32 = PROXY_CAPABILITIES;
pub const CLIENT_DEPRECATE_EOF: u32 = 0x0100_0000;

impl RawClient {
    /// Connects and logs in; returns the client and the server's final auth packet.
    pub fn connect(addr: &str, user: &str, password: &str, db: Option<&str>, capabilities: u32) -> (Self, Vec<u8>) {
        let (c, reply, _) = Self::connect_with_plugin(addr, user, password, db, capabilities, "mysql_native_password");
        (c, reply)
    }

    /// Logs in starting with `plugin`, following an auth switch if the server asks
    /// for one; the last value says whether it did.
    pub fn connect_with_plugin(
        addr: &str,
        user: &str,
        password: &str,
        db: Option<&str>,
        capabilities: u32,
        plugin: &str,
    ) -> (Self, Vec<u8>, bool) {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        let mut c = Self { stream, capabilities, greeting: placeholder_greeting() };
        let (_, g) = c.read_packet();
        c.greeting = Greeting::parse(&g).expect("greeting");
        let caps = capabilities & c.greeting.capabilities;
        c.capabilities = caps;
        let auth = client_auth_response(plugin, &c.greeting.nonce, password).expect("known plugin");
        let hello = BackendHello {
            tls: false,
            capabilities: caps,
            mariadb_capabilities: 0,
            max_packet: 1 << 30,
            collation: 45,
            user,
            auth_response: &auth,
            database: db,
            auth_plugin: plugin,
            attributes: &[],
        };
        c.write_packet(1, &hello.to_payload());
        let (seq, reply) = c.read_packet();
        if reply.first() != Some(&0xFE) {
            return (c, reply, false);
        }
        let (new_plugin, nonce) = rwsplit::protocol::handshake::parse_auth_switch(&reply).expect("auth switch");
        let auth = client_auth_response(&new_plugin, &nonce, password).expect("known plugin");
        c.write_packet(seq.wrapping_add(1), &auth);
        let (_, reply) = c.read_packet();
        (c, reply, true)
    }

    pub fn write_packet(&mut self, seq: u8, payload: &[u8]) {
        let mut out = bytes::BytesMut::new();
        rwsplit::protocol::packet::write_packet(&mut out, seq, payload);
        self.stream.write_all(&out).expect("write");
    }

    /// Reads one logical packet (joined if split): (last sequence id, payload).
    pub fn read_packet(&mut self) -> (u8, Vec<u8>) {
        let mut payload = Vec::new();
        loop {
            let mut h = [0u8; 4];
            self.stream.read_exact(&mut h).expect("read header");
            let h = PacketHeader::parse(&h).expect("header");
            let start = payload.len();
            payload.resize(start + h.len, 0);
            self.stream.read_exact(&mut payload[start..]).expect("read body");
            if h.len < MAX_PAYLOAD {
                return (h.seq, payload);
            }
        }
    }

    /// Sends a command and reads its whole reply as a list of (seq, payload).
    pub fn command(&mut self, payload: &[u8], kind: ResponseKind) -> Vec<(u8, Vec<u8>)> {
        self.write_packet(0, payload);
        self.read_reply(kind)
    }

    pub fn read_reply(&mut self, kind: ResponseKind) -> Vec<(u8, Vec<u8>)> {
        let out = self.read_reply_unchecked(kind);
        if !out.is_empty() {
            self.assert_quiet();
        }
        out
    }

    /// Sends a command and reads its reply up to where the scanner says it
    /// ends, without waiting to see that nothing follows (`command` waits
    /// 30 ms for that): for many connections in a row.
    pub fn request(&mut self, payload: &[u8], kind: ResponseKind) -> Vec<(u8, Vec<u8>)> {
        self.write_packet(0, payload);
        self.read_reply_unchecked(kind)
    }

    fn read_reply_unchecked(&mut self, kind: ResponseKind) -> Vec<(u8, Vec<u8>)> {
        let mut scanner = ResponseScanner::new(kind, self.capabilities & CLIENT_DEPRECATE_EOF != 0);
        let mut out = Vec::new();
        if scanner.is_done() {
            return out;
        }
        loop {
            let (seq, p) = self.read_packet();
            let step = scanner.on_packet(p.len(), &p).expect("well-formed reply");
            out.push((seq, p));
            if step == Step::Done {
                break;
            }
            assert_ne!(step, Step::LocalInfile, "use command_infile for LOAD DATA");
        }
        out
    }

    /// Nothing more may arrive after a reply the scanner called complete.
    pub fn assert_quiet(&mut self) {
        self.stream.set_read_timeout(Some(Duration::from_millis(30))).expect("timeout");
        let mut b = [0u8; 1];
        let extra = self.stream.read(&mut b);
        self.stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        match extra {
            Ok(0) => {}
            Ok(_) => panic!("data after the end of a reply"),
            Err(e) => assert!(matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut), "{e}"),
        }
    }

    /// True when the peer closed the connection (read returns 0 or an error).
    pub fn is_closed(&mut self) -> bool {
        self.stream.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
        let mut b = [0u8; 1];
        matches!(self.stream.read(&mut b), Ok(0) | Err(_))
    }

    pub fn raw_write(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    /// The logged-in socket, for tests that go on byte by byte (tests/hostile.rs).
    pub fn into_stream(self) -> TcpStream {
        self.stream
    }
}

fn placeholder_greeting() -> Greeting {
    Greeting {
        server_version: String::new(),
        connection_id: 0,
        nonce: Vec::new(),
        capabilities: 0,
        mariadb_capabilities: 0,
        collation: 0,
        status: 0,
        auth_plugin: String::new(),
    }
}
