//! The HTTP listener (`[http]`, axum): `/stats` (an HTML page like HAProxy's
//! stats page) and `/metrics` (Prometheus) behind basic auth; `/health`,
//! `/health/read` and `/health/write` open, for keepalived and HAProxy checks.
//! Every answer is built from the live state when asked for.

mod auth;
mod health;
mod metrics;
mod stats;

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get};
use axum::Router;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tracing::{debug, warn};

use crate::frontend::Shared;
use crate::stats::Snapshot;
use auth::Account;
use health::Need;

struct App {
    shared: Arc<Shared>,
    registry: Registry,
}

/// Serves HTTP until the process exits. It outlives the shutdown signal on
/// purpose: while sessions drain, `/health` answers 503 ("shutting down"), so
/// a load balancer in front moves new clients elsewhere.
/// Serves until `stop` (a reload moved or closed the listener). It outlives
/// the proxy's shutdown signal on purpose: while sessions drain, /health says
/// 503 so that load balancers move clients away.
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, mut stop: tokio::sync::watch::Receiver<bool>) {
    let app = Arc::new(App { registry: metrics::registry(shared.clone()), shared });
    let stopped = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    if let Err(e) = axum::serve(listener, router(app)).with_graceful_shutdown(stopped).await {
        warn!(error = %e, "HTTP listener stopped");
    }
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/stats") }))
        .route("/stats", get(stats_page))
        .route("/metrics", get(metrics_text))
        // Any method: HAProxy's `option httpchk` sends OPTIONS unless told otherwise.
        .route("/health", any(|State(app): State<Arc<App>>| async move { health_check(&app, Need::Both) }))
        .route("/health/read", any(|State(app): State<Arc<App>>| async move { health_check(&app, Need::Read) }))
        .route("/health/write", any(|State(app): State<Arc<App>>| async move { health_check(&app, Need::Write) }))
        .fallback(|| async {
            plain(StatusCode::NOT_FOUND, "not found: try /stats, /metrics, /health, /health/read, /health/write\n")
        })
        .with_state(app)
}

async fn stats_page(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    if let Some(refused) = authorize(&app, &headers) {
        return refused;
    }
    let refresh = uri
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("refresh=")))
        .and_then(|n| n.parse::<u32>().ok());
    let body = stats::page(&app.shared, refresh);
    with_type(StatusCode::OK, "text/html; charset=utf-8", body)
}

async fn metrics_text(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let Some(refused) = authorize(&app, &headers) {
        return refused;
    }
    with_type(StatusCode::OK, metrics::CONTENT_TYPE, metrics::render(&app.registry))
}

fn health_check(app: &App, need: Need) -> Response {
    match health::verdict(&Snapshot::take(&app.shared), need) {
        Ok(text) => plain(StatusCode::OK, format!("OK: {text}\n")),
        Err(text) => plain(StatusCode::SERVICE_UNAVAILABLE, format!("DOWN: {text}\n")),
    }
}

/// None when the request carries the `[http]` account (read from the running
/// config each time, so a reload applies); else the 401 to answer with.
fn authorize(app: &App, headers: &HeaderMap) -> Option<Response> {
    let rt = app.shared.runtime.load();
    let account = Account::new(&rt.config.http.user, &rt.config.http.password);
    let given = headers.get(header::AUTHORIZATION);
    if account.accepts(given.map(HeaderValue::as_bytes)) {
        return None;
    }
    if given.is_some() {
        warn!("HTTP: wrong credentials for /stats or /metrics");
    } else {
        debug!("HTTP: credentials asked for");
    }
    let mut r = plain(StatusCode::UNAUTHORIZED, "401 Unauthorized: this page needs the [http] user and password\n");
    r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"rwsplit\""));
    Some(r)
}

fn plain(status: StatusCode, body: impl Into<String>) -> Response {
    with_type(status, "text/plain; charset=utf-8", body.into())
}

fn with_type(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::runtime::Runtime;

    fn shared() -> Arc<Shared> {
        let config = Config::parse(include_str!("../../config/rwsplit.toml")).expect("config");
        let (_tx, rx) = tokio::sync::watch::channel(false);
        Shared::new(
            Runtime::build(Arc::new(config), None).expect("runtime"),
            rx,
            std::path::PathBuf::from("rwsplit.toml"),
        )
    }

    #[tokio::test]
    async fn metrics_name_every_server_and_pin_reason() {
        let shared = shared();
        let text = metrics::render(&metrics::registry(shared));
        for want in [
            "# TYPE rwsplit_server_queries counter",
            "rwsplit_server_queries_total{server=\"master\",role=\"master\"} 0",
            "rwsplit_server_queries_total{server=\"replica1\",role=\"replica\"} 0",
            "rwsplit_server_up{server=\"replica2\",role=\"replica\"} 0",
            "rwsplit_server_is_master{server=\"master\",role=\"master\"} 1",
            "rwsplit_pins_taken_total{reason=\"transaction\"}",
            "rwsplit_pinned_sessions{reason=\"user_variable\"} 0",
            "rwsplit_writes_available 1",
            "rwsplit_build_info{version=\"",
            "rwsplit_digest_cache_hits_total 0",
            "rwsplit_unparsed_statements_total 0",
            "# EOF",
        ] {
            assert!(text.contains(want), "no {want:?} in\n{text}");
        }
        assert!(!text.contains("rwsplit_server_replication_lag_seconds{"), "no lag before a check:\n{text}");
    }

    #[tokio::test]
    async fn stats_page_escapes_statements() {
        let shared = shared();
        let digest: Arc<str> = Arc::from("SELECT '<b>x</b>' FROM t");
        let slot = crate::stats::DigestSlot::default();
        shared.digests.record(&digest, &slot, false, std::time::Duration::from_micros(10), 1, false);
        let page = stats::page(&shared, Some(5));
        assert!(page.contains("SELECT &#39;&lt;b&gt;x&lt;/b&gt;&#39; FROM t"), "{page}");
        assert!(!page.contains("<b>x</b>"));
        assert!(page.contains("<meta http-equiv=\"refresh\" content=\"5\">"));
        for name in ["master", "replica1", "replica2", "127.0.0.1:13307"] {
            assert!(page.contains(&format!("<td>{name}</td>")), "{name} missing");
        }
        // Before any check: the config's view, amber.
        assert!(page.contains("<tr class=\"unknown\"><td>replica1</td>"), "{page}");
    }
}
