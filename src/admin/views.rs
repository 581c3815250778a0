//! What each SHOW command shows, built from the live state on demand.

use std::sync::atomic::Ordering;

use super::command::HELP;
use super::resultset::{Kind, Table, Value};
use crate::config::ServerState;
use crate::frontend::Shared;
use crate::session::{Pin, PIN_COUNTERS};
use crate::stats::Snapshot;

pub fn servers(shared: &Shared) -> Table {
    let mut t = Table::new(&[
        ("name", Kind::Text),
        ("address", Kind::Text),
        ("role", Kind::Text),
        ("state", Kind::Text),
        ("reason", Kind::Text),
        ("reads", Kind::Text),
        ("weight", Kind::Int),
        ("lag_ms", Kind::Int),
        ("conn_used", Kind::Int),
        ("conn_idle", Kind::Int),
        ("queries", Kind::Int),
        ("errors", Kind::Int),
        ("server_id", Kind::Int),
        ("read_only", Kind::Text),
        ("gtid", Kind::Text),
        ("last_check_ms_ago", Kind::Int),
        ("check_ms", Kind::Int),
        ("state_since_s", Kind::Int),
    ]);
    for r in Snapshot::take(shared).servers {
        let state = match r.admin_state {
            ServerState::Ready => r.state_text,
            drained => drained.name().to_ascii_uppercase(),
        };
        t.push(vec![
            r.name.into(),
            r.address.into(),
            r.role.into(),
            state.into(),
            r.reason.into(),
            if r.readable { "yes" } else { "no" }.into(),
            r.weight.into(),
            r.lag_ms.into(),
            r.conn_used.into(),
            r.conn_idle.into(),
            r.queries.into(),
            r.errors.into(),
            r.server_id.into(),
            r.read_only.map(|ro| if ro { "ON" } else { "OFF" }).into(),
            r.gtid.into(),
            r.last_check_ago.map(|d| d.as_millis() as u64).into(),
            r.last_check_ago.map(|_| r.last_check_took.as_millis() as u64).into(),
            r.state_for.as_secs().into(),
        ]);
    }
    t
}

pub fn pools(shared: &Shared) -> Table {
    let rt = shared.runtime.load();
    let mut t = Table::new(&[
        ("server", Kind::Text),
        ("used", Kind::Int),
        ("idle", Kind::Int),
        ("leased", Kind::Int),
        ("homes", Kind::Int),
        ("max", Kind::Int),
        ("connects", Kind::Int),
        ("connect_errors", Kind::Int),
        ("reuses", Kind::Int),
        ("discarded", Kind::Int),
    ]);
    for s in &rt.servers {
        let stats = &s.pool.stats;
        t.push(vec![
            s.name.as_str().into(),
            s.pool.in_use().into(),
            s.pool.idle_count().into(),
            s.pool.leases.load(Ordering::Relaxed).into(),
            s.pool.homes.load(Ordering::Relaxed).into(),
            rt.config.backend.pool_max.into(),
            stats.connects.load(Ordering::Relaxed).into(),
            stats.connect_errors.load(Ordering::Relaxed).into(),
            stats.reuses.load(Ordering::Relaxed).into(),
            stats.discarded.load(Ordering::Relaxed).into(),
        ]);
    }
    t
}

pub fn clients(shared: &Shared) -> Table {
    let mut t = Table::new(&[
        ("id", Kind::Int),
        ("user", Kind::Text),
        ("peer", Kind::Text),
        ("tls", Kind::Text),
        ("connected_s", Kind::Int),
        ("commands", Kind::Int),
        ("server", Kind::Text),
        ("thread_id", Kind::Int),
        ("pins", Kind::Text),
    ]);
    let mut sessions: Vec<_> = shared.sessions.iter().map(|e| (*e.key(), e.value().clone())).collect();
    sessions.sort_by_key(|(id, _)| *id);
    for (id, h) in sessions {
        let backend = h.backend();
        let server = backend.as_ref().map(|(pool, _)| pool.server.name.clone());
        let pins: Vec<&str> = Pin::from_mask(h.pins()).map(Pin::name).collect();
        t.push(vec![
            id.into(),
            h.user().into(),
            h.peer.to_string().into(),
            h.tls.clone().into(),
            h.since.elapsed().as_secs().into(),
            h.commands().into(),
            server.into(),
            backend.map(|(_, tid)| tid).into(),
            pins.join(",").into(),
        ]);
    }
    t
}

pub fn pins(shared: &Shared) -> Table {
    let mut t = Table::new(&[("reason", Kind::Text), ("taken", Kind::Int), ("sessions_now", Kind::Int)]);
    let masks: Vec<u32> = shared.sessions.iter().map(|e| e.value().pins()).collect();
    for pin in Pin::ALL {
        let now = masks.iter().filter(|m| Pin::from_mask(**m).any(|p| p == pin)).count();
        t.push(vec![pin.name().into(), PIN_COUNTERS.get(pin).into(), now.into()]);
    }
    t
}

pub fn digests(shared: &Shared, limit: Option<usize>) -> Table {
    let mut t = Table::new(&[
        ("digest", Kind::Text),
        ("count", Kind::Int),
        ("total_ms", Kind::Int),
        ("avg_us", Kind::Int),
        ("max_us", Kind::Int),
        ("rows", Kind::Int),
        ("errors", Kind::Int),
        ("on_master", Kind::Int),
        ("on_replica", Kind::Int),
    ]);
    for d in shared.digests.rows().into_iter().take(limit.unwrap_or(usize::MAX)) {
        t.push(vec![
            d.digest.to_string().into(),
            d.count.into(),
            (d.total_us / 1000).into(),
            d.total_us.checked_div(d.count).unwrap_or(0).into(),
            d.max_us.into(),
            d.rows.into(),
            d.errors.into(),
            d.on_master.into(),
            d.on_replica.into(),
        ]);
    }
    t
}

