//! `/metrics`: Prometheus/OpenMetrics text exposition (prometheus-client). No
//! value is kept here: a collector reads the live state on every scrape, the
//! same counters the admin port shows. Counters restart from 0 with the
//! process, and the digest cache's with a reload (Prometheus' `rate()` takes
//! resets in its stride).

use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeLabelSet, EncodeMetric,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::health::{verdict, Need};
use crate::frontend::Shared;
use crate::monitor::State;
use crate::session::{Pin, PIN_COUNTERS};
use crate::stats::{ServerRow, Snapshot};

/// What `/metrics` answers with.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The registry: build information plus the live collector.
pub fn registry(shared: Arc<Shared>) -> Registry {
    let mut registry = Registry::default();
    registry.register("rwsplit_build", "rwsplit version", Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]));
    registry.register_collector(Box::new(Live { shared }));
    registry
}

/// The exposition text of one scrape.
pub fn render(registry: &Registry) -> String {
    let mut out = String::with_capacity(16 * 1024);
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, registry);
    out
}

/// A per-server family: name, help, and the value read from a server's row.
type Series<T> = (&'static str, &'static str, fn(&ServerRow) -> T);

struct Live {
    shared: Arc<Shared>,
}

impl fmt::Debug for Live {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("rwsplit live metrics")
    }
}

