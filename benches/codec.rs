//! Codec micro-benchmarks: packet framing, 16 MiB splitting/joining, and the
//! response scanner walking a result set the way `relay::relay_reply` does.
//!
//!     cargo bench --bench codec                 # full run
//!     cargo bench --bench codec -- --quick      # fast sanity pass
//!     cargo bench --bench codec -- scanner      # one group

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use rwsplit::protocol::command::ResponseKind;
use rwsplit::protocol::packet::{frame, join_payload, write_packet, Frame, PacketHeader, HEADER_LEN, MAX_PAYLOAD};
use rwsplit::protocol::response::{ResponseScanner, Step};

/// A COM_QUERY of the size sysbench's point select sends.
const SMALL_QUERY: &[u8] = b"\x03SELECT c FROM sbtest1 WHERE id=4242";

fn framed(seq: u8, payload: &[u8]) -> BytesMut {
    let mut b = BytesMut::new();
    write_packet(&mut b, seq, payload);
    b
}

fn bench_small(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame");

    let one = framed(0, SMALL_QUERY);
    g.throughput(Throughput::Elements(1));
    g.bench_function("one_small_packet", |b| {
        b.iter(|| match frame(black_box(&one)) {
            Frame::Complete(p) => black_box(p.raw_len),
            Frame::Incomplete { .. } => unreachable!(),
        })
    });

    // 100 pipelined packets in one read buffer: frame, advance, repeat.
    let mut pipelined = BytesMut::new();
    for i in 0..100u8 {
        write_packet(&mut pipelined, i, SMALL_QUERY);
    }
    g.throughput(Throughput::Elements(100));
    g.bench_function("100_pipelined_small_packets", |b| {
        b.iter(|| {
            let buf: &[u8] = black_box(&pipelined);
            let mut pos = 0;
            let mut n = 0u32;
            while let Frame::Complete(p) = frame(&buf[pos..]) {
                pos += p.raw_len;
                n += 1;
            }
            assert_eq!(n, 100);
            black_box(pos)
        })
    });

    g.throughput(Throughput::Bytes(SMALL_QUERY.len() as u64));
    g.bench_function("write_one_small_packet", |b| {
        let mut out = BytesMut::with_capacity(64);
        b.iter(|| {
            out.clear();
            black_box(write_packet(&mut out, 0, black_box(SMALL_QUERY)));
            black_box(out.len())
        })
    });
    g.finish();
}

fn bench_large(c: &mut Criterion) {
    // 16 MiB + 1 byte = 16_777_217 = MAX_PAYLOAD (0xFFFFFF) + 2: one full physical
    // packet followed by a 2-byte one.
    let payload: Vec<u8> = (0..16 * 1024 * 1024 + 1).map(|i| i as u8).collect();
    let raw = framed(7, &payload);
    assert_eq!(raw.len(), payload.len() + 2 * HEADER_LEN, "two physical packets");
    let second = PacketHeader::parse(&raw[HEADER_LEN + MAX_PAYLOAD..]).expect("second header");
    assert_eq!(second.len, payload.len() - MAX_PAYLOAD);

    let mut g = c.benchmark_group("large_16MiB_plus_1");
    g.sample_size(20);

    // frame() only reads the two headers: report it per packet, not per byte.
    g.throughput(Throughput::Elements(1));
    g.bench_function("frame", |b| {
        b.iter(|| match frame(black_box(&raw)) {
            Frame::Complete(p) => black_box(p.payload_len),
            Frame::Incomplete { .. } => unreachable!(),
        })
    });

    g.throughput(Throughput::Bytes(payload.len() as u64));
    // One output buffer reused across iterations, as the relay reuses its write
    // buffer: this measures framing and copying, not page faults of a fresh 16 MiB
    // allocation (which made a fresh-buffer variant swing between 1 and 12 ms).
    g.bench_function("write_packet", |b| {
        let mut out = BytesMut::with_capacity(payload.len() + 2 * HEADER_LEN);
        b.iter(|| {
            out.clear();
            black_box(write_packet(&mut out, 7, black_box(&payload)));
            black_box(out.len())
        })
    });
    g.bench_function("join_payload", |b| {
        b.iter(|| {
            let joined = join_payload(black_box(&raw));
            black_box(joined.len())
        })
    });
    // Reference point for join_payload: the same two copies into a Vec sized up
    // front (the cost of the bytes alone, without growth reallocations).
    g.bench_function("join_baseline_presized_copy", |b| {
        b.iter(|| {
            let raw: &[u8] = black_box(&raw);
            let mut out = Vec::with_capacity(raw.len());
            out.extend_from_slice(&raw[HEADER_LEN..HEADER_LEN + MAX_PAYLOAD]);
            out.extend_from_slice(&raw[2 * HEADER_LEN + MAX_PAYLOAD..]);
            black_box(out.len())
        })
    });
    g.finish();
}

