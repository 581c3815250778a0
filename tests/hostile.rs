//! Hostile input over real sockets: truncated and oversized packets, wrong
//! sequence ids, handshake responses with lengths pointing anywhere, commands
//! before the login, prepared-statement commands with bad ids and parameters,
//! file data nobody asked for, unknown commands, long data without end. Each
//! case must get the server's error (the same code, SQLSTATE and sequence id
//! as MariaDB answers the same bytes with, where that is meaningful) or a
//! clean close, within a bounded time; meanwhile a normal client keeps working
//! through the same proxy, and the proxy's memory and file descriptors come
//! back once the attackers leave. Memory is also checked where a client can
//! make the proxy keep things: long data, prepared statements.
//!
//! tests/protocol_raw.rs compares well-formed commands byte for byte (and covers
//! a packet over max_allowed_packet, and binlog dumps); tests/fuzz.rs feeds the
//! parsers random bytes without a socket.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use common::raw::{RawClient, CLIENT_DEPRECATE_EOF, MODERN};
use common::{report_number, Proxy, MASTER_PORT};
use rwsplit::protocol::auth::client_auth_response;
use rwsplit::protocol::command::ResponseKind;
use rwsplit::protocol::handshake::{BackendHello, Greeting};
use rwsplit::protocol::packet::write_packet;
use rwsplit::protocol::response::{ResponseScanner, Step};

/// Every read and write gives up after this: no case can hang the test.
const WAIT: Duration = Duration::from_secs(10);
/// The test proxy's `proxy.handshake_timeout`.
const HANDSHAKE_TIMEOUT: &str = "3s";
/// The proxy's limit for a handshake response (`HANDSHAKE_LIMIT` in
/// src/frontend/handshake.rs).
const HANDSHAKE_LIMIT: usize = 64 * 1024;
/// How many times each case runs, all at once, in the memory rounds.
const PARALLEL: usize = 50;

const ER_HANDSHAKE_ERROR: u16 = 1043;
const ER_UNKNOWN_COM_ERROR: u16 = 1047;
const ER_NET_PACKETS_OUT_OF_ORDER: u16 = 1156;
const ER_WRONG_ARGUMENTS: u16 = 1210;
const ER_UNKNOWN_STMT_HANDLER: u16 = 1243;
const ER_MALFORMED_PACKET: u16 = 1835;

type Outcome = Result<(), String>;

// ---------------------------------------------------------------------------
// A raw connection that never panics on what the peer does
// ---------------------------------------------------------------------------

/// Where a case runs: the proxy, or the master itself for comparison.
#[derive(Clone, Copy)]
struct Target<'a> {
    addr: &'a str,
    proxy: bool,
}

/// What came back from the peer.
#[derive(Debug)]
enum Heard {
    Packet(u8, Vec<u8>),
    /// End of stream: an orderly close.
    Closed,
    Reset,
    /// Nothing within the wait.
    Quiet,
    /// The stream ended, or went quiet, in the middle of a packet.
    Cut,
    Failed(String),
}

struct Wire {
    s: TcpStream,
    /// Talking to the proxy, which must close cleanly (a server may reset).
    proxy: bool,
}

impl Wire {
    /// Connects and reads the greeting; nothing sent yet.
    fn greeted(t: Target) -> Result<(Wire, Greeting), String> {
        let s = TcpStream::connect(t.addr).map_err(|e| format!("connect {}: {e}", t.addr))?;
        let _ = s.set_nodelay(true);
        let _ = s.set_write_timeout(Some(WAIT));
        let mut w = Wire { s, proxy: t.proxy };
        match w.hear(WAIT) {
            Heard::Packet(0, g) => {
                let g = Greeting::parse(&g).map_err(|e| format!("greeting: {e}"))?;
                Ok((w, g))
            }
            other => Err(format!("no greeting: {other:?}")),
        }
    }

    /// A connection logged in as app/app on `test` (tests/common/raw.rs).
    fn logged_in(t: Target) -> Result<Wire, String> {
        let (c, ok) = RawClient::connect(t.addr, "app", "app", Some("test"), MODERN);
        if ok.first() != Some(&0x00) {
            return Err(format!("login failed: {}", String::from_utf8_lossy(&ok)));
        }
        let s = c.into_stream();
        let _ = s.set_write_timeout(Some(WAIT));
        Ok(Wire { s, proxy: t.proxy })
    }

    /// Raw bytes. A write the peer refuses (it closed) is not an error here:
    /// what it said before closing is read next.
    fn send(&mut self, bytes: &[u8]) {
        let _ = self.s.write_all(bytes);
    }

    fn packet(&mut self, seq: u8, payload: &[u8]) {
        let mut out = bytes::BytesMut::new();
        write_packet(&mut out, seq, payload);
        self.send(&out);
    }

    /// The client is done sending (a FIN): the peer sees end-of-stream.
    fn half_close(&mut self) {
        let _ = self.s.shutdown(Shutdown::Write);
    }

    fn hear(&mut self, wait: Duration) -> Heard {
        let _ = self.s.set_read_timeout(Some(wait));
        let mut header = [0u8; 4];
        match read_full(&mut self.s, &mut header) {
            Ok(0) => return Heard::Closed,
            Ok(4) => {}
            Ok(_) => return Heard::Cut,
            Err(e) => return heard_error(e),
        }
        let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
        // Replies to these cases are small; a length read from the peer is not
        // allocated blindly.
        if len > 1 << 20 {
            return Heard::Failed(format!("a reply packet of {len} bytes"));
        }
        let mut body = vec![0u8; len];
        match read_full(&mut self.s, &mut body) {
            Ok(n) if n == len => Heard::Packet(header[3], body),
            Ok(_) => Heard::Cut,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Heard::Cut,
            Err(e) => heard_error(e),
        }
    }