impl Collector for Live {
    fn encode(&self, mut enc: DescriptorEncoder) -> fmt::Result {
        let s = Snapshot::take(&self.shared);
        let e = &mut enc;
        gauge(e, "rwsplit_uptime_seconds", "Seconds since the proxy started", s.uptime.as_secs_f64())?;
        gauge(e, "rwsplit_clients_connected", "Client sessions logged in now", s.clients)?;
        gauge(
            e,
            "rwsplit_writes_available",
            "1 when a master takes writes (what /health/write reports)",
            u32::from(verdict(&s, Need::Write).is_ok()),
        )?;
        gauge(
            e,
            "rwsplit_reads_available",
            "1 when some server takes reads (what /health/read reports)",
            u32::from(verdict(&s, Need::Read).is_ok()),
        )?;

        let server_gauges: [Series<i64>; 9] = [
            ("rwsplit_server_up", "1 when the health checks say UP", |r| i64::from(r.state == State::Up)),
            ("rwsplit_server_state_pending", "1 while a state change is pending (UP 1/3, DOWN 1/2)", |r| {
                i64::from(r.pending())
            }),
            ("rwsplit_server_readable", "1 when the server takes reads now", |r| i64::from(r.readable)),
            ("rwsplit_server_is_master", "1 for the server writes go to", |r| i64::from(r.is_master)),
            ("rwsplit_server_weight", "Configured read weight", |r| i64::from(r.weight)),
            ("rwsplit_server_connections_in_use", "Pooled connections lent to sessions", |r| r.conn_used as i64),
            ("rwsplit_server_connections_idle", "Pooled connections idle", |r| r.conn_idle as i64),
            ("rwsplit_server_connections_leased", "Connections in use kept by sessions between reads (leases)", |r| {
                r.conn_leased as i64
            }),
            ("rwsplit_server_sessions", "Client sessions holding a connection to the server", |r| r.sessions as i64),
        ];
        for (name, help, value) in server_gauges {
            per_server(e, name, help, MetricType::Gauge, &s, |r| Some(ConstGauge::new(value(r))))?;
        }
        let server_seconds: [Series<Option<f64>>; 4] = [
            (
                "rwsplit_server_replication_lag_seconds",
                "Seconds_Behind_Master at the last check (replicas only)",
                |r| r.lag_s.map(|l| l as f64),
            ),
            ("rwsplit_server_state_duration_seconds", "Seconds since the server's last state change", |r| {
                Some(r.state_for.as_secs_f64())
            }),
            ("rwsplit_server_last_check_age_seconds", "Seconds since the last health check finished", |r| {
                r.last_check_ago.map(|d| d.as_secs_f64())
            }),
            ("rwsplit_server_last_check_duration_seconds", "How long the last health check took", |r| {
                r.last_check_ago.map(|_| r.last_check_took.as_secs_f64())
            }),
        ];
        for (name, help, value) in server_seconds {
            per_server(e, name, help, MetricType::Gauge, &s, |r| value(r).map(ConstGauge::new))?;
        }
        let server_counters: [Series<u64>; 11] = [
            ("rwsplit_server_state_changes", "UP/DOWN transitions of the health checks", |r| r.transitions),
            ("rwsplit_server_queries", "Commands sent to the server for clients", |r| r.queries),
            ("rwsplit_server_bytes_in", "Bytes of client commands sent to the server", |r| r.bytes_in),
            ("rwsplit_server_bytes_out", "Bytes of the server's replies relayed to clients", |r| r.bytes_out),
            ("rwsplit_server_errors", "Commands sent for clients that failed", |r| r.errors),
            ("rwsplit_server_connects", "Backend connections opened", |r| r.connects),
            ("rwsplit_server_connect_errors", "Backend connections that failed to open", |r| r.connect_errors),
            ("rwsplit_server_connection_reuses", "Pooled connections handed out again", |r| r.reuses),
            ("rwsplit_server_connections_discarded", "Pooled connections closed rather than kept", |r| r.discarded),
            ("rwsplit_server_health_checks", "Health checks run", |r| r.checks),
            ("rwsplit_server_health_checks_failed", "Health checks that failed", |r| r.failed_checks),
        ];
        for (name, help, value) in server_counters {
            per_server(e, name, help, MetricType::Counter, &s, |r| Some(ConstCounter::new(value(r))))?;
        }

        let masks: Vec<u32> = self.shared.sessions.iter().map(|h| h.value().pins()).collect();
        let mut m = e.encode_descriptor(
            "rwsplit_pins_taken",
            "Times a session was pinned to its backend connection, per reason",
            None,
            MetricType::Counter,
        )?;
        for pin in Pin::ALL {
            ConstCounter::new(PIN_COUNTERS.get(pin)).encode(m.encode_family(&[("reason", pin.name())])?)?;
        }
        let mut m = e.encode_descriptor(
            "rwsplit_pinned_sessions",
            "Sessions pinned now, per reason (a session may have several)",
            None,
            MetricType::Gauge,
        )?;
        for pin in Pin::ALL {
            let now = masks.iter().filter(|mask| Pin::from_mask(**mask).any(|p| p == pin)).count();
            ConstGauge::new(now as i64).encode(m.encode_family(&[("reason", pin.name())])?)?;
        }

        let rt = self.shared.runtime.load();
        let cache = rt.classifier.cache();
        let unparsed: u64 = cache.unparsed().iter().map(|(_, n)| n).sum::<u64>() + cache.unparsed_dropped();
        gauge(e, "rwsplit_digest_cache_entries", "Statement shapes with a cached classification", cache.entries())?;
        counter(e, "rwsplit_digest_cache_hits", "Classifications found in the digest cache", cache.hits())?;
        counter(e, "rwsplit_digest_cache_misses", "Classifications not found in the digest cache", cache.misses())?;
        counter(e, "rwsplit_digest_cache_evictions", "Digest cache entries evicted", cache.evictions())?;
        counter(
            e,
            "rwsplit_digest_cache_uncacheable",
            "Statements classified without the cache (SET, USE, oversized)",
            cache.uncacheable(),
        )?;
        counter(e, "rwsplit_unparsed_statements", "Executions of statements the parser could not handle", unparsed)?;
        let control = &self.shared.control;
        counter(
            e,
            "rwsplit_reloads",
            "Configs swapped in (SIGHUP, RELOAD, admin edits)",
            control.reloads.load(Relaxed),
        )?;
        counter(
            e,
            "rwsplit_reloads_failed",
            "Reloads rejected (the running config kept serving)",
            control.reloads_failed.load(Relaxed),
        )?;
        let mut m = e.encode_descriptor(
            "rwsplit_logins",
            "Client logins: by method (native_password, sha2_fast, sha2_full), over TLS, refused",
            None,
            MetricType::Counter,
        )?;
        for (name, n) in self.shared.logins.rows() {
            let kind = name.trim_start_matches("logins_");
            ConstCounter::new(n).encode(m.encode_family(&[("kind", kind)])?)?;
        }
        for (name, n) in self.shared.statements.rows() {
            let help = match name {
                "statements_prepared_for_execution" => {
                    "Prepared statements prepared on a server connection for an execution there"
                }
                _ => "Executions whose column definitions, skipped by the server, the proxy put back",
            };
            counter(e, &format!("rwsplit_{name}"), help, n)?;
        }
        counter(
            e,
            "rwsplit_digest_stats_dropped",
            "Executions not tallied in the digest statistics (table full)",
            self.shared.digests.dropped(),
        )?;
        Ok(())
    }
}

/// One family with a series per server, labelled `server` and `role`; a
/// server without a value (no lag for the master) has no series.
fn per_server<M: EncodeMetric>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    kind: MetricType,
    s: &Snapshot,
    value: impl Fn(&ServerRow) -> Option<M>,
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, kind)?;
    for r in &s.servers {
        if let Some(v) = value(r) {
            v.encode(m.encode_family(&labels(r))?)?;
        }
    }
    Ok(())
}

fn labels(r: &ServerRow) -> impl EncodeLabelSet + '_ {
    [("server", r.name.as_str()), ("role", r.role)]
}

fn gauge(enc: &mut DescriptorEncoder, name: &str, help: &str, v: impl EncodeGaugeValue) -> fmt::Result {
    ConstGauge::new(v).encode(enc.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

fn counter(enc: &mut DescriptorEncoder, name: &str, help: &str, v: impl EncodeCounterValue) -> fmt::Result {
    ConstCounter::new(v).encode(enc.encode_descriptor(name, help, None, MetricType::Counter)?)
}
