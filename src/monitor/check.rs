//! One health check: what a server says about itself as the monitor user. The
//! check reads facts; judging them (is this replica fit for reads?) is
//! `verdict`, and choosing the master among servers is the topology's job.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::{BackendConn, ServerAddr, SessionParams, TextRow};
use crate::config::CheckSettings;
use crate::protocol::handshake::{
    CLIENT_LONG_PASSWORD, CLIENT_PLUGIN_AUTH, CLIENT_PLUGIN_AUTH_LENENC, CLIENT_PROTOCOL_41, CLIENT_SECURE_CONNECTION,
};

/// What a replica's replication looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replication {
    pub io_running: bool,
    pub sql_running: bool,
    /// None: the server reported NULL (replication broken or stopped).
    pub seconds_behind: Option<u64>,
    /// `@@server_id` of the server it replicates from.
    pub source_server_id: Option<u32>,
    pub last_error: String,
    /// Lag measured with the heartbeat table, when configured and readable.
    pub heartbeat_lag: Option<Duration>,
}

/// What one check learned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub read_only: bool,
    pub server_id: u32,
    pub gtid_binlog_pos: String,
    pub gtid_slave_pos: String,
    /// None when the server replicates from nobody.
    pub replication: Option<Replication>,
    /// Galera nodes: the wsrep status.
    pub galera: Option<Galera>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Galera {
    /// 4 Synced, 2 Donor/Desynced, 1 Joining, 3 Joined.
    pub local_state: u32,
    pub local_state_comment: String,
    pub ready: bool,
    /// `Primary`, or `non-Primary` after losing quorum.
    pub cluster_status: String,
    pub cluster_size: u32,
}

/// The monitor's own connection to one server, kept between checks.
pub struct Checker {
    server: Arc<ServerAddr>,
    conn: Option<BackendConn>,
}

impl Checker {
    pub fn new(server: Arc<ServerAddr>) -> Self {
        Self { server, conn: None }
    }

    /// Runs one check. An error is the reason the check failed.
    pub async fn check(&mut self, user: &str, password: &str, s: &CheckSettings) -> Result<Facts, String> {
        let result = self.check_inner(user, password, s).await;
        if result.is_err() {
            // A connection that failed a check is not trusted with the next one.
            self.conn = None;
        }
        result
    }

    async fn check_inner(&mut self, user: &str, password: &str, s: &CheckSettings) -> Result<Facts, String> {
        if self.conn.is_none() {
            let params = monitor_login(user, password);
            let (conn, _) = BackendConn::connect(self.server.clone(), &params, s.connect_timeout)
                .await
                .map_err(|e| short_error(&e.to_string()))?;
            self.conn = Some(conn);
        }
        let Some(conn) = self.conn.as_mut() else { return Err("no connection".into()) };
        let vars = timed(
            s.query_timeout,
            conn.query_rows("SELECT @@read_only, @@server_id, @@gtid_binlog_pos, @@gtid_slave_pos"),
        )
        .await?;
        let row = vars.first().ok_or("no reply to the variables query")?;
        let text = |i: usize| row.get(i).cloned().flatten().map(|v| String::from_utf8_lossy(&v).into_owned());
        let read_only = text(0).is_some_and(|v| v != "0");
        let server_id = text(1).and_then(|v| v.parse().ok()).unwrap_or(0);
        let (replication, galera) = if s.galera {
            let rows = timed(s.query_timeout, conn.query_rows(GALERA_STATUS)).await?;
            (None, Some(galera(&rows)))
        } else {
            let (names, rows) = timed(s.query_timeout, conn.query_table("SHOW ALL SLAVES STATUS")).await?;
            let mut replication = replication(&names, &rows);
            if let (Some(r), Some((table, interval))) = (replication.as_mut(), &s.heartbeat) {
                if let Some(source) = r.source_server_id {
                    r.heartbeat_lag = heartbeat_lag(conn, table, source, *interval, s.query_timeout).await;
                }
            }
            (replication, None)
        };
        Ok(Facts {
            read_only,
            server_id,
            gtid_binlog_pos: text(2).unwrap_or_default(),
            gtid_slave_pos: text(3).unwrap_or_default(),
            replication,
            galera,
        })
    }
}

/// How the monitor logs in: plain protocol 4.1, no database.
pub fn monitor_login(user: &str, password: &str) -> SessionParams {
    SessionParams {
        user: user.to_owned(),
        password: password.to_owned(),
        database: None,
        collation: 45,
        capabilities: CLIENT_LONG_PASSWORD
            | CLIENT_PROTOCOL_41
            | CLIENT_SECURE_CONNECTION
            | CLIENT_PLUGIN_AUTH
            | CLIENT_PLUGIN_AUTH_LENENC,
        mariadb_capabilities: 0,
        max_packet: 1 << 24,
    }
}