/// One packet of the server's reply, as raw bytes in a read buffer.
fn put(out: &mut BytesMut, seq: &mut u8, payload: &[u8]) {
    *seq = write_packet(out, *seq, payload);
}

fn lenenc_str(out: &mut Vec<u8>, s: &[u8]) {
    assert!(s.len() < 251);
    out.push(s.len() as u8);
    out.extend_from_slice(s);
}

fn column_def(name: &str, type_code: u8, length: u32) -> Vec<u8> {
    let mut p = Vec::new();
    for s in [&b"def"[..], b"sbtest", b"sbtest1", b"sbtest1", name.as_bytes(), name.as_bytes()] {
        lenenc_str(&mut p, s);
    }
    p.push(0x0c);
    p.extend_from_slice(&33u16.to_le_bytes()); // charset
    p.extend_from_slice(&length.to_le_bytes());
    p.push(type_code);
    p.extend_from_slice(&0u16.to_le_bytes()); // flags
    p.push(0); // decimals
    p.extend_from_slice(&[0, 0]);
    p
}

/// A 1000-row, 5-column text result set under CLIENT_DEPRECATE_EOF, as the
/// server writes it to the socket: column count, 5 definitions, rows, then an OK
/// packet with a 0xFE header.
fn result_set(rows: usize) -> BytesMut {
    let mut out = BytesMut::new();
    let mut seq = 1u8;
    put(&mut out, &mut seq, &[5]);
    put(&mut out, &mut seq, &column_def("id", 3, 11));
    put(&mut out, &mut seq, &column_def("k", 3, 11));
    put(&mut out, &mut seq, &column_def("c", 254, 480));
    put(&mut out, &mut seq, &column_def("pad", 254, 240));
    put(&mut out, &mut seq, &column_def("note", 253, 400));
    for i in 0..rows {
        let mut row = Vec::with_capacity(200);
        lenenc_str(&mut row, i.to_string().as_bytes());
        lenenc_str(&mut row, (i * 7919 % 10_000).to_string().as_bytes());
        lenenc_str(&mut row, format!("{:0>119}", i).as_bytes());
        lenenc_str(&mut row, format!("{:0>59}", i * 3).as_bytes());
        if i % 3 == 0 {
            row.push(0xFB); // NULL
        } else {
            lenenc_str(&mut row, b"some note");
        }
        put(&mut out, &mut seq, &row);
    }
    // OK packet with a 0xFE header: affected rows 0, insert id 0, status
    // SERVER_STATUS_AUTOCOMMIT, 0 warnings.
    put(&mut out, &mut seq, &[0xFE, 0, 0, 0x02, 0x00, 0, 0]);
    out
}

/// Walks `buf` the way the relay does: per packet header, ask `needs_whole`, then
/// feed either the whole payload or just its first byte.
fn scan(buf: &[u8]) -> (usize, u16) {
    let mut s = ResponseScanner::new(ResponseKind::Results { cursor: false }, true);
    let mut pos = 0;
    let mut packets = 0;
    loop {
        let h = PacketHeader::parse(&buf[pos..]).expect("header");
        let body = pos + HEADER_LEN;
        let first = buf.get(body).copied().unwrap_or(0);
        let step = if h.len > 0 && s.needs_whole(first, h.len) {
            s.on_packet(h.len, &buf[body..body + h.len])
        } else {
            s.on_packet(h.len, &buf[body..(body + 1).min(body + h.len)])
        }
        .expect("valid reply");
        pos = body + h.len;
        packets += 1;
        if step == Step::Done {
            assert_eq!(pos, buf.len());
            return (packets, s.status().unwrap_or(0));
        }
    }
}

fn bench_scanner(c: &mut Criterion) {
    let rs = result_set(1000);
    assert_eq!(scan(&rs), (1 + 5 + 1000 + 1, 0x0002));

    let mut g = c.benchmark_group("scanner");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("result_set_1000_rows_5_cols", |b| b.iter(|| black_box(scan(black_box(&rs)))));
    g.finish();
}

criterion_group!(benches, bench_small, bench_large, bench_scanner);
criterion_main!(benches);
