//! The replication heartbeat (`monitor.heartbeat_table`): the current master
//! gets a microsecond timestamp every `heartbeat_interval`, keyed by its
//! server_id (so a master-master pair never fights over one row); replicas
//! read the beat of the server they replicate from, and the age of the newest
//! one they applied is their lag, well under a second's resolution.

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};

use crate::backend::{BackendConn, BackendError, ServerAddr};
use crate::frontend::Shared;

/// Writes beats to whichever server is the master, for as long as the
/// process runs; does nothing while the heartbeat is off.
pub fn start(shared: Arc<Shared>) {
    tokio::spawn(async move {
        let mut conn: Option<BackendConn> = None;
        let mut warned = false;
        let mut shutdown = shared.shutdown.clone();
        loop {
            let rt = shared.runtime.load_full();
            let monitor = &rt.config.monitor;
            let interval = monitor.heartbeat_interval;
            if !monitor.heartbeat_table.is_empty() {
                match rt.master() {
                    Some(master) => {
                        let addr = master.pool.server.clone();
                        if conn.as_ref().is_some_and(|c| c.server.address != addr.address) {
                            conn = None;
                        }
                        match beat(&mut conn, addr, &monitor.user, &monitor.password, &monitor.heartbeat_table).await {
                            Ok(()) => warned = false,
                            Err(e) => {
                                conn = None;
                                if !warned {
                                    warn!(table = %monitor.heartbeat_table, error = %e, "heartbeat write failed");
                                    warned = true;
                                }
                            }
                        }
                    }
                    None => conn = None,
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(interval.max(Duration::from_millis(10))) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    });
}

async fn beat(
    conn: &mut Option<BackendConn>,
    server: Arc<ServerAddr>,
    user: &str,
    password: &str,
    table: &str,
) -> Result<(), String> {
    if conn.is_none() {
        let params = super::check::monitor_login(user, password);
        let (c, _) = BackendConn::connect(server, &params, Duration::from_secs(1)).await.map_err(|e| e.to_string())?;
        let c = conn.insert(c);
        let db = table.split('.').next().unwrap_or(table);
        for sql in [
            format!("CREATE DATABASE IF NOT EXISTS {db}"),
            format!("CREATE TABLE IF NOT EXISTS {table} (server_id INT UNSIGNED PRIMARY KEY, ts DATETIME(6) NOT NULL)"),
        ] {
            ok(c.simple_query(&sql).await)?;
        }
        info!(table, server = %c.server.name, "heartbeat writing");
    }
    let Some(c) = conn.as_mut() else { return Err("no connection".into()) };
    let sql = format!("REPLACE INTO {table} (server_id, ts) VALUES (@@server_id, NOW(6))");
    match tokio::time::timeout(Duration::from_secs(1), c.simple_query(&sql)).await {
        Ok(r) => ok(r),
        Err(_) => Err("heartbeat write timed out".into()),
    }
}

fn ok(reply: Result<Vec<u8>, BackendError>) -> Result<(), String> {
    match reply {
        Ok(p) if p.first() == Some(&0x00) => Ok(()),
        Ok(p) => {
            Err(crate::protocol::ErrPacket::parse(&p).map_or_else(|| "unexpected reply".into(), |e| e.to_string()))
        }
        Err(e) => Err(e.to_string()),
    }
}