    /// The next packet is ERR `code` with `state`, numbered `seq`; returns its message.
    fn expect_err(&mut self, seq: u8, code: u16, state: &str) -> Result<String, String> {
        match self.hear(WAIT) {
            Heard::Packet(s, p) if p.first() == Some(&0xFF) && p.len() >= 9 => {
                let got_code = u16::from_le_bytes([p[1], p[2]]);
                let got_state = String::from_utf8_lossy(&p[4..9]).into_owned();
                let message = String::from_utf8_lossy(&p[9..]).into_owned();
                if (s, got_code, got_state.as_str()) != (seq, code, state) {
                    return Err(format!(
                        "expected ERR {code} ({state}) seq {seq}, got ERR {got_code} ({got_state}) seq {s}: {message}"
                    ));
                }
                Ok(message)
            }
            other => Err(format!("expected ERR {code} ({state}), heard {}", describe(&other))),
        }
    }

    fn expect_ok(&mut self, seq: u8) -> Outcome {
        match self.hear(WAIT) {
            Heard::Packet(s, p) if s == seq && p.first() == Some(&0x00) => Ok(()),
            other => Err(format!("expected OK seq {seq}, heard {}", describe(&other))),
        }
    }

    /// The peer closes without another word, within `WAIT`. The proxy must close
    /// cleanly; MariaDB resets some connections it drops (data left unread).
    fn expect_closed(&mut self) -> Outcome {
        match self.hear(WAIT) {
            Heard::Closed => Ok(()),
            Heard::Reset if !self.proxy => Ok(()),
            other => Err(format!("expected a clean close, heard {}", describe(&other))),
        }
    }

    /// Nothing arrives for `wait`.
    fn expect_quiet(&mut self, wait: Duration) -> Outcome {
        match self.hear(wait) {
            Heard::Quiet => Ok(()),
            other => Err(format!("expected silence, heard {}", describe(&other))),
        }
    }

    /// The session still works: a COM_PING gets its OK as the very next packet
    /// (so nothing was sent for whatever came before).
    fn expect_alive(&mut self) -> Outcome {
        self.packet(0, &[0x0E]);
        self.expect_ok(1).map_err(|e| format!("session no longer usable: {e}"))
    }

    /// Sends a command and reads its whole reply with the proxy's own scanner.
    fn command(&mut self, payload: &[u8], kind: ResponseKind) -> Result<Vec<Vec<u8>>, String> {
        self.packet(0, payload);
        let mut scanner = ResponseScanner::new(kind, MODERN & CLIENT_DEPRECATE_EOF != 0);
        let mut out = Vec::new();
        loop {
            let p = match self.hear(WAIT) {
                Heard::Packet(_, p) => p,
                other => return Err(format!("reply cut short: {}", describe(&other))),
            };
            let step = scanner.on_packet(p.len(), &p).map_err(|e| format!("malformed reply: {e}"))?;
            out.push(p);
            if step == Step::Done {
                return Ok(out);
            }
        }
    }
}

/// Reads until `buf` is full or the stream ends; the count read.
fn read_full(s: &mut TcpStream, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match s.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if n > 0 && matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return Ok(n),
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

fn heard_error(e: std::io::Error) -> Heard {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => Heard::Quiet,
        ErrorKind::ConnectionReset => Heard::Reset,
        _ => Heard::Failed(e.to_string()),
    }
}

