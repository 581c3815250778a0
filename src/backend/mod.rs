//! Connections to MariaDB servers and the pools that keep them.

mod conn;
mod error;
mod pool;
pub mod statements;

pub use conn::{BackendConn, PoolKey, SessionParams, TextRow};
pub use error::BackendError;
pub use pool::{Guard, Pool, PoolSettings, ServerAddr};
