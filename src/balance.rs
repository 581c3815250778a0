//! Picking a replica for a read: smooth weighted round robin, or least
//! connections relative to weight.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::backend::Pool;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Balance {
    #[default]
    Roundrobin,
    Leastconn,
}

/// A weighted round-robin schedule over server indices, precomputed once per
/// runtime snapshot so that a pick is one atomic increment.
pub struct Wheel {
    slots: Vec<usize>,
    next: AtomicUsize,
}

impl Wheel {
    /// `servers`: (index, weight). Nginx's smooth weighted round robin: weights 1
    /// and 2 give `b a b`, not `a b b`, so bursts spread over both.
    pub fn new(servers: &[(usize, u32)]) -> Self {
        let total: i64 = servers.iter().map(|(_, w)| i64::from(*w)).sum();
        let mut current: Vec<i64> = vec![0; servers.len()];
        let mut slots = Vec::with_capacity(total.max(0) as usize);
        for _ in 0..total {
            let mut best = 0;
            for (i, (_, w)) in servers.iter().enumerate() {
                current[i] += i64::from(*w);
                if current[i] > current[best] {
                    best = i;
                }
            }
            current[best] -= total;
            slots.push(servers[best].0);
        }
        Self { slots, next: AtomicUsize::new(0) }
    }

    /// The next server in the schedule for which `usable` holds.
    pub fn pick(&self, usable: impl Fn(usize) -> bool) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        // Each slot skipped is consumed, so usable servers keep their ratio (a
        // skipped slot handed to the next one would double its share).
        (0..self.slots.len())
            .map(|_| self.slots[self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()])
            .find(|s| usable(*s))
    }
}

/// The usable server with the fewest connections in use per unit of weight.
pub fn least_connections(
    servers: &[(usize, u32)],
    in_use: impl Fn(usize) -> usize,
    usable: impl Fn(usize) -> bool,
) -> Option<usize> {
    // Ties (idle servers, a quiet proxy) go round robin, as in HAProxy, rather
    // than all to the first server listed.
    static TIE_BREAK: AtomicUsize = AtomicUsize::new(0);
    let start = TIE_BREAK.fetch_add(1, Ordering::Relaxed);
    let n = servers.len().max(1);
    (0..servers.len())
        .map(|k| &servers[(start + k) % n])
        .filter(|(i, w)| *w > 0 && usable(*i))
        // Compare in_use/weight without division: a/wa < b/wb ⇔ a·wb < b·wa.
        .min_by(|(a, wa), (b, wb)| (in_use(*a) as u64 * u64::from(*wb)).cmp(&(in_use(*b) as u64 * u64::from(*wa))))
        .map(|(i, _)| *i)
}

/// Whether a session homed on `home` would leave the servers more even by
/// moving to another usable one: true when some server's load with the
/// session added stays below the home's load with it, both per unit of
/// weight. Strict, so two sessions never trade places back and forth; it is
/// what spreads sessions again over a replica that came back or was added,
/// and what undoes two first reads that picked the same replica at once.
pub fn lighter_elsewhere(
    servers: &[(usize, u32)],
    home: usize,
    load: impl Fn(usize) -> usize,
    usable: impl Fn(usize) -> bool,
) -> bool {
    let Some(&(_, home_weight)) = servers.iter().find(|(i, _)| *i == home) else {
        return true;
    };
    let home_load = load(home) as u64;
    servers.iter().any(|&(i, w)| {
        // (l_i + 1) / w_i < l_home / w_home, without division.
        i != home && w > 0 && usable(i) && (load(i) as u64 + 1) * u64::from(home_weight) < home_load * u64::from(w)
    })
}

/// Bumped by everything that can change where a session's reads belong: a
/// new topology or runtime, a server skipped after a failed connect, a
/// session taking or leaving a home. A session whose home was checked at the
/// current epoch keeps it without looking again (with callgrind: a point
/// select's home check went from about 300 instructions to a load).
static PLACEMENT_EPOCH: AtomicU64 = AtomicU64::new(1);

