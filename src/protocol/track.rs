//! Session state tracking in OK packets (CLIENT_SESSION_TRACK): reading what the
//! server reports (system variables, schema, "something changed", last_gtid) and
//! rewriting an OK packet into the one a client with other tracking settings
//! would have received.
//! <https://mariadb.com/kb/en/ok_packet/> — session state info.

use super::ok::SESSION_STATE_CHANGED;
use super::packet::{put_lenenc, read_lenenc};

pub const TRACK_SYSTEM_VARIABLES: u8 = 0;
pub const TRACK_SCHEMA: u8 = 1;
pub const TRACK_STATE_CHANGE: u8 = 2;

/// The fields of an OK packet from a connection with CLIENT_SESSION_TRACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OkParts<'a> {
    /// Header byte through warnings, unchanged.
    pub fixed: &'a [u8],
    pub status: u16,
    pub info: &'a [u8],
    /// The session state block (entries), when SERVER_SESSION_STATE_CHANGED.
    pub state: Option<&'a [u8]>,
}

/// One entry of the session state block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackEntry<'a> {
    SystemVariable { name: &'a [u8], value: &'a [u8] },
    Schema(&'a [u8]),
    StateChange,
    Other { kind: u8, data: &'a [u8] },
}

impl TrackEntry<'_> {
    fn kind(&self) -> u8 {
        match self {
            TrackEntry::SystemVariable { .. } => TRACK_SYSTEM_VARIABLES,
            TrackEntry::Schema(_) => TRACK_SCHEMA,
            TrackEntry::StateChange => TRACK_STATE_CHANGE,
            TrackEntry::Other { kind, .. } => *kind,
        }
    }
}

fn lenenc_bytes(buf: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, n) = read_lenenc(buf)?;
    let len = usize::try_from(len).ok()?;
    let data = buf.get(n..n.checked_add(len)?)?;
    Some((data, &buf[n + len..]))
}

/// Splits an OK payload (header 0x00 or 0xFE) from a session-tracking connection.
pub fn parse_ok(payload: &[u8]) -> Option<OkParts<'_>> {
    let (_, n1) = read_lenenc(payload.get(1..)?)?;
    let (_, n2) = read_lenenc(payload.get(1 + n1..)?)?;
    let status_at = 1 + n1 + n2;
    let status = u16::from_le_bytes([*payload.get(status_at)?, *payload.get(status_at + 1)?]);
    let fixed_end = status_at + 4;
    let fixed = payload.get(..fixed_end)?;
    let rest = &payload[fixed_end..];
    if rest.is_empty() {
        return Some(OkParts { fixed, status, info: &[], state: None });
    }
    let (info, rest) = lenenc_bytes(rest)?;
    let state = if status & SESSION_STATE_CHANGED != 0 { Some(lenenc_bytes(rest)?.0) } else { None };
    Some(OkParts { fixed, status, info, state })
}

/// The entries of a session state block; stops at the first malformed one.
pub fn entries(state: &[u8]) -> impl Iterator<Item = TrackEntry<'_>> {
    let mut rest = state;
    std::iter::from_fn(move || {
        let (&kind, tail) = rest.split_first()?;
        let (data, tail) = lenenc_bytes(tail)?;
        rest = tail;
        Some(match kind {
            TRACK_SYSTEM_VARIABLES => {
                let (name, after) = lenenc_bytes(data)?;
                let (value, _) = lenenc_bytes(after)?;
                TrackEntry::SystemVariable { name, value }
            }
            TRACK_SCHEMA => TrackEntry::Schema(lenenc_bytes(data)?.0),
            TRACK_STATE_CHANGE => TrackEntry::StateChange,
            kind => TrackEntry::Other { kind, data },
        })
    })
}

/// Which tracking a client asked for: what its OK packets may carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTracking {
    /// The client negotiated CLIENT_SESSION_TRACK at all.
    pub enabled: bool,
    /// `session_track_system_variables`, lower-case names; `None` means `*`.
    pub variables: Option<Vec<String>>,
    pub schema: bool,
    pub state_change: bool,
}

impl ClientTracking {
    fn wants(&self, e: &TrackEntry<'_>) -> bool {
        match e {
            TrackEntry::SystemVariable { name, .. } => match &self.variables {
                None => true,
                Some(list) => list.iter().any(|v| v.as_bytes().eq_ignore_ascii_case(name)),
            },
            TrackEntry::Schema(_) => self.schema,
            TrackEntry::StateChange => self.state_change,
            TrackEntry::Other { .. } => true,
        }
    }
}