async fn timed<T>(
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T, crate::backend::BackendError>>,
) -> Result<T, String> {
    let started = Instant::now();
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(short_error(&e.to_string())),
        Err(_) => Err(format!("check query timed out after {} ms", started.elapsed().as_millis())),
    }
}

/// Error texts name the server already (the log line does too).
fn short_error(e: &str) -> String {
    e.split_once("): ").map_or(e, |(_, rest)| rest).to_owned()
}

/// How far behind the replica is by the newest beat of `source` it applied:
/// the beat's age, less the interval between beats (a replica that applied the
/// latest beat is not behind however old it is). None when there is no beat.
async fn heartbeat_lag(
    conn: &mut BackendConn,
    table: &str,
    source: u32,
    interval: Duration,
    limit: Duration,
) -> Option<Duration> {
    let sql = format!("SELECT TIMESTAMPDIFF(MICROSECOND, ts, NOW(6)) FROM {table} WHERE server_id = {source}");
    let rows = timed(limit, conn.query_rows(&sql)).await.ok()?;
    let age: i64 = rows.first()?.first()?.as_ref().and_then(|v| std::str::from_utf8(v).ok()?.parse().ok())?;
    let age = Duration::from_micros(age.max(0) as u64);
    Some(age.saturating_sub(interval))
}

const GALERA_STATUS: &str = "SHOW GLOBAL STATUS WHERE Variable_name IN \
    ('wsrep_local_state', 'wsrep_local_state_comment', 'wsrep_ready', 'wsrep_cluster_status', 'wsrep_cluster_size')";

fn galera(rows: &[TextRow]) -> Galera {
    let get = |name: &str| {
        rows.iter()
            .find(|r| r.first().cloned().flatten().is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes())))
            .and_then(|r| r.get(1).cloned().flatten())
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default()
    };
    Galera {
        local_state: get("wsrep_local_state").parse().unwrap_or(0),
        local_state_comment: get("wsrep_local_state_comment"),
        ready: get("wsrep_ready").eq_ignore_ascii_case("ON"),
        cluster_status: get("wsrep_cluster_status"),
        cluster_size: get("wsrep_cluster_size").parse().unwrap_or(0),
    }
}

/// The default (unnamed) replication connection of SHOW ALL SLAVES STATUS, or
/// the first named one.
fn replication(names: &[String], rows: &[TextRow]) -> Option<Replication> {
    let col = |name: &str| names.iter().position(|n| n.eq_ignore_ascii_case(name));
    let get = |row: &TextRow, name: &str| -> Option<String> {
        col(name).and_then(|i| row.get(i).cloned().flatten()).map(|v| String::from_utf8_lossy(&v).into_owned())
    };
    let row = rows.iter().find(|r| get(r, "Connection_name").is_none_or(|n| n.is_empty())).or_else(|| rows.first())?;
    let errors: Vec<String> =
        ["Last_IO_Error", "Last_SQL_Error"].iter().filter_map(|c| get(row, c)).filter(|e| !e.is_empty()).collect();
    Some(Replication {
        io_running: get(row, "Slave_IO_Running").is_some_and(|v| v.eq_ignore_ascii_case("Yes")),
        sql_running: get(row, "Slave_SQL_Running").is_some_and(|v| v.eq_ignore_ascii_case("Yes")),
        seconds_behind: get(row, "Seconds_Behind_Master").and_then(|v| v.parse().ok()),
        source_server_id: get(row, "Master_Server_Id").and_then(|v| v.parse().ok()).filter(|id| *id != 0),
        last_error: errors.join("; "),
        heartbeat_lag: None,
    })
}

/// Whether a server that answered is healthy: a read-only server that
/// replicates must have both threads running and its lag under the limit. The
/// error is the reason it is not. (A read-only server replicating from nobody
/// is healthy, a master set read-only during a switchover say; the topology
/// keeps reads off it.)
pub fn verdict(facts: &Facts, max_lag: Duration, available_when_donor: bool) -> Result<(), String> {
    if let Some(g) = &facts.galera {
        return galera_verdict(g, available_when_donor);
    }
    if !facts.read_only {
        return Ok(());
    }
    let Some(r) = &facts.replication else {
        return Ok(());
    };
    let with_error = |what: &str| {
        if r.last_error.is_empty() {
            what.to_owned()
        } else {
            format!("{what} ({})", r.last_error)
        }
    };
    if !r.io_running {
        return Err(with_error("replication IO thread stopped"));
    }
    if !r.sql_running {
        return Err(with_error("replication SQL thread stopped"));
    }
    if let (Some(lag), Some(_)) = (r.heartbeat_lag, r.seconds_behind) {
        return if lag > max_lag {
            Err(format!("replication lag {} ms > {} ms (heartbeat)", lag.as_millis(), max_lag.as_millis()))
        } else {
            Ok(())
        };
    }
    match r.seconds_behind {
        None => Err("replication broken (Seconds_Behind_Master is NULL)".into()),
        Some(lag) if Duration::from_secs(lag) > max_lag => {
            Err(format!("replication lag {lag}s > {}s", max_lag.as_secs_f64()))
        }
        Some(_) => Ok(()),
    }
}

