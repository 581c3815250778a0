//! KILL through the proxy. A client knows two ids for its connection: the one in
//! the proxy's greeting (what JDBC's `Statement.cancel()` sends `KILL QUERY` with)
//! and the backend's thread id (`SELECT CONNECTION_ID()`). Neither may simply be
//! forwarded: the greeting's id names some unrelated thread on the server, and a
//! backend thread id may belong to another client's session. So KILL is parsed
//! here, the target found among the proxy's sessions, and the kill sent to the
//! server that runs that session's backend connection.

use tracing::info;

use super::session::{End, Session};
use crate::protocol::command;
use crate::protocol::err::code;
use crate::protocol::ok::ok_payload;
use crate::protocol::ErrPacket;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KillScope {
    Query,
    Connection,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KillRequest {
    Thread {
        scope: KillScope,
        id: u64,
    },
    /// `KILL USER ...` or `KILL QUERY ID ...`: would reach other clients' server
    /// threads, which the proxy cannot scope to this client.
    Unsupported(&'static str),
}

impl Session {
    /// A KILL statement or COM_PROCESS_KILL in the buffered packet, if that is
    /// what it is. Only short packets starting like a KILL are parsed.
    pub(super) fn kill_request(&self, cmd: u8, payload: &[u8]) -> Option<KillRequest> {
        let args = payload.get(1..)?;
        if cmd == command::COM_PROCESS_KILL {
            let id = u32::from_le_bytes(args.get(..4)?.try_into().ok()?);
            return Some(KillRequest::Thread { scope: KillScope::Connection, id: u64::from(id) });
        }
        let first = args.iter().find(|b| !b.is_ascii_whitespace())?;
        if args.len() > 1024 || !matches!(first, b'k' | b'K' | b'/') {
            return None;
        }
        parse_kill(args)
    }

    /// Carries out a KILL on the server holding the target session's backend
    /// connection, over a connection of its own.
    pub(super) async fn kill(&mut self, kill: KillRequest, by_command: bool, seq: u8) -> Result<(), End> {
        let (scope, id) = match kill {
            KillRequest::Thread { scope, id } => (scope, id),
            KillRequest::Unsupported(what) => {
                let err = ErrPacket::new(
                    code::ER_NOT_SUPPORTED_YET,
                    "42000",
                    format!("rwsplit: {what} is not supported through the proxy; KILL a connection id instead"),
                );
                return self.reply_err(seq, &err).await;
            }
        };
        let Some((target_id, target)) = self.shared.find_session(id) else {
            let err = ErrPacket::new(code::ER_NO_SUCH_THREAD, "HY000", format!("Unknown thread id: {id}"));
            return self.reply_err(seq, &err).await;
        };
        if target.user() != self.user {
            let err = ErrPacket::new(code::ER_KILL_DENIED_ERROR, "HY000", format!("You are not owner of thread {id}"));
            return self.reply_err(seq, &err).await;
        }
        let mut reply = ok_payload(self.status, 0);
        if scope == KillScope::Connection {
            target.killing.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        if let Some((pool, tid)) = target.backend() {
            let sql = match scope {
                KillScope::Query => format!("KILL QUERY {tid}"),
                KillScope::Connection => format!("KILL CONNECTION {tid}"),
            };
            let result = match pool.checkout(&self.params, &self.state).await {
                Ok((mut conn, _)) => conn.simple_query(&sql).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(r) if r.first() == Some(&0xFF) => reply = r,
                Ok(_) => {}
                Err(e) => return self.reply_err(seq, &e.to_err_packet()).await,
            }
        }
        if reply.first() == Some(&0xFF) {
            self.client.write_payload(seq, &reply).await.map_err(|_| End::ClientGone)?;
            return Ok(());
        }
        info!(target = target_id, ?scope, "KILL");
        if scope == KillScope::Connection {
            if target_id == self.id {
                // The server answers a KILL statement of its own connection with
                // 1927 (COM_PROCESS_KILL with OK) and drops the connection when the
                // client next speaks: the client then reports a lost connection
                // rather than reconnecting silently.
                self.killed_self = true;
                if let Some(mut held) = self.held.take() {
                    held.conn.poisoned = true;
                }
                if let Some(mut lease) = self.lease.take() {
                    lease.poison();
                }
                if by_command {
                    return self.client.write_payload(seq, &reply).await.map(|_| ()).map_err(|_| End::ClientGone);
                }
                let err = ErrPacket::new(code::ER_CONNECTION_KILLED, "70100", "Connection was killed");
                return self.reply_err(seq, &err).await;
            }
            target.signal(super::handle::SIGNAL_KILLED);
        }
        self.client.write_payload(seq, &reply).await.map_err(|_| End::ClientGone)?;
        Ok(())
    }
}

/// Recognises `KILL [HARD|SOFT] [CONNECTION|QUERY] <id>` in a COM_QUERY payload
/// (without the command byte). `None` when the statement is not a KILL.
pub fn parse_kill(sql: &[u8]) -> Option<KillRequest> {
    let text = std::str::from_utf8(sql).ok()?;
    let mut words = tokens(text);
    if !words.next()?.eq_ignore_ascii_case("kill") {
        return None;
    }
    let mut scope = KillScope::Connection;
    let mut word = words.next()?;
    if word.eq_ignore_ascii_case("hard") || word.eq_ignore_ascii_case("soft") {
        word = words.next()?;
    }
    if word.eq_ignore_ascii_case("connection") {
        word = words.next()?;
    } else if word.eq_ignore_ascii_case("query") {
        scope = KillScope::Query;
        word = words.next()?;
        if word.eq_ignore_ascii_case("id") {
            return Some(KillRequest::Unsupported("KILL QUERY ID"));
        }
    }
    if word.eq_ignore_ascii_case("user") {
        return Some(KillRequest::Unsupported("KILL USER"));
    }
    let id = word.parse::<u64>().ok()?;
    if words.next().is_some() {
        return None;
    }
    Some(KillRequest::Thread { scope, id })
}

/// Words of a statement, skipping whitespace, comments and a trailing `;`.
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix("/*") {
            rest = after.find("*/").map(|i| &after[i + 2..]).unwrap_or("");
            continue;
        }
        if rest.starts_with("-- ") || rest.starts_with('#') {
            rest = rest.find('\n').map(|i| &rest[i..]).unwrap_or("");
            continue;
        }
        if rest.is_empty() || rest == ";" {
            return None;
        }
        let end = rest.find(|c: char| c.is_whitespace() || c == ';' || c == '/' || c == '#').unwrap_or(rest.len());
        let end = end.max(1);
        let (word, tail) = rest.split_at(end);
        rest = tail;
        return Some(word);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_kill_forms() {
        let t = |s: &str| parse_kill(s.as_bytes());
        assert_eq!(t("KILL 5"), Some(KillRequest::Thread { scope: KillScope::Connection, id: 5 }));
        assert_eq!(t("kill query 12;"), Some(KillRequest::Thread { scope: KillScope::Query, id: 12 }));
        assert_eq!(
            t(" /* x */ KILL HARD CONNECTION 7 "),
            Some(KillRequest::Thread { scope: KillScope::Connection, id: 7 })
        );
        assert_eq!(t("KILL SOFT QUERY 9"), Some(KillRequest::Thread { scope: KillScope::Query, id: 9 }));
        assert_eq!(t("KILL USER app"), Some(KillRequest::Unsupported("KILL USER")));
        assert_eq!(t("KILL QUERY ID 3"), Some(KillRequest::Unsupported("KILL QUERY ID")));
        assert_eq!(t("SELECT 1"), None);
        assert_eq!(t("KILL"), None);
        assert_eq!(t("KILL 5 6"), None);
        assert_eq!(t("killer 5"), None);
        assert_eq!(t("KILL (SELECT 1)"), None);
    }
}
