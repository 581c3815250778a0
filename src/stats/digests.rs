//! Per statement shape (digest) statistics: how often, how long, how many rows,
//! where it ran. Bounded: past `capacity` distinct digests new ones are only
//! counted as dropped, so a client generating endless shapes cannot grow memory.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;

#[derive(Default)]
struct Entry {
    count: AtomicU64,
    errors: AtomicU64,
    total_us: AtomicU64,
    max_us: AtomicU64,
    rows: AtomicU64,
    on_master: AtomicU64,
    on_replica: AtomicU64,
}

/// One digest's numbers, as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestRow {
    pub digest: Arc<str>,
    pub count: u64,
    pub errors: u64,
    pub total_us: u64,
    pub max_us: u64,
    pub rows: u64,
    pub on_master: u64,
    pub on_replica: u64,
}

pub struct DigestStats {
    entries: DashMap<Arc<str>, Entry, foldhash::fast::RandomState>,
    len: AtomicUsize,
    capacity: usize,
    dropped: AtomicU64,
}

impl DigestStats {
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: DashMap::with_hasher(Default::default()),
            len: AtomicUsize::new(0),
            capacity,
            dropped: AtomicU64::new(0),
        }
    }

    /// One execution of `digest`.
    pub fn record(&self, digest: &Arc<str>, on_master: bool, elapsed: Duration, rows: u64, failed: bool) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bump = |e: &Entry| {
            e.count.fetch_add(1, Ordering::Relaxed);
            e.total_us.fetch_add(us, Ordering::Relaxed);
            e.max_us.fetch_max(us, Ordering::Relaxed);
            e.rows.fetch_add(rows, Ordering::Relaxed);
            if failed {
                e.errors.fetch_add(1, Ordering::Relaxed);
            }
            let place = if on_master { &e.on_master } else { &e.on_replica };
            place.fetch_add(1, Ordering::Relaxed);
        };
        if let Some(e) = self.entries.get(digest) {
            bump(&e);
            return;
        }
        if self.len.load(Ordering::Relaxed) >= self.capacity {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let entry = self.entries.entry(digest.clone()).or_insert_with(|| {
            self.len.fetch_add(1, Ordering::Relaxed);
            Entry::default()
        });
        bump(&entry);
    }

    /// Every digest, highest total time first.
    pub fn rows(&self) -> Vec<DigestRow> {
        let mut rows: Vec<DigestRow> = self
            .entries
            .iter()
            .map(|e| DigestRow {
                digest: e.key().clone(),
                count: e.count.load(Ordering::Relaxed),
                errors: e.errors.load(Ordering::Relaxed),
                total_us: e.total_us.load(Ordering::Relaxed),
                max_us: e.max_us.load(Ordering::Relaxed),
                rows: e.rows.load(Ordering::Relaxed),
                on_master: e.on_master.load(Ordering::Relaxed),
                on_replica: e.on_replica.load(Ordering::Relaxed),
            })
            .collect();
        rows.sort_by(|a, b| b.total_us.cmp(&a.total_us).then_with(|| a.digest.cmp(&b.digest)));
        rows
    }

    /// Executions not tallied because the table was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    pub fn clear(&self) {
        self.entries.clear();
        self.len.store(0, Ordering::Relaxed);
        self.dropped.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_sorts_by_total_time() {
        let s = DigestStats::new(10);
        let a: Arc<str> = "SELECT ?".into();
        let b: Arc<str> = "INSERT INTO t VALUES (?)".into();
        s.record(&a, false, Duration::from_micros(10), 1, false);
        s.record(&a, false, Duration::from_micros(30), 1, false);
        s.record(&b, true, Duration::from_micros(100), 0, true);
        let rows = s.rows();
        assert_eq!(rows[0].digest, b);
        assert_eq!((rows[0].count, rows[0].errors, rows[0].on_master), (1, 1, 1));
        assert_eq!((rows[1].count, rows[1].total_us, rows[1].max_us, rows[1].rows), (2, 40, 30, 2));
        assert_eq!(rows[1].on_replica, 2);
    }

    #[test]
    fn full_table_counts_new_digests_as_dropped() {
        let s = DigestStats::new(1);
        s.record(&"a".into(), true, Duration::ZERO, 0, false);
        s.record(&"b".into(), true, Duration::ZERO, 0, false);
        s.record(&"a".into(), true, Duration::ZERO, 0, false);
        assert_eq!(s.rows().len(), 1);
        assert_eq!(s.rows()[0].count, 2);
        assert_eq!(s.dropped(), 1);
    }
}
