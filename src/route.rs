//! Where a statement goes when the session holds no connection: a pure function
//! of the statement's class and hint and the servers' state, table-tested below.
//! Transactions, pins and read-your-writes are the session's business: it only
//! asks here when it is free to go anywhere.

use crate::balance::{least_connections, Balance};
use crate::classify::{RouteHint, StatementClass};
use crate::config::ClusterType;
use crate::runtime::Runtime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Index into `Runtime::servers`.
    Server(usize),
    /// No server can take the statement.
    Unavailable(&'static str),
    /// No master now (down, read-only, split-brain): see the topology for why.
    NoMaster,
}

/// Picks a server for a statement of `class` (with an optional hint).
pub fn route(class: StatementClass, hint: Option<&RouteHint>, rt: &Runtime) -> Target {
    match hint {
        Some(RouteHint::Master) => return master(rt),
        Some(RouteHint::Replica) => return read_target(rt, None),
        Some(RouteHint::Server(name)) => {
            return match rt.servers.iter().position(|s| s.name.eq_ignore_ascii_case(name)) {
                Some(i) => Target::Server(i),
                None => Target::Unavailable("the server named in the routing hint is not configured"),
            }
        }
        None => {}
    }
    match class {
        StatementClass::Write => master(rt),
        StatementClass::Read => read_target(rt, None),
    }
}

pub fn master(rt: &Runtime) -> Target {
    match rt.master_index() {
        Some(i) => Target::Server(i),
        None => Target::NoMaster,
    }
}

/// A server for a read, other than `except` (one that just failed), falling back
/// to the master when no reader is usable and the config allows it.
pub fn read_target(rt: &Runtime, except: Option<usize>) -> Target {
    let usable = |i: usize| Some(i) != except && rt.readable(i);
    // Galera nodes serve reads by least connections, whatever `balance` says.
    let balance = match rt.config.monitor.cluster {
        ClusterType::Galera => Balance::Leastconn,
        ClusterType::Replication => rt.config.routing.balance,
    };
    let pick = match balance {
        Balance::Roundrobin => rt.read_wheel.pick(usable),
        Balance::Leastconn => {
            least_connections(&rt.readers, |i| rt.servers.get(i).map_or(0, |s| s.pool.in_use()), usable)
        }
    };
    match pick {
        Some(i) => Target::Server(i),
        None if rt.config.routing.reads_fall_back_to_master => master(rt),
        None => Target::Unavailable("no replica is available for reads"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::Config;

    fn runtime(extra: &str) -> Runtime {
        let text = format!("{}\n{extra}", include_str!("../config/rwsplit.toml"));
        let config = Config::parse(&text).expect("valid");
        Runtime::build(Arc::new(config), None).expect("runtime")
    }

    #[tokio::test]
    async fn writes_go_to_the_master_and_reads_are_spread() {
        let rt = runtime("");
        assert_eq!(route(StatementClass::Write, None, &rt), Target::Server(0));
        let reads: Vec<_> = (0..4).map(|_| route(StatementClass::Read, None, &rt)).collect();
        assert!(reads.contains(&Target::Server(1)) && reads.contains(&Target::Server(2)), "{reads:?}");
        assert!(!reads.contains(&Target::Server(0)));
    }

    #[tokio::test]
    async fn hints_override_the_class() {
        let rt = runtime("");
        assert_eq!(route(StatementClass::Read, Some(&RouteHint::Master), &rt), Target::Server(0));
        assert!(matches!(route(StatementClass::Write, Some(&RouteHint::Replica), &rt), Target::Server(1 | 2)));
        assert_eq!(route(StatementClass::Write, Some(&RouteHint::Server("replica2".into())), &rt), Target::Server(2));
        assert!(matches!(
            route(StatementClass::Read, Some(&RouteHint::Server("nope".into())), &rt),
            Target::Unavailable(_)
        ));
    }

    #[tokio::test]
    async fn reads_fall_back_to_the_master_when_no_replica_is_usable() {
        let rt = runtime("");
        rt.servers[1].mark_down(std::time::Duration::from_secs(60));
        assert_eq!(route(StatementClass::Read, None, &rt), Target::Server(2));
        rt.servers[2].mark_down(std::time::Duration::from_secs(60));
        assert_eq!(route(StatementClass::Read, None, &rt), Target::Server(0));
        let strict = runtime("").config.routing.clone();
        assert!(strict.reads_fall_back_to_master);
    }

    #[tokio::test]
    async fn read_target_avoids_the_server_that_just_failed() {
        let rt = runtime("");
        assert!((0..6).all(|_| read_target(&rt, Some(1)) == Target::Server(2)));
    }
}
