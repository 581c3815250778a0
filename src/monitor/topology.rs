//! From every server's health to where statements may go: the one writable
//! master (none during a switchover, none on split-brain) and the servers fit
//! for reads. A pure function, table-tested below.

use super::check::Facts;
use super::health::State;

/// What the topology needs to know of one server.
pub struct ServerView<'a> {
    pub name: &'a str,
    pub address: &'a str,
    /// Why its last check failed (empty when it passed).
    pub reason: &'a str,
    /// `role = "master"` in the config: assumed writable until checked.
    pub configured_master: bool,
    pub state: State,
    pub facts: Option<&'a Facts>,
    /// Drained or in maintenance from the admin port: no new work.
    pub drained: bool,
    /// Galera: lower is preferred as the writer.
    pub priority: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Topology {
    /// Index of the active master.
    pub master: Option<usize>,
    /// Why there is no master (no writable server, or split-brain).
    pub no_master: Option<String>,
    /// Per server: fit for reads.
    pub readable: Vec<bool>,
    /// Per server: why it is not fit for reads while up (wrong source...).
    pub not_readable: Vec<Option<String>>,
}

pub fn compute(servers: &[ServerView<'_>], replicas_serve_without_master: bool, galera: bool) -> Topology {
    if galera {
        return compute_galera(servers);
    }
    let up = |v: &ServerView<'_>| v.state != State::Down && !v.drained;
    let writable = |v: &ServerView<'_>| up(v) && v.facts.map_or(v.configured_master, |f| !f.read_only);
    let writers: Vec<usize> = servers.iter().enumerate().filter(|(_, v)| writable(v)).map(|(i, _)| i).collect();
    let (master, no_master) = match writers.as_slice() {
        [m] => (Some(*m), None),
        [] => (None, Some(no_writer(servers))),
        many => {
            let names: Vec<&str> = many.iter().map(|i| servers[*i].name).collect();
            (
                None,
                Some(format!(
                    "split-brain: {} are all writable (read_only=OFF); writes are refused until exactly one is",
                    names.join(" and ")
                )),
            )
        }
    };
    let server_by_id = |id: u32| servers.iter().position(|v| v.facts.is_some_and(|f| f.server_id == id));
    let mut readable = Vec::with_capacity(servers.len());
    let mut not_readable = Vec::with_capacity(servers.len());
    for (i, v) in servers.iter().enumerate() {
        let why_not: Option<String> = if !up(v) || Some(i) == master {
            None
        } else {
            match v.facts {
                None => v.configured_master.then(|| "configured as master, not checked yet".into()),
                Some(f) if !f.read_only => Some("writable".into()),
                Some(f) if f.replication.is_none() => Some("read_only but replicating from nobody".into()),
                Some(f) => {
                    let source = f.replication.as_ref().and_then(|r| r.source_server_id);
                    let source_index = source.and_then(server_by_id);
                    match (master, source_index) {
                        // The master's own id is unknown until its first check.
                        (Some(m), _) if servers[m].facts.is_none() => None,
                        (Some(m), Some(s)) if s == m => None,
                        (Some(m), _) => Some(format!(
                            "replicates from {}, not from the master {}",
                            source_name(servers, source, source_index),
                            servers[m].name
                        )),
                        (None, _) if replicas_serve_without_master => None,
                        (None, Some(s)) if up(&servers[s]) => None,
                        (None, Some(s)) if servers[s].drained => None,
                        (None, Some(s)) => Some(format!("its master {} is down", servers[s].name)),
                        (None, None) => Some(format!(
                            "replicates from {}, which is not a configured server",
                            source_name(servers, source, None)
                        )),
                    }
                }
            }
        };
        let fit = up(v) && Some(i) != master && why_not.is_none();
        readable.push(fit);
        not_readable.push(why_not);
    }
    Topology { master, no_master, readable, not_readable }
}

/// Galera: every synced node serves reads; writes go to one node at a time,
/// the usable writable node with the lowest priority, so that concurrent
/// writers do not fight over certification.
fn compute_galera(servers: &[ServerView<'_>]) -> Topology {
    let up = |v: &ServerView<'_>| v.state != State::Down && !v.drained;
    let master = servers
        .iter()
        .enumerate()
        .filter(|(_, v)| up(v) && v.facts.is_none_or(|f| !f.read_only))
        .min_by_key(|(i, v)| (v.priority, *i))
        .map(|(i, _)| i);
    let no_master = match master {
        Some(_) => None,
        None => Some(no_writer(servers).replacen("no writable master", "no Galera node can take writes", 1)),
    };
    let readable: Vec<bool> = servers.iter().map(up).collect();
    let not_readable = servers.iter().map(|_| None).collect();
    Topology { master, no_master, readable, not_readable }
}

fn source_name(servers: &[ServerView<'_>], id: Option<u32>, index: Option<usize>) -> String {
    match (index, id) {
        (Some(i), _) => servers[i].name.to_owned(),
        (None, Some(id)) => format!("server_id {id}"),
        (None, None) => "an unknown server".into(),
    }
}

fn no_writer(servers: &[ServerView<'_>]) -> String {
    let states: Vec<String> = servers
        .iter()
        .map(|v| match (v.state, v.facts) {
            _ if v.drained => format!("{} drained", v.name),
            (State::Down, _) => format!("{} ({}) down: {}", v.name, v.address, v.reason),
            (_, Some(f)) if f.read_only => format!("{} read_only", v.name),
            (_, _) => format!("{} not writable", v.name),
        })
        .collect();
    format!("no writable master ({})", states.join(", "))
}

#[cfg(test)]
mod tests {
    use super::super::check::Replication;
    use super::*;

    fn facts(id: u32, read_only: bool, source: Option<u32>) -> Facts {
        Facts {
            read_only,
            server_id: id,
            gtid_binlog_pos: String::new(),
            gtid_slave_pos: String::new(),
            galera: None,
            replication: source.map(|s| Replication {
                io_running: true,
                sql_running: true,
                seconds_behind: Some(0),
                source_server_id: Some(s),
                last_error: String::new(),
                heartbeat_lag: None,
            }),
        }
    }

    fn view<'a>(name: &'a str, master: bool, state: State, facts: Option<&'a Facts>) -> ServerView<'a> {
        ServerView {
            name,
            address: "127.0.0.1:1",
            reason: "refused",
            configured_master: master,
            state,
            facts,
            drained: false,
            priority: 0,
        }
    }

    #[test]
    fn galera_writes_to_the_preferred_synced_node_and_reads_everywhere() {
        let (a, b, c) = (facts(1, false, None), facts(2, false, None), facts(3, false, None));
        let mut views = vec![
            view("a", false, State::Up, Some(&a)),
            view("b", false, State::Up, Some(&b)),
            view("c", false, State::Up, Some(&c)),
        ];
        views[0].priority = 2;
        views[1].priority = 1;
        views[2].priority = 1;
        let t = compute(&views, false, true);
        assert_eq!((t.master, t.readable.clone()), (Some(1), vec![true, true, true]));
        views[1].state = State::Down;
        let t = compute(&views, false, true);
        assert_eq!((t.master, t.readable.clone()), (Some(2), vec![true, false, true]));
        for v in &mut views {
            v.state = State::Down;
        }
        let t = compute(&views, false, true);
        assert!(t.no_master.as_deref().is_some_and(|w| w.starts_with("no Galera node can take writes")), "{t:?}");
    }

    #[test]
    fn before_any_check_the_config_decides() {
        let t =
            compute(&[view("m", true, State::Unknown, None), view("r1", false, State::Unknown, None)], false, false);
        assert_eq!(t.master, Some(0));
        assert_eq!(t.readable, [false, true]);
    }

    #[test]
    fn the_writable_server_is_the_master_and_its_replicas_read() {
        let (m, r1, r2) = (facts(1, false, None), facts(2, true, Some(1)), facts(3, true, Some(1)));
        let t = compute(
            &[
                view("m", true, State::Up, Some(&m)),
                view("r1", false, State::Up, Some(&r1)),
                view("r2", false, State::Down, Some(&r2)),
            ],
            false,
            false,
        );
        assert_eq!(t.master, Some(0));
        assert_eq!(t.readable, [false, true, false]);
    }

    #[test]
    fn a_promoted_replica_takes_over_and_stragglers_are_left_out() {
        // r1 promoted (writable); the old master now read_only replicating from
        // r1; r2 still points at the old master.
        let (m, r1, r2) = (facts(1, true, Some(2)), facts(2, false, None), facts(3, true, Some(1)));
        let t = compute(
            &[
                view("m", true, State::Up, Some(&m)),
                view("r1", false, State::Up, Some(&r1)),
                view("r2", false, State::Up, Some(&r2)),
            ],
            false,
            false,
        );
        assert_eq!(t.master, Some(1));
        assert_eq!(t.readable, [true, false, false]);
        assert_eq!(t.not_readable[2].as_deref(), Some("replicates from m, not from the master r1"));
    }

    #[test]
    fn two_writable_servers_are_split_brain() {
        let (a, b, r) = (facts(1, false, None), facts(2, false, None), facts(3, true, Some(1)));
        let t = compute(
            &[
                view("a", true, State::Up, Some(&a)),
                view("b", true, State::Up, Some(&b)),
                view("r", false, State::Up, Some(&r)),
            ],
            false,
            false,
        );
        assert_eq!(t.master, None);
        assert!(t.no_master.as_deref().is_some_and(|w| w.contains("split-brain: a and b")), "{t:?}");
        assert_eq!(t.readable, [false, false, true], "reads go on from healthy replicas");
    }

    #[test]
    fn a_dead_master_takes_its_replicas_out_unless_configured_otherwise() {
        let (m, r1) = (facts(1, false, None), facts(2, true, Some(1)));
        let servers = [view("m", true, State::Down, Some(&m)), view("r1", false, State::Up, Some(&r1))];
        let t = compute(&servers, false, false);
        assert_eq!(t.master, None);
        assert!(t.no_master.as_deref().is_some_and(|w| w.contains("m (127.0.0.1:1) down: refused")));
        assert_eq!(t.readable, [false, false]);
        assert_eq!(t.not_readable[1].as_deref(), Some("its master m is down"));
        assert_eq!(compute(&servers, true, false).readable, [false, true]);
    }

    #[test]
    fn a_read_only_master_leaves_no_writer_but_reads_go_on() {
        let (m, r1) = (facts(1, true, None), facts(2, true, Some(1)));
        let t = compute(&[view("m", true, State::Up, Some(&m)), view("r1", false, State::Up, Some(&r1))], false, false);
        assert_eq!(t.master, None);
        assert!(t.no_master.as_deref().is_some_and(|w| w.contains("m read_only")));
        assert_eq!(t.readable, [false, true]);
        assert_eq!(t.not_readable[0].as_deref(), Some("read_only but replicating from nobody"));
    }
}
