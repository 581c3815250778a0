//! Property-based fuzzing of everything that parses bytes a client or a server
//! sends: packet framing, length-encoded integers, handshake and auth packets,
//! OK/EOF/ERR packets, session tracking, the reply scanner and the statement
//! classifier. Runs on stable Rust with proptest; no server needed.
//!
//! Each property feeds both fully random bytes and structured inputs (a valid
//! packet built by the proxy's own serialisers, then mutated: byte flips,
//! truncations, insertions and length-encoded integers with huge values spliced
//! in) so that the deep paths of each parser are reached. The properties only
//! require that nothing panics, hangs or allocates according to a length read
//! from the input; a few cheap invariants are checked along the way.
//!
//! Not covered here: the KILL parser (`frontend::kill::parse_kill`) and the admin
//! command parser (`admin::command::parse`) are private to the crate; their own
//! unit tests and tests/kill.rs, tests/admin.rs cover them.

use std::time::{Duration, Instant};

use proptest::prelude::*;

use rwsplit::classify::Classifier;
use rwsplit::protocol::command::{self, ResponseKind};
use rwsplit::protocol::err::ErrPacket;
use rwsplit::protocol::handshake::{
    self, BackendHello, ChangeUser, ClientHello, Greeting, CLIENT_PLUGIN_AUTH, PROXY_CAPABILITIES,
};
use rwsplit::protocol::ok;
use rwsplit::protocol::packet::{self, Frame, PacketHeader, HEADER_LEN, MAX_PAYLOAD};
use rwsplit::protocol::response::{ResponseScanner, Step};
use rwsplit::protocol::track::{self, ClientTracking};

// ---------------------------------------------------------------------------
// Input generators
// ---------------------------------------------------------------------------

/// Length-encoded integers, biased towards the widths and the values that break
/// length arithmetic (0xFB/0xFF prefixes, truncated encodings, 2^62, u64::MAX).
fn lenenc_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        any::<u64>().prop_map(|v| {
            let mut out = Vec::new();
            packet::put_lenenc(&mut out, v);
            out
        }),
        Just(vec![0xFE, 0, 0, 0, 0, 0, 0, 0, 0x40]), // 2^62
        Just(vec![0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]), // u64::MAX
        Just(vec![0xFD, 0xFF, 0xFF, 0xFF]),
        Just(vec![0xFC, 0xFF, 0xFF]),
        Just(vec![0xFB]),
        Just(vec![0xFF]),
        Just(vec![0xFE, 0xFF]), // truncated
        Just(vec![0xFC]),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Overwrite(usize, Vec<u8>),
    Remove(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), 1..=255u8).prop_map(|(i, b)| Mutation::Flip(i, b)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        2 => (any::<usize>(), lenenc_bytes()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        2 => (any::<usize>(), lenenc_bytes()).prop_map(|(i, b)| Mutation::Overwrite(i, b)),
        1 => (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<usize>(), 1..8usize).prop_map(|(i, n)| Mutation::Remove(i, n)),
    ]
}

fn mutations() -> impl Strategy<Value = Vec<Mutation>> {
    prop::collection::vec(mutation(), 0..4)
}

fn apply(base: &[u8], muts: &[Mutation]) -> Vec<u8> {
    let mut v = base.to_vec();
    for m in muts {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
        match m {
            Mutation::Flip(i, b) => {
                if !v.is_empty() {
                    let i = i % v.len();
                    v[i] ^= b;
                }
            }
            Mutation::Truncate(i) => v.truncate(at(*i, v.len())),
            Mutation::Insert(i, bytes) => {
                let i = at(*i, v.len());
                v.splice(i..i, bytes.iter().copied());
            }
            Mutation::Overwrite(i, bytes) => {
                let i = at(*i, v.len());
                let end = (i + bytes.len()).min(v.len());
                v.splice(i..end, bytes.iter().copied());
            }
            Mutation::Remove(i, n) => {
                let i = at(*i, v.len());
                let end = (i + n).min(v.len());
                v.drain(i..end);
            }
        }
    }
    v
}

fn random_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9_]{0,16}"
}

fn attr_text() -> impl Strategy<Value = String> {
    // Any printable text (including multi-byte UTF-8), never NUL.
    "[^\\x00]{0,12}"
}

fn put_cstr(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(s);
    out.push(0);
}

// ---------------------------------------------------------------------------
// Structured packets built by the proxy's own serialisers
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct HelloSpec {
    caps: u32,
    mariadb_caps: u32,
    max_packet: u32,
    collation: u8,
    user: String,
    auth: Vec<u8>,
    db: Option<String>,
    plugin: String,
    attrs: Vec<(String, String)>,
}

