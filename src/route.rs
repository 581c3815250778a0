//! Where a statement goes. A pure function of the command, the session and the
//! servers, so that every rule can be table-tested without a socket.
//!
//! Until statement classification lands every command goes to the master; the
//! session already asks per command, so splitting only changes this function.

use crate::runtime::Runtime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Index into `Runtime::servers`.
    Server(usize),
    /// No server can take the command.
    Unavailable,
}

pub fn route(_command: &[u8], rt: &Runtime) -> Target {
    match rt.servers.iter().position(|s| s.role == crate::config::Role::Master) {
        Some(i) => Target::Server(i),
        None => Target::Unavailable,
    }
}
