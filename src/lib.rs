//! rwsplit: a MySQL-protocol read/write splitting proxy.

pub mod access;
pub mod admin;
pub mod backend;
pub mod balance;
pub mod classify;
pub mod config;
pub mod control;
pub mod frontend;
pub mod http;
pub mod limits;
pub mod monitor;
pub mod protocol;
pub mod relay;
pub mod route;
pub mod runtime;
pub mod session;
pub mod stats;
pub mod tls;
pub mod upgrade;
