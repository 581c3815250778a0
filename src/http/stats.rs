//! `/stats`: one server-rendered HTML page in the spirit of HAProxy's stats
//! page. No script; `?refresh=N` reloads it every N seconds. Every piece of
//! text is escaped: digests are clients' SQL, reasons quote servers' errors.

use std::fmt::Write;
use std::time::Duration;

use super::health::{verdict, Need};
use crate::frontend::Shared;
use crate::monitor::State;
use crate::session::{Pin, PIN_COUNTERS};
use crate::stats::{ServerRow, Snapshot};

/// Digests shown, by total time.
const TOP_DIGESTS: usize = 20;

const STYLE: &str = "
body { font-family: Arial, Helvetica, sans-serif; font-size: 13px; margin: 1em; color: #222; }
h1 { font-size: 18px; margin: 0 0 .3em; } h2 { font-size: 15px; margin: 1.2em 0 .3em; }
table { border-collapse: collapse; } th, td { border: 1px solid #999; padding: 2px 6px; }
th { background: #20377f; color: #fff; font-weight: normal; } td.n { text-align: right; }
td { white-space: nowrap; } td.why { white-space: normal; max-width: 30em; }
td.sql { font-family: monospace; white-space: normal; max-width: 60em; overflow-wrap: anywhere; }
tr.up { background: #c0f0c0; } tr.down { background: #ff9090; }
tr.pending, tr.unknown { background: #ffd27f; } tr.idle { background: #d8d8d8; }
.ok { color: #070; font-weight: bold; } .bad { color: #b00; font-weight: bold; }
.legend span { display: inline-block; padding: 1px 6px; margin-right: 4px; border: 1px solid #999; }
";

pub fn page(shared: &Shared, refresh: Option<u32>) -> String {
    let s = Snapshot::take(shared);
    let mut h = String::with_capacity(16 * 1024);
    // Writing into a String cannot fail: the results are ignored below.
    let _ = write!(h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>rwsplit stats</title>");
    if let Some(n) = refresh.filter(|n| *n > 0) {
        let _ = write!(h, "<meta http-equiv=\"refresh\" content=\"{n}\">");
    }
    let _ = writeln!(h, "<style>{STYLE}</style></head><body>");
    header(&mut h, &s);
    servers(&mut h, &s);
    pins(&mut h, shared);
    digests(&mut h, shared);
    classifier(&mut h, shared);
    h.push_str("</body></html>\n");
    h
}

fn header(h: &mut String, s: &Snapshot) {
    let _ = write!(
        h,
        "<h1>rwsplit {}</h1>\n<p id=\"summary\">uptime {} &middot; {} client session(s) &middot; ",
        env!("CARGO_PKG_VERSION"),
        human(s.uptime),
        s.clients
    );
    for (need, what) in [(Need::Write, "writes"), (Need::Read, "reads")] {
        let (class, verdict, text) = match verdict(s, need) {
            Ok(text) => ("ok", "OK", text),
            Err(text) => ("bad", "DOWN", text),
        };
        let sep = if need == Need::Write { " &middot; " } else { "" };
        let _ = write!(h, "<span id=\"{what}\" class=\"{class}\">{what} {verdict}</span> ({}){sep}", esc(&text));
    }
    h.push_str("</p>\n<p class=\"legend\"><span style=\"background:#c0f0c0\">UP</span>");
    h.push_str("<span style=\"background:#ffd27f\">UNKNOWN / going up or down</span>");
    h.push_str("<span style=\"background:#ff9090\">DOWN</span>");
    h.push_str("<span style=\"background:#d8d8d8\">UP, takes no reads or writes</span></p>\n");
}

fn servers(h: &mut String, s: &Snapshot) {
    h.push_str("<h2>Servers</h2>\n<table id=\"servers\"><thead><tr>");
    for c in [
        "Server",
        "Address",
        "Role",
        "State",
        "For",
        "Reason",
        "Reads",
        "Weight",
        "Sessions",
        "Conn used",
        "Conn idle",
        "Queries",
        "Errors",
        "Bytes in",
        "Bytes out",
        "Connects",
        "Connect errors",
        "Lag",
        "Last check",
        "Checks",
        "Failed checks",
    ] {
        let _ = write!(h, "<th>{c}</th>");
    }
    h.push_str("</tr></thead><tbody>\n");
    for r in &s.servers {
        let _ = write!(
            h,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"why\">{}</td><td>{}</td>",
            row_class(r),
            esc(&r.name),
            esc(&r.address),
            r.role,
            esc(&r.state_text),
            human(r.state_for),
            esc(&r.reason),
            if r.readable { "yes" } else { "no" },
        );
        for n in [r.weight as u64, r.sessions as u64, r.conn_used as u64, r.conn_idle as u64] {
            let _ = write!(h, "<td class=\"n\">{n}</td>");
        }
        for n in [r.queries, r.errors, r.bytes_in, r.bytes_out, r.connects, r.connect_errors] {
            let _ = write!(h, "<td class=\"n\">{n}</td>");
        }
        let lag = r.lag_s.map(|l| format!("{l}s")).unwrap_or_default();
        let check = r
            .last_check_ago
            .map(|ago| format!("{} ago, took {} ms", human(ago), r.last_check_took.as_millis()))
            .unwrap_or_else(|| "never".into());
        let _ = writeln!(
            h,
            "<td class=\"n\">{lag}</td><td>{check}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            r.checks, r.failed_checks
        );
    }
    let _ = writeln!(h, "</tbody></table>\n<p>pool_max {} connections per server</p>", s.pool_max);
}

/// The row's colour: HAProxy's green, red and amber, and grey for a server
/// that is up but neither the master nor fit for reads.
fn row_class(r: &ServerRow) -> &'static str {
    match r.state {
        _ if r.pending() => "pending",
        State::Unknown => "unknown",
        State::Down => "down",
        State::Up if !r.readable && !r.is_master => "idle",
        State::Up => "up",
    }
}

fn pins(h: &mut String, shared: &Shared) {
    let masks: Vec<u32> = shared.sessions.iter().map(|e| e.value().pins()).collect();
    h.push_str("<h2>Pins</h2>\n<table id=\"pins\"><thead><tr><th>Reason</th><th>Taken</th><th>Sessions now</th></tr></thead><tbody>\n");
    for pin in Pin::ALL {
        let now = masks.iter().filter(|m| Pin::from_mask(**m).any(|p| p == pin)).count();
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{now}</td></tr>",
            pin.name(),
            PIN_COUNTERS.get(pin)
        );
    }
    h.push_str("</tbody></table>\n");
}

fn digests(h: &mut String, shared: &Shared) {
    let _ = write!(h, "<h2>Top {TOP_DIGESTS} statements by total time</h2>\n<table id=\"digests\"><thead><tr>");
    for c in ["Digest", "Count", "Total ms", "Avg µs", "Max µs", "Rows", "Errors", "On master", "On replica"] {
        let _ = write!(h, "<th>{c}</th>");
    }
    h.push_str("</tr></thead><tbody>\n");
    for d in shared.digests.rows().into_iter().take(TOP_DIGESTS) {
        let _ = write!(h, "<tr><td class=\"sql\">{}</td>", esc(&d.digest));
        let avg = d.total_us.checked_div(d.count).unwrap_or(0);
        for n in [d.count, d.total_us / 1000, avg, d.max_us, d.rows, d.errors, d.on_master, d.on_replica] {
            let _ = write!(h, "<td class=\"n\">{n}</td>");
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table>\n");
}

fn classifier(h: &mut String, shared: &Shared) {
    let rt = shared.runtime.load();
    let cache = rt.classifier.cache();
    let unparsed: u64 = cache.unparsed().iter().map(|(_, n)| n).sum::<u64>() + cache.unparsed_dropped();
    h.push_str("<h2>Classifier</h2>\n<table id=\"classifier\"><tbody>\n");
    for (name, value) in [
        ("digest cache entries", cache.entries() as u64),
        ("digest cache hits", cache.hits()),
        ("digest cache misses", cache.misses()),
        ("digest cache evictions", cache.evictions()),
        ("unparsed statements", unparsed),
    ] {
        let _ = writeln!(h, "<tr><td>{name}</td><td class=\"n\">{value}</td></tr>");
    }
    h.push_str("</tbody></table>\n");
}

/// HTML-escapes text for element content and quoted attributes.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// "3d 4h", "2h 5m", "4m 10s", "12s", as HAProxy abbreviates.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        86_400.. => format!("{}d {}h", s / 86_400, s % 86_400 / 3600),
        3600.. => format!("{}h {}m", s / 3600, s % 3600 / 60),
        60.. => format!("{}m {}s", s / 60, s % 60),
        _ if d < Duration::from_secs(1) => format!("{}ms", d.as_millis()),
        _ => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            esc("SELECT '<script>' & \"x\" FROM t"),
            "SELECT &#39;&lt;script&gt;&#39; &amp; &quot;x&quot; FROM t"
        );
    }

    #[test]
    fn durations_read_like_haproxy() {
        assert_eq!(human(Duration::from_millis(250)), "250ms");
        assert_eq!(human(Duration::from_secs(12)), "12s");
        assert_eq!(human(Duration::from_secs(250)), "4m 10s");
        assert_eq!(human(Duration::from_secs(7500)), "2h 5m");
        assert_eq!(human(Duration::from_secs(3 * 86_400 + 4 * 3600 + 5)), "3d 4h");
    }
}
