//! The MySQL wire protocol as the proxy needs it: bytes in, bytes out, no SQL.

pub mod auth;
pub mod command;
pub mod err;
pub mod handshake;
pub mod ok;
pub mod packet;
pub mod response;
pub mod stream;
pub mod track;
pub mod transport;

pub use err::ErrPacket;
pub use packet::{PacketHeader, MAX_PAYLOAD};
