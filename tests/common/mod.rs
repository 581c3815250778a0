//! Test harness: the real MariaDB cluster (tests/cluster/cluster.sh) and a real
//! rwsplit process on a free port, with its log dumped when a test fails.
#![allow(dead_code)]

pub mod load;

use std::collections::HashMap;
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const MASTER_PORT: u16 = 13306;
pub const REPLICA_PORTS: [u16; 2] = [13307, 13308];

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Starts the cluster once per test binary (the script is idempotent: a running
/// cluster is left as it is).
pub fn cluster() {
    static STARTED: OnceLock<()> = OnceLock::new();
    STARTED.get_or_init(|| {
        let status = Command::new("bash")
            .arg(repo_root().join("tests/cluster/cluster.sh"))
            .arg("start")
            .stdout(Stdio::null())
            .status()
            .expect("run tests/cluster/cluster.sh");
        assert!(status.success(), "tests/cluster/cluster.sh start failed");
    });
}

/// The cluster's directory (tests/cluster/cluster.sh's RWSPLIT_CLUSTER_DIR).
pub fn cluster_dir() -> PathBuf {
    std::env::var("RWSPLIT_CLUSTER_DIR").map_or_else(|_| repo_root().join(".cluster"), PathBuf::from)
}

/// `[tls]` for a proxy presenting the certificate the cluster's servers present
/// (made by cluster.sh from its own CA), so that clients see the same TLS either way.
pub fn cluster_certificate_toml() -> String {
    let tls = cluster_dir().join("tls");
    format!("[tls]\ncert = {:?}\nkey = {:?}\n", tls.join("server-chain.pem"), tls.join("server-key.pem"))
}

/// mysql_async URLs. `prefer_socket=false` matters: by default mysql_async asks a
/// local server for `@@socket` and silently reconnects through that unix socket,
/// which would bypass the proxy altogether.
pub fn direct_url(db: &str) -> String {
    format!("mysql://app:app@127.0.0.1:{MASTER_PORT}/{db}?prefer_socket=false")
}

/// A mysql_async connection, panicking with the URL on failure.
pub async fn connect(url: &str) -> mysql_async::Conn {
    let opts = mysql_async::Opts::from_url(url).expect("url");
    mysql_async::Conn::new(opts).await.unwrap_or_else(|e| panic!("connect {url}: {e}"))
}

/// (code, SQLSTATE, message) of a server error; panics on any other error.
pub fn server_error(e: mysql_async::Error) -> (u16, String, String) {
    match e {
        mysql_async::Error::Server(s) => (s.code, s.state, s.message),
        other => panic!("expected a server error, got {other:?}"),
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A running rwsplit process.
pub struct Proxy {
    child: Child,
    pub port: u16,
    pub admin_port: u16,
    /// The HTTP listener (/stats, /metrics, /health).
    pub http_port: u16,
    pub config_path: PathBuf,
    log_path: PathBuf,
    _dir: tempfile::TempDir,
}

pub struct ProxyBuilder {
    config: String,
    args: Vec<String>,
    port: u16,
    admin_port: u16,
    http_port: u16,
}

impl ProxyBuilder {
    /// Replaces the first occurrence of `from` in the config text.
    pub fn replace(mut self, from: &str, to: &str) -> Self {
        assert!(self.config.contains(from), "config has no {from:?}");
        self.config = self.config.replacen(from, to, 1);
        self
    }

    /// The config as it will be written.
    pub fn config_text(&self) -> &str {
        &self.config
    }

    /// An extra command-line argument for rwsplit.
    pub fn arg(mut self, arg: &str) -> Self {
        self.args.push(arg.to_owned());
        self
    }

    /// Appends TOML (e.g. another `[[users]]`).
    pub fn append(mut self, toml: &str) -> Self {
        self.config.push('\n');
        self.config.push_str(toml);
        self
    }

    pub fn spawn(self) -> Proxy {
        let dir = tempfile::tempdir().expect("tempdir");
        let config_path = dir.path().join("rwsplit.toml");
        std::fs::write(&config_path, &self.config).expect("write config");
        let log_path = dir.path().join("rwsplit.log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_rwsplit"))
            .arg("--config")
            .arg(&config_path)
            .args(&self.args)
            .env("RWSPLIT_LOG", std::env::var("RWSPLIT_LOG").unwrap_or_else(|_| "debug,sqlparser=warn".into()))
            .stdout(log.try_clone().expect("dup"))
            .stderr(log)
            .spawn()
            .expect("spawn rwsplit");
        let mut proxy = Proxy {
            child,
            port: self.port,
            admin_port: self.admin_port,
            http_port: self.http_port,
            config_path,
            log_path,
            _dir: dir,
        };
        proxy.wait_ready();
        proxy
    }
}

impl Proxy {
    /// The shipped config/rwsplit.toml on a free port.
    pub fn builder() -> ProxyBuilder {
        cluster();
        let config = std::fs::read_to_string(repo_root().join("config/rwsplit.toml")).expect("read config");
        Self::builder_with(&config)
    }

    /// A proxy with `config` (shaped like config/rwsplit.toml) on free ports,
    /// without starting the replication cluster.
    pub fn builder_with(config: &str) -> ProxyBuilder {
        let port = free_port();
        let admin_port = free_port();
        let http_port = free_port();
        ProxyBuilder { config: config.to_owned(), args: Vec::new(), port, admin_port, http_port }
            .replace("listen = \"127.0.0.1:6033\"", &format!("listen = \"127.0.0.1:{port}\""))
            .replace("listen = \"127.0.0.1:6032\"", &format!("listen = \"127.0.0.1:{admin_port}\""))
            .replace("listen = \"127.0.0.1:8080\"", &format!("listen = \"127.0.0.1:{http_port}\""))
    }

    pub fn start() -> Proxy {
        Self::builder().spawn()
    }

    /// The shipped config with every read balanced on its own
    /// (`read_affinity = "statement"`): for tests that watch one session's
    /// reads spread over both replicas.
    pub fn per_statement_reads() -> Proxy {
        Self::builder().replace("read_affinity = \"session\"", "read_affinity = \"statement\"").spawn()
    }

    pub fn url(&self, db: &str) -> String {
        format!("mysql://app:app@127.0.0.1:{}/{db}?prefer_socket=false", self.port)
    }

    /// mysql_async URL of the admin port (admin/admin in config/rwsplit.toml).
    pub fn admin_url(&self) -> String {
        format!("mysql://admin:admin@127.0.0.1:{}?prefer_socket=false", self.admin_port)
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("rwsplit exited with {status} before listening:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("rwsplit did not listen on {} within 20s:\n{}", self.port, self.log());
    }

    /// Sends SIGTERM and waits for the exit status, up to `timeout`.
    pub fn terminate(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("----- rwsplit log ({}) -----\n{}", self.log_path.display(), self.log());
        }
    }
}

/// Runs a command to completion with a deadline; returns (status ok, stdout, stderr).
pub fn run_with_timeout(cmd: &mut Command, timeout: Duration) -> (bool, String, String) {
    let mut child =
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = t_out.join().unwrap_or_default();
    let stderr = t_err.join().unwrap_or_default();
    match status {
        Some(s) => (s.success(), stdout, stderr),
        None => (false, stdout, format!("{stderr}\n[timed out after {timeout:?}]")),
    }
}

/// Debian's libmariadb-java (Connector/J 2.7).
pub const JDBC_JAR: &str = "/usr/share/java/mariadb-java-client.jar";

/// Java classes compiled into a temporary directory (removed on drop).
pub struct JavaClasses {
    _dir: tempfile::TempDir,
    /// The classes and the JDBC driver, for `java -cp`.
    pub classpath: String,
}

/// Compiles one Java source file (tests/clients/...) against the JDBC driver.
pub fn compile_java(source: &Path) -> JavaClasses {
    let javac = Command::new("javac").arg("-version").output();
    assert!(
        javac.as_ref().is_ok_and(|o| o.status.success()),
        "javac is not available ({:?}): install a JDK (scripts/install-deps.sh installs default-jdk-headless)",
        javac.err()
    );
    assert!(
        Path::new(JDBC_JAR).exists(),
        "{JDBC_JAR} is missing: install Debian's libmariadb-java (scripts/install-deps.sh does)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let start = Instant::now();
    let (ok, out, err) = run_with_timeout(
        Command::new("javac").arg("-d").arg(dir.path()).arg("-cp").arg(JDBC_JAR).arg(source),
        Duration::from_secs(120),
    );
    assert!(ok, "javac {} failed:\n{out}\n{err}", source.display());
    println!("javac {} took {:.1?}", source.display(), start.elapsed());
    let classpath = format!("{}:{JDBC_JAR}", dir.path().display());
    JavaClasses { _dir: dir, classpath }
}

/// Debian's python3-pymysql is installed for the system interpreter; a `python3`
/// earlier on PATH (pyenv) may lack it (the scripts re-execute themselves with
/// /usr/bin/python3 then anyway).
pub fn system_python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

pub fn path_exists(p: &str) -> bool {
    Path::new(p).exists()
}
pub mod raw;

// --- admin port through the mysql CLI ---------------------------------------

pub type Rows = Vec<HashMap<String, String>>;

/// Runs admin statements with the mysql CLI in batch mode: rows by column name.
pub fn admin(proxy: &Proxy, sql: &str) -> Result<Rows, String> {
    admin_as(proxy, "admin", "admin", sql)
}

pub fn admin_as(proxy: &Proxy, user: &str, password: &str, sql: &str) -> Result<Rows, String> {
    let (ok, out, err) = run_with_timeout(
        Command::new("mysql")
            .args(["--no-defaults", "-h127.0.0.1", "--batch", "--raw"])
            .arg(format!("-P{}", proxy.admin_port))
            .arg(format!("-u{user}"))
            .arg(format!("-p{password}"))
            .args(["-e", sql]),
        Duration::from_secs(20),
    );
    if !ok {
        return Err(err);
    }
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().map(|h| h.split('\t').collect()).unwrap_or_default();
    Ok(lines.map(|l| header.iter().map(|h| h.to_string()).zip(l.split('\t').map(str::to_owned)).collect()).collect())
}

pub fn row<'a>(rows: &'a Rows, key: &str, value: &str) -> &'a HashMap<String, String> {
    rows.iter().find(|r| r.get(key).map(String::as_str) == Some(value)).unwrap_or_else(|| {
        panic!("no row with {key} = {value} in {rows:#?}");
    })
}

pub fn num(r: &HashMap<String, String>, key: &str) -> u64 {
    r.get(key).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{key} not a number in {r:?}"))
}

// --- sysbench ---------------------------------------------------------------

pub fn require_sysbench() {
    let hint = "this test needs sysbench: install it with scripts/install-deps.sh (Debian package `sysbench`)";
    match Command::new("sysbench").arg("--version").output() {
        Ok(out) if out.status.success() => {
            println!("using {}", String::from_utf8_lossy(&out.stdout).trim());
        }
        Ok(out) => panic!("`sysbench --version` failed ({}): {hint}", out.status),
        Err(e) => panic!("cannot run sysbench ({e}): {hint}"),
    }
}

/// sysbench through a proxy, on one database and dataset.
pub struct Sysbench<'a> {
    pub port: u16,
    pub db: &'a str,
    pub tables: u32,
    pub table_size: u32,
    pub seconds: u64,
    /// `--mysql-ignore-errors`: "none", or error numbers sysbench retries.
    pub ignore_errors: &'a str,
}

