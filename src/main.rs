//! rwsplit's command line: load the config, start the listener, handle signals.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use tokio::sync::watch;
use tracing::{error, info, warn};

use rwsplit::config::Config;
use rwsplit::frontend::Shared;
use rwsplit::runtime::Runtime;

#[derive(Parser, Debug)]
#[command(version, about = "MySQL-protocol read/write splitting proxy")]
struct Cli {
    /// Configuration file.
    #[arg(short, long, default_value = "config/rwsplit.toml")]
    config: PathBuf,
    /// Validate the configuration, print every problem, and exit (1 on any).
    #[arg(long)]
    check: bool,
    /// Log format: `text` or `json` (one object per line).
    #[arg(long, default_value = "text", value_parser = ["text", "json"])]
    log_format: String,
}

fn main() -> ExitCode {
    rwsplit::upgrade::remember_command_line();
    let cli = Cli::parse();
    let logs = tracing_subscriber::fmt().with_env_filter(log_filter()).with_target(false).with_writer(std::io::stderr);
    if cli.log_format == "json" {
        logs.json().init();
    } else {
        logs.with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).init();
    }

    let config = match Config::load(&cli.config) {
        Ok(c) => c,
        Err(errors) => {
            for e in &errors {
                eprintln!("{}: {e}", cli.config.display());
            }
            eprintln!("{}: {} problem(s), not started", cli.config.display(), errors.len());
            return ExitCode::from(1);
        }
    };
    if cli.check {
        // The TLS files are read too: a certificate that cannot be used fails the check.
        let tls = rwsplit::tls::FrontendTls::load(&config, None).and_then(|_| rwsplit::tls::BackendTls::load(&config));
        if let Err(e) = tls {
            eprintln!("{}: {e}", cli.config.display());
            eprintln!("{}: 1 problem(s), not started", cli.config.display());
            return ExitCode::from(1);
        }
        println!("{}: OK", cli.config.display());
        return ExitCode::SUCCESS;
    }
    raise_nofile_limit(&config);

    // One worker: a current-thread runtime runs every task on this thread, so
    // a session's wake-ups never cross threads (the multi-thread scheduler
    // with one worker still hands work between it and this thread).
    let mut builder = match config.proxy.worker_threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            if n > 0 {
                b.worker_threads(n);
            }
            b
        }
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(config, cli.config.clone())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(config: Config, path: PathBuf) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let shared =
        Shared::new(Runtime::build(config.clone(), None).map_err(|e| anyhow::anyhow!("{e}"))?, shutdown_rx, path);
    if let Err(errors) = rwsplit::control::start(&shared).await {
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::bail!("{}", text.join("; "));
    }
    rwsplit::monitor::start(shared.clone());
    info!(listen = %config.proxy.listen, admin = %config.admin.listen, http = %config.http.listen, servers = config.servers.len(), "rwsplit ready");

    wait_for_termination(&shared).await;
    info!(sessions = shared.active_sessions(), "shutting down: no new connections, draining sessions");
    let _ = shutdown_tx.send(true);
    shared.signal_shutdown();
    let timeout = shared.runtime.load().config.proxy.shutdown_timeout;
    let left = shared.drained(timeout).await;
    if left > 0 {
        warn!(sessions = left, ?timeout, "closing sessions still open after shutdown_timeout");
    } else {
        info!("all sessions drained");
    }
    Ok(())
}

/// Raises the open-files limit to the hard limit: each client and backend
/// connection is a descriptor. Logs what it did and warns when the limit is
/// still below what `proxy.max_connections` and full pools would take.
fn raise_nofile_limit(config: &Config) {
    let needed = rwsplit::limits::nofile_needed(config);
    match rwsplit::limits::raise_nofile_limit() {
        Ok(l) => {
            info!(before = l.before, after = l.after, hard = l.hard, "open files limit (RLIMIT_NOFILE)");
            if l.after < needed {
                warn!(
                    limit = l.after,
                    needed,
                    "open files limit is below proxy.max_connections + backend pools: clients may be refused \
                     (accept fails with EMFILE); raise the hard limit (ulimit -Hn, systemd LimitNOFILE)"
                );
            }
        }
        Err(e) => warn!(error = %e, needed, "cannot raise the open files limit (RLIMIT_NOFILE)"),
    }
}

/// `RWSPLIT_LOG` (default `info`). sqlparser logs every token at debug level;
/// that stays off unless asked for by name.
fn log_filter() -> tracing_subscriber::EnvFilter {
    let spec = std::env::var("RWSPLIT_LOG").unwrap_or_else(|_| "info".into());
    let spec = if spec.contains("sqlparser") { spec } else { format!("{spec},sqlparser=warn") };
    tracing_subscriber::EnvFilter::try_new(&spec).unwrap_or_else(|_| "info,sqlparser=warn".into())
}

/// Serves SIGHUP (reload) until SIGTERM or SIGINT.
async fn wait_for_termination(shared: &Arc<Shared>) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int), Ok(mut hup), Ok(mut usr2)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
        signal(SignalKind::hangup()),
        signal(SignalKind::user_defined2()),
    ) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    loop {
        tokio::select! {
            _ = term.recv() => return info!("SIGTERM received"),
            _ = int.recv() => return info!("SIGINT received"),
            _ = hup.recv() => {
                info!("SIGHUP received: reloading {}", shared.control.path.display());
                // Failures are logged with every problem's key path.
                let _ = rwsplit::control::reload_file(shared).await;
            }
            _ = usr2.recv() => {
                info!("SIGUSR2 received: starting the new binary with the listening sockets");
                let _ = rwsplit::control::upgrade(shared).await;
            }
        }
    }
}
