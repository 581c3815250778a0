//! The running state built from a config: users with their stored passwords and
//! one pool per server. Published as one immutable snapshot (arc-swap) that the
//! data path loads once per statement without locking.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::backend::{Pool, PoolSettings, ServerAddr};
use crate::balance::Wheel;
use crate::classify::{Classifier, ClassifyOptions};
use arc_swap::ArcSwap;

use crate::access::HostPattern;
use crate::config::{AuthPlugin, ClusterType, Config, ConfigError, Role, ServerState};
use crate::monitor::{ServerHealth, ServerView, Topology};
use crate::protocol::auth::{sha2_digest_from_config, Sha2Digest, StoredPassword};
use crate::session::ReadYourWrites;
use crate::tls::{BackendTls, FrontendTls};

pub struct FrontendUser {
    pub name: String,
    pub password: StoredPassword,
    pub backend_user: String,
    pub backend_password: String,
    pub read_your_writes: ReadYourWrites,
    pub max_connections: Option<usize>,
    pub require_tls: bool,
    pub allowed_hosts: Vec<HostPattern>,
    pub auth_plugin: AuthPlugin,
    /// caching_sha2_password's fast-path digest: from a plaintext config
    /// password at once, else after the user's first full login over TLS
    /// (the server's cache works the same way).
    pub sha2: OnceLock<Sha2Digest>,
}

impl FrontendUser {
    /// An account of the proxy's own (the admin port's): native password, no
    /// backend, no restrictions.
    pub fn local(name: &str, password: StoredPassword) -> Self {
        Self {
            name: name.to_owned(),
            password,
            backend_user: String::new(),
            backend_password: String::new(),
            read_your_writes: ReadYourWrites::Off,
            max_connections: None,
            require_tls: false,
            allowed_hosts: Vec::new(),
            auth_plugin: AuthPlugin::MysqlNativePassword,
            sha2: OnceLock::new(),
        }
    }
}

pub struct Server {
    pub name: String,
    pub role: Role,
    pub weight: u32,
    /// Ready, or drained from the admin port.
    pub state: ServerState,
    /// Galera writer preference (lower first).
    pub priority: u32,
    pub pool: Arc<Pool>,
    /// What the health checks say; carried over a reload like the pool.
    pub health: Arc<ServerHealth>,
    /// The proxy-wide write epoch this server is known to have applied.
    pub applied_epoch: AtomicU64,
    /// Until when (ms since the process started) the server is skipped for reads
    /// after a failed connect; the topology monitor will replace this.
    down_until_ms: AtomicU64,
}

impl Server {
    /// Whether the session path saw the server fail to connect lately (the
    /// health checks may not have noticed yet).
    pub fn recently_failed(&self) -> bool {
        // Never failed (0) needs no clock: this is asked for every read.
        let until = self.down_until_ms.load(Ordering::Relaxed);
        until != 0 && until > now_ms()
    }

    /// Skips the server for reads for `for_`, after it failed to connect.
    pub fn mark_down(&self, for_: Duration) {
        let until = now_ms() + for_.as_millis() as u64;
        self.down_until_ms.store(until, Ordering::Relaxed);
        LATEST_DOWN_UNTIL_MS.fetch_max(until, Ordering::AcqRel);
        crate::balance::placement_changed();
    }
}

/// When the last `mark_down` runs out (ms since start; 0: none pending). Its
/// end changes placement as its start did, but nothing happens then: the
/// first session to ask after it notices.
static LATEST_DOWN_UNTIL_MS: AtomicU64 = AtomicU64::new(0);

/// Bumps the placement epoch once the pending marks have run out; reads the
/// clock only while one is pending.
pub fn expire_down_marks() {
    let until = LATEST_DOWN_UNTIL_MS.load(Ordering::Acquire);
    if until != 0
        && now_ms() >= until
        && LATEST_DOWN_UNTIL_MS.compare_exchange(until, 0, Ordering::AcqRel, Ordering::Relaxed).is_ok()
    {
        crate::balance::placement_changed();
    }
}

fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

pub struct Runtime {
    pub config: Arc<Config>,
    pub users: HashMap<String, FrontendUser>,
    pub servers: Vec<Server>,
    /// Where writes and reads may go, as the health checks last saw it.
    pub topology: ArcSwap<Topology>,
    /// Every server with its share of reads (when fit for them).
    pub readers: Vec<(usize, u32)>,
    pub read_wheel: Wheel,
    pub classifier: Classifier,
    /// What a client asking for TLS is offered; None: TLS is off.
    pub tls: Option<FrontendTls>,
}