pub fn unparsed(shared: &Shared) -> Table {
    let rt = shared.runtime.load();
    let mut t = Table::new(&[("digest", Kind::Text), ("count", Kind::Int)]);
    for (digest, count) in rt.classifier.cache().unparsed() {
        t.push(vec![digest.to_string().into(), count.into()]);
    }
    t
}

pub fn status(shared: &Shared) -> Table {
    let rt = shared.runtime.load();
    let cache = rt.classifier.cache();
    let mut t = Table::new(&[("variable", Kind::Text), ("value", Kind::Int)]);
    let rows: [(&str, u64); 12] = [
        ("uptime_s", shared.started.elapsed().as_secs()),
        ("clients_connected", shared.sessions.len() as u64),
        ("digest_cache_entries", cache.entries() as u64),
        ("digest_cache_hits", cache.hits()),
        ("digest_cache_misses", cache.misses()),
        ("digest_cache_evictions", cache.evictions()),
        ("digest_cache_uncacheable", cache.uncacheable()),
        ("unparsed_dropped", cache.unparsed_dropped()),
        ("digest_stats_dropped", shared.digests.dropped()),
        ("servers", rt.servers.len() as u64),
        ("reloads", shared.control.reloads.load(Ordering::Relaxed)),
        ("reloads_failed", shared.control.reloads_failed.load(Ordering::Relaxed)),
    ];
    for (name, value) in rows.into_iter().chain(shared.logins.rows()).chain(shared.statements.rows()) {
        t.push(vec![name.into(), value.into()]);
    }
    t
}

/// The running config flattened to `key = value` rows; secrets are hidden.
pub fn config(shared: &Shared) -> Table {
    let rt = shared.runtime.load();
    let mut t = Table::new(&[("key", Kind::Text), ("value", Kind::Text)]);
    let value = toml::Value::try_from(&*rt.config).unwrap_or(toml::Value::Table(Default::default()));
    let mut rows = Vec::new();
    flatten("", &value, &mut rows);
    for (k, v) in rows {
        t.push(vec![k.into(), v.into()]);
    }
    t
}

fn flatten(prefix: &str, value: &toml::Value, out: &mut Vec<(String, String)>) {
    match value {
        toml::Value::Table(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        toml::Value::Array(items) if items.iter().all(|i| i.is_table()) && !items.is_empty() => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        _ if prefix.ends_with("password") => out.push((prefix.to_owned(), "'***'".into())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

pub fn help() -> Table {
    let mut t = Table::new(&[("command", Kind::Text), ("description", Kind::Text)]);
    for (c, d) in HELP {
        t.push(vec![(*c).into(), (*d).into()]);
    }
    t
}

/// Answers `SELECT @@...` for the variables client libraries read at login;
/// the error names the first variable the admin port does not have.
pub fn variables(shared: &Shared, names: &[String]) -> Result<Table, String> {
    let rt = shared.runtime.load();
    let mut t = Table { columns: Vec::new(), rows: vec![Vec::new()] };
    for name in names {
        let bare = name.trim_start_matches("@@").to_ascii_lowercase();
        let bare = bare.trim_start_matches("session.").trim_start_matches("global.");
        let value: Value = match bare {
            "version_comment" => concat!("rwsplit admin ", env!("CARGO_PKG_VERSION")).into(),
            "version" => concat!(env!("CARGO_PKG_VERSION"), "-rwsplit-admin").into(),
            "max_allowed_packet" => rt.config.proxy.max_allowed_packet.into(),
            "wait_timeout" | "interactive_timeout" => 28_800u64.into(),
            "auto_increment_increment" => 1u64.into(),
            "lower_case_table_names" => 0u64.into(),
            "sql_mode" => "".into(),
            "time_zone" | "system_time_zone" => "SYSTEM".into(),
            "character_set_client" | "character_set_connection" | "character_set_results" | "character_set_server" => {
                "utf8mb4".into()
            }
            "collation_connection" | "collation_server" => "utf8mb4_general_ci".into(),
            "tx_isolation" | "transaction_isolation" => "REPEATABLE-READ".into(),
            "tx_read_only" | "transaction_read_only" | "autocommit" => u64::from(bare == "autocommit").into(),
            _ => return Err(bare.to_owned()),
        };
        let kind = if matches!(value, Value::Int(_)) { Kind::Int } else { Kind::Text };
        t.columns.push((name.clone(), kind));
        t.rows[0].push(value);
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_rows_hide_passwords() {
        let v: toml::Value =
            toml::from_str("[backend]\nuser = \"app\"\npassword = \"secret\"\n[[servers]]\nname = \"m\"\n")
                .expect("toml");
        let mut rows = Vec::new();
        flatten("", &v, &mut rows);
        assert!(rows.contains(&("backend.password".into(), "'***'".into())));
        assert!(rows.contains(&("backend.user".into(), "\"app\"".into())));
        assert!(rows.contains(&("servers[0].name".into(), "\"m\"".into())));
        assert!(!rows.iter().any(|(_, v)| v.contains("secret")));
    }
}
