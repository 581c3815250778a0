//! Forwarding a server's reply to a client as raw bytes, packet boundaries found by
//! the response scanner, rows streamed through without being buffered whole.

use std::io;

use crate::protocol::packet::{write_packet, PacketHeader, HEADER_LEN};
use bytes::BytesMut;

use crate::protocol::response::{Metadata, ResponseScanner, ScanError, Step};
use crate::protocol::stream::PacketStream;

/// Which side failed, so the session can decide what the client is told and
/// whether the backend connection can be reused.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("client connection failed: {0}")]
    Client(io::Error),
    #[error("backend connection failed: {0}")]
    Backend(io::Error),
    #[error("backend closed the connection")]
    BackendClosed,
    #[error("{0}")]
    Protocol(#[from] ScanError),
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Relayed {
    /// Bytes written to the client; zero means a failure can still be hidden.
    pub bytes_to_client: u64,
}

impl RelayError {
    pub fn is_backend_side(&self) -> bool {
        !matches!(self, RelayError::Client(_))
    }
}

/// Sees every OK packet of a reply (the first packet's, or a result set's
/// terminator under CLIENT_DEPRECATE_EOF) and may replace it: the session learns
/// what the server tracked and rewrites what the client did not ask to track.
pub trait OkObserver {
    fn on_ok(&mut self, payload: &[u8]) -> Option<Vec<u8>>;

    /// Sees an ERR packet and may replace it, or drop it (an empty payload)
    /// when it is the reply's first packet.
    fn on_err(&mut self, _payload: &[u8]) -> Option<Vec<u8>> {
        None
    }
}

/// Leaves every OK packet as it is.
pub struct PassThrough;

impl OkObserver for PassThrough {
    fn on_ok(&mut self, _payload: &[u8]) -> Option<Vec<u8>> {
        None
    }
}

/// Relays the reply to the command just sent to `backend` until `scanner` says it
/// is complete.
///
/// `restore`: column definitions (payloads) the client must be given when the
/// server leaves them out of the first result set (MARIADB_CLIENT_CACHE_METADATA:
/// the server has them cached for this statement and the client does not). They
/// are put in after the column count, whose "metadata follows" byte becomes 1,
/// and the sequence ids of the packets after them move up by as many.
pub async fn relay_reply(
    backend: &mut PacketStream,
    client: &mut PacketStream,
    scanner: &mut ResponseScanner,
    observer: &mut (dyn OkObserver + Send),
    out: &mut Relayed,
    mut restore: Option<&[bytes::Bytes]>,
) -> Result<(), RelayError> {
    // Bytes of a streamed packet body still to pass through.
    let mut pass = 0usize;
    // The previous physical packet was 0xFFFFFF long: the next one continues it.
    let mut continuation = false;
    // Added to the sequence id of every packet after restored definitions, and
    // the offsets in the chunk being cut of the headers to patch.
    let mut shift = 0u8;
    let mut patches: Vec<usize> = Vec::new();
    loop {
        let mut cut = 0usize;
        let mut infile = false;
        // Packets to send in place of the one at an offset: (offset, framed bytes).
        let mut rewrite: Option<(usize, BytesMut)> = None;
        {
            let buf = backend.buffered();
            loop {
                if pass > 0 {
                    let n = pass.min(buf.len() - cut);
                    cut += n;
                    pass -= n;
                    if pass > 0 {
                        break;
                    }
                    continue;
                }
                if scanner.is_done() && !continuation {
                    break;
                }
                let Some(h) = PacketHeader::parse(&buf[cut..]) else { break };
                let header = cut;
                let body = cut + HEADER_LEN;
                if continuation {
                    if shift != 0 {
                        patches.push(header);
                    }
                    continuation = h.continues();
                    cut = body;
                    pass = h.len;
                    continue;
                }
                let avail = buf.len() - body;
                if h.len > 0 && avail == 0 {
                    break;
                }
                let first = buf.get(body).copied().unwrap_or(0);
                if h.len > 0 && scanner.needs_whole(first, h.len) {
                    if avail < h.len {
                        break;
                    }
                    let step = scanner.on_packet(h.len, &buf[body..body + h.len])?;
                    if shift != 0 {
                        patches.push(header);
                    }
                    if let Some(defs) = restore.filter(|_| scanner.metadata() == Metadata::Skipped) {
                        restore = None;
                        let mut framed = BytesMut::new();
                        let mut count = buf[body..body + h.len].to_vec();
                        if let Some(follows) = count.last_mut() {
                            *follows = 1;
                        }
                        write_packet(&mut framed, h.seq, &count);
                        for (i, def) in defs.iter().enumerate() {
                            write_packet(&mut framed, h.seq.wrapping_add(1).wrapping_add(i as u8), def);
                        }
                        shift = defs.len() as u8;
                        rewrite = Some((header, framed));
                        cut = body + h.len;
                        break;
                    }
                    let replaced = if scanner.last_was_ok() {
                        observer.on_ok(&buf[body..body + h.len])
                    } else if first == 0xFF {
                        observer.on_err(&buf[body..body + h.len])
                    } else {
                        None
                    };
                    // An empty replacement drops the packet, which only the
                    // reply's first packet may be (nothing sent yet).
                    let replaced = replaced.filter(|new| !new.is_empty() || (cut == 0 && out.bytes_to_client == 0));
                    if let Some(new) = replaced {
                        let mut framed = BytesMut::new();
                        if !new.is_empty() {
                            write_packet(&mut framed, h.seq.wrapping_add(shift), &new);
                        }
                        rewrite = Some((header, framed));
                        cut = body + h.len;
                        break;
                    }
                    cut = body + h.len;
                    if step == Step::LocalInfile {
                        infile = true;
                        break;
                    }
                } else {
                    scanner.on_packet(h.len, &buf[body..(body + 1).min(body + h.len)])?;
                    if shift != 0 {
                        patches.push(header);
                    }
                    cut = body;
                    pass = h.len;
                    continuation = h.continues();
                }
            }
        }
        if let Some((at, framed)) = rewrite {
            let mut chunk = backend.consume(cut);
            chunk.truncate(at);
            patch_sequence_ids(&mut chunk, &mut patches, shift);
            chunk.extend_from_slice(&framed);
            client.write_all(&chunk).await.map_err(RelayError::Client)?;
            out.bytes_to_client += chunk.len() as u64;
            // The rest of the buffer may already hold more of the reply.
            continue;
        } else if cut > 0 {
            let mut chunk = backend.consume(cut);
            patch_sequence_ids(&mut chunk, &mut patches, shift);
            client.write_all(&chunk).await.map_err(RelayError::Client)?;
            out.bytes_to_client += cut as u64;
        }
        if infile {
            relay_infile(client, backend).await?;
            continue;
        }
        if scanner.is_done() && pass == 0 && !continuation {
            if !backend.buffered().is_empty() {
                return Err(ScanError("server sent data after its reply").into());
            }
            return Ok(());
        }
        match backend.fill().await {
            Ok(0) => return Err(RelayError::BackendClosed),
            Ok(_) => {}
            Err(e) => return Err(RelayError::Backend(e)),
        }
    }
}

/// Moves up the sequence ids of the packets whose headers start at `patches`
/// (offsets in `chunk`; those past its end were cut off with a rewrite).
fn patch_sequence_ids(chunk: &mut BytesMut, patches: &mut Vec<usize>, shift: u8) {
    for at in patches.drain(..) {
        if let Some(seq) = chunk.get_mut(at + 3) {
            *seq = seq.wrapping_add(shift);
        }
    }
}

/// LOAD DATA LOCAL INFILE: the server asked for a file; relay the client's file
/// packets to the server until the empty packet that ends the file.
/// <https://mariadb.com/kb/en/local_infile-packet/>
async fn relay_infile(client: &mut PacketStream, backend: &mut PacketStream) -> Result<(), RelayError> {
    let mut pass = 0usize;
    let mut continuation = false;
    loop {
        let mut cut = 0usize;
        let mut end = false;
        {
            let buf = client.buffered();
            loop {
                if pass > 0 {
                    let n = pass.min(buf.len() - cut);
                    cut += n;
                    pass -= n;
                    if pass > 0 {
                        break;
                    }
                    continue;
                }
                if end {
                    break;
                }
                let Some(h) = PacketHeader::parse(&buf[cut..]) else { break };
                cut += HEADER_LEN;
                pass = h.len;
                if h.len == 0 && !continuation {
                    end = true;
                }
                continuation = h.continues();
            }
        }
        if cut > 0 {
            let chunk = client.consume(cut);
            backend.write_all(&chunk).await.map_err(RelayError::Backend)?;
        }
        if end && pass == 0 {
            return Ok(());
        }
        match client.fill().await {
            Ok(0) => return Err(RelayError::Client(io::ErrorKind::UnexpectedEof.into())),
            Ok(_) => {}
            Err(e) => return Err(RelayError::Client(e)),
        }
    }
}
