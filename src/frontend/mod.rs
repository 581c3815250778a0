//! The client side: accepting connections, authenticating clients, and each
//! client's session loop.

pub mod auth;
mod change_user;
mod execute;
mod handle;
mod handshake;
mod kill;
mod lease;
mod listener;
mod prepared;
mod session;
mod tracking;

pub use handle::SessionHandle;
pub use listener::{accept_until, serve, Shared};
