//! The running state built from a config: users with their stored passwords and
//! one pool per server. Published as one immutable snapshot (arc-swap) that the
//! data path loads once per statement without locking.

use std::collections::HashMap;
use std::sync::Arc;

use crate::backend::{Pool, PoolSettings, ServerAddr};
use crate::config::{Config, Role};
use crate::protocol::auth::StoredPassword;

pub struct FrontendUser {
    pub name: String,
    pub password: StoredPassword,
    pub backend_user: String,
    pub backend_password: String,
}

pub struct Server {
    pub name: String,
    pub role: Role,
    pub weight: u32,
    pub pool: Arc<Pool>,
}

pub struct Runtime {
    pub config: Arc<Config>,
    pub users: HashMap<String, FrontendUser>,
    pub servers: Vec<Server>,
}

impl Runtime {
    /// Builds pools for a validated config. Pools of servers that `previous` already
    /// had (same name and address) are carried over, so a reload keeps connections.
    pub fn build(config: Arc<Config>, previous: Option<&Runtime>) -> Self {
        let settings = PoolSettings {
            min_idle: config.backend.pool_min,
            max: config.backend.pool_max,
            connect_timeout: config.backend.connect_timeout,
            idle_timeout: config.backend.idle_timeout,
        };
        let servers = config
            .servers
            .iter()
            .map(|s| {
                let addr = ServerAddr { name: s.name.clone(), address: s.address.clone() };
                let pool = previous
                    .and_then(|p| p.servers.iter().find(|old| *old.pool.server == addr))
                    .map(|old| old.pool.clone())
                    .unwrap_or_else(|| Pool::new(addr, settings.clone()));
                Server { name: s.name.clone(), role: s.role, weight: s.weight, pool }
            })
            .collect();
        let users = config
            .users
            .iter()
            .map(|u| {
                let user = FrontendUser {
                    name: u.name.clone(),
                    // Validated already; an invalid hash cannot reach here.
                    password: StoredPassword::from_config(&u.password).unwrap_or(StoredPassword::Empty),
                    backend_user: u.backend_user.clone().unwrap_or_else(|| config.backend.user.clone()),
                    backend_password: match &u.backend_user {
                        Some(_) => u.backend_password.clone().unwrap_or_default(),
                        None => config.backend.password.clone(),
                    },
                };
                (u.name.clone(), user)
            })
            .collect();
        Self { config, users, servers }
    }

    pub fn master(&self) -> Option<&Server> {
        self.servers.iter().find(|s| s.role == Role::Master)
    }
}
