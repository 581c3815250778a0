//! How clients logged in: by method, over TLS or not, and how many were
//! refused. For operators checking that clients use what they expect (TLS,
//! the caching_sha2_password fast path) and for spotting password guessing.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// How a client proved its password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Native,
    /// caching_sha2_password, scramble against the known digest.
    Sha2Fast,
    /// caching_sha2_password, the password itself over TLS.
    Sha2Full,
}

#[derive(Default)]
pub struct Logins {
    native: AtomicU64,
    sha2_fast: AtomicU64,
    sha2_full: AtomicU64,
    tls: AtomicU64,
    denied: AtomicU64,
}

impl Logins {
    pub fn succeeded(&self, method: Method, tls: bool) {
        let c = match method {
            Method::Native => &self.native,
            Method::Sha2Fast => &self.sha2_fast,
            Method::Sha2Full => &self.sha2_full,
        };
        c.fetch_add(1, Relaxed);
        if tls {
            self.tls.fetch_add(1, Relaxed);
        }
    }

    pub fn denied(&self) {
        self.denied.fetch_add(1, Relaxed);
    }

    /// (name, value) pairs, for the admin port and /metrics.
    pub fn rows(&self) -> [(&'static str, u64); 5] {
        [
            ("logins_native_password", self.native.load(Relaxed)),
            ("logins_sha2_fast", self.sha2_fast.load(Relaxed)),
            ("logins_sha2_full", self.sha2_full.load(Relaxed)),
            ("logins_tls", self.tls.load(Relaxed)),
            ("logins_denied", self.denied.load(Relaxed)),
        ]
    }
}