fn hello_spec() -> impl Strategy<Value = HelloSpec> {
    (
        any::<u32>(),
        prop_oneof![Just(0u32), any::<u32>()],
        any::<u32>(),
        any::<u8>(),
        name(),
        random_bytes(40),
        prop::option::of(name()),
        prop_oneof![Just(rwsplit::protocol::auth::CACHING_SHA2_PASSWORD.to_string()), Just(String::new()), name()],
        prop::collection::vec((attr_text(), attr_text()), 0..4),
    )
        .prop_map(|(caps, mariadb_caps, max_packet, collation, user, auth, db, plugin, attrs)| HelloSpec {
            caps,
            mariadb_caps,
            max_packet,
            collation,
            user,
            auth,
            db,
            plugin,
            attrs,
        })
}

impl HelloSpec {
    fn payload(&self) -> Vec<u8> {
        let attrs: Vec<(&str, &str)> = self.attrs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        BackendHello {
            tls: false,
            capabilities: self.caps,
            mariadb_capabilities: self.mariadb_caps,
            max_packet: self.max_packet,
            collation: self.collation,
            user: &self.user,
            auth_response: &self.auth,
            database: self.db.as_deref(),
            auth_plugin: &self.plugin,
            attributes: &attrs,
        }
        .to_payload()
    }
}

fn greeting_payload() -> impl Strategy<Value = Vec<u8>> {
    (
        "[0-9a-zA-Z.-]{0,24}",
        any::<u32>(),
        prop::collection::vec(1..=255u8, 0..32),
        any::<u32>(),
        any::<u32>(),
        any::<u8>(),
        any::<u16>(),
        prop_oneof![Just("mysql_native_password".to_string()), name()],
    )
        .prop_map(
            |(
                server_version,
                connection_id,
                nonce,
                capabilities,
                mariadb_capabilities,
                collation,
                status,
                auth_plugin,
            )| {
                Greeting {
                    server_version,
                    connection_id,
                    nonce,
                    capabilities,
                    mariadb_capabilities,
                    collation,
                    status,
                    auth_plugin,
                }
                .to_payload()
            },
        )
}

/// An OK payload: header, affected rows, insert id, status, warnings, then
/// optionally info and a session state block of random entries.
fn ok_payload() -> impl Strategy<Value = Vec<u8>> {
    let entry = (0u8..5, random_bytes(12), random_bytes(12)).prop_map(|(kind, a, b)| {
        let mut data = Vec::new();
        match kind {
            0 => {
                packet::put_lenenc(&mut data, a.len() as u64);
                data.extend_from_slice(&a);
                packet::put_lenenc(&mut data, b.len() as u64);
                data.extend_from_slice(&b);
            }
            1 => {
                packet::put_lenenc(&mut data, a.len() as u64);
                data.extend_from_slice(&a);
            }
            _ => data.extend_from_slice(&a),
        }
        let mut out = vec![kind];
        packet::put_lenenc(&mut out, data.len() as u64);
        out.extend_from_slice(&data);
        out
    });
    (
        prop_oneof![Just(0x00u8), Just(0xFEu8)],
        any::<u64>(),
        any::<u64>(),
        any::<u16>(),
        any::<bool>(),
        any::<u16>(),
        prop::option::of((random_bytes(8), prop::collection::vec(entry, 0..4))),
    )
        .prop_map(|(header, rows, id, status, state_changed, warnings, tail)| {
            let status = if state_changed { status | ok::SESSION_STATE_CHANGED } else { status };
            let mut out = vec![header];
            packet::put_lenenc(&mut out, rows % 1000);
            packet::put_lenenc(&mut out, id);
            out.extend_from_slice(&status.to_le_bytes());
            out.extend_from_slice(&warnings.to_le_bytes());
            if let Some((info, entries)) = tail {
                packet::put_lenenc(&mut out, info.len() as u64);
                out.extend_from_slice(&info);
                let block: Vec<u8> = entries.concat();
                packet::put_lenenc(&mut out, block.len() as u64);
                out.extend_from_slice(&block);
            }
            out
        })
}

fn client_tracking() -> impl Strategy<Value = ClientTracking> {
    (any::<bool>(), prop::option::of(prop::collection::vec(name(), 0..3)), any::<bool>(), any::<bool>()).prop_map(
        |(enabled, variables, schema, state_change)| ClientTracking { enabled, variables, schema, state_change },
    )
}

