//! Watching the servers: one checker task per server (HAProxy-style rise/fall
//! over a replication-aware check) and a topology that routing reads from the
//! runtime snapshot without locking.

mod check;
mod health;
mod heartbeat;
mod promote;
mod topology;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tracing::{info, warn};

pub use check::{verdict, Checker, Facts, Galera, Replication};
pub use health::{HealthState, ServerHealth, State, Transition};
pub use topology::{compute, ServerView, Topology};

use crate::frontend::Shared;
use crate::runtime::Runtime;

/// How often the supervisor looks for servers without a checker (new ones
/// after a reload) even when no check woke it.
const SUPERVISE_EVERY: Duration = Duration::from_millis(250);

/// Starts checking every server of the running config, and of every config
/// swapped in later.
pub fn start(shared: Arc<Shared>) {
    heartbeat::start(shared.clone());
    let promoter = promote::Promoter::default();
    tokio::spawn(async move {
        let mut shutdown = shared.shutdown.clone();
        loop {
            let rt = shared.runtime.load_full();
            for i in 0..rt.servers.len() {
                let server = &rt.servers[i];
                if !server.health.checker_running.swap(true, Ordering::AcqRel) {
                    tokio::spawn(run_checker(shared.clone(), Arc::downgrade(&server.health), server.name.clone()));
                }
            }
            publish(&rt, &shared);
            promoter.tick(&rt).await;
            tokio::select! {
                _ = shared.monitor_wake.notified() => {}
                _ = tokio::time::sleep(SUPERVISE_EVERY) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    });
}

/// Recomputes the runtime's topology from its servers' health; stores it and
/// logs what changed for routing when it differs.
pub fn publish(rt: &Runtime, shared: &Shared) {
    let next = rt.compute_topology();
    let current = rt.topology.load();
    if **current == next {
        return;
    }
    if current.master != next.master || current.no_master != next.no_master {
        match (next.master, &next.no_master) {
            (Some(m), _) => info!(server = %rt.servers[m].name, "master is now {}", rt.servers[m].name),
            (None, Some(why)) => warn!("writes refused: {why}"),
            (None, None) => {}
        }
    }
    for (i, s) in rt.servers.iter().enumerate() {
        let (was, is) = (current.readable.get(i).copied().unwrap_or(false), next.readable[i]);
        if was != is {
            match (&next.not_readable[i], is) {
                (_, true) => info!(server = %s.name, "server {} takes reads", s.name),
                (Some(why), false) => warn!(server = %s.name, "server {} takes no reads: {why}", s.name),
                (None, false) => {}
            }
        }
    }
    let readers = next.readable.iter().filter(|r| **r).count();
    if readers == 0 && current.readable.iter().any(|r| *r) {
        warn!(
            "no server is fit for reads{}",
            if rt.config.routing.reads_fall_back_to_master { "; reads go to the master" } else { "" }
        );
    }
    rt.topology.store(Arc::new(next));
    crate::balance::placement_changed();
    shared.topology_changed.notify_waiters();
}

async fn run_checker(shared: Arc<Shared>, health: Weak<ServerHealth>, name: String) {
    let mut checker: Option<(String, Checker)> = None;
    loop {
        let Some(h) = health.upgrade() else { return };
        let rt = shared.runtime.load_full();
        // The server left the config (or changed address): its checker ends.
        let Some(server) = rt.servers.iter().find(|s| s.name == name && Arc::ptr_eq(&s.health, &h)) else {
            h.checker_running.store(false, Ordering::Release);
            return;
        };
        let Some(config) = rt.config.servers.iter().find(|s| s.name == name) else { return };
        let settings = rt.config.monitor.settings_for(config);
        let address = server.pool.server.address.clone();
        let conn = match &mut checker {
            Some((a, c)) if *a == address => c,
            _ => &mut checker.insert((address.clone(), Checker::new(server.pool.server.clone()))).1,
        };
        let started = Instant::now();
        let result = conn.check(&rt.config.monitor.user, &rt.config.monitor.password, &settings).await;
        let took = started.elapsed();
        let (outcome, facts) = match result {
            Ok(f) => (verdict(&f, settings.max_replication_lag, settings.available_when_donor), Some(f)),
            Err(e) => (Err(e), None),
        };
        let (transition, interval) = {
            let Ok(mut state) = h.state.lock() else { return };
            let t = state.record(outcome, facts, took, &settings);
            (t, state.interval(&settings))
        };
        if let Some(t) = transition {
            // Idle connections to a dead server would fail whoever gets them.
            server.pool.set_down(t.to == State::Down);
            log_transition(&rt, &name, &address, &t, took);
        }
        shared.monitor_wake.notify_one();
        drop(rt);
        drop(h);
        let mut shutdown = shared.shutdown.clone();
        let Some(h) = health.upgrade() else { return };
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = h.check_now.notified() => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

fn log_transition(rt: &Runtime, name: &str, address: &str, t: &Transition, took: Duration) {
    let topo = rt.compute_topology();
    let readers = topo.readable.iter().filter(|r| **r).count();
    let left = if rt.config.monitor.cluster == crate::config::ClusterType::Galera {
        format!("{readers} of {} nodes take work", rt.servers.len())
    } else {
        let candidates = rt.servers.len().saturating_sub(usize::from(topo.master.is_some()));
        format!("{readers} of {candidates} replicas fit for reads")
    };
    let ms = took.as_millis();
    match t.to {
        State::Down => {
            warn!(server = name, "server {name} {address} is DOWN, reason: {}, check took {ms} ms; {left}", t.reason)
        }
        _ => info!(
            server = name,
            "server {name} {address} is {}, reason: {}, check took {ms} ms; {left}",
            t.to.name(),
            t.reason
        ),
    }
}
