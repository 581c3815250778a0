//! Counters the data path keeps for operators (admin port, HTTP stats, metrics):
//! cheap to bump on every statement, read only when someone asks.

mod digests;
mod logins;
mod snapshot;
mod statements;

pub use digests::{DigestRow, DigestSlot, DigestStats};
pub use logins::{Logins, Method};
pub use snapshot::{ServerRow, Snapshot};
pub use statements::StatementStats;
