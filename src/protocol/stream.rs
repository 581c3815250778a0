//! A socket with a read buffer, read and written in whole packets or raw bytes.

use std::io;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::packet::{frame, join_payload, write_packet, Frame, RawPacket, HEADER_LEN};

const READ_CHUNK: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("connection closed in the middle of a packet")]
    Truncated,
    #[error("packet of {size} bytes exceeds max_allowed_packet ({max})")]
    TooLarge { size: usize, max: usize },
}

pub struct PacketStream {
    stream: TcpStream,
    rbuf: BytesMut,
}

impl PacketStream {
    pub fn new(stream: TcpStream) -> Self {
        // Requests and replies are small and latency-bound; Nagle would hold them.
        let _ = stream.set_nodelay(true);
        Self { stream, rbuf: BytesMut::with_capacity(READ_CHUNK) }
    }

    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.stream.peer_addr()
    }

    pub fn buffered(&self) -> &[u8] {
        &self.rbuf
    }

    /// Removes and returns the first `n` buffered bytes.
    pub fn consume(&mut self, n: usize) -> BytesMut {
        self.rbuf.split_to(n)
    }

    /// Reads more bytes into the buffer; 0 means the peer closed.
    pub async fn fill(&mut self) -> io::Result<usize> {
        if self.rbuf.capacity() - self.rbuf.len() < READ_CHUNK / 4 {
            self.rbuf.reserve(READ_CHUNK);
        }
        self.stream.read_buf(&mut self.rbuf).await
    }

    /// Waits until a whole logical packet is buffered and says where it is;
    /// `Ok(None)` when the peer closed cleanly between packets. A packet over
    /// `max_payload` is refused as soon as its headers say so, before it is read.
    pub async fn read_packet(&mut self, max_payload: usize) -> Result<Option<RawPacket>, StreamError> {
        loop {
            match frame(&self.rbuf) {
                Frame::Complete(p) if p.payload_len <= max_payload => return Ok(Some(p)),
                Frame::Complete(p) => return Err(StreamError::TooLarge { size: p.payload_len, max: max_payload }),
                Frame::Incomplete { payload_so_far } if payload_so_far > max_payload => {
                    return Err(StreamError::TooLarge { size: payload_so_far, max: max_payload })
                }
                Frame::Incomplete { .. } => {}
            }
            if self.fill().await? == 0 {
                return if self.rbuf.is_empty() { Ok(None) } else { Err(StreamError::Truncated) };
            }
        }
    }

    /// Reads one logical packet and returns (first sequence id, payload), joined
    /// if it was split. For the connection phase and the proxy's own commands.
    pub async fn read_payload(&mut self, max_payload: usize) -> Result<(u8, Vec<u8>), StreamError> {
        let p = self.read_packet(max_payload).await?.ok_or(StreamError::Truncated)?;
        let raw = self.consume(p.raw_len);
        let payload =
            if p.raw_len == p.payload_len + HEADER_LEN { raw[HEADER_LEN..].to_vec() } else { join_payload(&raw) };
        Ok((p.last_seq, payload))
    }

    pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Frames `payload` starting at `seq` and writes it; returns the next sequence id.
    pub async fn write_payload(&mut self, seq: u8, payload: &[u8]) -> io::Result<u8> {
        let mut out = BytesMut::with_capacity(payload.len() + HEADER_LEN);
        let next = write_packet(&mut out, seq, payload);
        self.stream.write_all(&out).await?;
        Ok(next)
    }

    /// Resolves when the socket has something to read (or closed), without reading
    /// it: no system call while nothing arrives.
    pub async fn readable(&self) -> io::Result<()> {
        if !self.rbuf.is_empty() {
            return Ok(());
        }
        self.stream.readable().await
    }

    /// Whether an idle connection is still usable: the peer has neither closed it
    /// nor sent anything (a server only speaks unasked when it is about to close).
    /// A non-blocking check: no wait.
    pub fn is_idle_and_open(&self) -> bool {
        if !self.rbuf.is_empty() {
            return false;
        }
        let mut probe = [0u8; 1];
        matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    pub async fn shutdown(&mut self) {
        let _ = self.stream.shutdown().await;
    }

    /// Closes with a reset rather than an orderly shutdown: what a client sees when
    /// a MariaDB server drops its connection (KILL, wait_timeout), so that its
    /// library reports it the same way ("server has gone away").
    #[allow(deprecated)] // the deprecation is about blocking in drop, which a zero linger never does
    pub fn abort(self) {
        let _ = self.stream.set_linger(Some(std::time::Duration::ZERO));
    }
}
