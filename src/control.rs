//! Changing the running proxy without dropping anything: a new config (from
//! the file on SIGHUP, or edited on the admin port) is validated whole, its
//! listeners bound, its runtime built (pools and health carried over), and then
//! swapped in at once. A config that fails anywhere changes nothing.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{error, info, warn};

use crate::config::{Config, ConfigError};
use crate::frontend::Shared;
use crate::runtime::Runtime;

/// One listener's accept loop, stopped through `stop`.
struct Bound {
    addr: String,
    /// The listening socket, for handing over in a binary upgrade.
    fd: RawFd,
    stop: watch::Sender<bool>,
}

/// The proxy's listeners, by kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Proxy,
    Admin,
    Http,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Proxy, Kind::Admin, Kind::Http];

    fn name(self) -> &'static str {
        match self {
            Kind::Proxy => "proxy",
            Kind::Admin => "admin",
            Kind::Http => "http",
        }
    }

    /// The config key of its address ("" switches it off, except the proxy's).
    fn address(self, config: &Config) -> &str {
        match self {
            Kind::Proxy => &config.proxy.listen,
            Kind::Admin => &config.admin.listen,
            Kind::Http => &config.http.listen,
        }
    }

    fn spawn(self, shared: &Arc<Shared>, listener: TcpListener, addr: &str) -> Bound {
        let fd = listener.as_raw_fd();
        let (stop, stopped) = watch::channel(false);
        match self {
            Kind::Proxy => drop(tokio::spawn(crate::frontend::serve(listener, shared.clone(), stopped))),
            Kind::Admin => drop(tokio::spawn(crate::admin::serve(listener, shared.clone(), stopped))),
            Kind::Http => drop(tokio::spawn(crate::http::serve(listener, shared.clone(), stopped))),
        }
        info!(listen = addr, "{} listener open", self.name());
        Bound { addr: addr.to_owned(), fd, stop }
    }
}

#[derive(Default)]
struct Listeners(HashMap<Kind, Bound>);

/// What reloads know: the file, the listeners, how reloads went.
pub struct Control {
    pub path: PathBuf,
    listeners: tokio::sync::Mutex<Listeners>,
    /// Sockets handed over by the process this one replaces, by listener name.
    inherited: Mutex<HashMap<String, std::net::TcpListener>>,
    pub reloads: AtomicU64,
    pub reloads_failed: AtomicU64,
    pub last_error: Mutex<String>,
}

impl Control {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            listeners: Default::default(),
            inherited: Mutex::new(crate::upgrade::take_inherited()),
            reloads: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            last_error: Mutex::new(String::new()),
        }
    }
}

/// Binds the listeners of the running config (at start).
pub async fn start(shared: &Arc<Shared>) -> Result<(), Vec<ConfigError>> {
    let config = shared.runtime.load().config.clone();
    let mut listeners = shared.control.listeners.lock().await;
    let result = rebind(shared, &mut listeners, &config).await;
    // Handed-over sockets the config no longer names are closed.
    if let Ok(mut left) = shared.control.inherited.lock() {
        left.clear();
    }
    result
}

/// SIGUSR2: starts the (new) binary with this process's listening sockets.
pub async fn upgrade(shared: &Arc<Shared>) -> Result<u32, String> {
    let listeners = shared.control.listeners.lock().await;
    let sockets: Vec<(&str, RawFd)> =
        Kind::ALL.iter().filter_map(|k| listeners.0.get(k).map(|b| (k.name(), b.fd))).collect();
    crate::upgrade::spawn_successor(&sockets)
}

/// SIGHUP or the admin port's RELOAD: the file, validated, swapped in.
pub async fn reload_file(shared: &Arc<Shared>) -> Result<(), Vec<ConfigError>> {
    let path = shared.control.path.clone();
    let result = match Config::load(&path) {
        Ok(config) => apply(shared, config, "reload").await,
        Err(errors) => Err(errors),
    };
    if let Err(errors) = &result {
        fail(shared, &format!("reload of {} rejected; the running config keeps serving", path.display()), errors);
    }
    result
}

/// Swaps in `config` (already edited by the caller), or changes nothing.
pub async fn apply(shared: &Arc<Shared>, config: Config, why: &str) -> Result<(), Vec<ConfigError>> {
    config.check()?;
    let mut listeners = shared.control.listeners.lock().await;
    let old = shared.runtime.load_full();
    if config.proxy.worker_threads != old.config.proxy.worker_threads {
        warn!("proxy.worker_threads changes at the next restart, not on reload");
    }
    let config = Arc::new(config);
    // TLS files are read here: a certificate that cannot be used rejects the config.
    let runtime = Runtime::build(config.clone(), Some(&old)).map_err(|e| vec![e])?;
    // Bind before the swap: a listen address that cannot be bound rejects the
    // config before anything changed; the old address is released only afterwards.
    let changed = bind_changed(&shared.control, &listeners, &config).await?;
    shared.set_runtime(Arc::new(runtime));
    install(shared, &mut listeners, changed, &config);
    shared.control.reloads.fetch_add(1, Ordering::Relaxed);
    shared.monitor_wake.notify_one();
    info!(
        why,
        servers = config.servers.len(),
        users = config.users.len(),
        "configuration applied: {}",
        describe_changes(&old.config, &config)
    );
    Ok(())
}

