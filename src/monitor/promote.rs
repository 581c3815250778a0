//! Optional automatic promotion (`monitor.auto_promote_after`, off by
//! default). When no master has been seen for that long and the last master is
//! down (not merely read-only: that is a DBA's switchover in progress), the
//! healthy replica with the most advanced GTID position becomes the master and
//! the other replicas are pointed at it. A demoted master that comes back
//! writable is fenced (set read-only) so that it cannot cause a split-brain;
//! re-pointing it is left to the DBA, who must check it for transactions the
//! others never received.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::{error, info, warn};

use super::check::monitor_login;
use super::State;
use crate::backend::BackendConn;
use crate::runtime::Runtime;
use crate::session::gtid::parse_gtid;

/// What the promoter remembers between supervisor ticks.
#[derive(Default)]
pub struct Promoter {
    state: Mutex<Memory>,
}

#[derive(Default)]
struct Memory {
    /// Since when there is no master.
    no_master_since: Option<Instant>,
    /// The last master seen (by name), and whether it is down now.
    last_master: Option<String>,
    /// Masters demoted by a promotion, to fence if they return writable.
    demoted: Vec<String>,
    busy: bool,
    /// A promotion failed at this time: the next try waits `auto_promote_after`.
    failed_at: Option<Instant>,
}

impl Promoter {
    /// One look at the topology; promotes or fences when it is time.
    pub async fn tick(&self, rt: &Runtime) {
        let m = &rt.config.monitor;
        if m.auto_promote_after.is_zero() {
            return;
        }
        let topo = rt.topology.load();
        let plan = {
            let Ok(mut mem) = self.state.lock() else { return };
            if mem.busy {
                return;
            }
            if let Some(i) = topo.master {
                mem.no_master_since = None;
                mem.last_master = rt.servers.get(i).map(|s| s.name.clone());
                // A fenced or re-pointed old master: nothing to do.
                let fence: Vec<usize> = rt
                    .servers
                    .iter()
                    .enumerate()
                    .filter(|(j, s)| {
                        *j != i
                            && mem.demoted.contains(&s.name)
                            && s.health.snapshot().facts.is_some_and(|f| !f.read_only)
                    })
                    .map(|(j, _)| j)
                    .collect();
                if fence.is_empty() {
                    return;
                }
                mem.busy = true;
                Plan::Fence(fence)
            } else {
                let since = *mem.no_master_since.get_or_insert_with(Instant::now);
                let last_down = mem
                    .last_master
                    .as_ref()
                    .and_then(|n| rt.servers.iter().find(|s| &s.name == n))
                    .is_some_and(|s| s.health.snapshot().state == State::Down);
                let backing_off = mem.failed_at.is_some_and(|t| t.elapsed() < m.auto_promote_after);
                if since.elapsed() < m.auto_promote_after || !last_down || backing_off {
                    return;
                }
                let Some(candidate) = most_advanced(rt) else { return };
                mem.busy = true;
                Plan::Promote(candidate)
            }
        };
        let promoted = match plan {
            Plan::Fence(servers) => {
                for i in servers {
                    fence(rt, i).await;
                }
                None
            }
            Plan::Promote(i) => Some(promote(rt, i).await),
        };
        if let Ok(mut mem) = self.state.lock() {
            mem.busy = false;
            match promoted {
                Some(true) => {
                    if let Some(old) = mem.last_master.take() {
                        mem.demoted.push(old);
                    }
                    mem.failed_at = None;
                }
                Some(false) => mem.failed_at = Some(Instant::now()),
                None => {}
            }
        }
    }
}

enum Plan {
    Promote(usize),
    Fence(Vec<usize>),
}

/// The up, read-only, replicating server with the highest GTID sequence (the
/// first configured on a tie).
fn most_advanced(rt: &Runtime) -> Option<usize> {
    rt.servers
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let h = s.health.snapshot();
            let f = h.facts.as_ref()?;
            // Its replication may be failing (the master is gone): what counts
            // is that the server answers and holds a replica's data.
            let usable = h.reachable && s.state.is_ready() && f.read_only && f.replication.is_some();
            let seq = f.gtid_slave_pos.split(',').filter_map(|g| parse_gtid(g.trim())).map(|(_, _, n)| n).max();
            usable.then_some((i, seq.unwrap_or(0)))
        })
        .max_by_key(|(i, seq)| (*seq, std::cmp::Reverse(*i)))
        .map(|(i, _)| i)
}

