//! Per statement shape (digest) statistics: how often, how long, how many rows,
//! where it ran. Bounded: past `capacity` distinct digests new ones are only
//! counted as dropped, so a client generating endless shapes cannot grow memory.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use dashmap::DashMap;

#[derive(Default)]
pub struct Entry {
    count: AtomicU64,
    errors: AtomicU64,
    total_us: AtomicU64,
    max_us: AtomicU64,
    rows: AtomicU64,
    on_master: AtomicU64,
    on_replica: AtomicU64,
}

impl Entry {
    fn reset(&self) {
        for n in
            [&self.count, &self.errors, &self.total_us, &self.max_us, &self.rows, &self.on_master, &self.on_replica]
        {
            n.store(0, Ordering::Relaxed);
        }
    }
}

/// Where a statement shape's numbers are counted, found once and kept with
/// the shape's cached classification: a statement then counts itself without
/// hashing its digest into the table (measured with callgrind: about 250
/// instructions of a point select's 9,300).
#[derive(Default)]
pub struct DigestSlot(OnceLock<Arc<Entry>>);

impl std::fmt::Debug for DigestSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() { "DigestSlot(found)" } else { "DigestSlot(empty)" })
    }
}

impl Clone for DigestSlot {
    fn clone(&self) -> Self {
        let slot = Self::default();
        if let Some(e) = self.0.get() {
            let _ = slot.0.set(e.clone());
        }
        slot
    }
}

/// A cache, not part of what a classification says.
impl PartialEq for DigestSlot {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for DigestSlot {}

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
    entries: DashMap<Arc<str>, Arc<Entry>, foldhash::fast::RandomState>,
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

    /// One execution of `digest`, counted in `slot` once it knows its entry.
    pub fn record(
        &self,
        digest: &Arc<str>,
        slot: &DigestSlot,
        on_master: bool,
        elapsed: Duration,
        rows: u64,
        failed: bool,
    ) {
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
        if let Some(e) = slot.0.get() {
            return bump(e);
        }
        let found = self.entries.get(digest).map(|e| e.value().clone());
        let entry = match found {
            Some(e) => e,
            None if self.len.load(Ordering::Relaxed) >= self.capacity => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            None => self
                .entries
                .entry(digest.clone())
                .or_insert_with(|| {
                    self.len.fetch_add(1, Ordering::Relaxed);
                    Arc::default()
                })
                .value()
                .clone(),
        };
        bump(&entry);
        let _ = slot.0.set(entry);
    }

    /// Every digest, highest total time first.
    pub fn rows(&self) -> Vec<DigestRow> {
        let mut rows: Vec<DigestRow> = self
            .entries
            .iter()
            .filter(|e| e.count.load(Ordering::Relaxed) > 0)
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

    /// Every shape's numbers back to zero. The shapes stay known (and keep
    /// their places in the table): the classifications holding their
    /// entries count into them again; only shapes seen since are listed.
    pub fn clear(&self) {
        for e in self.entries.iter() {
            e.value().reset();
        }
        self.dropped.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(s: &DigestStats, digest: &Arc<str>, on_master: bool, us: u64, rows: u64, failed: bool) {
        s.record(digest, &DigestSlot::default(), on_master, Duration::from_micros(us), rows, failed);
    }

    #[test]
    fn records_and_sorts_by_total_time() {
        let s = DigestStats::new(10);
        let a: Arc<str> = "SELECT ?".into();
        let b: Arc<str> = "INSERT INTO t VALUES (?)".into();
        record(&s, &a, false, 10, 1, false);
        record(&s, &a, false, 30, 1, false);
        record(&s, &b, true, 100, 0, true);
        let rows = s.rows();
        assert_eq!(rows[0].digest, b);
        assert_eq!((rows[0].count, rows[0].errors, rows[0].on_master), (1, 1, 1));
        assert_eq!((rows[1].count, rows[1].total_us, rows[1].max_us, rows[1].rows), (2, 40, 30, 2));
        assert_eq!(rows[1].on_replica, 2);
    }

    #[test]
    fn full_table_counts_new_digests_as_dropped() {
        let s = DigestStats::new(1);
        record(&s, &"a".into(), true, 0, 0, false);
        record(&s, &"b".into(), true, 0, 0, false);
        record(&s, &"a".into(), true, 0, 0, false);
        assert_eq!(s.rows().len(), 1);
        assert_eq!(s.rows()[0].count, 2);
        assert_eq!(s.dropped(), 1);
    }

    #[test]
    fn a_slot_counts_into_its_entry_across_a_reset() {
        let s = DigestStats::new(4);
        let a: Arc<str> = "SELECT ?".into();
        let slot = DigestSlot::default();
        s.record(&a, &slot, false, Duration::from_micros(5), 1, false);
        // Another classification of the same shape (no slot yet) finds the entry.
        record(&s, &a, true, 5, 1, false);
        s.record(&a, &slot, false, Duration::from_micros(5), 1, false);
        assert_eq!(s.rows()[0].count, 3);
        s.clear();
        assert!(s.rows().is_empty(), "nothing seen since the reset");
        s.record(&a, &slot, false, Duration::from_micros(7), 2, false);
        let rows = s.rows();
        assert_eq!((rows.len(), rows[0].count, rows[0].total_us, rows[0].rows), (1, 1, 7, 2));
    }
}
