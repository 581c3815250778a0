//! Where writes landed, as MariaDB GTIDs (`domain-server-sequence`): per session
//! for read-your-writes in "session" mode, proxy-wide in "global" mode, so that a
//! read never sees an older state than a write some client already saw
//! acknowledged.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadYourWrites {
    /// Reads see every write acknowledged to any client of this proxy.
    #[default]
    Global,
    /// Reads see the session's own writes.
    Session,
    Off,
}

/// A GTID: (domain, server_id, sequence).
pub fn parse_gtid(text: &str) -> Option<(u32, u32, u64)> {
    let mut parts = text.trim().split('-');
    let domain = parts.next()?.parse().ok()?;
    let server = parts.next()?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((domain, server, seq))
}

/// The newest write per replication domain, and an epoch that grows with each.
#[derive(Default)]
pub struct WritePositions {
    newest: Mutex<BTreeMap<u32, (u32, u64)>>,
    epoch: AtomicU64,
}

impl WritePositions {
    /// Records a write's GTID; returns the epoch it makes current.
    pub fn record(&self, gtid: &str) -> u64 {
        let Some((domain, server, seq)) = parse_gtid(gtid) else { return self.epoch() };
        let Ok(mut newest) = self.newest.lock() else { return self.epoch() };
        let entry = newest.entry(domain).or_insert((server, 0));
        if seq > entry.1 {
            *entry = (server, seq);
        }
        self.epoch.fetch_add(1, Ordering::AcqRel) + 1
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// The epoch and the GTID position (`d-s-n,d-s-n`) a replica must reach to
    /// have every recorded write; `None` when nothing was written yet.
    pub fn position(&self) -> Option<(u64, String)> {
        let newest = self.newest.lock().ok()?;
        // Read under the lock: the position covers at least this epoch's writes.
        let epoch = self.epoch();
        if newest.is_empty() {
            return None;
        }
        let pos: Vec<String> = newest.iter().map(|(d, (s, n))| format!("{d}-{s}-{n}")).collect();
        Some((epoch, pos.join(",")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_per_domain() {
        let w = WritePositions::default();
        assert_eq!(w.position(), None);
        w.record("0-1-10");
        w.record("0-1-9");
        w.record("1-1-3");
        let (epoch, pos) = w.position().expect("position");
        assert_eq!(epoch, 3);
        assert_eq!(pos, "0-1-10,1-1-3");
        assert_eq!(w.record("garbage"), 3);
        assert_eq!(parse_gtid("0-1-2-3"), None);
        assert_eq!(parse_gtid(" 0-2-77 "), Some((0, 2, 77)));
    }
}
