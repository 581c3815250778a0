//! The byte stream under a packet stream: plain TCP, or TLS on top of it
//! (accepted from a client after its SSLRequest, or opened to a server).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

pub enum Transport {
    Tcp(TcpStream),
    /// Boxed: a TLS session is large and most connections are plain.
    TlsServer(Box<tokio_rustls::server::TlsStream<Prefixed>>),
    TlsClient(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Transport {
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Transport::Tcp(s) => s,
            Transport::TlsServer(s) => &s.get_ref().0.inner,
            Transport::TlsClient(s) => s.get_ref().0,
        }
    }

    pub fn is_tls(&self) -> bool {
        !matches!(self, Transport::Tcp(_))
    }

    /// The TLS version and cipher suite in use, for the admin port and logs.
    pub fn tls_description(&self) -> Option<String> {
        let describe = |v: Option<rustls::ProtocolVersion>, c: Option<rustls::SupportedCipherSuite>| {
            let version = v.map_or_else(|| "TLS".to_string(), |v| format!("{v:?}"));
            let suite = c.map_or_else(String::new, |c| format!(" {:?}", c.suite()));
            format!("{version}{suite}")
        };
        match self {
            Transport::Tcp(_) => None,
            Transport::TlsServer(s) => {
                let c = s.get_ref().1;
                Some(describe(c.protocol_version(), c.negotiated_cipher_suite()))
            }
            Transport::TlsClient(s) => {
                let c = s.get_ref().1;
                Some(describe(c.protocol_version(), c.negotiated_cipher_suite()))
            }
        }
    }
}

/// A TCP stream with bytes already read from it put back in front: a client
/// sends its TLS ClientHello right behind the SSLRequest, often in the same
/// segment, so the packet reader may hold its first bytes.
pub struct Prefixed {
    prefix: BytesMut,
    inner: TcpStream,
}

impl Prefixed {
    pub fn new(prefix: BytesMut, inner: TcpStream) -> Self {
        Self { prefix, inner }
    }
}

impl AsyncRead for Prefixed {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Prefixed {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

macro_rules! each {
    ($self:expr, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Transport::Tcp($s) => $e,
            Transport::TlsServer($s) => $e,
            Transport::TlsClient($s) => $e,
        }
    };
}

impl AsyncRead for Transport {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for Transport {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        each!(self, s => Pin::new(s).poll_shutdown(cx))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        each!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Transport::Tcp(s) => s.is_write_vectored(),
            Transport::TlsServer(s) => s.is_write_vectored(),
            Transport::TlsClient(s) => s.is_write_vectored(),
        }
    }
}