/// One packet of a server reply, biased towards the shapes the scanner reacts to.
fn reply_packet() -> impl Strategy<Value = Vec<u8>> {
    let status = prop_oneof![
        Just(0u16),
        Just(ok::MORE_RESULTS_EXISTS),
        Just(ok::STATUS_CURSOR_EXISTS),
        Just(ok::STATUS_LAST_ROW_SENT),
        any::<u16>()
    ];
    prop_oneof![
        2 => random_bytes(24),
        2 => ok_payload(),
        2 => (status.clone(), any::<u16>()).prop_map(|(s, w)| {
            let mut out = vec![0xFE];
            out.extend_from_slice(&w.to_le_bytes());
            out.extend_from_slice(&s.to_le_bytes());
            out
        }),
        1 => (status, any::<u16>()).prop_map(|(s, w)| {
            let mut out = vec![0x00, 0, 0];
            out.extend_from_slice(&s.to_le_bytes());
            out.extend_from_slice(&w.to_le_bytes());
            out
        }),
        1 => (any::<u16>(), random_bytes(16)).prop_map(|(code, msg)| ErrPacket::new(code, "HY000", String::from_utf8_lossy(&msg)).to_payload()),
        // Column count: small, or huge (the scanner must count down, not allocate).
        2 => prop_oneof![1u64..4, Just(1u64 << 62), Just(u64::MAX), any::<u64>()].prop_map(|n| {
            let mut out = Vec::new();
            packet::put_lenenc(&mut out, n);
            out
        }),
        // COM_STMT_PREPARE OK: 0x00, statement id, columns, params, filler, warnings.
        1 => (0u16..3, 0u16..3, prop_oneof![Just(None), any::<u16>().prop_map(Some)]).prop_map(|(c, p, big)| {
            let mut out = vec![0x00, 1, 0, 0, 0];
            out.extend_from_slice(&big.unwrap_or(c).to_le_bytes());
            out.extend_from_slice(&p.to_le_bytes());
            out.extend_from_slice(&[0, 0, 0]);
            out
        }),
        1 => Just(vec![0xFB, b'/', b'f']),
        1 => Just(Vec::new()),
    ]
}

fn response_kind() -> impl Strategy<Value = ResponseKind> {
    prop_oneof![
        Just(ResponseKind::None),
        Just(ResponseKind::Single),
        Just(ResponseKind::Results { cursor: false }),
        Just(ResponseKind::Results { cursor: true }),
        Just(ResponseKind::Prepare),
        Just(ResponseKind::FieldList),
        Just(ResponseKind::Fetch),
        Just(ResponseKind::Unsupported),
    ]
}

// ---------------------------------------------------------------------------
// SQL-ish text for the classifier
// ---------------------------------------------------------------------------

const SQL_WORDS: &[&str] = &[
    "SELECT",
    "select",
    "INSERT",
    "INTO",
    "UPDATE",
    "DELETE",
    "REPLACE",
    "FROM",
    "WHERE",
    "AND",
    "OR",
    "NOT",
    "IN",
    "VALUES",
    "SET",
    "SESSION",
    "GLOBAL",
    "LOCAL",
    "@@",
    "@@session.",
    "@v",
    ":=",
    "=",
    "NAMES",
    "utf8mb4",
    "BEGIN",
    "START",
    "TRANSACTION",
    "READ",
    "ONLY",
    "WRITE",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT",
    "RELEASE",
    "XA",
    "WITH",
    "RECURSIVE",
    "AS",
    "UNION",
    "ALL",
    "FOR",
    "UPDATE",
    "SHARE",
    "LOCK",
    "TABLES",
    "UNLOCK",
    "IN SHARE MODE",
    "CALL",
    "DO",
    "PREPARE",
    "EXECUTE",
    "DEALLOCATE",
    "USING",
    "USE",
    "SHOW",
    "DESCRIBE",
    "EXPLAIN",
    "ANALYZE",
    "CREATE",
    "TEMPORARY",
    "TABLE",
    "DROP",
    "ALTER",
    "TRUNCATE",
    "RENAME",
    "HANDLER",
    "OPEN",
    "LOAD",
    "DATA",
    "INFILE",
    "OUTFILE",
    "DUMPFILE",
    "KILL",
    "QUERY",
    "CONNECTION",
    "GET_LOCK",
    "RELEASE_LOCK",
    "LAST_INSERT_ID",
    "NOW",
    "RAND",
    "UUID",
    "SLEEP",
    "FOUND_ROWS",
    "NEXTVAL",
    "SETVAL",
    "LASTVAL",
    "CASE",
    "WHEN",
    "THEN",
    "ELSE",
    "END",
    "IF",
    "EXISTS",
    "RETURNING",
    "LIMIT",
    "OFFSET",
    "ORDER",
    "BY",
    "GROUP",
    "HAVING",
    "JOIN",
    "ON",
    "t",
    "t1",
    "db.t",
    "x",
    "1",
    "0x1F",
    "1e10",
    "-",
    "+",
    "*",
    "/",
    "%",
    "<=>",
    "||",
    "&&",
    ",",
    ".",
    ";",
    "(",
    ")",
    "?",
    "NULL",
    "DEFAULT",
    "'a'",
    "'it''s'",
    "'\\''",
    "\"dq\"",
    "`bt`",
    "`b``t`",
    "N'x'",
    "_utf8'x'",
    "b'01'",
    "X'0F'",
    "/* c */",
    "/*! SELECT */",
    "/*!50000 FOR UPDATE */",
    "/*M! KILL */",
    "/*+ hint */",
    "-- c\n",
    "--\n",
    "#c\n",
    "\n",
    "\t",
    "/*",
    "*/",
    "'",
    "\"",
    "`",
    "\\",
    "-- ",
    "#",
    "maxscale route to master",
    "\u{e9}",
    "\u{1F600}",
];

