//! The admin port's language: a handful of case-insensitive commands, parsed
//! by words. Anything else is an error that names what is understood.

use crate::config::{Role, ServerState};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    ShowServers,
    ShowPools,
    ShowClients,
    ShowPins,
    /// Top `limit` digests by total time (all when None).
    ShowDigests {
        limit: Option<usize>,
    },
    /// Statement shapes the parser could not classify (sent to the master).
    ShowUnparsed,
    ShowConfig,
    ShowStatus,
    ResetDigests,
    SetWeight {
        server: String,
        weight: u32,
    },
    SetState {
        server: String,
        state: ServerState,
    },
    AddServer {
        name: String,
        address: String,
        role: Role,
        weight: u32,
    },
    RemoveServer {
        server: String,
    },
    Reload,
    SaveConfig,
    Help,
    /// `SELECT @@version_comment LIMIT 1` and the like: what client libraries
    /// ask at login. The names as written.
    Variables(Vec<String>),
    /// Statements client libraries send on connect (SET NAMES, SET autocommit):
    /// accepted and ignored.
    Ignored,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

pub fn parse(text: &str) -> Result<Command, ParseError> {
    let text = text.trim().trim_end_matches(';').trim();
    // Names and addresses keep their case; keywords are matched upper-cased.
    let original: Vec<&str> = text.split_whitespace().collect();
    let words: Vec<String> = original.iter().map(|w| w.to_ascii_uppercase()).collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let arg = |i: usize| unquote(original.get(i).copied().unwrap_or_default());
    match words.as_slice() {
        ["SET", "SERVER", _, "WEIGHT", n] => match n.parse() {
            Ok(weight) if weight <= 1000 => Ok(Command::SetWeight { server: arg(2), weight }),
            _ => Err(ParseError(format!("WEIGHT wants a number from 0 to 1000, not '{n}'"))),
        },
        ["SET", "SERVER", _, state @ ("DRAIN" | "MAINT" | "READY")] => Ok(Command::SetState {
            server: arg(2),
            state: match *state {
                "DRAIN" => ServerState::Drain,
                "MAINT" => ServerState::Maint,
                _ => ServerState::Ready,
            },
        }),
        ["SET", "SERVER", ..] => Err(ParseError("usage: SET SERVER <name> WEIGHT <n> | DRAIN | MAINT | READY".into())),
        ["ADD", "SERVER", _, _, role @ ("MASTER" | "REPLICA"), rest @ ..] => {
            let weight = match rest {
                [] => 1,
                ["WEIGHT", n] => n.parse().map_err(|_| ParseError(format!("WEIGHT wants a number, not '{n}'")))?,
                _ => return Err(ParseError("usage: ADD SERVER <name> <host:port> MASTER|REPLICA [WEIGHT <n>]".into())),
            };
            let role = if *role == "MASTER" { Role::Master } else { Role::Replica };
            Ok(Command::AddServer { name: arg(2), address: arg(3), role, weight })
        }
        ["ADD", "SERVER", ..] => {
            Err(ParseError("usage: ADD SERVER <name> <host:port> MASTER|REPLICA [WEIGHT <n>]".into()))
        }
        ["REMOVE", "SERVER", _] => Ok(Command::RemoveServer { server: arg(2) }),
        ["RELOAD"] | ["RELOAD", "CONFIG"] => Ok(Command::Reload),
        ["SAVE", "CONFIG"] => Ok(Command::SaveConfig),
        ["SHOW", "SERVERS"] => Ok(Command::ShowServers),
        ["SHOW", "POOLS"] => Ok(Command::ShowPools),
        ["SHOW", "CLIENTS"] => Ok(Command::ShowClients),
        ["SHOW", "PINS"] => Ok(Command::ShowPins),
        ["SHOW", "DIGESTS"] => Ok(Command::ShowDigests { limit: None }),
        ["SHOW", "DIGESTS", "LIMIT", n] => match n.parse() {
            Ok(limit) => Ok(Command::ShowDigests { limit: Some(limit) }),
            Err(_) => Err(ParseError(format!("LIMIT wants a number, not '{n}'"))),
        },
        ["SHOW", "UNPARSED"] => Ok(Command::ShowUnparsed),
        ["SHOW", "CONFIG"] => Ok(Command::ShowConfig),
        ["SHOW", "STATUS"] => Ok(Command::ShowStatus),
        ["RESET", "DIGESTS"] => Ok(Command::ResetDigests),
        // `help` alone is the mysql CLI's own command and never reaches here.
        ["HELP"] | ["SHOW", "COMMANDS"] => Ok(Command::Help),
        ["SELECT", ..] if text[6..].trim_start().starts_with("@@") => variables(&text[6..]),
        ["SET", "NAMES", ..]
        | ["SET", "AUTOCOMMIT", ..]
        | ["SET", "AUTOCOMMIT=1"]
        | ["SET", "CHARACTER", "SET", ..] => Ok(Command::Ignored),
        [] => Err(ParseError("empty command; try SHOW COMMANDS".into())),
        _ => Err(ParseError(format!("unknown admin command '{}'; try SHOW COMMANDS", shorten(text)))),
    }
}