fn describe(h: &Heard) -> String {
    match h {
        Heard::Packet(seq, p) if p.first() == Some(&0xFF) => {
            format!("ERR seq {seq}: {:?}", String::from_utf8_lossy(p))
        }
        Heard::Packet(seq, p) => format!("packet seq {seq} of {} bytes: {:?}", p.len(), &p[..p.len().min(16)]),
        Heard::Failed(e) => format!("a failed read: {e}"),
        other => format!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------
// Handshake responses, good and broken
// ---------------------------------------------------------------------------

fn auth(g: &Greeting) -> Vec<u8> {
    client_auth_response("mysql_native_password", &g.nonce, "app").unwrap_or_default()
}

/// A well-formed handshake response for app/app on `test`.
fn hello(g: &Greeting, attributes: &[(&str, &str)]) -> Vec<u8> {
    let auth = auth(g);
    BackendHello {
        tls: false,
        capabilities: MODERN & g.capabilities,
        mariadb_capabilities: 0,
        max_packet: 1 << 24,
        collation: 45,
        user: "app",
        auth_response: &auth,
        database: Some("test"),
        auth_plugin: "mysql_native_password",
        attributes,
    }
    .to_payload()
}

/// A well-formed handshake response of exactly `size` bytes, padded with one
/// connection attribute. Built once, after the greeting: the handshake
/// timeout is running.
fn hello_of_size(g: &Greeting, size: usize) -> Result<Vec<u8>, String> {
    // Without attributes the response ends in a 1-byte length (0). One
    // attribute "k" = value adds: the block's length prefix, 2 bytes of key,
    // the value's length prefix and the value.
    let base = hello(g, &[]).len() - 1;
    let lenenc = |n: usize| match n {
        0..=250 => 1,
        251..=0xFFFF => 3,
        0x1_0000..=0xFF_FFFF => 4,
        _ => 9,
    };
    let total = |value: usize| {
        let block = 2 + lenenc(value) + value;
        base + lenenc(block) + block
    };
    let value = (0..size).rev().find(|v| total(*v) == size).ok_or(format!("no response of exactly {size} bytes"))?;
    let value = "v".repeat(value);
    let p = hello(g, &[("k", &value)]);
    if p.len() != size {
        return Err(format!("built {} bytes instead of {size}", p.len()));
    }
    Ok(p)
}

/// Capabilities, max packet size, collation and the 23 filler bytes.
fn fixed_part(g: &Greeting) -> Vec<u8> {
    let mut p = (MODERN & g.capabilities).to_le_bytes().to_vec();
    p.extend_from_slice(&(1u32 << 24).to_le_bytes());
    p.push(45);
    p.extend_from_slice(&[0; 23]);
    p
}

/// Everything up to the connection attributes, well formed.
fn up_to_attributes(g: &Greeting) -> Vec<u8> {
    let mut p = fixed_part(g);
    p.extend_from_slice(b"app\0");
    let auth = auth(g);
    p.push(auth.len() as u8);
    p.extend_from_slice(&auth);
    p.extend_from_slice(b"test\0mysql_native_password\0");
    p
}

/// Sends `payload` as the handshake response; expects "Bad handshake" and a close.
fn bad_handshake(t: Target, payload: impl FnOnce(&Greeting) -> Vec<u8>) -> Outcome {
    let (mut w, g) = Wire::greeted(t)?;
    w.packet(1, &payload(&g));
    w.expect_err(2, ER_HANDSHAKE_ERROR, "08S01")?;
    w.expect_closed()
}

// ---------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------

struct Case {
    name: &'static str,
    /// Also run against the master: it answers the same bytes the same way.
    like_server: bool,
    /// The case, on `t`, in its `i`-th run.
    run: fn(Target, usize) -> Outcome,
}

const CASES: &[Case] = &[
    // --- before the login ---
    Case {
        name: "1-3 header bytes, then the client closes",
        like_server: true,
        run: |t, i| {
            let (mut w, _) = Wire::greeted(t)?;
            w.send(&[0x20, 0x00, 0x00][..1 + i % 3]);
            w.half_close();
            w.expect_closed()
        },
    },
    Case {
        name: "1-3 header bytes, then silence: closed by the handshake timeout",
        like_server: false,
        run: |t, i| {
            let (mut w, _) = Wire::greeted(t)?;
            let sent = Instant::now();
            w.send(&[0x20, 0x00, 0x00][..1 + i % 3]);
            w.expect_closed()?;
            // The handshake timeout closed it (3 s after the accept), nothing sooner.
            let waited = sent.elapsed();
            if waited < Duration::from_secs(1) {
                return Err(format!("closed after {waited:?}, before the handshake timeout"));
            }
            Ok(())
        },
    },
    // MariaDB waits for the body (connect_timeout); the proxy refuses the
    // length at once, before reading (or buffering) anything of it.
    Case {
        name: "header claiming 0xFFFFFF bytes, no body, before the login",
        like_server: false,
        run: |t, _| {
            let (mut w, _) = Wire::greeted(t)?;
            w.send(&[0xFF, 0xFF, 0xFF, 0x01]);
            w.expect_err(2, ER_HANDSHAKE_ERROR, "08S01")?;
            w.expect_closed()
        },
    },
    Case {
        name: "handshake response with a wrong sequence id (0, 2, 5, 255)",
        like_server: true,
        run: |t, i| {
            let (mut w, g) = Wire::greeted(t)?;
            w.packet([0, 2, 5, 255][i % 4], &hello(&g, &[]));
            w.expect_err(1, ER_NET_PACKETS_OUT_OF_ORDER, "08S01")?;
            w.expect_closed()
        },
    },
    Case {
        name: "SSLRequest, then garbage instead of a TLS ClientHello",
        like_server: true,
        run: |t, _| {
            let (mut w, g) = Wire::greeted(t)?;
            let mut request = fixed_part(&g);
            request[1] |= 0x08; // CLIENT_SSL (0x0800)
            w.packet(1, &request);
            w.send(b"this is not a TLS record at all\r\n\r\n");
            // A TLS alert may come first; then the connection must end.
            let _ = w.s.set_read_timeout(Some(WAIT));
            let mut sink = [0u8; 512];
            loop {
                match w.s.read(&mut sink) {
                    Ok(0) => return Ok(()),
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(()),
                    Err(e) => return Err(format!("expected the connection to end, got {e}")),
                }
            }
        },
    },
    Case {
        name: "COM_QUERY instead of a handshake response",
        like_server: true,
        run: |t, _| bad_handshake(t, |_| b"\x03SELECT 1".to_vec()),
    },
    Case {
        name: "COM_QUERY with sequence id 0 instead of a handshake response",
        like_server: true,
        run: |t, _| {
            let (mut w, _) = Wire::greeted(t)?;
            w.packet(0, b"\x03SELECT 1");
            w.expect_err(1, ER_NET_PACKETS_OUT_OF_ORDER, "08S01")?;
            w.expect_closed()
        },
    },
    Case {
        name: "empty packet instead of a handshake response",
        like_server: true,
        run: |t, _| bad_handshake(t, |_| Vec::new()),
    },
    Case {
        name: "handshake response: user name not terminated",
        like_server: true,
        run: |t, _| bad_handshake(t, |g| [fixed_part(g), b"app".to_vec(), vec![b'x'; 10]].concat()),
    },
    Case {
        name: "handshake response: auth response length past the end",
        like_server: true,
        run: |t, _| bad_handshake(t, |g| [fixed_part(g), b"app\0\xFC\xFF\x00abc".to_vec()].concat()),
    },
    Case {
        name: "handshake response: auth response length 2^64-1",
        like_server: true,
        run: |t, _| {
            bad_handshake(t, |g| [fixed_part(g), b"app\0\xFE".to_vec(), vec![0xFF; 8], b"abc".to_vec()].concat())
        },
    },
    Case {
        name: "handshake response: database name not terminated",
        like_server: true,
        run: |t, _| {
            bad_handshake(t, |g| {
                let mut p = [fixed_part(g), b"app\0".to_vec()].concat();
                let auth = auth(g);
                p.push(auth.len() as u8);
                p.extend_from_slice(&auth);
                p.extend_from_slice(b"test");
                p
            })
        },
    },
    Case {
        name: "handshake response: attributes length past the end",
        like_server: true,
        run: |t, _| bad_handshake(t, |g| [up_to_attributes(g), b"\xFD\xFF\xFF\x00\x01k\x01v".to_vec()].concat()),
    },
    Case {
        name: "handshake response: attributes length 2^64-1",
        like_server: true,
        run: |t, _| bad_handshake(t, |g| [up_to_attributes(g), b"\xFE".to_vec(), vec![0xFF; 8]].concat()),
    },
    Case {
        name: "handshake response of 64 KiB (attributes up to the limit)",
        like_server: true,
        run: |t, _| {
            let (mut w, g) = Wire::greeted(t)?;
            w.packet(1, &hello_of_size(&g, HANDSHAKE_LIMIT)?);
            w.expect_ok(2)?;
            w.expect_alive()
        },
    },
    // MariaDB's own limit is on the attributes (64 KiB of them), a little
    // further: it logs this one in.
    Case {
        name: "handshake response of 64 KiB + 1 byte",
        like_server: false,
        run: |t, _| {
            let (mut w, g) = Wire::greeted(t)?;
            w.packet(1, &hello_of_size(&g, HANDSHAKE_LIMIT + 1)?);
            w.expect_err(2, ER_HANDSHAKE_ERROR, "08S01")?;
            w.expect_closed()
        },
    },
    Case {
        name: "handshake response with 1 MiB of attributes",
        like_server: true,
        run: |t, _| {
            let (mut w, g) = Wire::greeted(t)?;
            // The client is still sending when the proxy refuses the packet: it
            // must see the error and a close, not a reset.
            w.packet(1, &hello_of_size(&g, 1 << 20)?);
            w.expect_err(2, ER_HANDSHAKE_ERROR, "08S01")?;
            w.expect_closed()
        },
    },
    // --- after a good login ---
    Case {
        name: "header claiming 0xFFFFFF bytes after the login, then the client closes",
        like_server: true,
        run: |t, _| {
            let mut w = Wire::logged_in(t)?;
            w.send(&[0xFF, 0xFF, 0xFF, 0x00, 0x03]);
            // A legal length (under max_allowed_packet): waited for, not answered.
            w.expect_quiet(Duration::from_millis(200))?;
            w.half_close();
            w.expect_closed()
        },
    },
    Case {
        name: "header claiming 0xFFFFFF bytes after the login, a slow trickle, then close",
        like_server: false,
        run: |t, _| {
            let mut w = Wire::logged_in(t)?;
            w.send(&[0xFF, 0xFF, 0xFF, 0x00, 0x03]);
            for _ in 0..32 {
                w.send(&[b'x'; 256]);
                std::thread::sleep(Duration::from_millis(5));
            }
            w.expect_quiet(Duration::from_millis(10))?;
            w.half_close();
            w.expect_closed()
        },
    },
    Case {
        name: "COM_QUERY with sequence id 3",
        like_server: true,
        run: |t, _| {
            let mut w = Wire::logged_in(t)?;
            w.packet(3, b"\x03SELECT 1");
            w.expect_err(0, ER_NET_PACKETS_OUT_OF_ORDER, "08S01")?;
            w.expect_closed()
        },
    },
    Case {
        name: "COM_PING with sequence id 1",
        like_server: true,
        run: |t, _| {
            let mut w = Wire::logged_in(t)?;
            w.packet(1, &[0x0E]);
            w.expect_err(0, ER_NET_PACKETS_OUT_OF_ORDER, "08S01")?;
            w.expect_closed()
        },
    },
    Case {
        name: "COM_STMT_EXECUTE for an unknown statement id",
        like_server: true,
        run: |t, _| {
            let mut w = Wire::logged_in(t)?;
            w.packet(0, &execute(77, &[]));
            unknown_statement(&mut w, "mysqld_stmt_execute")?;
            w.expect_alive()
        },
    },
    Case {
        name: "COM_STMT_FETCH for an unknown statement id",
        like_server: true,
        run: |t, _| {
            let mut w = Wire::logged_in(t)?;
            w.packet(0, &[&[0x1C][..], &77u32.to_le_bytes(), &10u32.to_le_bytes()].concat());
            unknown_statement(&mut w, "mysqld_stmt_fetch")?;
            w.expect_alive()
        },
    },
    Case {
        name: "COM_STMT_RESET for an unknown statement id",
        like_server: true,
        run: |t, _| {
            let mut w = Wire::logged_in(t)?;
            w.packet(0, &[&[0x1A][..], &77u32.to_le_bytes()].concat());
            unknown_statement(&mut w, "mysqld_stmt_reset")?;
            w.expect_alive()
        },
    },
    Case {
        name: "COM_STMT_SEND_LONG_DATA and COM_STMT_CLOSE for unknown ids (no reply)",
        like_server: true,
        run: |t, _| {
            let mut w = Wire::logged_in(t)?;
            w.packet(0, &[&[0x18][..], &77u32.to_le_bytes(), &0u16.to_le_bytes(), b"some long data"].concat());
            w.packet(0, &[&[0x19][..], &78u32.to_le_bytes()].concat());
            w.expect_alive()
        },
    },
    Case {
        name: "COM_STMT_EXECUTE too short to hold a statement id",
        like_server: true,
        run: |t, _| {
            let mut w = Wire::logged_in(t)?;
            w.packet(0, &[0x17, 0x01]);
            w.expect_err(1, ER_MALFORMED_PACKET, "HY000")?;
            w.expect_alive()
        },
    },
    Case {
        name: "COM_STMT_EXECUTE of 2 parameters without a parameter block",
        like_server: true,
        run: |t, _| broken_parameters(t, &[], ER_WRONG_ARGUMENTS),
    },
    Case {
        name: "COM_STMT_EXECUTE with the types flag but no types",
        like_server: true,
        run: |t, _| broken_parameters(t, &[0x00, 0x01], ER_MALFORMED_PACKET),
    },
    Case {
        name: "COM_STMT_EXECUTE with one type of two",
        like_server: true,
        run: |t, _| broken_parameters(t, &[0x00, 0x01, 0x03, 0x00], ER_MALFORMED_PACKET),
    },
    Case {
        name: "COM_STMT_EXECUTE with the values cut short",
        like_server: true,
        run: |t, _| {
            broken_parameters(
                t,
                &[0x00, 0x01, 0x03, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02],
                ER_WRONG_ARGUMENTS,
            )
        },
    },
    Case {
        name: "COM_STMT_EXECUTE with an unknown parameter type (0xEE)",
        like_server: true,
        run: |t, _| {
            broken_parameters(t, &[0x00, 0x01, 0xEE, 0x00, 0xEE, 0x00, 1, 0, 0, 0, 2, 0, 0, 0], ER_WRONG_ARGUMENTS)
        },
    },
    Case {
        name: "COM_STMT_EXECUTE with a string parameter of length 2^64-1",
        like_server: true,
        run: |t, _| {
            let block = [&[0x00, 0x01, 0xFE, 0x00, 0xFE, 0x00, 0xFE][..], &[0xFF; 8]].concat();
            broken_parameters(t, &block, ER_WRONG_ARGUMENTS)
        },
    },
    Case {
        name: "LOAD DATA LOCAL file contents nobody asked for",
        like_server: true,
        run: |t, _| {
            let mut w = Wire::logged_in(t)?;
            // A file as a client sends it after the server's request (seq 1): data,
            // then the empty packet that ends it; one write.
            let mut out = bytes::BytesMut::new();
            write_packet(&mut out, 2, b"1\tone\n2\ttwo\n");
            write_packet(&mut out, 3, b"");
            w.send(&out);
            w.expect_err(0, ER_NET_PACKETS_OUT_OF_ORDER, "08S01")?;
            w.expect_closed()
        },
    },
    Case {
        name: "file data sent as a command (sequence id 0)",
        like_server: true,
        run: |t, _| {
            let mut w = Wire::logged_in(t)?;
            w.packet(0, b"1\tone\n2\ttwo\n");
            w.expect_err(1, ER_UNKNOWN_COM_ERROR, "08S01")?;
            w.expect_alive()
        },
    },
    Case {
        name: "empty packet (length 0) after the login",
        like_server: true,
        run: |t, _| {
            let mut w = Wire::logged_in(t)?;
            w.packet(0, &[]);
            w.expect_err(1, ER_UNKNOWN_COM_ERROR, "08S01")?;
            w.expect_alive()
        },
    },
    Case {
        name: "unknown command bytes 0x20, 0xEE, 0xFE, 0xFF",
        like_server: true,
        run: |t, _| {
            let mut w = Wire::logged_in(t)?;
            for cmd in [0x20, 0xEE, 0xFE, 0xFF] {
                w.packet(0, &[cmd, 1, 2, 3]);
                w.expect_err(1, ER_UNKNOWN_COM_ERROR, "08S01").map_err(|e| format!("command {cmd:#x}: {e}"))?;
            }
            w.expect_alive()
        },
    },
    // Not an unknown command: COM_RESET_CONNECTION, answered OK.
    Case {
        name: "command byte 0x1F (COM_RESET_CONNECTION)",
        like_server: true,
        run: |t, _| {
            let mut w = Wire::logged_in(t)?;
            w.packet(0, &[0x1F]);
            w.expect_ok(1)?;
            w.expect_alive()
        },
    },
];

/// COM_STMT_EXECUTE of statement `id`, no flags, one iteration, then `params`.
fn execute(id: u32, params: &[u8]) -> Vec<u8> {
    [&[0x17][..], &id.to_le_bytes(), &[0x00], &1u32.to_le_bytes(), params].concat()
}

fn unknown_statement(w: &mut Wire, function: &str) -> Outcome {
    let message = w.expect_err(1, ER_UNKNOWN_STMT_HANDLER, "HY000")?;
    let expected = format!("Unknown prepared statement handler (77) given to {function}");
    if message != expected {
        return Err(format!("message {message:?}, expected {expected:?}"));
    }
    Ok(())
}

/// Prepares `SELECT ?, ?`, executes it with the parameter block `params`
/// (expecting ERR `code`), then with good parameters: the statement and the
/// session still work.
fn broken_parameters(t: Target, params: &[u8], code: u16) -> Outcome {
    let mut w = Wire::logged_in(t)?;
    let reply = w.command(b"\x16SELECT ?, ?", ResponseKind::Prepare)?;
    let ok = reply.first().filter(|p| p.first() == Some(&0x00) && p.len() >= 9).ok_or("prepare failed")?;
    let id = u32::from_le_bytes([ok[1], ok[2], ok[3], ok[4]]);
    w.packet(0, &execute(id, params));
    w.expect_err(1, code, "HY000")?;
    // Null bitmap, types bound, two LONGs, 1 and 2.
    let good = [0x00, 0x01, 0x03, 0x00, 0x03, 0x00, 1, 0, 0, 0, 2, 0, 0, 0];
    let rows = w.command(&execute(id, &good), ResponseKind::Results { cursor: false })?;
    if rows.first().and_then(|p| p.first()) != Some(&0x02) {
        return Err(format!("good execution after the bad one: {:?}", rows.first()));
    }
    w.expect_alive()
}

/// Runs `case` `n` times at once; the failures.
fn run_parallel(t: Target, case: &Case, n: usize) -> Vec<String> {
    std::thread::scope(|s| {
        let runs: Vec<_> = (0..n).map(|i| s.spawn(move || (case.run)(t, i))).collect();
        runs.into_iter()
            .enumerate()
            .filter_map(|(i, r)| match r.join() {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("{} (run {i}): {e}", case.name)),
                Err(_) => Some(format!("{} (run {i}): panicked", case.name)),
            })
            .collect()
    })
}

/// Every case `n` times at once, case after case; the failures.
fn round(t: Target, n: usize) -> Vec<String> {
    let mut failures = Vec::new();
    for case in CASES {
        let started = Instant::now();
        let failed = run_parallel(t, case, n);
        println!("{:>3} × {:<80} {:>6.0?}  {} failed", n, case.name, started.elapsed(), failed.len());
        failures.extend(failed);
    }
    failures
}

// ---------------------------------------------------------------------------
// The proxy process: memory and descriptors
// ---------------------------------------------------------------------------

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    report_number(&status, "VmRSS").expect("VmRSS")
}

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).expect("/proc/<pid>/fd").count()
}