fn sql_fragment() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        8 => prop::sample::select(SQL_WORDS).prop_map(|w| w.as_bytes().to_vec()),
        1 => "[a-z_]{1,12}".prop_map(String::into_bytes),
        1 => random_bytes(4),
        // Invalid UTF-8 (lone continuation bytes, truncated sequences, overlong).
        1 => prop::sample::select(vec![vec![0x80u8], vec![0xC3], vec![0xE2, 0x82], vec![0xC0, 0xAF], vec![0xFF, 0xFE]]),
        1 => Just(vec![0]),
    ]
}

fn sql_text() -> impl Strategy<Value = Vec<u8>> {
    (prop::collection::vec((sql_fragment(), any::<bool>()), 0..48)).prop_map(|parts| {
        let mut out = Vec::new();
        for (p, space) in parts {
            out.extend_from_slice(&p);
            if space {
                out.push(b' ');
            }
        }
        out
    })
}

/// Big, regular statements: deep nesting, long IN lists, long operator chains.
fn sql_big() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (
            0usize..3000,
            prop::sample::select(vec!["SELECT ", "SELECT * FROM t WHERE a IN ", "UPDATE t SET a = ", ""]),
            any::<bool>()
        )
            .prop_map(|(depth, prefix, close)| {
                let mut s = prefix.to_string();
                s.push_str(&"(".repeat(depth));
                s.push('1');
                if close {
                    s.push_str(&")".repeat(depth));
                }
                s.into_bytes()
            }),
        (0usize..20_000, prop::sample::select(vec!["1", "'a'", "?", "x", "NULL", "(1,2)"]), any::<bool>()).prop_map(
            |(n, item, close)| {
                let mut s = String::from("SELECT * FROM t WHERE a IN (");
                for i in 0..n {
                    if i > 0 {
                        s.push(',');
                    }
                    s.push_str(item);
                }
                if close {
                    s.push_str(") FOR UPDATE");
                }
                s.into_bytes()
            }
        ),
        (0usize..5000, prop::sample::select(vec![" AND ", " OR ", " + ", " || ", " = "])).prop_map(|(n, op)| {
            let mut s = String::from("SELECT 1 FROM t WHERE a");
            for _ in 0..n {
                s.push_str(op);
                s.push('a');
            }
            s.into_bytes()
        }),
        (0usize..2000, any::<bool>()).prop_map(|(n, quote)| {
            // Unterminated string or comment running to the end of a long packet.
            let mut s = if quote { String::from("SELECT 'abc") } else { String::from("SELECT 1 /* abc") };
            s.push_str(&"x\\'".repeat(n));
            s.into_bytes()
        }),
        (1usize..200).prop_map(|n| "SELECT 1;".repeat(n).into_bytes()),
    ]
}

