//! What can go wrong between the proxy and a server, and what a client is told.

use std::time::Duration;

use crate::protocol::err::code;
use crate::protocol::ErrPacket;

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("cannot connect to server {server} ({address}): {source}")]
    Connect { server: String, address: String, source: std::io::Error },
    #[error("server {server} ({address}) did not answer within {after:?}")]
    Timeout { server: String, address: String, after: Duration },
    /// The server answered with an error (bad database, too many connections, access
    /// denied for the backend account): the client gets it as the server sent it.
    #[error("server {server} refused: {err}")]
    Refused { server: String, err: ErrPacket },
    #[error("server {server} ({address}) broke the protocol: {what}")]
    Protocol { server: String, address: String, what: String },
    #[error("TLS to server {server} ({address}) failed: {what}")]
    Tls { server: String, address: String, what: String },
    #[error("no free connection to server {server}: pool_max ({max}) reached for {after:?}")]
    PoolExhausted { server: String, max: usize, after: Duration },
}

impl BackendError {
    /// The ERR packet a client receives for this failure.
    pub fn to_err_packet(&self) -> ErrPacket {
        match self {
            BackendError::Refused { err, .. } => err.clone(),
            // SQLSTATE class 08 tells drivers (JDBC especially) that this is a
            // connection failure worth retrying, not a bad statement.
            BackendError::Connect { .. } | BackendError::Timeout { .. } | BackendError::Tls { .. } => {
                ErrPacket::new(code::ER_CONNECT_TO_FOREIGN_DATA_SOURCE, "08S01", format!("rwsplit: {self}"))
            }
            BackendError::Protocol { .. } => {
                ErrPacket::new(code::ER_NET_READ_ERROR, "08S01", format!("rwsplit: {self}"))
            }
            BackendError::PoolExhausted { .. } => {
                ErrPacket::new(code::ER_CON_COUNT_ERROR, "08004", format!("rwsplit: {self}"))
            }
        }
    }

    /// Whether the server itself is unreachable or broken (as opposed to refusing
    /// this particular login).
    pub fn is_server_fault(&self) -> bool {
        !matches!(self, BackendError::Refused { .. } | BackendError::PoolExhausted { .. })
    }
}