async fn promote(rt: &Runtime, new: usize) -> bool {
    let m = &rt.config.monitor;
    let Some(server) = rt.servers.get(new) else { return false };
    let address = server.pool.server.address.clone();
    warn!(server = %server.name, "auto-promotion: no master for {:?}; promoting {} ({address})", m.auto_promote_after, server.name);
    let steps = ["STOP SLAVE".to_owned(), "RESET SLAVE ALL".to_owned(), "SET GLOBAL read_only = OFF".to_owned()];
    // Apply what was received before the old master died, then stop.
    let result = async {
        let mut conn = connect(rt, new).await?;
        applied_all_received(&mut conn).await?;
        run(&mut conn, &steps).await
    }
    .await;
    if let Err(e) = result {
        error!(server = %server.name, error = %e, "auto-promotion failed; retrying after auto_promote_after");
        return false;
    }
    let Some((host, port)) = address.rsplit_once(':') else { return true };
    for (i, other) in rt.servers.iter().enumerate() {
        let h = other.health.snapshot();
        if i == new || !h.reachable || !h.facts.is_some_and(|f| f.read_only && f.replication.is_some()) {
            continue;
        }
        let repoint = [
            "STOP SLAVE".to_owned(),
            format!(
                "CHANGE MASTER TO master_host = '{}', master_port = {port}, master_user = '{}', \
                 master_password = '{}', master_use_gtid = slave_pos",
                quote(host),
                quote(&m.replication_user),
                quote(&m.replication_password)
            ),
            "START SLAVE".to_owned(),
        ];
        let result = async { run(&mut connect(rt, i).await?, &repoint).await }.await;
        match result {
            Ok(()) => info!(server = %other.name, "auto-promotion: {} now replicates from {}", other.name, server.name),
            Err(e) => error!(server = %other.name, error = %e, "auto-promotion: re-pointing failed"),
        }
    }
    info!(server = %server.name, "auto-promotion: {} is the master", server.name);
    true
}

/// Stops the replica's IO thread and waits (up to 10 s) until it applied all
/// it had received from the dead master: nothing acknowledged there is lost.
async fn applied_all_received(conn: &mut BackendConn) -> Result<(), String> {
    run(conn, &["STOP SLAVE IO_THREAD".to_owned()]).await?;
    let (names, rows) = conn.query_table("SHOW SLAVE STATUS").await.map_err(|e| e.to_string())?;
    let received = names
        .iter()
        .position(|n| n.eq_ignore_ascii_case("Gtid_IO_Pos"))
        .and_then(|c| rows.first()?.get(c).cloned().flatten())
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_default();
    if received.is_empty() || !received.bytes().all(|b| b.is_ascii_digit() || b == b'-' || b == b',') {
        return Ok(());
    }
    let rows = tokio::time::timeout(
        Duration::from_secs(12),
        conn.query_rows(&format!("SELECT MASTER_GTID_WAIT('{received}', 10)")),
    )
    .await
    .map_err(|_| "waiting for the relay log timed out".to_owned())?
    .map_err(|e| e.to_string())?;
    match rows.first().and_then(|r| r.first().cloned().flatten()).as_deref() {
        Some(b"0") => Ok(()),
        _ => Err(format!("the relay log was not applied up to {received} in 10 s")),
    }
}

async fn fence(rt: &Runtime, i: usize) {
    let Some(s) = rt.servers.get(i) else { return };
    warn!(server = %s.name, "auto-promotion: demoted master {} is back writable; setting it read-only (re-point it by hand after checking it for transactions the others lack)", s.name);
    let result = async { run(&mut connect(rt, i).await?, &["SET GLOBAL read_only = ON".to_owned()]).await }.await;
    if let Err(e) = result {
        error!(server = %s.name, error = %e, "fencing failed");
    }
}

/// A connection to server `i` as the promote account.
async fn connect(rt: &Runtime, i: usize) -> Result<BackendConn, String> {
    let m = &rt.config.monitor;
    let server = rt.servers.get(i).ok_or("no such server")?.pool.server.clone();
    let params = monitor_login(&m.promote_user, &m.promote_password);
    let (conn, _) = BackendConn::connect(server, &params, Duration::from_secs(2)).await.map_err(|e| e.to_string())?;
    Ok(conn)
}

/// Runs statements that answer OK, stopping at the first error.
async fn run(conn: &mut BackendConn, steps: &[String]) -> Result<(), String> {
    for sql in steps {
        let reply = tokio::time::timeout(Duration::from_secs(15), conn.simple_query(sql))
            .await
            .map_err(|_| format!("{sql}: timed out"))?
            .map_err(|e| format!("{sql}: {e}"))?;
        if reply.first() == Some(&0xFF) {
            let why = crate::protocol::ErrPacket::parse(&reply).map_or_else(|| "error".to_owned(), |e| e.to_string());
            return Err(format!("{sql}: {why}"));
        }
    }
    Ok(())
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}
