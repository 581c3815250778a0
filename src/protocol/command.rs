//! Command bytes a client can send, and what kind of response each one gets.
//! <https://mariadb.com/kb/en/2-text-protocol/>

pub const COM_SLEEP: u8 = 0x00;
pub const COM_QUIT: u8 = 0x01;
pub const COM_INIT_DB: u8 = 0x02;
pub const COM_QUERY: u8 = 0x03;
pub const COM_FIELD_LIST: u8 = 0x04;
pub const COM_CREATE_DB: u8 = 0x05;
pub const COM_DROP_DB: u8 = 0x06;
pub const COM_REFRESH: u8 = 0x07;
pub const COM_SHUTDOWN: u8 = 0x08;
pub const COM_STATISTICS: u8 = 0x09;
pub const COM_PROCESS_INFO: u8 = 0x0A;
pub const COM_PROCESS_KILL: u8 = 0x0C;
pub const COM_DEBUG: u8 = 0x0D;
pub const COM_PING: u8 = 0x0E;
pub const COM_CHANGE_USER: u8 = 0x11;
pub const COM_BINLOG_DUMP: u8 = 0x12;
pub const COM_REGISTER_SLAVE: u8 = 0x15;
pub const COM_STMT_PREPARE: u8 = 0x16;
pub const COM_STMT_EXECUTE: u8 = 0x17;
pub const COM_STMT_SEND_LONG_DATA: u8 = 0x18;
pub const COM_STMT_CLOSE: u8 = 0x19;
pub const COM_STMT_RESET: u8 = 0x1A;
pub const COM_SET_OPTION: u8 = 0x1B;
pub const COM_STMT_FETCH: u8 = 0x1C;
pub const COM_BINLOG_DUMP_GTID: u8 = 0x1E;
pub const COM_RESET_CONNECTION: u8 = 0x1F;
/// MariaDB's array binding (bulk insert).
pub const COM_STMT_BULK_EXECUTE: u8 = 0xFA;

/// COM_STMT_EXECUTE flag asking for a read-only cursor.
pub const CURSOR_TYPE_READ_ONLY: u8 = 0x01;

/// The shape of the server's reply to a command, which is all the proxy needs to
/// know where the reply ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseKind {
    /// No reply at all.
    None,
    /// Exactly one packet (OK, ERR, EOF or a string).
    Single,
    /// OK, ERR, LOCAL INFILE request or result sets, possibly several.
    Results { cursor: bool },
    /// COM_STMT_PREPARE: prepare-OK plus parameter and column definitions.
    Prepare,
    /// COM_FIELD_LIST: column definitions up to an EOF.
    FieldList,
    /// COM_STMT_FETCH: rows of an open cursor up to an EOF.
    Fetch,
    /// A stream the proxy cannot relay (replication); refused before forwarding.
    Unsupported,
}

/// Classifies a command packet payload by its first byte.
pub fn response_kind(payload: &[u8]) -> ResponseKind {
    let Some(&cmd) = payload.first() else {
        // An empty command: the server answers it with an error packet.
        return ResponseKind::Single;
    };
    match cmd {
        COM_QUIT | COM_STMT_CLOSE | COM_STMT_SEND_LONG_DATA => ResponseKind::None,
        COM_QUERY | COM_PROCESS_INFO | COM_STMT_BULK_EXECUTE => ResponseKind::Results { cursor: false },
        COM_STMT_EXECUTE => {
            ResponseKind::Results { cursor: payload.get(5).is_some_and(|f| f & CURSOR_TYPE_READ_ONLY != 0) }
        }
        COM_STMT_PREPARE => ResponseKind::Prepare,
        COM_FIELD_LIST => ResponseKind::FieldList,
        COM_STMT_FETCH => ResponseKind::Fetch,
        COM_BINLOG_DUMP | COM_BINLOG_DUMP_GTID | COM_REGISTER_SLAVE => ResponseKind::Unsupported,
        _ => ResponseKind::Single,
    }
}

pub fn name(cmd: u8) -> &'static str {
    match cmd {
        COM_SLEEP => "COM_SLEEP",
        COM_QUIT => "COM_QUIT",
        COM_INIT_DB => "COM_INIT_DB",
        COM_QUERY => "COM_QUERY",
        COM_FIELD_LIST => "COM_FIELD_LIST",
        COM_CREATE_DB => "COM_CREATE_DB",
        COM_DROP_DB => "COM_DROP_DB",
        COM_REFRESH => "COM_REFRESH",
        COM_SHUTDOWN => "COM_SHUTDOWN",
        COM_STATISTICS => "COM_STATISTICS",
        COM_PROCESS_INFO => "COM_PROCESS_INFO",
        COM_PROCESS_KILL => "COM_PROCESS_KILL",
        COM_DEBUG => "COM_DEBUG",
        COM_PING => "COM_PING",
        COM_CHANGE_USER => "COM_CHANGE_USER",
        COM_BINLOG_DUMP => "COM_BINLOG_DUMP",
        COM_REGISTER_SLAVE => "COM_REGISTER_SLAVE",
        COM_STMT_PREPARE => "COM_STMT_PREPARE",
        COM_STMT_EXECUTE => "COM_STMT_EXECUTE",
        COM_STMT_SEND_LONG_DATA => "COM_STMT_SEND_LONG_DATA",
        COM_STMT_CLOSE => "COM_STMT_CLOSE",
        COM_STMT_RESET => "COM_STMT_RESET",
        COM_SET_OPTION => "COM_SET_OPTION",
        COM_STMT_FETCH => "COM_STMT_FETCH",
        COM_BINLOG_DUMP_GTID => "COM_BINLOG_DUMP_GTID",
        COM_RESET_CONNECTION => "COM_RESET_CONNECTION",
        COM_STMT_BULK_EXECUTE => "COM_STMT_BULK_EXECUTE",
        _ => "COM_UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(response_kind(b"\x03select 1"), ResponseKind::Results { cursor: false });
        assert_eq!(
            response_kind(&[COM_STMT_EXECUTE, 1, 0, 0, 0, 1, 1, 0, 0, 0]),
            ResponseKind::Results { cursor: true }
        );
        assert_eq!(response_kind(&[COM_STMT_EXECUTE, 1, 0, 0, 0, 0]), ResponseKind::Results { cursor: false });
        assert_eq!(response_kind(&[COM_STMT_EXECUTE]), ResponseKind::Results { cursor: false });
        assert_eq!(response_kind(&[COM_STMT_CLOSE, 1, 0, 0, 0]), ResponseKind::None);
        assert_eq!(response_kind(&[0x99]), ResponseKind::Single);
        assert_eq!(response_kind(&[]), ResponseKind::Single);
    }
}
