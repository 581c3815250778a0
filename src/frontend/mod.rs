//! The client side: accepting connections, authenticating clients, and each
//! client's session loop.

mod auth;
mod change_user;
mod execute;
mod handshake;
mod kill;
mod listener;
mod prepared;
mod session;
mod tracking;

pub use listener::{serve, Shared};