/// What the process's descriptors are, for a failure message: TCP sockets by
/// (local port, remote port, state), other descriptors by target.
fn fd_summary(pid: u32) -> String {
    // inode -> "local->remote state", from the process's network namespace.
    let mut sockets = std::collections::HashMap::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let port = |a: &str| a.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok()).unwrap_or(0);
            if let (Some(l), Some(r), Some(st), Some(inode)) = (f.get(1), f.get(2), f.get(3), f.get(9)) {
                sockets.insert(inode.to_string(), format!("tcp {}->{} state {st}", port(l), port(r)));
            }
        }
    }
    let mut counts = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).into_iter().flatten().flatten() {
        let target = std::fs::read_link(entry.path()).map(|p| p.display().to_string()).unwrap_or_default();
        let inode = target.strip_prefix("socket:[").and_then(|t| t.strip_suffix(']'));
        let what = inode.and_then(|i| sockets.get(i)).cloned().unwrap_or(target);
        *counts.entry(what).or_insert(0) += 1;
    }
    counts.iter().map(|(what, n)| format!("  {n} × {what}")).collect::<Vec<_>>().join("\n")
}

/// The largest of a few samples taken over ~half a second: a baseline that a
/// moment's dip (a health check between two connections) does not lower.
fn settled_max<T: Ord + Copy>(sample: impl Fn() -> T) -> T {
    (0..6)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(100));
            sample()
        })
        .max()
        .expect("samples")
}