/// `@@a, @@session.b [LIMIT 1]`.
fn variables(list: &str) -> Result<Command, ParseError> {
    let list = list.trim();
    let upper = list.to_ascii_uppercase();
    let list = match upper.rfind(" LIMIT ") {
        Some(i) if upper[i + 7..].trim() == "1" => &list[..i],
        _ => list,
    };
    let names: Vec<String> = list.split(',').map(|n| n.trim().to_owned()).collect();
    if names.iter().all(|n| {
        n.len() > 2 && n.starts_with("@@") && n[2..].chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    }) {
        Ok(Command::Variables(names))
    } else {
        Err(ParseError(format!("unknown admin command 'SELECT {}'; try SHOW COMMANDS", shorten(list))))
    }
}

/// The commands, one line each, for HELP.
pub const HELP: &[(&str, &str)] = &[
    ("SHOW SERVERS", "every server: address, role, state and why, weight, connections, queries, errors"),
    ("SHOW POOLS", "backend connection pools per server"),
    ("SHOW CLIENTS", "connected client sessions, where each runs and why it is pinned"),
    ("SHOW PINS", "pin reasons: how often taken, how many sessions hold one now"),
    ("SHOW DIGESTS [LIMIT n]", "statement shapes by total time: count, time, rows, where they ran"),
    ("SHOW UNPARSED", "statement shapes the parser could not classify (sent to the master)"),
    ("SHOW CONFIG", "the running configuration, one key per row (passwords hidden)"),
    ("SHOW STATUS", "process-wide counters"),
    ("RESET DIGESTS", "forget digest statistics"),
    ("SET SERVER name WEIGHT n", "change a server's share of reads (0 to 1000)"),
    ("SET SERVER name DRAIN | MAINT | READY", "stop new work on a server (what runs finishes), or take it back"),
    ("ADD SERVER name host:port MASTER|REPLICA [WEIGHT n]", "add a server to the running config"),
    ("REMOVE SERVER name", "remove a server; its running work finishes, then its connections close"),
    ("RELOAD", "re-read the config file (as SIGHUP does)"),
    ("SAVE CONFIG", "write the running config to the file (previous kept as .prev)"),
    ("SHOW COMMANDS", "this list"),
];

/// `name`, `'name'` or `"name"`.
fn unquote(s: &str) -> String {
    s.trim_matches(|c| c == '\'' || c == '"' || c == '`').to_owned()
}

fn shorten(s: &str) -> String {
    const MAX: usize = 80;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_case_insensitive_and_tolerate_semicolons() {
        assert_eq!(parse("show servers;"), Ok(Command::ShowServers));
        assert_eq!(parse("  SHOW   Pools "), Ok(Command::ShowPools));
        assert_eq!(parse("show digests limit 5"), Ok(Command::ShowDigests { limit: Some(5) }));
        assert_eq!(parse("select @@version_comment limit 1"), Ok(Command::Variables(vec!["@@version_comment".into()])));
        assert_eq!(
            parse("SELECT @@max_allowed_packet,@@session.wait_timeout"),
            Ok(Command::Variables(vec!["@@max_allowed_packet".into(), "@@session.wait_timeout".into()]))
        );
        assert!(parse("SELECT @@a, 1").is_err());
    }

    #[test]
    fn server_commands_keep_names_as_written() {
        assert_eq!(
            parse("set server Replica1 weight 3"),
            Ok(Command::SetWeight { server: "Replica1".into(), weight: 3 })
        );
        assert_eq!(
            parse("SET SERVER 'r2' drain"),
            Ok(Command::SetState { server: "r2".into(), state: ServerState::Drain })
        );
        assert_eq!(
            parse("add server r3 127.0.0.1:13309 replica weight 2"),
            Ok(Command::AddServer {
                name: "r3".into(),
                address: "127.0.0.1:13309".into(),
                role: Role::Replica,
                weight: 2
            })
        );
        assert_eq!(parse("remove server r3;"), Ok(Command::RemoveServer { server: "r3".into() }));
        assert!(parse("SET SERVER r1 WEIGHT -1").unwrap_err().0.contains("WEIGHT wants"));
        assert!(parse("ADD SERVER r3").unwrap_err().0.contains("usage: ADD SERVER"));
    }

    #[test]
    fn unknown_and_malformed_commands_say_why() {
        assert!(parse("SHOW DIGESTS LIMIT x").unwrap_err().0.contains("LIMIT wants a number"));
        assert!(parse("DROP TABLE t").unwrap_err().0.contains("unknown admin command 'DROP TABLE t'"));
        assert!(parse("").is_err());
        let long = "x".repeat(500);
        assert!(parse(&long).unwrap_err().0.len() < 150);
    }
}
