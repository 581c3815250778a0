//! Connections to MariaDB servers and the pools that keep them.

mod conn;
mod error;
mod pool;

pub use conn::{BackendConn, SessionParams};
pub use error::BackendError;
pub use pool::{Guard, Pool, PoolSettings, ServerAddr};