/// Waits until `sample` is at most `limit`; the last value seen.
fn wait_until_at_most<T: PartialOrd + Copy>(limit: T, deadline: Duration, sample: impl Fn() -> T) -> T {
    let until = Instant::now() + deadline;
    loop {
        let v = sample();
        if v <= limit || Instant::now() > until {
            return v;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------------------
// A normal client meanwhile
// ---------------------------------------------------------------------------

struct Background {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    errors: Arc<Mutex<Vec<String>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Background {
    /// Inserts a row and reads it back (prepared statements), and counts the
    /// table (text protocol), over and over through the proxy.
    fn start(url: String) -> Background {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let (s, o, e) = (stop.clone(), ok.clone(), errors.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                use mysql_async::prelude::*;
                let mut conn = common::connect(&url).await;
                let mut i = 0u64;
                while !s.load(Ordering::Relaxed) {
                    i += 1;
                    let tag = format!("bg-{i}");
                    let result: Result<(), String> = async {
                        conn.exec_drop("INSERT INTO hostile_bg (v) VALUES (?)", (tag.clone(),))
                            .await
                            .map_err(|e| e.to_string())?;
                        let id = conn.last_insert_id().ok_or("no insert id")?;
                        let v: Option<String> = conn
                            .exec_first("SELECT v FROM hostile_bg WHERE id = ?", (id,))
                            .await
                            .map_err(|e| e.to_string())?;
                        if v.as_deref() != Some(tag.as_str()) {
                            return Err(format!("row {id} read back as {v:?}"));
                        }
                        let n: Option<u64> =
                            conn.query_first("SELECT COUNT(*) FROM hostile_bg").await.map_err(|e| e.to_string())?;
                        if n.unwrap_or(0) == 0 {
                            return Err("the table is empty".into());
                        }
                        Ok(())
                    }
                    .await;
                    match result {
                        Ok(()) => {
                            o.fetch_add(3, Ordering::Relaxed);
                        }
                        Err(err) => {
                            e.lock().expect("errors").push(err);
                            // A broken connection would fail every later query
                            // the same way: one new one, so the count means something.
                            match mysql_async::Conn::new(mysql_async::Opts::from_url(&url).expect("url")).await {
                                Ok(c) => conn = c,
                                Err(err) => e.lock().expect("errors").push(format!("reconnect: {err}")),
                            }
                        }
                    }
                }
                let _ = conn.disconnect().await;
            });
        });
        Background { stop, ok, errors, thread }
    }

    fn ok(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
    }

    /// Stops it; (statements that succeeded, errors).
    fn finish(self) -> (u64, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
        let errors = std::mem::take(&mut *self.errors.lock().expect("errors"));
        (self.ok.load(Ordering::Relaxed), errors)
    }
}

fn create_table() {
    let (mut c, _) = RawClient::connect(&format!("127.0.0.1:{MASTER_PORT}"), "app", "app", Some("test"), MODERN);
    for sql in [
        "CREATE TABLE IF NOT EXISTS hostile_bg (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(40))",
        "TRUNCATE TABLE hostile_bg",
    ] {
        let r = c.command(&[b"\x03", sql.as_bytes()].concat(), ResponseKind::Results { cursor: false });
        assert_eq!(r[0].1[0], 0x00, "{sql}: {:?}", String::from_utf8_lossy(&r[0].1));
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

fn hostile_proxy() -> Proxy {
    Proxy::builder()
        .replace("handshake_timeout = \"10s\"", &format!("handshake_timeout = \"{HANDSHAKE_TIMEOUT}\""))
        // Backend connections opened for the crowd of attackers close soon after
        // they leave, so the descriptor count can come back.
        .replace("idle_timeout = \"5m\"", "idle_timeout = \"1s\"")
        .spawn()
}

#[test]
fn hostile_clients_get_errors_or_clean_closes_while_others_keep_working() {
    create_table();
    let mut proxy = hostile_proxy();
    let pid = proxy.pid();
    let addr = proxy.addr();
    let t = Target { addr: &addr, proxy: true };

    let background = Background::start(proxy.url("test"));
    let warm = Instant::now() + WAIT;
    while background.ok() < 30 && Instant::now() < warm {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(background.ok() >= 30, "the background client did not get going: {:?}", background.errors);
    let base_fds = settled_max(|| fd_count(pid));
    let base_summary = fd_summary(pid);

    // Warm-up: every case 50 times at once, answers checked (allocator arenas
    // and the pools reach their working size).
    let mut failures = round(t, PARALLEL);
    let fds = wait_until_at_most(base_fds, Duration::from_secs(15), || fd_count(pid));
    assert!(fds <= base_fds, "descriptors after the warm-up round: {fds}, before: {base_fds}:\n{}", fd_summary(pid));
    let base_rss = settled_max(|| rss_kib(pid));
    println!("baseline: VmRSS {base_rss} kB, {base_fds} descriptors:\n{base_summary}");

    // Every case again, 50 at once, and then 50 connections holding a claim of
    // 0xFFFFFF bytes at the same time: were the claimed lengths buffered, that
    // would be 50 × 16 MiB = 800 MiB.
    failures.extend(round(t, PARALLEL));
    let gate = Barrier::new(PARALLEL + 1);
    let (peak_rss, peak_fds) = std::thread::scope(|s| {
        let claims: Vec<_> = (0..PARALLEL)
            .map(|_| {
                s.spawn(|| -> Outcome {
                    // Whatever happens, both gates are passed: the main thread waits there.
                    let login = std::panic::catch_unwind(|| Wire::logged_in(t))
                        .unwrap_or_else(|_| Err("login panicked".into()));
                    let claimed = login.map(|mut w| {
                        w.send(&[0xFF, 0xFF, 0xFF, 0x00, 0x03]);
                        for _ in 0..16 {
                            w.send(&[b'x'; 1024]);
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        w
                    });
                    gate.wait();
                    gate.wait();
                    let mut w = claimed?;
                    w.expect_quiet(Duration::from_millis(10))?;
                    w.half_close();
                    w.expect_closed()
                })
            })
            .collect();
        gate.wait();
        // Every claim has been sent (over loopback); give the proxy a moment to
        // read the last of them before sampling.
        std::thread::sleep(Duration::from_millis(300));
        let peak = (rss_kib(pid), fd_count(pid));
        gate.wait();
        for (i, c) in claims.into_iter().enumerate() {
            match c.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => failures.push(format!("concurrent claim {i}: {e}")),
                Err(_) => failures.push(format!("concurrent claim {i}: panicked")),
            }
        }
        peak
    });
    println!("during {PARALLEL} concurrent 0xFFFFFF claims: VmRSS {peak_rss} kB, {peak_fds} descriptors");

    let after_fds = wait_until_at_most(base_fds, Duration::from_secs(15), || fd_count(pid));
    let limit_rss = base_rss + 16 * 1024;
    let after_rss = wait_until_at_most(limit_rss, Duration::from_secs(5), || rss_kib(pid));
    println!("after: VmRSS {after_rss} kB (baseline {base_rss} kB), {after_fds} descriptors (baseline {base_fds})");

    let (ok, errors) = background.finish();
    println!("background client: {ok} statements, {} errors", errors.len());

    assert!(proxy.is_running(), "the proxy died:\n{}", proxy.log());
    assert!(!proxy.log().contains("panicked"), "the proxy panicked");
    assert!(failures.is_empty(), "{} hostile cases went wrong:\n{}", failures.len(), failures.join("\n"));
    assert!(ok > 0 && errors.is_empty(), "background client: {ok} statements, errors: {errors:#?}");
    // The claims were really open at once (the measurement is of the right
    // process and moment) ...
    assert!(peak_fds >= base_fds + PARALLEL, "{peak_fds} descriptors during the claims, baseline {base_fds}");
    // ... and cost what was sent, not what was claimed.
    assert!(peak_rss <= limit_rss, "VmRSS {peak_rss} kB during the claims, baseline {base_rss} kB");
    assert!(after_rss <= limit_rss, "VmRSS {after_rss} kB after the attack, baseline {base_rss} kB");
    assert!(
        after_fds <= base_fds,
        "{after_fds} descriptors after the attack, baseline {base_fds}: sockets left open\n{}\nat the baseline:\n{base_summary}",
        fd_summary(pid)
    );
}

/// The same bytes sent to the master get the same answers (Bad handshake,
/// packets out of order, unknown statement, malformed packet, wrong arguments,
/// unknown command) with the same sequence ids; only the proxy must close
/// cleanly where the server may reset.
#[test]
fn hostile_bytes_get_the_answers_the_server_gives() {
    let proxy = hostile_proxy();
    let master = format!("127.0.0.1:{MASTER_PORT}");
    let addr = proxy.addr();
    let mut failures = Vec::new();
    for case in CASES.iter().filter(|c| c.like_server) {
        for (who, t) in
            [("server", Target { addr: &master, proxy: false }), ("proxy", Target { addr: &addr, proxy: true })]
        {
            if let Err(e) = (case.run)(t, 0) {
                failures.push(format!("{who}: {}: {e}", case.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Sends `total` bytes of COM_STMT_SEND_LONG_DATA for one parameter in chunks
/// of `chunk`, more than max_allowed_packet: the execution gets the server's
/// error, again until a COM_STMT_RESET, and then the statement works again.
fn long_data_over_the_limit(w: &mut Wire, total: usize, chunk: usize) -> Outcome {
    let reply = w.command(b"\x16SELECT LENGTH(?)", ResponseKind::Prepare)?;
    let ok = reply.first().filter(|p| p.first() == Some(&0x00) && p.len() >= 9).ok_or("prepare failed")?;
    let id = u32::from_le_bytes([ok[1], ok[2], ok[3], ok[4]]);
    let long_data = |data: &[u8]| [&[0x18][..], &id.to_le_bytes(), &0u16.to_le_bytes(), data].concat();
    let data = long_data(&vec![b'x'; chunk]);
    for _ in 0..total.div_ceil(chunk) {
        w.packet(0, &data);
    }
    // Types bound: one MEDIUM_BLOB, its value sent as long data.
    let run = execute(id, &[0x00, 0x01, 0xFA, 0x00]);
    for _ in 0..2 {
        w.packet(0, &run);
        let message = w.expect_err(1, 1105, "HY000")?;
        if !message.contains("mysql_send_long_data() is longer than 'max_allowed_packet'") {
            return Err(format!("message {message:?}"));
        }
    }
    let reset = w.command(&[&[0x1A][..], &id.to_le_bytes()].concat(), ResponseKind::Single)?;
    if reset.first().and_then(|p| p.first()) != Some(&0x00) {
        return Err(format!("COM_STMT_RESET: {reset:?}"));
    }
    w.packet(0, &long_data(b"abc"));
    let rows = w.command(&run, ResponseKind::Results { cursor: false })?;
    // Column count, definition, the row: header, null bitmap, LENGTH(?) = 3
    // as a little-endian LONG.
    match rows.get(2) {
        Some(row) if row.get(2..) == Some(&3u32.to_le_bytes()[..]) => w.expect_alive(),
        other => Err(format!("LENGTH(?) after the reset: {other:?}")),
    }
}

/// A client sending COM_STMT_SEND_LONG_DATA without end: the server stops
/// keeping it at max_allowed_packet and so must the proxy, which holds long
/// data until the execution (else 256 MiB sent would be 256 MiB held).
#[test]
fn long_data_over_max_allowed_packet_is_dropped_with_the_server_error() {
    // The server, its max_allowed_packet being 64 MiB.
    let master = format!("127.0.0.1:{MASTER_PORT}");
    let mut w = Wire::logged_in(Target { addr: &master, proxy: false }).expect("login");
    long_data_over_the_limit(&mut w, 65 << 20, 4 << 20).unwrap_or_else(|e| panic!("server: {e}"));

    let proxy = Proxy::builder().replace("max_allowed_packet = 67108864", "max_allowed_packet = 1048576").spawn();
    let pid = proxy.pid();
    let addr = proxy.addr();
    let mut w = Wire::logged_in(Target { addr: &addr, proxy: true }).expect("login");
    let before = rss_kib(pid);
    long_data_over_the_limit(&mut w, 256 << 20, 1000 << 10).unwrap_or_else(|e| panic!("proxy: {e}"));
    let after = rss_kib(pid);
    println!("256 MiB of long data through the proxy: VmRSS {before} kB before, {after} kB after");
    assert!(after <= before + 16 * 1024, "VmRSS grew from {before} kB to {after} kB");
}

/// A statement keeps a copy of its SQL, not a slice of the read buffer it
/// arrived in: the slice would keep the whole buffer alive (megabytes after a
/// big packet), even after the session, in the backend connection's statement
/// cache. 100 prepares, each after a 1 MiB query, were 150 MiB held.
#[test]
fn prepared_statements_do_not_keep_read_buffers_alive() {
    let proxy = Proxy::start();
    let pid = proxy.pid();
    let addr = proxy.addr();
    let mut w = Wire::logged_in(Target { addr: &addr, proxy: true }).expect("login");
    let big = format!("\x03SELECT LENGTH('{}')", "y".repeat(1 << 20));
    let results = ResponseKind::Results { cursor: false };
    w.command(big.as_bytes(), results).expect("big query");
    let before = rss_kib(pid);
    for i in 0..100 {
        w.command(big.as_bytes(), results).expect("big query");
        let reply = w.command(format!("\x16SELECT {i}").as_bytes(), ResponseKind::Prepare).expect("prepare");
        assert_eq!(reply.first().and_then(|p| p.first()), Some(&0x00), "prepare {i}: {reply:?}");
    }
    let after = rss_kib(pid);
    println!("100 × (1 MiB query, prepare): VmRSS {before} kB before, {after} kB after");
    assert!(after <= before + 16 * 1024, "VmRSS grew from {before} kB to {after} kB");
}
