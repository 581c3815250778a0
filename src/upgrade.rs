//! Zero-downtime binary upgrade. SIGUSR2 starts the binary at the path this
//! process was started from (replaced on disk by the new version) with the
//! same arguments, handing it the listening sockets: both processes accept on
//! the same sockets, so no connection attempt is refused or reset. The old
//! process is then sent SIGTERM: it stops accepting and drains.

use std::collections::HashMap;
use std::os::fd::{FromRawFd, RawFd};
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use tracing::{error, info, warn};

/// Environment variable naming the inherited sockets: `proxy=7,admin=8`.
pub const INHERITED_FDS: &str = "RWSPLIT_INHERITED_FDS";

/// The command line this process was started with, resolved before the binary
/// on disk can be replaced.
static COMMAND_LINE: OnceLock<(PathBuf, Vec<String>)> = OnceLock::new();

pub fn remember_command_line() {
    let mut args = std::env::args();
    let exe = args.next().map(PathBuf::from).unwrap_or_default();
    let exe = std::fs::canonicalize(&exe).unwrap_or(exe);
    let _ = COMMAND_LINE.set((exe, args.collect()));
}

/// Sockets handed over by the process that started this one.
pub fn take_inherited() -> HashMap<String, std::net::TcpListener> {
    let Ok(spec) = std::env::var(INHERITED_FDS) else { return HashMap::new() };
    std::env::remove_var(INHERITED_FDS);
    let mut out = HashMap::new();
    for entry in spec.split(',') {
        let Some((name, fd)) = entry.split_once('=') else { continue };
        let Ok(fd) = fd.parse::<RawFd>() else { continue };
        // SAFETY: the parent passed this descriptor for exactly this use, and
        // nothing else in this process knows of it.
        let listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
        if listener.local_addr().is_ok() && listener.set_nonblocking(true).is_ok() {
            out.insert(name.to_owned(), listener);
        } else {
            warn!(name, fd, "inherited descriptor is not a listening socket; ignored");
        }
    }
    out
}

/// Starts the new process with duplicates of `sockets` (name, fd).
pub fn spawn_successor(sockets: &[(&str, RawFd)]) -> Result<u32, String> {
    let Some((exe, args)) = COMMAND_LINE.get() else { return Err("command line unknown".into()) };
    let mut dups = Vec::new();
    for (name, fd) in sockets {
        // A dup is inherited across exec (no FD_CLOEXEC); the original stays ours.
        // SAFETY: `fd` is an open listening socket owned by a running accept loop.
        let dup = unsafe { libc::dup(*fd) };
        if dup < 0 {
            close_all(&dups);
            return Err(format!("dup of the {name} socket failed: {}", std::io::Error::last_os_error()));
        }
        dups.push((*name, dup));
    }
    let spec: Vec<String> = dups.iter().map(|(n, fd)| format!("{n}={fd}")).collect();
    let result = Command::new(exe).args(args).env(INHERITED_FDS, spec.join(",")).spawn();
    close_all(&dups);
    match result {
        Ok(child) => {
            info!(pid = child.id(), exe = %exe.display(), "upgrade: new process started with the listening sockets; send SIGTERM to this one ({}) to drain it", std::process::id());
            Ok(child.id())
        }
        Err(e) => {
            error!(exe = %exe.display(), error = %e, "upgrade: cannot start the new process");
            Err(e.to_string())
        }
    }
}

fn close_all(fds: &[(&str, RawFd)]) {
    for (_, fd) in fds {
        // SAFETY: our own duplicates, closed once.
        unsafe { libc::close(*fd) };
    }
}
