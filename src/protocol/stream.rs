//! A socket with a read buffer, read and written in whole packets or raw bytes.

use std::io;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::packet::{frame, join_payload, write_packet, Frame, RawPacket, HEADER_LEN};
use super::transport::{Prefixed, Transport};

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
    stream: Transport,
    rbuf: BytesMut,
}

impl PacketStream {
    pub fn new(stream: TcpStream) -> Self {
        // Requests and replies are small and latency-bound; Nagle would hold them.
        let _ = stream.set_nodelay(true);
        Self { stream: Transport::Tcp(stream), rbuf: BytesMut::with_capacity(READ_CHUNK) }
    }

    pub fn peer_addr(&self) -> io::Result<std::net::SocketAddr> {
        self.stream.tcp().peer_addr()
    }

    pub fn is_tls(&self) -> bool {
        self.stream.is_tls()
    }

    pub fn tls_description(&self) -> Option<String> {
        self.stream.tls_description()
    }

    /// Runs the server side of a TLS handshake on a plain stream (after the
    /// client's SSLRequest); bytes of it already read are handed to TLS.
    pub async fn accept_tls(self, acceptor: &tokio_rustls::TlsAcceptor) -> io::Result<Self> {
        let Transport::Tcp(tcp) = self.stream else {
            return Err(io::Error::other("TLS requested twice"));
        };
        let tls = acceptor.accept(Prefixed::new(self.rbuf, tcp)).await?;
        Ok(Self { stream: Transport::TlsServer(Box::new(tls)), rbuf: BytesMut::with_capacity(READ_CHUNK) })
    }