pub fn placement_epoch() -> u64 {
    crate::runtime::expire_down_marks();
    PLACEMENT_EPOCH.load(Ordering::Acquire)
}

pub fn placement_changed() {
    PLACEMENT_EPOCH.fetch_add(1, Ordering::AcqRel);
}

/// A session's replica for its reads (`read_affinity = "session"`), counted
/// on the server's pool while the session keeps it, so that new sessions
/// settle where the fewest are. Left to the round robin of each session's
/// first read, homes came out uneven (16 sysbench threads: 10 and 6 often),
/// and the busier replica's server did more work per statement.
pub struct ReadHome {
    pub server: usize,
    pool: Arc<Pool>,
}

impl ReadHome {
    pub fn new(server: usize, pool: Arc<Pool>) -> Self {
        pool.homes.fetch_add(1, Ordering::Relaxed);
        placement_changed();
        Self { server, pool }
    }
}

impl Drop for ReadHome {
    fn drop(&mut self) {
        self.pool.homes.fetch_sub(1, Ordering::Relaxed);
        placement_changed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_give_proportional_smooth_picks() {
        let w = Wheel::new(&[(1, 1), (2, 2)]);
        let picks: Vec<_> = (0..6).filter_map(|_| w.pick(|_| true)).collect();
        assert_eq!(picks, vec![2, 1, 2, 2, 1, 2]);
        let w = Wheel::new(&[(1, 1), (2, 1)]);
        let picks: Vec<_> = (0..4).filter_map(|_| w.pick(|_| true)).collect();
        assert_eq!(picks.iter().filter(|p| **p == 1).count(), 2);
    }

    #[test]
    fn unusable_servers_are_skipped() {
        let w = Wheel::new(&[(1, 1), (2, 2)]);
        assert!((0..10).all(|_| w.pick(|s| s != 2) == Some(1)));
        assert_eq!(w.pick(|_| false), None);
        assert_eq!(Wheel::new(&[]).pick(|_| true), None);
        assert_eq!(Wheel::new(&[(1, 0)]).pick(|_| true), None);
    }

    #[test]
    fn least_connections_by_weight() {
        let servers = [(1, 1), (2, 2)];
        let busy = |s: usize| if s == 1 { 2 } else { 3 };
        assert_eq!(least_connections(&servers, busy, |_| true), Some(2));
        assert_eq!(least_connections(&servers, busy, |s| s == 1), Some(1));
        assert_eq!(least_connections(&servers, busy, |_| false), None);
    }

    #[test]
    fn a_home_moves_only_when_that_evens_the_load() {
        let servers = [(1, 1), (2, 1)];
        let load = |a: usize, b: usize| move |s: usize| if s == 1 { a } else { b };
        // Both sessions on server 1, none on 2 (which came back): one moves.
        assert!(lighter_elsewhere(&servers, 1, load(2, 0), |_| true));
        // 2 and 1: moving would give 1 and 2, no better.
        assert!(!lighter_elsewhere(&servers, 1, load(2, 1), |_| true));
        assert!(!lighter_elsewhere(&servers, 1, load(1, 0), |_| true));
        // An unusable or weightless server takes nobody.
        assert!(!lighter_elsewhere(&servers, 1, load(5, 0), |s| s == 1));
        assert!(!lighter_elsewhere(&[(1, 1), (2, 0)], 1, load(5, 0), |_| true));
        // Weights: server 2 takes three sessions for each of server 1's.
        let weighted = [(1, 1), (2, 3)];
        assert!(lighter_elsewhere(&weighted, 1, load(2, 2), |_| true));
        assert!(!lighter_elsewhere(&weighted, 1, load(1, 2), |_| true));
        assert!(!lighter_elsewhere(&weighted, 2, load(1, 3), |_| true));
        // A home that is no longer among the servers is left.
        assert!(lighter_elsewhere(&servers, 9, load(0, 0), |_| true));
    }
}
