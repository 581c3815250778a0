//! Packet framing: 4-byte headers, 16 MiB splitting and joining, sequence ids.
//!
//! A MySQL packet is `len: u24 LE, seq: u8, payload`. A payload of 0xFFFFFF bytes or
//! more is sent as several physical packets; one shorter than 0xFFFFFF (possibly
//! empty) ends the logical packet.
//! <https://mariadb.com/kb/en/0-packet/>

use bytes::{BufMut, BytesMut};

/// Largest payload of one physical packet; a packet this long continues in the next.
pub const MAX_PAYLOAD: usize = 0xFF_FFFF;
pub const HEADER_LEN: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketHeader {
    pub len: usize,
    pub seq: u8,
}

impl PacketHeader {
    /// Reads a header from the start of `buf`; `None` when fewer than 4 bytes are there.
    #[inline]
    pub fn parse(buf: &[u8]) -> Option<Self> {
        match buf {
            [a, b, c, seq, ..] => {
                Some(Self { len: usize::from(*a) | usize::from(*b) << 8 | usize::from(*c) << 16, seq: *seq })
            }
            _ => None,
        }
    }

    /// True when another physical packet of the same logical packet follows.
    #[inline]
    pub fn continues(&self) -> bool {
        self.len == MAX_PAYLOAD
    }
}

/// Where a complete logical packet sits in a buffer: its raw bytes (headers
/// included) are `buf[..raw_len]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawPacket {
    pub raw_len: usize,
    pub payload_len: usize,
    /// Sequence id of the last physical packet; the reply continues from it.
    pub last_seq: u8,
    pub first_seq: u8,
}

/// Result of looking for a logical packet at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    Complete(RawPacket),
    /// More bytes are needed; `payload_so_far` lets the caller enforce a size limit
    /// before the whole packet has arrived.
    Incomplete {
        payload_so_far: usize,
    },
}

/// Finds the first complete logical packet in `buf` without copying anything.
pub fn frame(buf: &[u8]) -> Frame {
    let mut pos = 0;
    let mut payload = 0;
    let mut first_seq = None;
    loop {
        let Some(h) = PacketHeader::parse(&buf[pos..]) else {
            return Frame::Incomplete { payload_so_far: payload };
        };
        first_seq.get_or_insert(h.seq);
        payload += h.len;
        if buf.len() - pos - HEADER_LEN < h.len {
            return Frame::Incomplete { payload_so_far: payload };
        }
        pos += HEADER_LEN + h.len;
        if !h.continues() {
            return Frame::Complete(RawPacket {
                raw_len: pos,
                payload_len: payload,
                last_seq: h.seq,
                first_seq: first_seq.unwrap_or(h.seq),
            });
        }
    }
}

/// Copies the payload of a framed logical packet out of its physical packets.
/// Only needed when a packet was split; a single physical packet is read in place.
pub fn join_payload(raw: &[u8]) -> Vec<u8> {
    // Sized up front: growing by doubling would copy a 16 MiB payload twice more.
    let mut out = Vec::with_capacity(raw.len());
    let mut pos = 0;
    while let Some(h) = PacketHeader::parse(&raw[pos..]) {
        let start = pos + HEADER_LEN;
        let end = (start + h.len).min(raw.len());
        out.extend_from_slice(&raw[start..end]);
        pos = end;
        if !h.continues() {
            break;
        }
    }
    out
}

/// Appends `payload` framed as packets starting at sequence id `seq`; returns the
/// next sequence id.
pub fn write_packet(out: &mut BytesMut, mut seq: u8, payload: &[u8]) -> u8 {
    out.reserve(payload.len() + HEADER_LEN * (1 + payload.len() / MAX_PAYLOAD));
    let mut rest = payload;
    loop {
        let n = rest.len().min(MAX_PAYLOAD);
        put_header(out, n, seq);
        out.put_slice(&rest[..n]);
        seq = seq.wrapping_add(1);
        rest = &rest[n..];
        if n < MAX_PAYLOAD {
            return seq;
        }
    }
}

/// Appends one packet of sequence id `seq` whose payload `build` appends to
/// `out`: the payload is written after room for the header, not copied into a
/// packet afterwards, and `out` may be a buffer kept for reuse. A payload of
/// `MAX_PAYLOAD` or more is split as `write_packet` splits it.
pub fn frame_into(out: &mut BytesMut, seq: u8, capacity: usize, build: impl FnOnce(&mut BytesMut)) {
    let start = out.len();
    out.reserve(HEADER_LEN + capacity);
    out.put_slice(&[0; HEADER_LEN]);
    build(out);
    let len = out.len() - start - HEADER_LEN;
    if len < MAX_PAYLOAD {
        out[start..start + HEADER_LEN].copy_from_slice(&[len as u8, (len >> 8) as u8, (len >> 16) as u8, seq]);
        return;
    }
    let payload = out.split_off(start + HEADER_LEN);
    out.truncate(start);
    write_packet(out, seq, &payload);
}