fn classify_checked(c: &Classifier, sql: &[u8]) {
    let r = c.classify(sql);
    // The digest is the cache key: it must stay bounded whatever the input.
    assert!(r.digest.len() <= 64 * 1024 + 64, "digest of {} bytes", r.digest.len());
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn packet_framing_random(buf in random_bytes(64)) {
        let _ = PacketHeader::parse(&buf);
        match packet::frame(&buf) {
            Frame::Complete(p) => {
                prop_assert!(p.raw_len <= buf.len());
                prop_assert!(p.payload_len + HEADER_LEN <= p.raw_len);
                let joined = packet::join_payload(&buf[..p.raw_len]);
                prop_assert_eq!(joined.len(), p.payload_len);
            }
            Frame::Incomplete { .. } => {}
        }
        // join_payload also accepts a buffer that frame() has not vetted.
        prop_assert!(packet::join_payload(&buf).len() <= buf.len());
    }

    #[test]
    fn packet_framing_roundtrip_mutated(payload in random_bytes(64), seq in any::<u8>(), muts in mutations(), continued in any::<bool>()) {
        let mut out = bytes::BytesMut::new();
        packet::write_packet(&mut out, seq, &payload);
        let mut raw = out.to_vec();
        match packet::frame(&raw) {
            Frame::Complete(p) => {
                prop_assert_eq!(p.raw_len, raw.len());
                prop_assert_eq!(packet::join_payload(&raw), payload.clone());
            }
            Frame::Incomplete { .. } => prop_assert!(false, "a written packet must frame"),
        }
        if continued {
            // A header claiming a full 16 MiB continuation packet with a few bytes behind it.
            let mut big = vec![0xFF, 0xFF, 0xFF, seq];
            big.extend_from_slice(&raw);
            raw = big;
        }
        let raw = apply(&raw, &muts);
        if let Frame::Complete(p) = packet::frame(&raw) {
            prop_assert!(p.raw_len <= raw.len());
            prop_assert_eq!(packet::join_payload(&raw[..p.raw_len]).len(), p.payload_len);
        }
        prop_assert!(packet::join_payload(&raw).len() <= raw.len());
    }

    #[test]
    fn lenenc_roundtrip_and_random(v in any::<u64>(), buf in random_bytes(12)) {
        let mut out = Vec::new();
        packet::put_lenenc(&mut out, v);
        prop_assert_eq!(packet::read_lenenc(&out), Some((v, out.len())));
        for cut in 0..out.len() {
            prop_assert_eq!(packet::read_lenenc(&out[..cut]), None);
        }
        if let Some((_, n)) = packet::read_lenenc(&buf) {
            prop_assert!(n <= buf.len() && n <= 9);
        }
    }

    #[test]
    fn client_hello_random(buf in random_bytes(128)) {
        let _ = ClientHello::parse(&buf);
    }

    #[test]
    fn client_hello_mutated(spec in hello_spec(), muts in mutations()) {
        let payload = spec.payload();
        if muts.is_empty() && spec.caps & !PROXY_CAPABILITIES == 0 {
            // Unmutated and well-formed: must parse, and to what was serialised.
            let hello = ClientHello::parse(&payload).expect("valid handshake response");
            prop_assert_eq!(&hello.user, &spec.user);
            prop_assert_eq!(&hello.auth_response, &spec.auth);
        }
        let _ = ClientHello::parse(&apply(&payload, &muts));
    }

    #[test]
    fn greeting_random_and_mutated(buf in random_bytes(96), payload in greeting_payload(), muts in mutations()) {
        let _ = Greeting::parse(&buf);
        let mut tagged = buf.clone();
        tagged.insert(0, 10);
        let _ = Greeting::parse(&tagged);
        let _ = Greeting::parse(&apply(&payload, &muts));
    }

    #[test]
    fn change_user_random_and_mutated(
        buf in random_bytes(96),
        caps in prop_oneof![Just(0u32), Just(CLIENT_PLUGIN_AUTH), any::<u32>()],
        user in name(), auth in random_bytes(40), db in prop::option::of(name()), collation in any::<u8>(), plugin in name(),
        muts in mutations(),
    ) {
        let _ = ChangeUser::parse(&buf, caps);
        let mut tagged = buf.clone();
        tagged.insert(0, command::COM_CHANGE_USER);
        let _ = ChangeUser::parse(&tagged, caps);
        let payload = handshake::change_user_payload(&user, &auth, db.as_deref(), collation, &plugin);
        if muts.is_empty() {
            let cu = ChangeUser::parse(&payload, caps | CLIENT_PLUGIN_AUTH).expect("valid COM_CHANGE_USER");
            prop_assert_eq!(&cu.user, &user);
            prop_assert_eq!(&cu.auth_response, &auth);
        }
        let _ = ChangeUser::parse(&apply(&payload, &muts), caps);
    }

    #[test]
    fn auth_switch_random_and_mutated(buf in random_bytes(64), plugin in name(), data in random_bytes(32), muts in mutations()) {
        let _ = handshake::parse_auth_switch(&buf);
        let mut tagged = buf.clone();
        tagged.insert(0, 0xFE);
        let _ = handshake::parse_auth_switch(&tagged);
        let payload = handshake::auth_switch_payload(&plugin, &data);
        let _ = handshake::parse_auth_switch(&apply(&payload, &muts));
    }

    #[test]
    fn auth_responses_random(resp in random_bytes(64), nonce in random_bytes(24), pw in random_bytes(24)) {
        // Client auth responses of any length against either stored form.
        let digest = rwsplit::protocol::auth::sha2_digest(&pw);
        let _ = rwsplit::protocol::auth::verify_sha2_fast(&digest, &nonce, &resp);
        for stored in ["", "app", "*5BCB3E6AC345B435C7C2E6B7949A04CE6F6563D3"] {
            let p = rwsplit::protocol::auth::StoredPassword::from_config(stored).expect("valid");
            let _ = p.verify_native(&nonce, &resp);
            let _ = p.verify_cleartext(&resp);
        }
    }

    #[test]
    fn host_patterns_random(text in "[0-9a-f:./x ]{0,48}", ip in any::<[u8; 16]>()) {
        // allowed_hosts entries come from the config: any text is an error or a
        // pattern, and a pattern matches an address of either family.
        if let Ok(p) = rwsplit::access::HostPattern::parse(&text) {
            let _ = p.matches(std::net::IpAddr::from(ip));
            let _ = p.matches(std::net::IpAddr::from([ip[0], ip[1], ip[2], ip[3]]));
        }
    }

    #[test]
    fn err_ok_eof_random(buf in random_bytes(48), deprecate_eof in any::<bool>()) {
        let mut tagged = buf.clone();
        tagged.insert(0, 0xFF);
        for b in [&buf, &tagged] {
            if let Some(e) = ErrPacket::parse(b) {
                let _ = e.to_string();
                let _ = e.sql_state_str();
            }
            let _ = ok::ok_status(b);
            let _ = ok::eof_status(b);
            let _ = ok::terminator_status(b, deprecate_eof);
            let _ = ok::warnings(b, true);
            let _ = ok::warnings(b, false);
            let _ = command::response_kind(b);
        }
        if let Some(&c) = buf.first() {
            let _ = command::name(c);
        }
    }

    #[test]
    fn session_tracking_mutated(payload in ok_payload(), muts in mutations(), client in client_tracking()) {
        let payload = apply(&payload, &muts);
        let _ = ok::ok_status(&payload);
        let _ = ok::warnings(&payload, true);
        if let Some(parts) = track::parse_ok(&payload) {
            prop_assert!(parts.fixed.len() <= payload.len());
            if let Some(state) = parts.state {
                // Entries are slices of the block: at most one per byte.
                prop_assert!(track::entries(state).count() <= state.len());
            }
        }
        if let Some(out) = track::rewrite_for_client(&payload, &client) {
            // The rewrite only ever drops entries (the status bytes and a lenenc
            // header may be re-encoded, never grown by more than a few bytes).
            prop_assert!(out.len() <= payload.len() + 18, "{} -> {}", payload.len(), out.len());
        }
    }

    #[test]
    fn session_tracking_random(buf in random_bytes(64), client in client_tracking()) {
        let _ = track::parse_ok(&buf);
        prop_assert!(track::entries(&buf).count() <= buf.len());
        let _ = track::rewrite_for_client(&buf, &client);
    }

    #[test]
    fn response_scanner_sequences(
        kind in response_kind(),
        deprecate_eof in any::<bool>(),
        packets in prop::collection::vec((reply_packet(), prop::collection::vec(mutation(), 0..2), 0u8..8), 0..24),
    ) {
        let mut scanner = ResponseScanner::new(kind, deprecate_eof);
        for (payload, muts, len_mode) in packets {
            let payload = apply(&payload, &muts);
            // Mostly the payload's own length; sometimes a split 16 MiB packet whose
            // first physical packet is all the scanner gets to see.
            let len = if len_mode == 0 { MAX_PAYLOAD } else { payload.len() };
            let first = payload.first().copied().unwrap_or(0);
            let fed: &[u8] = if scanner.needs_whole(first, len) || payload.len() <= 1 { &payload } else { &payload[..1] };
            let was_done = scanner.is_done();
            match scanner.on_packet(len, fed) {
                Ok(Step::Done) => prop_assert!(scanner.is_done()),
                Ok(_) => prop_assert!(!was_done),
                Err(_) => {}
            }
            let _ = (scanner.status(), scanner.saw_error(), scanner.warnings(), scanner.rows(), scanner.error_code(), scanner.last_was_ok());
        }
    }

    #[test]
    fn response_scanner_random(kind in response_kind(), deprecate_eof in any::<bool>(), packets in prop::collection::vec(random_bytes(12), 0..16)) {
        let mut scanner = ResponseScanner::new(kind, deprecate_eof);
        for p in packets {
            let _ = scanner.needs_whole(p.first().copied().unwrap_or(0), p.len());
            let _ = scanner.on_packet(p.len(), &p);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn classify_random_bytes(buf in random_bytes(256)) {
        let c = Classifier::new(64);
        classify_checked(&c, &buf);
        classify_checked(&c, &buf); // again, from the cache
    }

    #[test]
    fn classify_sqlish(sql in sql_text()) {
        // A fresh classifier and a warm shared one must agree: the cache is keyed
        // by the digest, so two statements with one digest must classify alike.
        thread_local!(static SHARED: Classifier = Classifier::new(4096));
        let fresh = Classifier::new(4).classify(&sql);
        SHARED.with(|shared| {
            let cached = shared.classify(&sql);
            assert!(cached.digest.len() <= 64 * 1024 + 64);
            assert_eq!(
                (cached.class, cached.effects, &cached.session_vars, &cached.use_db),
                (fresh.class, fresh.effects, &fresh.session_vars, &fresh.use_db),
                "statement {:?} (digest {:?})", String::from_utf8_lossy(&sql), fresh.digest
            );
        });
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn classify_big_statements(sql in sql_big(), muts in mutations()) {
        let c = Classifier::new(16);
        classify_checked(&c, &sql);
        classify_checked(&c, &apply(&sql, &muts));
    }
}

// ---------------------------------------------------------------------------
// Fixed cases: huge lengths must not be trusted, deep input must not overflow
// the stack. Each must finish (an allocation sized from the input would abort
// the process; quadratic work on huge input would run for minutes).
// ---------------------------------------------------------------------------

const HUGE: [u8; 9] = [0xFE, 0, 0, 0, 0, 0, 0, 0, 0x40]; // lenenc 2^62

fn quick<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let r = f();
    // A hang detector, not a performance target: generous enough for a debug
    // build on a loaded 2-core machine (the cases take well under a second alone).
    assert!(start.elapsed() < Duration::from_secs(60), "{what} took {:?}", start.elapsed());
    r
}

fn hello_prefix(caps: u32) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&caps.to_le_bytes());
    out.extend_from_slice(&0x0100_0000u32.to_le_bytes());
    out.push(45);
    out.extend_from_slice(&[0; 23]);
    put_cstr(&mut out, b"root");
    out
}