/// Rewrites an OK payload from a connection tracking everything into what `client`
/// would have received; `None` when the payload is fine as it is.
pub fn rewrite_for_client(payload: &[u8], client: &ClientTracking) -> Option<Vec<u8>> {
    let ok = parse_ok(payload)?;
    let state = ok.state?;
    let all_wanted = client.enabled && entries(state).all(|e| client.wants(&e));
    if all_wanted {
        return None;
    }
    let mut kept = Vec::new();
    if client.enabled {
        for e in entries(state).filter(|e| client.wants(e)) {
            put_entry(&mut kept, &e);
        }
    }
    let mut out = Vec::with_capacity(payload.len());
    out.extend_from_slice(ok.fixed);
    let status_at = ok.fixed.len() - 4;
    let changed = !kept.is_empty();
    let status = if changed { ok.status } else { ok.status & !SESSION_STATE_CHANGED };
    out[status_at..status_at + 2].copy_from_slice(&status.to_le_bytes());
    // The server writes the info string when it is non-empty, and also (empty) when
    // a state block follows it.
    if changed || !ok.info.is_empty() {
        put_lenenc(&mut out, ok.info.len() as u64);
        out.extend_from_slice(ok.info);
    }
    if changed {
        put_lenenc(&mut out, kept.len() as u64);
        out.extend_from_slice(&kept);
    }
    Some(out)
}

fn put_entry(out: &mut Vec<u8>, e: &TrackEntry<'_>) {
    let mut data = Vec::new();
    match e {
        TrackEntry::SystemVariable { name, value } => {
            put_lenenc(&mut data, name.len() as u64);
            data.extend_from_slice(name);
            put_lenenc(&mut data, value.len() as u64);
            data.extend_from_slice(value);
        }
        TrackEntry::Schema(s) => {
            put_lenenc(&mut data, s.len() as u64);
            data.extend_from_slice(s);
        }
        TrackEntry::StateChange => {
            put_lenenc(&mut data, 1);
            data.push(b'1');
        }
        TrackEntry::Other { data: d, .. } => data.extend_from_slice(d),
    }
    out.push(e.kind());
    put_lenenc(out, data.len() as u64);
    out.extend_from_slice(&data);
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured from MariaDB 10.11 with session_track_system_variables='*' and
    // session_track_state_change=ON.
    const USE_MYSQL: &[u8] = &[0, 0, 0, 2, 0x40, 0, 0, 0, 8, 1, 6, 5, b'm', b'y', b's', b'q', b'l'];
    const SET_SQL_MODE: &[u8] =
        &[0, 0, 0, 2, 0x40, 0, 0, 0, 12, 0, 10, 8, b's', b'q', b'l', b'_', b'm', b'o', b'd', b'e', 0];
    const SET_USER_VAR: &[u8] = &[0, 0, 0, 2, 0x40, 0, 0, 0, 3, 2, 1, b'1'];

    fn client(enabled: bool, vars: Option<&[&str]>, schema: bool, state_change: bool) -> ClientTracking {
        ClientTracking {
            enabled,
            variables: vars.map(|v| v.iter().map(|s| s.to_string()).collect()),
            schema,
            state_change,
        }
    }

    #[test]
    fn reads_entries() {
        let ok = parse_ok(USE_MYSQL).expect("ok");
        assert_eq!(entries(ok.state.expect("state")).collect::<Vec<_>>(), vec![TrackEntry::Schema(b"mysql")]);
        let ok = parse_ok(SET_SQL_MODE).expect("ok");
        assert_eq!(
            entries(ok.state.expect("state")).collect::<Vec<_>>(),
            vec![TrackEntry::SystemVariable { name: b"sql_mode", value: b"" }]
        );
        let ok = parse_ok(SET_USER_VAR).expect("ok");
        assert_eq!(entries(ok.state.expect("state")).collect::<Vec<_>>(), vec![TrackEntry::StateChange]);
    }

    #[test]
    fn client_without_tracking_gets_a_plain_ok() {
        let c = client(false, None, false, false);
        assert_eq!(rewrite_for_client(USE_MYSQL, &c), Some(vec![0, 0, 0, 2, 0, 0, 0]));
        assert_eq!(rewrite_for_client(&[0, 0, 0, 2, 0, 0, 0], &c), None);
    }

    #[test]
    fn client_with_defaults_sees_schema_but_not_what_it_did_not_ask_for() {
        let c = client(true, Some(&["autocommit", "time_zone"]), true, false);
        assert_eq!(rewrite_for_client(USE_MYSQL, &c), None);
        assert_eq!(rewrite_for_client(SET_SQL_MODE, &c), Some(vec![0, 0, 0, 2, 0, 0, 0]));
        assert_eq!(rewrite_for_client(SET_USER_VAR, &c), Some(vec![0, 0, 0, 2, 0, 0, 0]));
        let all = client(true, None, true, true);
        assert_eq!(rewrite_for_client(SET_SQL_MODE, &all), None);
        assert_eq!(rewrite_for_client(SET_USER_VAR, &all), None);
    }

    #[test]
    fn keeps_info_text() {
        let mut p = vec![0, 1, 0, 2, 0x40, 0, 0];
        p.push(5);
        p.extend_from_slice(b"hello");
        p.extend_from_slice(&[3, 2, 1, b'1']);
        let c = client(false, None, false, false);
        assert_eq!(rewrite_for_client(&p, &c), Some(vec![0, 1, 0, 2, 0, 0, 0, 5, b'h', b'e', b'l', b'l', b'o']));
    }

    #[test]
    fn garbage_does_not_panic() {
        for len in 0..40 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 91 + 7) as u8).collect();
            let _ = parse_ok(&junk).map(|ok| ok.state.map(|s| entries(s).count()));
            let _ = rewrite_for_client(&junk, &client(true, Some(&[]), true, false));
        }
    }
}
