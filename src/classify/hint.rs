//! Routing hints written in SQL comments: rwsplit's own `/* rwsplit:... */`
//! and MaxScale's `-- maxscale route to ...`, so applications already
//! annotated for MaxScale keep working.
//!
//! Accepted forms (case-insensitive keywords, any comment style: `/* */`,
//! `-- `, `#`):
//! - `rwsplit:master` (also `rwsplit:primary`) → [`RouteHint::Master`]
//! - `rwsplit:replica` (also `rwsplit:slave`) → [`RouteHint::Replica`]
//! - `rwsplit:server=NAME` → [`RouteHint::Server`]
//! - `maxscale route to master` / `route to slave` (or `replica`) /
//!   `route to server NAME`
//!
//! Only the first hint of a statement counts (the lexer stops looking after
//! it). MaxScale's `route to last` and its named-hint stack are not
//! supported: they have no meaning without MaxScale's session model.

/// Where a hint asks the statement to go. The router decides whether it can
/// honour it (a replica hint inside a transaction, for instance, cannot be).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RouteHint {
    Master,
    /// Any replica.
    Replica,
    /// The server with this configured name, as written in the hint.
    Server(String),
}

/// Parses the text of one comment (without its `/*`, `*/`, `--` or `#`).
/// Returns `None` for ordinary comments, cheaply: this runs on every comment
/// of every statement, including the cache-hit path (drivers such as
/// Connector/J prefix statements with a comment).
pub(crate) fn parse(body: &[u8]) -> Option<RouteHint> {
    let body = trim(body);
    if let Some(rest) = strip_prefix_ci(body, b"rwsplit") {
        return parse_rwsplit(rest);
    }
    if let Some(rest) = strip_prefix_ci(body, b"maxscale") {
        // `maxscalefoo` is not a MaxScale hint.
        if rest.first().is_some_and(|b| b.is_ascii_whitespace()) {
            return parse_maxscale(rest);
        }
    }
    None
}

fn parse_rwsplit(rest: &[u8]) -> Option<RouteHint> {
    let rest = trim_start(rest);
    let rest = trim_start(rest.strip_prefix(b":")?);
    let (word, rest) = split_word(rest);
    match_ascii_lower(word, |w| match w {
        b"master" | b"primary" => Some(RouteHint::Master),
        b"replica" | b"slave" => Some(RouteHint::Replica),
        b"server" => {
            let rest = trim_start(rest);
            let rest = trim_start(rest.strip_prefix(b"=")?);
            server_name(rest)
        }
        _ => None,
    })
}

fn parse_maxscale(rest: &[u8]) -> Option<RouteHint> {
    let (route, rest) = split_word(trim_start(rest));
    let (to, rest) = split_word(trim_start(rest));
    if !route.eq_ignore_ascii_case(b"route") || !to.eq_ignore_ascii_case(b"to") {
        return None;
    }
    let (target, rest) = split_word(trim_start(rest));
    match_ascii_lower(target, |w| match w {
        b"master" | b"primary" => Some(RouteHint::Master),
        b"slave" | b"replica" => Some(RouteHint::Replica),
        b"server" => server_name(trim_start(rest)),
        _ => None,
    })
}

/// A server name: letters, digits and `_ . - :` (host:port style names are
/// common in MaxScale configurations). Kept as written: names are
/// case-sensitive in the configuration.
fn server_name(rest: &[u8]) -> Option<RouteHint> {
    let end = rest
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b':')))
        .unwrap_or(rest.len());
    let name = rest.get(..end)?;
    if name.is_empty() {
        return None;
    }
    // Only ASCII bytes were accepted above, so this is valid UTF-8.
    Some(RouteHint::Server(String::from_utf8_lossy(name).into_owned()))
}

/// Runs `f` on the ASCII-lowercased word (short words only: hint keywords are
/// at most 7 bytes, so a fixed buffer avoids an allocation).
fn match_ascii_lower(word: &[u8], f: impl FnOnce(&[u8]) -> Option<RouteHint>) -> Option<RouteHint> {
    let mut buf = [0u8; 16];
    let dst = buf.get_mut(..word.len())?;
    for (d, s) in dst.iter_mut().zip(word) {
        *d = s.to_ascii_lowercase();
    }
    f(dst)
}

/// Splits off the leading run of identifier-ish bytes (letters, digits, `_`).
fn split_word(s: &[u8]) -> (&[u8], &[u8]) {
    let end = s.iter().position(|b| !(b.is_ascii_alphanumeric() || *b == b'_')).unwrap_or(s.len());
    s.split_at(end)
}

fn strip_prefix_ci<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

fn trim_start(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(s.len());
    s.get(start..).unwrap_or_default()
}

fn trim(s: &[u8]) -> &[u8] {
    let s = trim_start(s);
    let end = s.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(0, |p| p + 1);
    s.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(name: &str) -> Option<RouteHint> {
        Some(RouteHint::Server(name.to_string()))
    }

    #[test]
    fn hint_table() {
        let cases: &[(&str, Option<RouteHint>)] = &[
            (" rwsplit:master ", Some(RouteHint::Master)),
            ("rwsplit:MASTER", Some(RouteHint::Master)),
            ("RWSPLIT : primary", Some(RouteHint::Master)),
            ("rwsplit:replica", Some(RouteHint::Replica)),
            ("rwsplit:slave", Some(RouteHint::Replica)),
            ("rwsplit:server=replica2", server("replica2")),
            ("rwsplit:server = db-3.example:3306 ", server("db-3.example:3306")),
            ("rwsplit:Server=Replica_A", server("Replica_A")),
            ("rwsplit:server=", None),
            ("rwsplit:server", None),
            ("rwsplit:nowhere", None),
            ("rwsplit master", None),
            ("rwsplit:", None),
            (" maxscale route to master", Some(RouteHint::Master)),
            ("maxscale route to slave", Some(RouteHint::Replica)),
            ("MaxScale ROUTE TO Replica", Some(RouteHint::Replica)),
            ("maxscale route to server db1", server("db1")),
            ("maxscale route to server", None),
            ("maxscale route to last", None),
            ("maxscale begin", None),
            ("maxscalefoo route to master", None),
            ("maxscale", None),
            ("mysql-connector-java-8.0.33 (Revision: 7d6b0800528b6b25c68b52dc10d6c1c8429c100c)", None),
            ("", None),
            ("+ NO_INDEX_MERGE(t)", None),
        ];
        for (body, want) in cases {
            assert_eq!(parse(body.as_bytes()), *want, "comment body {body:?}");
        }
    }

    #[test]
    fn non_utf8_and_long_words_do_not_panic() {
        assert_eq!(parse(b"rwsplit:\xff\xfe"), None);
        assert_eq!(parse(b"rwsplit:server=\xff"), None);
        assert_eq!(parse(b"rwsplit:averyveryverylongwordthatexceedsthebuffer"), None);
        assert_eq!(parse(b"maxscale route to averyveryverylongwordthatexceeds"), None);
    }
}