#[test]
fn client_hello_huge_auth_length() {
    let mut p = hello_prefix(PROXY_CAPABILITIES | handshake::CLIENT_PLUGIN_AUTH_LENENC);
    p.extend_from_slice(&HUGE);
    p.extend_from_slice(b"short");
    assert!(quick("huge auth length", || ClientHello::parse(&p)).is_err());
}

#[test]
fn client_hello_huge_attributes_length() {
    let caps = PROXY_CAPABILITIES | handshake::CLIENT_PLUGIN_AUTH_LENENC | handshake::CLIENT_CONNECT_ATTRS;
    let mut p = hello_prefix(caps & !handshake::CLIENT_CONNECT_WITH_DB);
    p.push(0); // empty auth response
    put_cstr(&mut p, b"mysql_native_password");
    p.extend_from_slice(&HUGE);
    p.extend_from_slice(&[3, b'k', b'e', b'y']);
    let _ = quick("huge attributes length", || ClientHello::parse(&p));
    // And a huge length inside an otherwise sized attribute block.
    let mut p = hello_prefix(caps & !handshake::CLIENT_CONNECT_WITH_DB);
    p.push(0);
    put_cstr(&mut p, b"mysql_native_password");
    p.push(12);
    p.extend_from_slice(&HUGE);
    p.extend_from_slice(&[1, b'v', 0]);
    let _ = quick("huge attribute key length", || ClientHello::parse(&p));
}