impl Sysbench<'_> {
    /// `sysbench SCRIPT --options... EXTRA COMMAND` (prepare, run, cleanup).
    pub fn command(&self, script: &str, threads: usize, extra: &[&str], command: &str) -> Command {
        let mut cmd = Command::new("sysbench");
        cmd.arg(script)
            .args([
                "--db-driver=mysql",
                "--mysql-host=127.0.0.1",
                &format!("--mysql-port={}", self.port),
                "--mysql-user=app",
                "--mysql-password=app",
                &format!("--mysql-db={}", self.db),
                &format!("--tables={}", self.tables),
                &format!("--table-size={}", self.table_size),
                &format!("--threads={threads}"),
                &format!("--time={}", self.seconds),
                &format!("--mysql-ignore-errors={}", self.ignore_errors),
                "--db-ps-mode=auto",
                "--report-interval=0",
            ])
            .args(extra)
            .arg(command);
        cmd
    }

    /// Runs a command to completion; panics with its output if it failed or
    /// reported any error it did not ignore.
    pub fn run(&self, name: &str, mut cmd: Command) -> String {
        let (ok, stdout, stderr) = run_with_timeout(&mut cmd, Duration::from_secs(self.seconds + 60));
        let failed = !ok || stdout.contains("FATAL") || stderr.contains("FATAL");
        assert!(!failed, "sysbench {name} failed: {cmd:?}\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}");
        stdout
    }
}

/// The first number after `label:` in a sysbench report ("transactions: 1137 (113.46 per sec.)").
pub fn report_number(out: &str, label: &str) -> Option<u64> {
    out.lines()
        .find_map(|l| l.trim_start().strip_prefix(label)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
}