impl Runtime {
    /// Builds pools for a validated config. Pools of servers that `previous` already
    /// had (same name, address and TLS setup) are carried over, so a reload keeps
    /// connections. Fails only on TLS files that cannot be read or used.
    pub fn build(config: Arc<Config>, previous: Option<&Runtime>) -> Result<Self, ConfigError> {
        let tls = FrontendTls::load(&config, previous.and_then(|p| p.tls.as_ref()))?;
        let backend_tls = BackendTls::load(&config)?;
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
                let addr = ServerAddr { name: s.name.clone(), address: s.address.clone(), tls: backend_tls.clone() };
                let old = previous.and_then(|p| p.servers.iter().find(|old| *old.pool.server == addr));
                let pool = old.map(|old| old.pool.clone()).unwrap_or_else(|| Pool::new(addr, settings.clone()));
                Server {
                    name: s.name.clone(),
                    role: s.role,
                    weight: s.weight,
                    state: s.state,
                    priority: s.priority.unwrap_or(u32::MAX),
                    pool,
                    health: old.map(|old| old.health.clone()).unwrap_or_default(),
                    down_until_ms: AtomicU64::new(0),
                    applied_epoch: AtomicU64::new(0),
                }
            })
            .collect::<Vec<_>>();
        // A configured master reads with master_read_weight when it is the
        // master, and with its weight when it serves as a replica.
        let master_read_weight = config.routing.master_read_weight;
        let readers: Vec<(usize, u32)> = servers
            .iter()
            .enumerate()
            .map(|(i, s)| match s.role {
                Role::Master if master_read_weight > 0 => (i, master_read_weight),
                _ => (i, s.weight),
            })
            .filter(|(_, w)| *w > 0)
            .collect();
        let read_wheel = Wheel::new(&readers);
        let classifier = Classifier::with_options(
            config.routing.digest_cache_size,
            ClassifyOptions { unknown_functions_are_reads: config.routing.unknown_functions_are_reads },
        );
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
                    read_your_writes: u.read_your_writes.unwrap_or(config.routing.read_your_writes),
                    max_connections: u.max_connections,
                    require_tls: u.require_tls,
                    // Validated already; an invalid pattern cannot reach here.
                    allowed_hosts: u.allowed_hosts.iter().filter_map(|h| HostPattern::parse(h).ok()).collect(),
                    auth_plugin: u.auth_plugin.unwrap_or(config.proxy.default_auth_plugin),
                    sha2: OnceLock::new(),
                };
                let password = &user.password;
                let cached = previous
                    .and_then(|p| p.users.get(&u.name))
                    .filter(|old| old.password == *password)
                    .and_then(|old| old.sha2.get().copied());
                if let Some(digest) = sha2_digest_from_config(&u.password).or(cached) {
                    let _ = user.sha2.set(digest);
                }
                (u.name.clone(), user)
            })
            .collect();
        let rt = Self {
            config,
            users,
            servers,
            topology: ArcSwap::from_pointee(Topology::default()),
            readers,
            read_wheel,
            classifier,
            tls,
        };
        rt.topology.store(Arc::new(rt.compute_topology()));
        crate::balance::placement_changed();
        Ok(rt)
    }

    /// Index of the active master.
    pub fn master_index(&self) -> Option<usize> {
        self.topology.load().master
    }

    pub fn master(&self) -> Option<&Server> {
        self.master_index().and_then(|i| self.servers.get(i))
    }

    /// Whether a read may go to server `i` now.
    pub fn readable(&self, i: usize) -> bool {
        self.readable_in(&self.topology.load(), i)
    }

    /// `readable` against a topology the caller loaded: a decision that asks
    /// about several servers loads the snapshot once.
    pub fn readable_in(&self, topo: &Topology, i: usize) -> bool {
        let fit = topo.readable.get(i).copied().unwrap_or(false)
            || (topo.master == Some(i) && self.config.routing.master_read_weight > 0);
        fit && self.servers.get(i).is_some_and(|s| !s.recently_failed())
    }

    /// The topology the servers' current health gives.
    pub fn compute_topology(&self) -> Topology {
        let states: Vec<_> = self.servers.iter().map(|s| s.health.snapshot()).collect();
        let views: Vec<ServerView<'_>> = self
            .servers
            .iter()
            .zip(&states)
            .map(|(s, h)| ServerView {
                name: &s.name,
                address: &s.pool.server.address,
                reason: &h.reason,
                configured_master: s.role == Role::Master,
                state: h.state,
                facts: h.facts.as_ref(),
                drained: !s.state.is_ready(),
                priority: s.priority,
            })
            .collect();
        crate::monitor::compute(
            &views,
            self.config.monitor.replicas_serve_without_master,
            self.config.monitor.cluster == ClusterType::Galera,
        )
    }
}