/// A Galera node takes work when it is Synced (or a Donor, if allowed), ready,
/// and in the Primary component.
fn galera_verdict(g: &Galera, available_when_donor: bool) -> Result<(), String> {
    if g.cluster_status != "Primary" {
        return Err(format!("not in the Primary component (wsrep_cluster_status {})", g.cluster_status));
    }
    if !g.ready {
        return Err("wsrep_ready is OFF".into());
    }
    match g.local_state {
        4 => Ok(()),
        2 if available_when_donor => Ok(()),
        n => Err(format!("wsrep_local_state {n} ({})", g.local_state_comment)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn galera_nodes_take_work_when_synced() {
        let node = |state: u32, comment: &str, ready: bool, status: &str| Galera {
            local_state: state,
            local_state_comment: comment.into(),
            ready,
            cluster_status: status.into(),
            cluster_size: 3,
        };
        assert_eq!(galera_verdict(&node(4, "Synced", true, "Primary"), false), Ok(()));
        assert_eq!(
            galera_verdict(&node(2, "Donor/Desynced", true, "Primary"), false),
            Err("wsrep_local_state 2 (Donor/Desynced)".into())
        );
        assert_eq!(galera_verdict(&node(2, "Donor/Desynced", true, "Primary"), true), Ok(()));
        assert!(galera_verdict(&node(4, "Synced", false, "Primary"), false).unwrap_err().contains("wsrep_ready"));
        assert!(galera_verdict(&node(4, "Synced", true, "non-Primary"), false)
            .unwrap_err()
            .contains("Primary component"));
    }

    fn facts(io: bool, sql: bool, lag: Option<u64>) -> Facts {
        Facts {
            read_only: true,
            server_id: 2,
            gtid_binlog_pos: String::new(),
            gtid_slave_pos: String::new(),
            galera: None,
            replication: Some(Replication {
                io_running: io,
                sql_running: sql,
                seconds_behind: lag,
                source_server_id: Some(1),
                last_error: String::new(),
                heartbeat_lag: None,
            }),
        }
    }

    #[test]
    fn replicas_must_replicate_within_the_lag_limit() {
        let max = Duration::from_secs(10);
        assert_eq!(verdict(&facts(true, true, Some(3)), max, false), Ok(()));
        assert_eq!(verdict(&facts(false, true, Some(3)), max, false), Err("replication IO thread stopped".into()));
        assert_eq!(verdict(&facts(true, false, None), max, false), Err("replication SQL thread stopped".into()));
        assert_eq!(
            verdict(&facts(true, true, None), max, false).unwrap_err(),
            "replication broken (Seconds_Behind_Master is NULL)"
        );
        assert_eq!(verdict(&facts(true, true, Some(42)), max, false), Err("replication lag 42s > 10s".into()));
        let mut writable = facts(false, false, None);
        writable.read_only = false;
        assert_eq!(verdict(&writable, max, false), Ok(()), "a writable server's own replication does not matter");
        let mut beating = facts(true, true, Some(0));
        if let Some(r) = beating.replication.as_mut() {
            r.heartbeat_lag = Some(Duration::from_millis(1500));
        }
        assert_eq!(
            verdict(&beating, Duration::from_secs(1), false),
            Err("replication lag 1500 ms > 1000 ms (heartbeat)".into())
        );
        assert_eq!(verdict(&beating, Duration::from_secs(2), false), Ok(()));
        let mut lonely = facts(true, true, Some(0));
        lonely.replication = None;
        assert_eq!(verdict(&lonely, max, false), Ok(()));
    }

    #[test]
    fn picks_the_default_replication_connection() {
        let names: Vec<String> =
            ["Connection_name", "Slave_IO_Running", "Slave_SQL_Running", "Seconds_Behind_Master", "Master_Server_Id"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let row = |name: &str, io: &str, lag: Option<&str>| -> TextRow {
            vec![
                Some(name.as_bytes().to_vec()),
                Some(io.as_bytes().to_vec()),
                Some(b"Yes".to_vec()),
                lag.map(|l| l.as_bytes().to_vec()),
                Some(b"7".to_vec()),
            ]
        };
        let r = replication(&names, &[row("other", "No", None), row("", "Yes", Some("4"))]).expect("replicating");
        assert!(r.io_running && r.sql_running);
        assert_eq!((r.seconds_behind, r.source_server_id), (Some(4), Some(7)));
        assert_eq!(replication(&names, &[]), None);
    }
}
