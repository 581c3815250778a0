//! Process limits: every client and backend connection is a file descriptor,
//! and the usual soft limit (1024) is far below `proxy.max_connections`.

use std::io;

/// The open-files limit before and after [`raise_nofile_limit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimit {
    /// Soft limit found at start.
    pub before: u64,
    /// Soft limit in force now.
    pub after: u64,
    /// Hard limit (the ceiling an unprivileged process may raise to).
    pub hard: u64,
}

/// Linux's default `fs.nr_open`: the most a soft limit can be when the hard
/// limit says unlimited.
const NR_OPEN_DEFAULT: u64 = 1 << 20;

/// Raises the soft RLIMIT_NOFILE to the hard limit (what `ulimit -n $(ulimit
/// -Hn)` does), as far as the system allows.
pub fn raise_nofile_limit() -> io::Result<NofileLimit> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we pass and nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let (before, hard) = (lim.rlim_cur, lim.rlim_max);
    let target = if lim.rlim_max == libc::RLIM_INFINITY { NR_OPEN_DEFAULT } else { hard };
    if before >= target {
        return Ok(NofileLimit { before, after: before, hard });
    }
    let raised = libc::rlimit { rlim_cur: target, rlim_max: lim.rlim_max };
    // SAFETY: setrlimit only reads the struct we pass.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(NofileLimit { before, after: target, hard })
}

/// Descriptors the proxy may need at once: every client, a full pool per
/// server, one monitor connection per server, and a few for listeners, the
/// log and the admin and HTTP clients.
pub fn nofile_needed(config: &crate::config::Config) -> u64 {
    let servers = config.servers.len() as u64;
    config.proxy.max_connections as u64 + servers * (config.backend.pool_max as u64 + 1) + 64
}
