//! rwsplit's command line: load the config, start the listener, handle signals.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{error, info, warn};

use rwsplit::config::Config;
use rwsplit::frontend::{self, Shared};
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(log_filter())
        .with_target(false)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

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
        println!("{}: OK", cli.config.display());
        return ExitCode::SUCCESS;
    }

    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if config.proxy.worker_threads > 0 {
        builder.worker_threads(config.proxy.worker_threads);
    }
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e:#}");
            ExitCode::from(1)
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let config = Arc::new(config);
    let listener = TcpListener::bind(&config.proxy.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.proxy.listen))?;
    let admin = match config.admin.listen.as_str() {
        "" => None,
        addr => Some(TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} (admin)"))?),
    };
    let http = match config.http.listen.as_str() {
        "" => None,
        addr => Some(TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr} (http)"))?),
    };
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let shared = Shared::new(Runtime::build(config.clone(), None), shutdown_rx);
    info!(listen = %config.proxy.listen, admin = %config.admin.listen, http = %config.http.listen, servers = config.servers.len(), "rwsplit ready");

    rwsplit::monitor::start(shared.clone());
    if let Some(admin) = admin {
        tokio::spawn(rwsplit::admin::serve(admin, shared.clone()));
    }
    if let Some(http) = http {
        tokio::spawn(rwsplit::http::serve(http, shared.clone()));
    }
    let serving = tokio::spawn(frontend::serve(listener, shared.clone()));
    wait_for_termination().await;
    info!(sessions = shared.active_sessions(), "shutting down: no new connections, draining sessions");
    let _ = shutdown_tx.send(true);
    let _ = serving.await;
    let left = shared.drained(config.proxy.shutdown_timeout).await;
    if left > 0 {
        warn!(sessions = left, timeout = ?config.proxy.shutdown_timeout, "closing sessions still open after shutdown_timeout");
    } else {
        info!("all sessions drained");
    }
    Ok(())
}

/// `RWSPLIT_LOG` (default `info`). sqlparser logs every token at debug level;
/// that stays off unless asked for by name.
fn log_filter() -> tracing_subscriber::EnvFilter {
    let spec = std::env::var("RWSPLIT_LOG").unwrap_or_else(|_| "info".into());
    let spec = if spec.contains("sqlparser") { spec } else { format!("{spec},sqlparser=warn") };
    tracing_subscriber::EnvFilter::try_new(&spec).unwrap_or_else(|_| "info,sqlparser=warn".into())
}

async fn wait_for_termination() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received"),
        _ = int.recv() => info!("SIGINT received"),
    }
}
