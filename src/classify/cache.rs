//! Bounded, concurrent digest → classification cache, shared by every
//! session, and a small bounded tally of the statements the parser could not
//! handle (by digest), for stats.
//!
//! Design:
//! - A `DashMap` keyed by the digest's 64-bit hash. A hit clones an `Arc`
//!   under one shard's read lock; the digest string stored in the entry is
//!   compared on every hit, so a hash collision is a miss, never another
//!   statement's classification.
//! - Parsing happens outside any lock (in `Classifier::classify`): two
//!   sessions meeting the same new digest at once both parse it and the second
//!   insert overwrites the first with an equal value. Cheaper than holding a
//!   shard lock for the several microseconds sqlparser takes.
//! - DashMap has no bound of its own (and without its `raw-api` feature no way
//!   to clear one shard). When an insert finds the cache full, one thread (the
//!   others skip) runs a second-chance clock over slices of the key space: a
//!   slice is the eighth of the hashes sharing their top bits, the clock
//!   starts one slice further each sweep. In the current slice, entries used
//!   since they were last passed get their bit cleared and stay, the others
//!   go, until capacity / 16 are gone. A slice pass is one `retain`, which
//!   holds one shard's write lock at a time (capacity / shards entries, a few
//!   microseconds): readers wait at most that. A sweep usually needs one or
//!   two passes and frees capacity / 16 entries, so its cost is O(1) amortised
//!   per insert. Hot statements survive because every hit sets their bit.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::DashMap;

use super::Classification;

/// Distinct unparsed digests remembered; later ones are only counted in
/// [`DigestCache::unparsed_dropped`].
pub const UNPARSED_CAPACITY: usize = 1024;

/// Longest unparsed digest kept (bytes): enough to recognise a statement in
/// stats, small enough that the tally stays a few MB at most.
const UNPARSED_DIGEST_BYTES: usize = 1024;

/// Number of slices the key space is cut into for eviction sweeps.
const SLICES: u64 = 8;

/// A sweep frees at least capacity / EVICT_FRACTION entries, so sweeps (each
/// a walk over the map, usually one) happen once per that many inserts.
const EVICT_FRACTION: usize = 16;

struct Entry {
    class: Arc<Classification>,
    /// Set by hits, cleared by sweeps: the second chance.
    used: AtomicBool,
}

/// Bounded digest cache; see the module documentation.
pub struct DigestCache {
    map: DashMap<u64, Entry>,
    capacity: usize,
    entries: AtomicUsize,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    uncacheable: AtomicU64,
    sweeping: AtomicBool,
    next_slice: AtomicU64,
    unparsed: DashMap<Arc<str>, AtomicU64>,
    unparsed_entries: AtomicUsize,
    unparsed_dropped: AtomicU64,
}

impl DigestCache {
    /// A cache of at most `capacity` classifications (0 disables caching).
    pub fn new(capacity: usize) -> Self {
        Self {
            map: DashMap::with_capacity(capacity.min(1 << 20)),
            capacity,
            entries: AtomicUsize::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            uncacheable: AtomicU64::new(0),
            sweeping: AtomicBool::new(false),
            next_slice: AtomicU64::new(0),
            unparsed: DashMap::new(),
            unparsed_entries: AtomicUsize::new(0),
            unparsed_dropped: AtomicU64::new(0),
        }
    }

    /// The cached classification of `digest`, if any. Counts a hit or a miss.
    pub fn get(&self, hash: u64, digest: &str) -> Option<Arc<Classification>> {
        let found = self.map.get(&hash).and_then(|e| {
            if &*e.class.digest != digest {
                return None;
            }
            // Avoid dirtying the cache line when the bit is already set.
            if !e.used.load(Ordering::Relaxed) {
                e.used.store(true, Ordering::Relaxed);
            }
            Some(e.class.clone())
        });
        match found {
            Some(_) => self.hits.fetch_add(1, Ordering::Relaxed),
            None => self.misses.fetch_add(1, Ordering::Relaxed),
        };
        found
    }