fn fail(shared: &Shared, what: &str, errors: &[ConfigError]) {
    shared.control.reloads_failed.fetch_add(1, Ordering::Relaxed);
    for e in errors {
        error!("{what}: {e}");
    }
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    if let Ok(mut last) = shared.control.last_error.lock() {
        *last = text.join("; ");
    }
}

async fn rebind(shared: &Arc<Shared>, listeners: &mut Listeners, config: &Config) -> Result<(), Vec<ConfigError>> {
    let changed = bind_changed(&shared.control, listeners, config).await?;
    install(shared, listeners, changed, config);
    Ok(())
}

/// Starts the accept loops of newly bound sockets and stops the ones they
/// replace (or that the config switched off).
fn install(
    shared: &Arc<Shared>,
    listeners: &mut Listeners,
    changed: Vec<(Kind, Option<TcpListener>)>,
    config: &Config,
) {
    for (kind, socket) in changed {
        let next = socket.map(|l| kind.spawn(shared, l, kind.address(config)));
        let old = match next {
            Some(b) => listeners.0.insert(kind, b),
            None => listeners.0.remove(&kind),
        };
        if let Some(old) = old {
            let _ = old.stop.send(true);
            info!(listen = %old.addr, "{} listener closed", kind.name());
        }
    }
}

/// New sockets for the listeners whose address changed (None: switched off).
async fn bind_changed(
    control: &Control,
    listeners: &Listeners,
    config: &Config,
) -> Result<Vec<(Kind, Option<TcpListener>)>, Vec<ConfigError>> {
    let mut changed = Vec::new();
    for kind in Kind::ALL {
        let current = listeners.0.get(&kind).map(|b| b.addr.as_str()).unwrap_or_default();
        let wanted = kind.address(config);
        if current == wanted {
            continue;
        }
        let socket = match wanted {
            "" => None,
            addr => Some(bind(control, kind, addr).await?),
        };
        changed.push((kind, socket));
    }
    Ok(changed)
}

async fn bind(control: &Control, kind: Kind, addr: &str) -> Result<TcpListener, Vec<ConfigError>> {
    if let Some(l) = take_inherited(control, kind.name(), addr) {
        info!(listen = addr, "using the {} socket handed over by the previous process", kind.name());
        return Ok(l);
    }
    TcpListener::bind(addr)
        .await
        .map_err(|e| vec![ConfigError::new(format!("{}.listen", kind.name()), format!("cannot listen on {addr}: {e}"))])
}

/// The handed-over socket for `name`, if it listens on `addr`.
fn take_inherited(control: &Control, name: &str, addr: &str) -> Option<TcpListener> {
    use std::net::ToSocketAddrs;
    let wanted: Vec<std::net::SocketAddr> = addr.to_socket_addrs().ok()?.collect();
    let l = control.inherited.lock().ok()?.remove(name)?;
    if l.local_addr().is_ok_and(|a| wanted.contains(&a)) {
        TcpListener::from_std(l).ok()
    } else {
        None
    }
}

/// A one-line summary of what a new config changes about the servers.
fn describe_changes(old: &Config, new: &Config) -> String {
    let mut changes = Vec::new();
    for s in &new.servers {
        match old.servers.iter().find(|o| o.name == s.name) {
            None => changes.push(format!("server {} added", s.name)),
            Some(o) if o.address != s.address => changes.push(format!("server {} moved to {}", s.name, s.address)),
            Some(o) => {
                if o.weight != s.weight {
                    changes.push(format!("server {} weight {} -> {}", s.name, o.weight, s.weight));
                }
                if o.state != s.state {
                    changes.push(format!("server {} {}", s.name, s.state.name()));
                }
            }
        }
    }
    for o in &old.servers {
        if !new.servers.iter().any(|s| s.name == o.name) {
            changes.push(format!("server {} removed (draining)", o.name));
        }
    }
    if old.users.len() != new.users.len() {
        changes.push(format!("{} users", new.users.len()));
    }
    if changes.is_empty() {
        "no server changes".into()
    } else {
        changes.join(", ")
    }
}

/// Writes the running config to its file: a temporary file renamed over it,
/// the previous file kept as `<file>.prev`.
pub fn save(shared: &Shared) -> Result<PathBuf, String> {
    let config = shared.runtime.load().config.clone();
    let text = config.to_toml()?;
    let path = &shared.control.path;
    let tmp = path.with_extension("toml.tmp");
    let prev = path.with_extension("toml.prev");
    std::fs::write(&tmp, format!("# Written by rwsplit's SAVE CONFIG.\n{text}"))
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    if path.exists() {
        std::fs::copy(path, &prev).map_err(|e| format!("cannot keep {}: {e}", prev.display()))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot replace {}: {e}", path.display()))?;
    info!(path = %path.display(), "running config saved");
    Ok(path.clone())
}