#[test]
fn session_tracking_huge_lengths() {
    // info length 2^62
    let mut p = vec![0x00, 0, 0, 0x02, 0x40, 0, 0];
    p.extend_from_slice(&HUGE);
    assert_eq!(quick("huge info", || track::parse_ok(&p)), None);
    // state block length 2^62
    let mut p = vec![0x00, 0, 0, 0x02, 0x40, 0, 0, 0];
    p.extend_from_slice(&HUGE);
    assert_eq!(quick("huge state", || track::parse_ok(&p)), None);
    // entry length u64::MAX inside a block
    let mut block = vec![track::TRACK_SYSTEM_VARIABLES, 0xFE];
    block.extend_from_slice(&[0xFF; 8]);
    assert_eq!(track::entries(&block).count(), 0);
    let client = ClientTracking { enabled: true, variables: Some(vec![]), schema: false, state_change: false };
    let mut p = vec![0x00, 0, 0, 0x02, 0x40, 0, 0, 0, block.len() as u8];
    p.extend_from_slice(&block);
    let _ = quick("huge entry", || track::rewrite_for_client(&p, &client));
}

#[test]
fn response_scanner_huge_column_count() {
    let mut s = ResponseScanner::new(ResponseKind::Results { cursor: false }, true);
    assert_eq!(s.on_packet(HUGE.len(), &HUGE), Ok(Step::More));
    quick("huge column count", || {
        for _ in 0..10_000 {
            assert_eq!(s.on_packet(MAX_PAYLOAD, &[0x03]), Ok(Step::More));
        }
    });
    // u64::MAX columns and an ERR in the middle of the definitions.
    let mut s = ResponseScanner::new(ResponseKind::Results { cursor: false }, false);
    let mut count = vec![0xFE];
    count.extend_from_slice(&[0xFF; 8]);
    assert_eq!(s.on_packet(count.len(), &count), Ok(Step::More));
    assert!(s.on_packet(3, &[0xFF, 0x10, 0x04]).is_ok());
}