    /// Runs the client side of a TLS handshake (after sending an SSLRequest).
    pub async fn connect_tls(
        self,
        connector: &tokio_rustls::TlsConnector,
        name: rustls::pki_types::ServerName<'static>,
    ) -> io::Result<Self> {
        let Transport::Tcp(tcp) = self.stream else {
            return Err(io::Error::other("TLS requested twice"));
        };
        if !self.rbuf.is_empty() {
            // A server says nothing between the SSLRequest and the ClientHello.
            return Err(io::Error::new(io::ErrorKind::InvalidData, "the server spoke before the TLS handshake"));
        }
        let tls = connector.connect(name, tcp).await?;
        Ok(Self { stream: Transport::TlsClient(Box::new(tls)), rbuf: self.rbuf })
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

    pub async fn write_all(&mut self, mut bytes: &[u8]) -> io::Result<()> {
        if let Transport::Tcp(tcp) = &self.stream {
            // A command or a reply almost always fits the socket buffer: one
            // send, without the future and budget machinery of `write_all`
            // (with callgrind, about 100 instructions a write). What does not
            // fit goes the usual way.
            loop {
                match tcp.try_write(bytes) {
                    Ok(n) if n == bytes.len() => return Ok(()),
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => bytes = &bytes[n..],
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
        }
        self.stream.write_all(bytes).await?;
        if self.stream.is_tls() {
            // TLS may keep a record back until flushed; plain TCP has nothing to flush.
            self.stream.flush().await?;
        }
        Ok(())
    }

    /// Frames `payload` starting at `seq` and writes it; returns the next sequence id.
    pub async fn write_payload(&mut self, seq: u8, payload: &[u8]) -> io::Result<u8> {
        let mut out = BytesMut::with_capacity(payload.len() + HEADER_LEN);
        let next = write_packet(&mut out, seq, payload);
        self.write_all(&out).await?;
        Ok(next)
    }

    /// Resolves when the socket has something to read (or closed), without reading
    /// it: no system call while nothing arrives.
    pub async fn readable(&self) -> io::Result<()> {
        if !self.rbuf.is_empty() {
            return Ok(());
        }
        // Under TLS this can wake for a record that carries no data (a session
        // ticket); the read that follows then simply waits on.
        self.stream.tcp().readable().await
    }

    /// Whether an idle connection is still usable: the peer has neither closed it
    /// nor sent anything (a server only speaks unasked when it is about to close).
    /// A non-blocking check: no wait.
    pub fn is_idle_and_open(&mut self) -> bool {
        if !self.rbuf.is_empty() {
            return false;
        }
        match &self.stream {
            Transport::Tcp(tcp) => {
                let mut probe = [0u8; 1];
                matches!(tcp.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
            }
            // The raw socket may hold TLS records without data (session
            // tickets): only a read through TLS tells. A connection that has
            // data is not idle and is dropped, so what is read does not matter.
            _ => {
                let mut probe = [0u8; 1];
                let mut buf = tokio::io::ReadBuf::new(&mut probe);
                let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
                std::pin::Pin::new(&mut self.stream).poll_read(&mut cx, &mut buf).is_pending()
            }
        }
    }

    pub async fn shutdown(&mut self) {
        let _ = self.stream.shutdown().await;
    }

    /// Closes after an error sent to a peer that may still be sending (the rest
    /// of a packet refused for its size). Closing a socket with unread data makes
    /// the kernel answer with a reset, which fails the write the peer is busy
    /// with, so that it reports a lost connection instead of the error. The write
    /// side is shut first (the peer reads the error, then end-of-stream); what
    /// still arrives is read and dropped for up to `linger`, in the one buffer
    /// the stream already has, and the socket is closed after it.
    pub async fn close_after_error(mut self, linger: std::time::Duration) {
        let _ = self.stream.shutdown().await;
        let drain = async {
            loop {
                self.rbuf.clear();
                if self.rbuf.capacity() == 0 {
                    self.rbuf.reserve(READ_CHUNK);
                }
                match self.stream.read_buf(&mut self.rbuf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        let _ = tokio::time::timeout(linger, drain).await;
    }

    /// Closes with a reset rather than an orderly shutdown: what a client sees when
    /// a MariaDB server drops its connection (KILL, wait_timeout), so that its
    /// library reports it the same way ("server has gone away"). Under TLS the
    /// server's drop is a FIN without close_notify, which TLS libraries report
    /// as "unexpected eof": see [`Self::end_session`].
    #[allow(deprecated)] // the deprecation is about blocking in drop, which a zero linger never does
    pub async fn abort(self) {
        if self.stream.is_tls() {
            self.end_session().await;
            return;
        }
        let _ = self.stream.tcp().set_linger(Some(std::time::Duration::ZERO));
    }

    /// Closes as a server closes a connection it timed out (wait_timeout): with
    /// a reset, TLS or not, so that the client's next write fails and it
    /// reports "server has gone away" (an interactive one reconnects).
    #[allow(deprecated)] // the deprecation is about blocking in drop, which a zero linger never does
    pub fn server_timed_out(self) {
        let _ = self.stream.tcp().set_linger(Some(std::time::Duration::ZERO));
    }

    /// Closes at the end of a session the proxy ends (quit, kill, timeout,
    /// error). Plain TCP: an orderly shutdown. TLS: as MariaDB closes a TLS
    /// session, without close_notify (the client's TLS library then reports an
    /// unexpected end of file, as it does against the server); what the client
    /// already sent is read and dropped so that the close is a FIN, not a reset.
    pub async fn end_session(mut self) {
        if !self.stream.is_tls() {
            let _ = self.stream.shutdown().await;
            return;
        }
        use std::os::fd::AsRawFd;
        // SAFETY: shutdown(2) on a descriptor this stream owns and keeps open;
        // it changes no memory.
        unsafe { libc::shutdown(self.stream.tcp().as_raw_fd(), libc::SHUT_WR) };
        self.drop_pending_input().await;
    }

    /// After the write side is shut: reads and drops what has already arrived,
    /// without waiting for more, so that closing the socket sends no reset for
    /// it. (Waiting would be wrong: the socket must be gone, as the server's
    /// is, by the time an idle client next writes.)
    async fn drop_pending_input(&self) {
        let mut sink = [0u8; 4096];
        while let Ok(n) = self.stream.tcp().try_read(&mut sink) {
            if n == 0 {
                return;
            }
        }
    }
}
