//! ERR packets: the ones the proxy writes itself and the ones it reads from servers.
//! <https://mariadb.com/kb/en/err_packet/>

use std::fmt;

/// Error codes the proxy answers with itself. Each is the code MariaDB uses for
/// the same situation, so that clients react as they would to the server.
pub mod code {
    pub const ER_CON_COUNT_ERROR: u16 = 1040;
    pub const ER_HANDSHAKE_ERROR: u16 = 1043;
    pub const ER_ACCESS_DENIED_ERROR: u16 = 1045;
    pub const ER_UNKNOWN_COM_ERROR: u16 = 1047;
    pub const ER_NO_SUCH_THREAD: u16 = 1094;
    pub const ER_KILL_DENIED_ERROR: u16 = 1095;
    pub const ER_NET_PACKET_TOO_LARGE: u16 = 1153;
    pub const ER_NET_PACKETS_OUT_OF_ORDER: u16 = 1156;
    pub const ER_NET_READ_ERROR: u16 = 1158;
    pub const ER_NOT_SUPPORTED_YET: u16 = 1235;
    pub const ER_UNKNOWN_ERROR: u16 = 1105;
    pub const ER_MALFORMED_PACKET: u16 = 1835;
    pub const ER_CONNECTION_KILLED: u16 = 1927;
    /// "Unable to connect to foreign data source": what MariaDB's FEDERATED and
    /// CONNECT engines answer when the server behind them is unreachable, the
    /// proxy's situation exactly. Sent with SQLSTATE 08S01 so that drivers treat
    /// it as a connection failure. Client-library codes (2003 "can't connect",
    /// 2013 "lost connection") must never come from a server: the MariaDB C
    /// library reports such an ERR as "Received malformed packet".
    pub const ER_CONNECT_TO_FOREIGN_DATA_SOURCE: u16 = 1429;
}

/// MYSQL_ERRMSG_SIZE (512) less the terminating NUL the client adds.
const MAX_MESSAGE: usize = 511;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrPacket {
    pub code: u16,
    pub sql_state: [u8; 5],
    pub message: String,
}

impl ErrPacket {
    pub fn new(code: u16, sql_state: &str, message: impl Into<String>) -> Self {
        let mut state = *b"HY000";
        if sql_state.len() == 5 {
            state.copy_from_slice(sql_state.as_bytes());
        }
        Self { code, sql_state: state, message: message.into() }
    }

    /// Parses an ERR payload (starting with 0xFF) as sent under CLIENT_PROTOCOL_41.
    pub fn parse(payload: &[u8]) -> Option<Self> {
        let rest = payload.strip_prefix(&[0xFF])?;
        let code = u16::from_le_bytes([*rest.first()?, *rest.get(1)?]);
        let rest = &rest[2..];
        let (sql_state, msg) = match rest.split_first() {
            Some((b'#', tail)) if tail.len() >= 5 => {
                let mut s = [0u8; 5];
                s.copy_from_slice(&tail[..5]);
                (s, &tail[5..])
            }
            _ => (*b"HY000", rest),
        };
        Some(Self { code, sql_state, message: String::from_utf8_lossy(msg).into_owned() })
    }

    pub fn to_payload(&self) -> Vec<u8> {
        // A server never sends more than MYSQL_ERRMSG_SIZE - 1 bytes of message,
        // and the C client library calls a login ERR with a longer one malformed.
        let mut len = self.message.len().min(MAX_MESSAGE);
        while !self.message.is_char_boundary(len) {
            len -= 1;
        }
        let mut out = Vec::with_capacity(9 + len);
        out.push(0xFF);
        out.extend_from_slice(&self.code.to_le_bytes());
        out.push(b'#');
        out.extend_from_slice(&self.sql_state);
        out.extend_from_slice(&self.message.as_bytes()[..len]);
        out
    }

    pub fn sql_state_str(&self) -> &str {
        std::str::from_utf8(&self.sql_state).unwrap_or("HY000")
    }
}

impl fmt::Display for ErrPacket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ERROR {} ({}): {}", self.code, self.sql_state_str(), self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_messages_are_cut_as_the_server_cuts_them() {
        let long = "é".repeat(400);
        let p = ErrPacket::new(2003, "08S01", long).to_payload();
        assert!(p.len() - 9 <= MAX_MESSAGE);
        let back = ErrPacket::parse(&p).expect("parses");
        assert!(back.message.chars().all(|c| c == 'é'), "cut on a character boundary");
    }

    #[test]
    fn round_trip() {
        let e = ErrPacket::new(1045, "28000", "Access denied for user 'x'@'127.0.0.1' (using password: YES)");
        assert_eq!(ErrPacket::parse(&e.to_payload()), Some(e));
    }

    #[test]
    fn garbage_does_not_panic() {
        assert_eq!(ErrPacket::parse(&[]), None);
        assert_eq!(ErrPacket::parse(&[0xFF, 1]), None);
        let e = ErrPacket::parse(&[0xFF, 0x15, 0x04, b'#', b'4']).expect("short state is a message");
        assert_eq!(e.code, 1045);
    }
}