#[test]
fn framing_max_length_header_without_body() {
    // A 16 MiB length with nothing behind it: incomplete, nothing reserved.
    let buf = [0xFF, 0xFF, 0xFF, 0];
    assert_eq!(packet::frame(&buf), Frame::Incomplete { payload_so_far: MAX_PAYLOAD });
    assert!(packet::join_payload(&buf).is_empty());
}

#[test]
fn classify_pathological_nesting_and_chains() {
    let c = Classifier::new(16);
    quick("deep parentheses", || classify_checked(&c, format!("SELECT {}1", "(".repeat(200_000)).as_bytes()));
    quick("deep closed parentheses", || {
        classify_checked(&c, format!("SELECT {}1{}", "(".repeat(20_000), ")".repeat(20_000)).as_bytes())
    });
    quick("long AND chain", || {
        classify_checked(&c, format!("SELECT 1 FROM t WHERE a{}", " AND a".repeat(50_000)).as_bytes())
    });
    quick("long unary chain", || classify_checked(&c, format!("SELECT {}1", "- ".repeat(50_000)).as_bytes()));
    quick("long NOT chain", || classify_checked(&c, format!("SELECT {}1", "NOT ".repeat(50_000)).as_bytes()));
    quick("long IN list", || {
        let list = vec!["1"; 200_000].join(",");
        classify_checked(&c, format!("SELECT * FROM t WHERE a IN ({list})").as_bytes())
    });
    quick("many statements", || classify_checked(&c, "SELECT 1;".repeat(50_000).as_bytes()));
    quick("nested subqueries", || {
        classify_checked(&c, format!("SELECT {}1{}", "(SELECT ".repeat(5_000), ")".repeat(5_000)).as_bytes())
    });
    quick("unterminated comment", || classify_checked(&c, format!("SELECT /*{}", "x".repeat(1 << 20)).as_bytes()));
}

// ---------------------------------------------------------------------------
// Regressions found by the properties above
// ---------------------------------------------------------------------------

/// A greeting whose auth_plugin_data_len byte is 0x80..=0x87 made mysql_common
/// compute `0x80 as i8 - 8` and panic with "attempt to subtract with overflow"
/// (debug builds; release wrapped to a 120-byte nonce part). Such a length now
/// means what every other high-bit length means there: a 13-byte second part.
#[test]
fn greeting_auth_data_len_high_bit_overflow() {
    for len_byte in [0x80u8, 0x87, 0x88, 0xFF] {
        let mut p = vec![10];
        put_cstr(&mut p, b"5.5");
        p.extend_from_slice(&[1, 0, 0, 0]); // connection id
        p.extend_from_slice(b"abcdefgh"); // nonce, part 1
        p.push(0); // filler
        p.extend_from_slice(&0xF7FFu16.to_le_bytes()); // CLIENT_SECURE_CONNECTION among them
        p.push(45); // collation
        p.extend_from_slice(&2u16.to_le_bytes()); // status
        p.extend_from_slice(&0u16.to_le_bytes()); // upper capabilities
        p.push(len_byte); // auth_plugin_data_len
        p.extend_from_slice(&[0; 10]); // reserved
        p.extend_from_slice(b"ijklmnopqrst\0"); // nonce, part 2 (13 bytes)
        let g = Greeting::parse(&p).expect("greeting with a high-bit auth data length");
        assert_eq!(g.nonce, b"abcdefghijklmnopqrst", "length byte {len_byte:#x}");
    }
}
