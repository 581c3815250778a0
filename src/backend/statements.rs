//! Server-side prepared statements of one backend connection, by SQL text: a
//! statement is prepared on a connection the first time a session executes it
//! there, and the least recently used are closed beyond a bound, so that
//! clients preparing many statements cannot exhaust the servers'
//! max_prepared_stmt_count.

use std::collections::HashMap;

use bytes::Bytes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prepared {
    pub id: u32,
    pub params: u16,
    /// A hash of the column definitions this connection last sent for the
    /// statement (its prepare reply, or an execution that sent them): what the
    /// server compares against under MARIADB_CLIENT_CACHE_METADATA. None: no
    /// result columns.
    pub metadata: Option<u64>,
    /// The tag of the parameter types this connection last received for the
    /// statement (`ClientStmt::types_tag`; 0: none yet).
    pub types: u64,
}

#[derive(Default)]
pub struct StatementCache {
    by_sql: HashMap<Bytes, (Prepared, u64), foldhash::fast::RandomState>,
    tick: u64,
    /// Changes with every change to the statements (added, closed,
    /// metadata, parameter types): a `Prepared` remembered at one generation
    /// is still this connection's at the same generation (see
    /// `ClientStmt::on`).
    generation: u64,
}

impl StatementCache {
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn get(&mut self, sql: &Bytes) -> Option<Prepared> {
        self.tick += 1;
        let tick = self.tick;
        self.by_sql.get_mut(sql).map(|(p, used)| {
            *used = tick;
            *p
        })
    }

    /// Records a statement; returns the ids of statements to close to stay
    /// within `max`.
    pub fn insert(&mut self, sql: Bytes, p: Prepared, max: usize) -> Vec<u32> {
        self.tick += 1;
        self.generation += 1;
        let mut evicted = Vec::new();
        // The same SQL prepared again here (a client's own prepare): the
        // earlier statement is closed, not leaked on the server.
        if let Some((old, _)) = self.by_sql.insert(sql, (p, self.tick)) {
            if old.id != p.id {
                evicted.push(old.id);
            }
        }
        while self.by_sql.len() > max.max(1) {
            let Some(oldest) = self.by_sql.iter().min_by_key(|(_, (_, used))| *used).map(|(k, _)| k.clone()) else {
                break;
            };
            if let Some((p, _)) = self.by_sql.remove(&oldest) {
                evicted.push(p.id);
            }
        }
        evicted
    }

    /// The statement, without counting as a use.
    pub fn peek(&self, sql: &Bytes) -> Option<Prepared> {
        self.by_sql.get(sql).map(|(p, _)| *p)
    }

    /// The statement received parameter types of another tag.
    pub fn set_types(&mut self, sql: &Bytes, types: u64) {
        self.generation += 1;
        if let Some((p, _)) = self.by_sql.get_mut(sql) {
            p.types = types;
        }
    }

    /// The server sent new column definitions for the statement.
    pub fn set_metadata(&mut self, sql: &Bytes, metadata: Option<u64>) {
        self.generation += 1;
        if let Some((p, _)) = self.by_sql.get_mut(sql) {
            p.metadata = metadata;
        }
    }

    /// Forgets a statement (closed on the server by the caller).
    pub fn remove(&mut self, sql: &Bytes) {
        self.generation += 1;
        self.by_sql.remove(sql);
    }

    /// The server forgot them all (COM_CHANGE_USER, COM_RESET_CONNECTION).
    pub fn clear(&mut self) {
        self.generation += 1;
        self.by_sql.clear();
    }

    pub fn len(&self) -> usize {
        self.by_sql.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_sql.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_recently_used_is_closed() {
        let mut c = StatementCache::default();
        let p = |id| Prepared { id, params: 0, metadata: None, types: 0 };
        assert!(c.insert(Bytes::from_static(b"a"), p(1), 2).is_empty());
        assert!(c.insert(Bytes::from_static(b"b"), p(2), 2).is_empty());
        assert_eq!(c.get(&Bytes::from_static(b"a")).map(|x| x.id), Some(1));
        assert_eq!(c.insert(Bytes::from_static(b"c"), p(3), 2), vec![2]);
        assert_eq!(c.len(), 2);
        assert!(c.get(&Bytes::from_static(b"b")).is_none());
        // Prepared again: the earlier one is to be closed.
        assert_eq!(c.insert(Bytes::from_static(b"c"), p(4), 2), vec![3]);
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn every_change_moves_the_generation_and_lookups_do_not() {
        let mut c = StatementCache::default();
        let p = |id| Prepared { id, params: 0, metadata: None, types: 0 };
        let a = Bytes::from_static(b"a");
        let mut seen = vec![c.generation()];
        c.insert(a.clone(), p(1), 4);
        seen.push(c.generation());
        c.get(&a);
        c.peek(&a);
        assert_eq!(c.generation(), *seen.last().expect("one"), "reading changes nothing");
        c.set_metadata(&a, Some(7));
        seen.push(c.generation());
        c.remove(&a);
        seen.push(c.generation());
        c.clear();
        seen.push(c.generation());
        let mut distinct = seen.clone();
        distinct.dedup();
        assert_eq!(distinct, seen, "each change a new generation");
    }
}
