//! `/health`, `/health/read`, `/health/write`: whether the proxy can serve
//! reads and writes now, for keepalived's `vrrp_script` or HAProxy's
//! `option httpchk`. 200 with a one-line reason, or 503 with what is missing.

use crate::stats::Snapshot;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Reads and writes.
    Both,
    Read,
    Write,
}

/// `Ok(text)` when the proxy can serve what `need` asks for, else `Err(why not)`.
pub fn verdict(s: &Snapshot, need: Need) -> Result<String, String> {
    if s.shutting_down {
        return Err("shutting down: not accepting new clients".into());
    }
    let write = writes(s);
    let read = reads(s);
    match need {
        Need::Write => write,
        Need::Read => read,
        Need::Both => match (write, read) {
            (Ok(w), Ok(r)) => Ok(format!("{w}; {r}")),
            (Err(w), Ok(_)) => Err(w),
            (Ok(_), Err(r)) => Err(r),
            (Err(w), Err(r)) => Err(format!("{w}; {r}")),
        },
    }
}

fn writes(s: &Snapshot) -> Result<String, String> {
    match s.master() {
        Some(m) => Ok(format!("writes go to {}", m.name)),
        None => Err(format!("writes cannot be served: {}", s.no_master.as_deref().unwrap_or("no writable master"))),
    }
}

fn reads(s: &Snapshot) -> Result<String, String> {
    let readers: Vec<&str> = s.servers.iter().filter(|r| r.readable).map(|r| r.name.as_str()).collect();
    if !readers.is_empty() {
        return Ok(format!("reads go to {}", readers.join(", ")));
    }
    match s.master() {
        Some(m) if s.reads_fall_back_to_master => Ok(format!("reads go to the master {} (no replica fit)", m.name)),
        _ => {
            let why: Vec<String> = s
                .servers
                .iter()
                .map(|r| {
                    if r.reason.is_empty() {
                        format!("{} {}", r.name, r.state_text)
                    } else {
                        format!("{} {}: {}", r.name, r.state_text, r.reason)
                    }
                })
                .collect();
            let fallback = if s.reads_fall_back_to_master { "" } else { ", reads_fall_back_to_master is off" };
            Err(format!("reads cannot be served: no server fit for reads ({}){fallback}", why.join("; ")))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::monitor::State;
    use crate::stats::ServerRow;

    fn row(name: &str, state: State, readable: bool, reason: &str) -> ServerRow {
        ServerRow {
            name: name.into(),
            address: "127.0.0.1:1".into(),
            role: "replica",
            state,
            state_text: state.name().into(),
            reason: reason.into(),
            readable,
            is_master: false,
            weight: 1,
            lag_s: None,
            lag_ms: None,
            admin_state: crate::config::ServerState::Ready,
            server_id: None,
            read_only: None,
            gtid: None,
            conn_used: 0,
            conn_leased: 0,
            conn_idle: 0,
            sessions: 0,
            queries: 0,
            errors: 0,
            bytes_in: 0,
            bytes_out: 0,
            connects: 0,
            connect_errors: 0,
            reuses: 0,
            discarded: 0,
            checks: 0,
            transitions: 0,
            failed_checks: 0,
            last_check_ago: None,
            last_check_took: Duration::ZERO,
            state_for: Duration::ZERO,
        }
    }

    fn snapshot(servers: Vec<ServerRow>, master: Option<usize>) -> Snapshot {
        Snapshot {
            servers,
            master,
            no_master: master.is_none().then(|| "no writable master (m down)".into()),
            reads_fall_back_to_master: true,
            uptime: Duration::ZERO,
            clients: 0,
            shutting_down: false,
            pool_max: 1,
        }
    }

    #[test]
    fn healthy_cluster() {
        let s = snapshot(
            vec![row("m", State::Up, false, ""), row("r1", State::Up, true, ""), row("r2", State::Up, true, "")],
            Some(0),
        );
        assert_eq!(verdict(&s, Need::Both), Ok("writes go to m; reads go to r1, r2".into()));
        assert!(verdict(&s, Need::Read).is_ok());
        assert!(verdict(&s, Need::Write).is_ok());
    }

    #[test]
    fn replicas_down_reads_fall_back_to_the_master() {
        let mut s = snapshot(
            vec![row("m", State::Up, false, ""), row("r1", State::Down, false, "connection refused")],
            Some(0),
        );
        assert_eq!(verdict(&s, Need::Read), Ok("reads go to the master m (no replica fit)".into()));
        s.reads_fall_back_to_master = false;
        let err = verdict(&s, Need::Read).expect_err("no reads");
        assert!(err.contains("r1 DOWN: connection refused"), "{err}");
        assert!(err.contains("reads_fall_back_to_master is off"), "{err}");
        assert!(verdict(&s, Need::Write).is_ok());
        assert!(verdict(&s, Need::Both).is_err());
    }

    #[test]
    fn no_master() {
        let s = snapshot(vec![row("m", State::Down, false, "refused"), row("r1", State::Up, true, "")], None);
        assert_eq!(verdict(&s, Need::Write), Err("writes cannot be served: no writable master (m down)".into()));
        assert!(verdict(&s, Need::Read).is_ok(), "replicas still read");
        assert!(verdict(&s, Need::Both).is_err());
        let s = snapshot(vec![row("m", State::Down, false, "refused"), row("r1", State::Down, false, "refused")], None);
        let err = verdict(&s, Need::Both).expect_err("nothing");
        assert!(err.starts_with("writes cannot be served") && err.contains("reads cannot be served"), "{err}");
    }

    #[test]
    fn shutting_down_fails_every_check() {
        let mut s = snapshot(vec![row("m", State::Up, true, "")], Some(0));
        s.shutting_down = true;
        for need in [Need::Both, Need::Read, Need::Write] {
            assert!(verdict(&s, need).is_err());
        }
    }
}
