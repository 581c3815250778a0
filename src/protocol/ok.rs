//! OK and EOF packets: writing the proxy's own, and reading the status flags of the
//! server's (transaction state, more results, cursors).
//! <https://mariadb.com/kb/en/ok_packet/> <https://mariadb.com/kb/en/eof_packet/>

use super::packet::{put_lenenc, read_lenenc};

pub const STATUS_IN_TRANS: u16 = 0x0001;
pub const STATUS_AUTOCOMMIT: u16 = 0x0002;
pub const MORE_RESULTS_EXISTS: u16 = 0x0008;
pub const STATUS_CURSOR_EXISTS: u16 = 0x0040;
pub const STATUS_LAST_ROW_SENT: u16 = 0x0080;
pub const SESSION_STATE_CHANGED: u16 = 0x4000;

/// A 5-byte classic EOF packet: 0xFE, warnings, status.
const EOF_LEN: usize = 5;

/// Status flags of an OK packet (header 0x00 or 0xFE); `None` when malformed.
pub fn ok_status(payload: &[u8]) -> Option<u16> {
    let rest = payload.get(1..)?;
    let (_, n1) = read_lenenc(rest)?;
    let rest = rest.get(n1..)?;
    let (_, n2) = read_lenenc(rest)?;
    let rest = rest.get(n2..)?;
    Some(u16::from_le_bytes([*rest.first()?, *rest.get(1)?]))
}

/// Status flags of a classic EOF packet (0xFE, warnings: u16, status: u16).
pub fn eof_status(payload: &[u8]) -> Option<u16> {
    Some(u16::from_le_bytes([*payload.get(3)?, *payload.get(4)?]))
}

/// Status flags of a 0xFE terminator, whichever of the two layouts it has. Under
/// CLIENT_DEPRECATE_EOF the terminator is an OK packet (at least 7 bytes: header,
/// two lenenc ints, status, warnings); a classic EOF is exactly 5 bytes, and servers
/// still send one in a few places (COM_SET_OPTION, cursors).
pub fn terminator_status(payload: &[u8], deprecate_eof: bool) -> Option<u16> {
    if deprecate_eof && payload.len() != EOF_LEN {
        ok_status(payload)
    } else {
        eof_status(payload)
    }
}

/// Warning count of an OK packet (`ok_format`) or a classic 5-byte EOF packet.
pub fn warnings(payload: &[u8], ok_format: bool) -> Option<u16> {
    if !ok_format || payload.len() == EOF_LEN {
        return Some(u16::from_le_bytes([*payload.get(1)?, *payload.get(2)?]));
    }
    let rest = payload.get(1..)?;
    let (_, n1) = read_lenenc(rest)?;
    let (_, n2) = read_lenenc(rest.get(n1..)?)?;
    let at = 1 + n1 + n2 + 2;
    Some(u16::from_le_bytes([*payload.get(at)?, *payload.get(at + 1)?]))
}

/// Builds an OK payload with no rows affected.
pub fn ok_payload(status: u16, warnings: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(7);
    out.push(0x00);
    put_lenenc(&mut out, 0);
    put_lenenc(&mut out, 0);
    out.extend_from_slice(&status.to_le_bytes());
    out.extend_from_slice(&warnings.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_status_of_ok_and_eof() {
        assert_eq!(ok_status(&ok_payload(0x4003, 0)), Some(0x4003));
        assert_eq!(ok_status(&[0x00, 0xFC, 0x10, 0x27, 0x05, 0x02, 0x00, 0, 0]), Some(2));
        assert_eq!(eof_status(&[0xFE, 0, 0, 0x22, 0x00]), Some(0x22));
        assert_eq!(terminator_status(&[0xFE, 0, 0, 0x22, 0x00], true), Some(0x22));
        assert_eq!(terminator_status(&[0xFE, 0, 0, 0x0A, 0x00, 0, 0], true), Some(0x0A));
        assert_eq!(ok_status(&[0x00, 0xFF]), None);
        assert_eq!(ok_status(&[]), None);
        assert_eq!(warnings(&ok_payload(2, 3), true), Some(3));
        assert_eq!(warnings(&[0xFE, 4, 0, 2, 0], true), Some(4));
        assert_eq!(warnings(&[0xFE, 4, 0, 2, 0], false), Some(4));
    }
}
