//! The admin port's language: a handful of case-insensitive commands, parsed
//! by words. Anything else is an error that names what is understood.

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
    let words: Vec<String> = text.split_whitespace().map(|w| w.to_ascii_uppercase()).collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words.as_slice() {
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
    ("SHOW COMMANDS", "this list"),
];

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
    fn unknown_and_malformed_commands_say_why() {
        assert!(parse("SHOW DIGESTS LIMIT x").unwrap_err().0.contains("LIMIT wants a number"));
        assert!(parse("DROP TABLE t").unwrap_err().0.contains("unknown admin command 'DROP TABLE t'"));
        assert!(parse("").is_err());
        let long = "x".repeat(500);
        assert!(parse(&long).unwrap_err().0.len() < 150);
    }
}