    /// Stores a classification under its digest's hash, evicting first when
    /// full.
    pub fn insert(&self, hash: u64, class: Arc<Classification>) {
        if self.capacity == 0 {
            return;
        }
        if self.entries.load(Ordering::Relaxed) >= self.capacity {
            self.sweep();
            // Still full: another thread is sweeping. Skip caching this one
            // rather than grow past the bound while it works.
            if self.entries.load(Ordering::Relaxed) >= self.capacity {
                return;
            }
        }
        let entry = Entry { class, used: AtomicBool::new(false) };
        if self.map.insert(hash, entry).is_none() {
            self.entries.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts a statement that was classified without consulting the cache
    /// (SET, USE, oversized).
    pub fn note_uncacheable(&self) {
        self.uncacheable.fetch_add(1, Ordering::Relaxed);
    }

    fn sweep(&self) {
        // One sweeper at a time; the others do not cache while the cache is
        // full, so it overshoots by at most the number of threads that passed
        // the capacity check together.
        if self.sweeping.swap(true, Ordering::Acquire) {
            return;
        }
        let target = (self.capacity / EVICT_FRACTION).max(1);
        let start = self.next_slice.fetch_add(1, Ordering::Relaxed);
        let mut removed = 0usize;
        // Two rounds over the slices at most: the first clears the "used" bits
        // it passes, so by the second only entries hit in between survive.
        for pass in 0..2 * SLICES {
            let slice = (start + pass) % SLICES;
            self.map.retain(|k, e| {
                if removed >= target || (k >> 61) % SLICES != slice || e.used.swap(false, Ordering::Relaxed) {
                    return true;
                }
                removed += 1;
                false
            });
            if removed >= target {
                break;
            }
        }
        if removed == 0 {
            // Every entry was hit between passes: drop one slice regardless, or
            // a hot cache could never make room.
            let slice = start % SLICES;
            self.map.retain(|k, _| {
                if (k >> 61) % SLICES != slice {
                    return true;
                }
                removed += 1;
                false
            });
        }
        self.entries.fetch_sub(removed.min(self.entries.load(Ordering::Relaxed)), Ordering::Relaxed);
        self.evictions.fetch_add(removed as u64, Ordering::Relaxed);
        self.sweeping.store(false, Ordering::Release);
    }

    /// Counts one execution of a statement the parser could not handle.
    pub fn record_unparsed(&self, digest: &Arc<str>) {
        let key = clip(digest);
        if let Some(count) = self.unparsed.get(&*key) {
            count.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.unparsed_entries.load(Ordering::Relaxed) >= UNPARSED_CAPACITY {
            self.unparsed_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut inserted = false;
        self.unparsed
            .entry(key)
            .or_insert_with(|| {
                inserted = true;
                AtomicU64::new(0)
            })
            .fetch_add(1, Ordering::Relaxed);
        if inserted {
            self.unparsed_entries.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Unparsed digests with their execution counts, most frequent first.
    pub fn unparsed(&self) -> Vec<(Arc<str>, u64)> {
        let mut out: Vec<_> =
            self.unparsed.iter().map(|e| (e.key().clone(), e.value().load(Ordering::Relaxed))).collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }

    /// Unparsed executions not tallied because the tally was full.
    pub fn unparsed_dropped(&self) -> u64 {
        self.unparsed_dropped.load(Ordering::Relaxed)
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Entries currently cached (may exceed the capacity by the number of
    /// threads that inserted at the same instant).
    pub fn entries(&self) -> usize {
        self.entries.load(Ordering::Relaxed)
    }

    pub fn evictions(&self) -> u64 {
        self.evictions.load(Ordering::Relaxed)
    }

    /// Statements classified without the cache (SET, USE, oversized).
    pub fn uncacheable(&self) -> u64 {
        self.uncacheable.load(Ordering::Relaxed)
    }
}

/// The digest, cut at a character boundary if too long for the tally.
fn clip(digest: &Arc<str>) -> Arc<str> {
    if digest.len() <= UNPARSED_DIGEST_BYTES {
        return digest.clone();
    }
    let mut end = UNPARSED_DIGEST_BYTES;
    while !digest.is_char_boundary(end) {
        end -= 1;
    }
    Arc::from(digest.get(..end).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use std::hash::{DefaultHasher, Hasher};

    use super::super::{Effects, StatementClass};
    use super::*;

    fn class(digest: &str) -> Arc<Classification> {
        Arc::new(Classification {
            class: StatementClass::Read,
            effects: Effects::default(),
            hint: None,
            tables: Vec::new(),
            session_vars: Vec::new(),
            use_db: None,
            digest: Arc::from(digest),
            diagnostics: false,
            stats: Default::default(),
        })
    }

    fn hash(s: &str) -> u64 {
        let mut h = DefaultHasher::new();
        h.write(s.as_bytes());
        h.finish()
    }

    #[test]
    fn hit_miss_and_counters() {
        let cache = DigestCache::new(10);
        assert!(cache.get(hash("a"), "a").is_none());
        cache.insert(hash("a"), class("a"));
        let hit = cache.get(hash("a"), "a");
        assert_eq!(hit.as_deref().map(|c| &*c.digest), Some("a"));
        assert_eq!((cache.hits(), cache.misses(), cache.entries()), (1, 1, 1));
        // Re-inserting the same key does not grow the count.
        cache.insert(hash("a"), class("a"));
        assert_eq!(cache.entries(), 1);
    }

    #[test]
    fn collision_is_a_miss() {
        let cache = DigestCache::new(10);
        cache.insert(42, class("SELECT a"));
        assert!(cache.get(42, "SELECT b").is_none());
        assert!(cache.get(42, "SELECT a").is_some());
    }

    #[test]
    fn bounded_with_evictions() {
        let cache = DigestCache::new(100);
        for i in 0..10_000 {
            let d = format!("SELECT {i}");
            cache.insert(hash(&d), class(&d));
            assert!(cache.entries() <= 100, "entries {} at {i}", cache.entries());
        }
        assert!(cache.evictions() >= 9_900);
        assert_eq!(cache.entries(), cache.map.len());
    }

    #[test]
    fn hot_entries_survive_sweeps() {
        let cache = DigestCache::new(64);
        let hot = "SELECT hot";
        cache.insert(hash(hot), class(hot));
        let mut survived = 0;
        for i in 0..2_000 {
            let d = format!("SELECT cold {i}");
            cache.insert(hash(&d), class(&d));
            if cache.get(hash(hot), hot).is_some() {
                survived += 1;
            } else {
                cache.insert(hash(hot), class(hot));
            }
        }
        // Used on every round, the hot entry is dropped only when its whole
        // slice must go (rarely), not on every sweep of its slice.
        assert!(survived > 1_900, "hot entry survived {survived} of 2000 rounds");
    }

    #[test]
    fn zero_capacity_disables() {
        let cache = DigestCache::new(0);
        cache.insert(1, class("x"));
        assert!(cache.get(1, "x").is_none());
        assert_eq!(cache.entries(), 0);
    }

    #[test]
    fn concurrent_use_stays_bounded() {
        let cache = Arc::new(DigestCache::new(500));
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let cache = cache.clone();
                std::thread::spawn(move || {
                    for i in 0..5_000 {
                        let d = format!("SELECT {}", (i * 7 + t) % 2_000);
                        let h = hash(&d);
                        if cache.get(h, &d).is_none() {
                            cache.insert(h, class(&d));
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().ok();
        }
        assert!(cache.entries() <= 500 + 4, "entries {}", cache.entries());
        assert_eq!(cache.hits() + cache.misses(), 20_000);
    }

    #[test]
    fn unparsed_tally_is_bounded() {
        let cache = DigestCache::new(10);
        let a: Arc<str> = Arc::from("XA START ?");
        cache.record_unparsed(&a);
        cache.record_unparsed(&a);
        cache.record_unparsed(&Arc::from("LOCK TABLE t READ"));
        assert_eq!(cache.unparsed()[0], (a.clone(), 2));
        for i in 0..UNPARSED_CAPACITY + 10 {
            cache.record_unparsed(&Arc::from(format!("X {i}").as_str()));
        }
        assert_eq!(cache.unparsed().len(), UNPARSED_CAPACITY);
        assert_eq!(cache.unparsed_dropped(), 12);
        let long: Arc<str> = Arc::from("é".repeat(2_000).as_str());
        let cache = DigestCache::new(10);
        cache.record_unparsed(&long);
        assert!(cache.unparsed()[0].0.len() <= UNPARSED_DIGEST_BYTES);
    }
}
