//! A client load for fault-injection tests: reader and writer connections
//! through the proxy that record what they saw (errors by code, where reads
//! ran, every acknowledged write) while servers fail under them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mysql_async::prelude::*;

use super::{connect, Proxy};

/// What the load saw: errors by code (with one message each), reads and
/// acknowledged writes.
#[derive(Default)]
pub struct Seen {
    pub read_errors: BTreeMap<u16, (u64, String)>,
    pub write_errors: BTreeMap<u16, (u64, String)>,
    pub reads: u64,
    /// Ids of inserts the proxy acknowledged.
    pub acked: Vec<u64>,
    /// Ports reads ran on.
    pub read_ports: BTreeMap<u16, u64>,
    /// Where each acknowledged write ran (its @@port), in order.
    pub write_ports: Vec<(Instant, u16)>,
}

pub struct Load {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Seen>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

pub fn code_of(e: &mysql_async::Error) -> (u16, String) {
    match e {
        mysql_async::Error::Server(s) => (s.code, s.message.clone()),
        other => (0, other.to_string()),
    }
}

/// Three readers and one writer through the proxy, each reconnecting after a
/// connection-level error the way a pool would.
pub async fn start_load(proxy: &Proxy) -> Load {
    let mut setup = connect(&proxy.url("test")).await;
    setup
        .query_drop("CREATE TABLE IF NOT EXISTS fo (id BIGINT PRIMARY KEY, port INT) ENGINE=InnoDB")
        .await
        .expect("create table");
    drop(setup);
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Seen::default()));
    let next_id = Arc::new(AtomicU64::new(1));
    let mut tasks = Vec::new();
    for writer in [false, false, false, true] {
        let (stop, seen, next_id, url) = (stop.clone(), seen.clone(), next_id.clone(), proxy.url("test"));
        tasks.push(tokio::spawn(async move {
            let mut conn: Option<mysql_async::Conn> = None;
            while !stop.load(Ordering::Relaxed) {
                if conn.is_none() {
                    match mysql_async::Conn::new(mysql_async::Opts::from_url(&url).expect("url")).await {
                        Ok(c) => conn = Some(c),
                        Err(e) => {
                            let (code, msg) = code_of(&e);
                            {
                                let mut s = seen.lock().expect("seen");
                                let map = if writer { &mut s.write_errors } else { &mut s.read_errors };
                                map.entry(code).or_insert((0, msg)).0 += 1;
                            }
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    }
                }
                let Some(c) = conn.as_mut() else { continue };
                if writer {
                    let id = next_id.fetch_add(1, Ordering::Relaxed);
                    let r = c.exec_drop("INSERT INTO fo VALUES (?, @@port)", (id,)).await;
                    match r {
                        Ok(()) => {
                            let port: Option<u16> =
                                c.query_first(format!("SELECT port FROM fo WHERE id = {id}")).await.ok().flatten();
                            let mut s = seen.lock().expect("seen");
                            s.acked.push(id);
                            s.write_ports.push((Instant::now(), port.unwrap_or(0)));
                        }
                        Err(e) => {
                            let (code, msg) = code_of(&e);
                            seen.lock().expect("seen").write_errors.entry(code).or_insert((0, msg)).0 += 1;
                            if !matches!(e, mysql_async::Error::Server(_)) {
                                conn = None;
                            }
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                } else {
                    match c.query_first::<u16, _>("SELECT @@port FROM fo LIMIT 1").await {
                        Ok(port) => {
                            let mut s = seen.lock().expect("seen");
                            s.reads += 1;
                            *s.read_ports.entry(port.unwrap_or(0)).or_default() += 1;
                        }
                        Err(e) => {
                            let (code, msg) = code_of(&e);
                            seen.lock().expect("seen").read_errors.entry(code).or_insert((0, msg)).0 += 1;
                            if !matches!(e, mysql_async::Error::Server(_)) {
                                conn = None;
                            }
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }));
    }
    Load { stop, seen, tasks }
}

impl Load {
    pub async fn finish(self) -> Seen {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            let _ = t.await;
        }
        Arc::try_unwrap(self.seen).ok().expect("tasks done").into_inner().expect("seen")
    }

    pub fn reads(&self) -> u64 {
        self.seen.lock().expect("seen").reads
    }

    /// Reads that ran on `port` so far.
    pub fn reads_on(&self, port: u16) -> u64 {
        self.seen.lock().expect("seen").read_ports.get(&port).copied().unwrap_or(0)
    }
}

/// Polls the admin port until `server`'s `column` satisfies `want`; returns
/// how long that took.
pub async fn wait_admin(
    proxy: &Proxy,
    server: &str,
    column: &str,
    want: impl Fn(&str) -> bool,
    limit: Duration,
) -> Duration {
    let started = Instant::now();
    let mut admin = connect(&proxy.admin_url()).await;
    loop {
        let rows: Vec<mysql_async::Row> = admin.query("SHOW SERVERS").await.expect("show servers");
        let value = rows.iter().find(|r| r.get::<String, _>("name").as_deref() == Some(server)).and_then(|r| {
            r.get_opt::<Option<String>, _>(column).and_then(|v| v.ok()).map(|v| v.unwrap_or_else(|| "NULL".into()))
        });
        if value.as_deref().is_some_and(&want) {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "{server}.{column} = {value:?} after {limit:?}\n{rows:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Every acknowledged write is on the master and on each replica listed.
pub async fn assert_no_write_lost(seen: &Seen, ports: &[u16]) {
    for port in ports {
        let mut c = connect(&format!("mysql://app:app@127.0.0.1:{port}/test?prefer_socket=false")).await;
        let ids: Vec<u64> = c.query("SELECT id FROM fo").await.expect("ids");
        let missing: Vec<&u64> = seen.acked.iter().filter(|id| !ids.contains(id)).collect();
        assert!(missing.is_empty(), "port {port} lacks acknowledged writes {missing:?}");
    }
}