#[inline]
fn put_header(out: &mut BytesMut, len: usize, seq: u8) {
    out.put_u8(len as u8);
    out.put_u8((len >> 8) as u8);
    out.put_u8((len >> 16) as u8);
    out.put_u8(seq);
}

/// Reads a length-encoded integer; `None` on a truncated or invalid (0xFF) prefix.
/// <https://mariadb.com/kb/en/protocol-data-types/#length-encoded-integers>
pub fn read_lenenc(buf: &[u8]) -> Option<(u64, usize)> {
    let (&first, rest) = buf.split_first()?;
    let width = match first {
        0..=0xFA => return Some((u64::from(first), 1)),
        0xFC => 2,
        0xFD => 3,
        0xFE => 8,
        _ => return None,
    };
    let bytes = rest.get(..width)?;
    let v = bytes.iter().rev().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    Some((v, 1 + width))
}

pub fn put_lenenc(out: &mut Vec<u8>, v: u64) {
    match v {
        0..=0xFA => out.push(v as u8),
        0xFB..=0xFFFF => {
            out.push(0xFC);
            out.extend_from_slice(&(v as u16).to_le_bytes());
        }
        0x1_0000..=0xFF_FFFF => {
            out.push(0xFD);
            out.extend_from_slice(&(v as u32).to_le_bytes()[..3]);
        }
        _ => {
            out.push(0xFE);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(payload: &[u8], seq: u8) -> BytesMut {
        let mut b = BytesMut::new();
        write_packet(&mut b, seq, payload);
        b
    }

    #[test]
    fn small_packet_round_trip() {
        let b = framed(b"\x03SELECT 1", 0);
        assert_eq!(&b[..4], &[9, 0, 0, 0]);
        match frame(&b) {
            Frame::Complete(p) => {
                assert_eq!(p.raw_len, 13);
                assert_eq!(p.payload_len, 9);
                assert_eq!(p.last_seq, 0);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exactly_max_payload_needs_empty_trailer() {
        let payload = vec![7u8; MAX_PAYLOAD];
        let b = framed(&payload, 5);
        assert_eq!(b.len(), MAX_PAYLOAD + 8);
        assert_eq!(&b[MAX_PAYLOAD + 4..], &[0, 0, 0, 6]);
        let Frame::Complete(p) = frame(&b) else { panic!() };
        assert_eq!(p.payload_len, MAX_PAYLOAD);
        assert_eq!(p.last_seq, 6);
        assert_eq!(join_payload(&b), payload);
    }

    #[test]
    fn large_packet_splits_and_joins() {
        let payload: Vec<u8> = (0..MAX_PAYLOAD * 2 + 10).map(|i| i as u8).collect();
        let b = framed(&payload, 255);
        let Frame::Complete(p) = frame(&b) else { panic!() };
        assert_eq!(p.raw_len, b.len());
        assert_eq!(p.first_seq, 255);
        assert_eq!(p.last_seq, 1, "sequence ids wrap");
        assert_eq!(join_payload(&b), payload);
    }

    #[test]
    fn frame_into_appends_what_write_packet_writes() {
        for len in [0, 1, 300, MAX_PAYLOAD - 1, MAX_PAYLOAD, MAX_PAYLOAD + 7] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut out = BytesMut::from(&b"before"[..]);
            // A capacity too small or too large changes nothing but allocation.
            frame_into(&mut out, 3, len / 2, |out| out.extend_from_slice(&payload));
            assert_eq!(&out[..6], b"before");
            assert_eq!(out[6..], framed(&payload, 3)[..], "payload of {len} bytes");
        }
    }

    #[test]
    fn partial_frames_are_incomplete() {
        let b = framed(b"hello", 0);
        for cut in 0..b.len() {
            assert!(matches!(frame(&b[..cut]), Frame::Incomplete { .. }));
        }
    }

    #[test]
    fn lenenc_round_trip() {
        for v in [0, 250, 251, 0xFFFF, 0x1_0000, 0xFF_FFFF, 0x100_0000, u64::MAX] {
            let mut out = Vec::new();
            put_lenenc(&mut out, v);
            assert_eq!(read_lenenc(&out), Some((v, out.len())));
        }
        assert_eq!(read_lenenc(&[0xFF]), None);
        assert_eq!(read_lenenc(&[0xFC, 1]), None);
    }
}
