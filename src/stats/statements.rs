//! What the proxy does behind clients' prepared statements: preparing them
//! again on the connection that executes them, and putting back column
//! definitions a server left out (MARIADB_CLIENT_CACHE_METADATA). Both should
//! stay small next to the executions; a steady climb means sessions keep
//! landing on connections whose statements they do not share.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Default)]
pub struct StatementStats {
    /// Statements prepared on a backend connection for an execution (first use
    /// there, or again because its column definitions had changed).
    prepared_for_execution: AtomicU64,
    /// Executions whose skipped column definitions the proxy put back.
    metadata_restored: AtomicU64,
}

impl StatementStats {
    pub fn prepared_for_execution(&self) {
        self.prepared_for_execution.fetch_add(1, Relaxed);
    }

    pub fn metadata_restored(&self) {
        self.metadata_restored.fetch_add(1, Relaxed);
    }

    /// (name, value) for SHOW STATUS and the metrics.
    pub fn rows(&self) -> [(&'static str, u64); 2] {
        [
            ("statements_prepared_for_execution", self.prepared_for_execution.load(Relaxed)),
            ("statements_metadata_restored", self.metadata_restored.load(Relaxed)),
        ]
    }
}
