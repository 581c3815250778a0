//! One read of the live state for the admin port's SHOW SERVERS, the stats
//! page, a metrics scrape or a health check: every server with its health,
//! pool and role, and the proxy-wide figures, derived in one place.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::config::{Role, ServerState};
use crate::frontend::Shared;
use crate::monitor::State;

pub struct Snapshot {
    pub servers: Vec<ServerRow>,
    /// Index into `servers` of the active master.
    pub master: Option<usize>,
    /// Why there is no master.
    pub no_master: Option<String>,
    pub reads_fall_back_to_master: bool,
    pub uptime: Duration,
    /// Authenticated client sessions.
    pub clients: usize,
    pub shutting_down: bool,
    pub pool_max: usize,
}

pub struct ServerRow {
    pub name: String,
    pub address: String,
    /// "master", "replica" or "none", as SHOW SERVERS says.
    pub role: &'static str,
    pub state: State,
    /// "UP", "DOWN", or a pending change ("UP 1/3").
    pub state_text: String,
    /// Why the server is down, failing, or up but not taking reads.
    pub reason: String,
    pub readable: bool,
    pub is_master: bool,
    pub weight: u32,
    /// Seconds_Behind_Master, for a replica whose last check saw it.
    pub lag_s: Option<u64>,
    /// The heartbeat's lag when there is one, else Seconds_Behind_Master.
    pub lag_ms: Option<u64>,
    /// Drained or in maintenance from the admin port.
    pub admin_state: ServerState,
    /// From the last check that reached the server.
    pub server_id: Option<u32>,
    pub read_only: Option<bool>,
    /// The replica's applied position, or the master's binlog position.
    pub gtid: Option<String>,
    pub conn_used: usize,
    pub conn_idle: usize,
    /// Of `conn_used`, connections sessions keep between reads (leases).
    pub conn_leased: usize,
    /// Client sessions holding a connection to this server now.
    pub sessions: usize,
    pub queries: u64,
    pub errors: u64,
    /// Bytes of client commands sent to the server, and of replies relayed.
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub connects: u64,
    pub connect_errors: u64,
    pub reuses: u64,
    pub discarded: u64,
    pub checks: u64,
    pub failed_checks: u64,
    pub transitions: u64,
    pub last_check_ago: Option<Duration>,
    pub last_check_took: Duration,
    /// How long the server has been in its state.
    pub state_for: Duration,
}

impl ServerRow {
    /// Whether a state change is under way (between the first failure and
    /// `fall`, or the first success and `rise`).
    pub fn pending(&self) -> bool {
        self.state_text != self.state.name()
    }
}

impl Snapshot {
    pub fn take(shared: &Shared) -> Self {
        let rt = shared.runtime.load();
        let topo = rt.topology.load();
        let mut sessions = vec![0usize; rt.servers.len()];
        for entry in shared.sessions.iter() {
            let server = entry
                .value()
                .backend()
                .and_then(|(pool, _)| rt.servers.iter().position(|s| Arc::ptr_eq(&s.pool, &pool)));
            if let Some(n) = server.and_then(|i| sessions.get_mut(i)) {
                *n += 1;
            }
        }
        let servers = rt
            .servers
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let h = s.health.snapshot();
                let settings =
                    rt.config.servers.iter().find(|c| c.name == s.name).map(|c| rt.config.monitor.settings_for(c));
                let facts = h.facts.as_ref();
                let is_master = topo.master == Some(i);
                let role = if is_master {
                    "master"
                } else if facts.is_some_and(|f| f.read_only) || (facts.is_none() && s.role == Role::Replica) {
                    "replica"
                } else {
                    "none"
                };
                let state_text = settings.map_or_else(|| h.state.name().to_owned(), |st| h.describe(&st));
                let pending = state_text != h.state.name();
                // A reason left from a failure the server has since got over is
                // not shown: only while it is down or failing.
                let reason = if !h.reason.is_empty() && (h.state == State::Down || pending) {
                    h.reason.clone()
                } else {
                    topo.not_readable.get(i).cloned().flatten().unwrap_or_default()
                };
                let stats = &s.pool.stats;
                ServerRow {
                    name: s.name.clone(),
                    address: s.pool.server.address.clone(),
                    role,
                    state: h.state,
                    state_text,
                    reason,
                    readable: rt.readable(i),
                    is_master,
                    weight: s.weight,
                    lag_s: facts.and_then(|f| f.replication.as_ref()).and_then(|r| r.seconds_behind),
                    lag_ms: facts.and_then(|f| f.replication.as_ref()).and_then(|r| match r.heartbeat_lag {
                        Some(l) => Some(l.as_millis() as u64),
                        None => r.seconds_behind.map(|s| s * 1000),
                    }),
                    admin_state: s.state,
                    server_id: facts.map(|f| f.server_id),
                    read_only: facts.map(|f| f.read_only),
                    gtid: facts.map(|f| if f.read_only { f.gtid_slave_pos.clone() } else { f.gtid_binlog_pos.clone() }),
                    conn_used: s.pool.in_use(),
                    conn_idle: s.pool.idle_count(),
                    conn_leased: s.pool.leases.load(std::sync::atomic::Ordering::Relaxed),
                    sessions: sessions[i],
                    queries: stats.queries.load(Ordering::Relaxed),
                    errors: stats.errors.load(Ordering::Relaxed),
                    bytes_in: stats.bytes_in.load(Ordering::Relaxed),
                    bytes_out: stats.bytes_out.load(Ordering::Relaxed),
                    connects: stats.connects.load(Ordering::Relaxed),
                    connect_errors: stats.connect_errors.load(Ordering::Relaxed),
                    reuses: stats.reuses.load(Ordering::Relaxed),
                    discarded: stats.discarded.load(Ordering::Relaxed),
                    checks: h.checks,
                    failed_checks: h.failed_checks,
                    transitions: h.transitions,
                    last_check_ago: h.last_check.map(|c| c.elapsed()),
                    last_check_took: h.last_check_took,
                    state_for: h.changed_at.elapsed(),
                }
            })
            .collect();
        Snapshot {
            servers,
            master: topo.master,
            no_master: topo.no_master.clone(),
            reads_fall_back_to_master: rt.config.routing.reads_fall_back_to_master,
            uptime: shared.started.elapsed(),
            clients: shared.sessions.len(),
            shutting_down: *shared.shutdown.borrow(),
            pool_max: rt.config.backend.pool_max,
        }
    }

    pub fn master(&self) -> Option<&ServerRow> {
        self.master.and_then(|i| self.servers.get(i))
    }
}
