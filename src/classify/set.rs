//! SET statements, parsed from tokens: which session variables they assign
//! (with values as written, for replay on pooled connections), whether they
//! touch user variables, and `SET STATEMENT ... FOR <stmt>`.
//!
//! Scope rules (MariaDB and MySQL agree): no modifier, `SESSION`, `LOCAL`,
//! `@@x`, `@@session.x`, `@@local.x` assign the session value; `GLOBAL`,
//! `PERSIST`, `PERSIST_ONLY`, `@@global.x` do not concern the session. A
//! `GLOBAL`/`SESSION` keyword carries over to the following assignments of
//! the same statement that have no modifier of their own.
//!
//! SET is always a write: the session layer decides where it runs (usually
//! everywhere it replays state to).

use super::lexer::{self, Tok, Token};
use super::parse::{apply_facts, Ctx, Part};
use super::{Effects, SessionVar};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Session,
    Global,
}

/// Classifies a statement whose first token is SET.
pub(crate) fn classify(ctx: &Ctx<'_>, toks: &[Token], depth: usize) -> Part {
    match parse(ctx, toks, depth) {
        Some(part) => part,
        // Malformed: the server will reject it and nothing changes, but we
        // cannot say what it meant.
        None => Part::unparsed(),
    }
}

fn parse(ctx: &Ctx<'_>, toks: &[Token], depth: usize) -> Option<Part> {
    let sql = ctx.sql;
    if ctx.word(toks, 1, "STATEMENT") {
        return set_statement(ctx, toks, depth);
    }
    // SET PASSWORD [FOR user] = ..., SET ROLE r, SET DEFAULT ROLE r FOR u:
    // account state, not replayable; the session pins on them.
    if ctx.word(toks, 1, "PASSWORD")
        || ctx.word(toks, 1, "ROLE")
        || (ctx.word(toks, 1, "DEFAULT") && ctx.word(toks, 2, "ROLE"))
    {
        return Some(Part::write(0));
    }
    let (explicit, k) = match scope_keyword(ctx, toks, 1) {
        Some(scope) => (Some(scope), 2),
        None => (None, 1),
    };
    if ctx.word(toks, k, "TRANSACTION") {
        return transaction(ctx, toks.get(k + 1..)?, explicit);
    }

    let mut part = Part::write(0);
    let mut scope = Scope::Session;
    for item in split_commas(sql, toks.get(1..)?) {
        let mut j = 0;
        if let Some(s) = scope_keyword(ctx, item, 0) {
            scope = s;
            j = 1;
        }
        let target = item.get(j)?;
        let (name, value_start, item_scope) = match target.kind {
            Tok::Word if target.is_word(sql, "NAMES") => {
                let value = names_value(sql, item.get(j + 1..)?)?;
                push_var(&mut part, SessionVar::NAMES, value);
                continue;
            }
            Tok::Word
                if target.is_word(sql, "CHARSET")
                    || (target.is_word(sql, "CHARACTER") && ctx.word(item, j + 1, "SET")) =>
            {
                let skip = if target.is_word(sql, "CHARSET") { 1 } else { 2 };
                let value = item.get(j + skip..).filter(|v| !v.is_empty())?;
                push_var(&mut part, SessionVar::CHARACTER_SET, lexer::code_text(sql, value));
                continue;
            }
            Tok::UserVar => {
                part.write_effect(Effects::ASSIGNS_USER_VAR);
                (None, j + 1, scope)
            }
            Tok::SysVar => {
                let (var_scope, name) = sysvar_name(target.text(sql));
                (Some(name), j + 1, var_scope)
            }
            Tok::Word | Tok::Quoted => {
                // name or structured name: `default.key_buffer_size`
                let mut parts = vec![ident(sql, target)];
                let mut e = j + 1;
                while item.get(e).is_some_and(|t| t.is_punct(sql, b'.')) {
                    let next = item.get(e + 1).filter(|t| matches!(t.kind, Tok::Word | Tok::Quoted))?;
                    parts.push(ident(sql, next));
                    e += 2;
                }
                (Some(parts.join(".").to_lowercase()), e, scope)
            }
            _ => return None,
        };
        let op = item.get(value_start)?;
        if !(op.is_punct(sql, b'=') || op.is_op(sql, ":=")) {
            return None;
        }
        let value = item.get(value_start + 1..).filter(|v| !v.is_empty())?;
        apply_facts(&mut part, &lexer::facts(sql, value), ctx.opts, false);
        if let (Some(name), Scope::Session) = (name, item_scope) {
            push_var(&mut part, &name, lexer::code_text(sql, value));
        }
    }
    Some(part)
}

/// `SET STATEMENT var=value [, ...] FOR <statement>`: the variables hold for
/// that one statement, which is classified as if alone.
fn set_statement(ctx: &Ctx<'_>, toks: &[Token], depth: usize) -> Option<Part> {
    let sql = ctx.sql;
    let mut level = 0usize;
    let mut for_at = None;
    for (k, t) in toks.iter().enumerate().skip(2) {
        if t.is_punct(sql, b'(') {
            level += 1;
        } else if t.is_punct(sql, b')') {
            level = level.saturating_sub(1);
        } else if level == 0 && t.is_word(sql, "FOR") {
            for_at = Some(k);
            break;
        }
    }
    let for_at = for_at?;
    let assignments = toks.get(2..for_at).filter(|a| !a.is_empty())?;
    let inner = toks.get(for_at + 1..).filter(|i| !i.is_empty())?;
    let mut part = ctx.statement(inner, depth + 1);
    part.effects |= Effects::SET_STATEMENT;
    apply_facts(&mut part, &lexer::facts(sql, assignments), ctx.opts, false);
    Some(part)
}

/// `SET [GLOBAL|SESSION|LOCAL] TRANSACTION characteristic [, ...]`.
/// Without a scope keyword it applies to the next transaction only, on that
/// connection: reported under the `next transaction ...` names.
fn transaction(ctx: &Ctx<'_>, rest: &[Token], scope: Option<Scope>) -> Option<Part> {
    let sql = ctx.sql;
    let (isolation_name, read_only_name) = match scope {
        Some(Scope::Global) => (None, None),
        Some(Scope::Session) => (Some(SessionVar::TRANSACTION_ISOLATION), Some(SessionVar::TRANSACTION_READ_ONLY)),
        None => (Some(SessionVar::NEXT_TRANSACTION_ISOLATION), Some(SessionVar::NEXT_TRANSACTION_READ_ONLY)),
    };
    let mut part = Part::write(0);
    for item in split_commas(sql, rest) {
        let w = |k: usize, kw: &str| ctx.word(item, k, kw);
        let (name, value) = if w(0, "ISOLATION") && w(1, "LEVEL") {
            let level = match () {
                _ if w(2, "READ") && w(3, "UNCOMMITTED") && item.len() == 4 => "READ UNCOMMITTED",
                _ if w(2, "READ") && w(3, "COMMITTED") && item.len() == 4 => "READ COMMITTED",
                _ if w(2, "REPEATABLE") && w(3, "READ") && item.len() == 4 => "REPEATABLE READ",
                _ if w(2, "SERIALIZABLE") && item.len() == 3 => "SERIALIZABLE",
                _ => return None,
            };
            (isolation_name, level)
        } else if w(0, "READ") && w(1, "ONLY") && item.len() == 2 {
            (read_only_name, "1")
        } else if w(0, "READ") && w(1, "WRITE") && item.len() == 2 {
            (read_only_name, "0")
        } else {
            return None;
        };
        if let Some(name) = name {
            push_var(&mut part, name, value.to_string());
        }
    }
    Some(part)
}

fn push_var(part: &mut Part, name: &str, value: String) {
    part.effects |= Effects::SET_SESSION;
    part.session_vars.push(SessionVar { name: name.to_string(), value });
}

fn scope_keyword(ctx: &Ctx<'_>, toks: &[Token], i: usize) -> Option<Scope> {
    if ["GLOBAL", "PERSIST", "PERSIST_ONLY"].iter().any(|kw| ctx.word(toks, i, kw)) {
        Some(Scope::Global)
    } else if ctx.word(toks, i, "SESSION") || ctx.word(toks, i, "LOCAL") {
        Some(Scope::Session)
    } else {
        None
    }
}

/// `@@x`, `@@session.x`, `@@global.x` → (scope, lower-case name).
fn sysvar_name(text: &[u8]) -> (Scope, String) {
    let body = text.strip_prefix(b"@@").unwrap_or(text);
    let lower = String::from_utf8_lossy(body).to_lowercase();
    if let Some((prefix, name)) = lower.split_once('.') {
        let name = String::from_utf8_lossy(&lexer::unquote(name.as_bytes())).into_owned();
        match prefix {
            "global" | "persist" | "persist_only" => return (Scope::Global, name),
            "session" | "local" => return (Scope::Session, name),
            _ => {}
        }
    }
    (Scope::Session, lower)
}

fn ident(sql: &[u8], t: &Token) -> String {
    match t.kind {
        Tok::Quoted => String::from_utf8_lossy(&lexer::unquote(t.text(sql))).into_owned(),
        _ => String::from_utf8_lossy(t.text(sql)).into_owned(),
    }
}

/// `charset [COLLATE collation]` → `charset COLLATE collation` (the keyword
/// normalised so equal settings compare equal), or `DEFAULT`.
fn names_value(sql: &[u8], toks: &[Token]) -> Option<String> {
    let charset = toks.first()?;
    let charset = lexer::code_text(sql, std::slice::from_ref(charset));
    match toks {
        [_] => Some(charset),
        [_, kw, rest @ ..] if kw.is_word(sql, "COLLATE") && !rest.is_empty() => {
            Some(format!("{charset} COLLATE {}", lexer::code_text(sql, rest)))
        }
        _ => None,
    }
}

/// Splits at commas outside parentheses.
fn split_commas<'t>(sql: &[u8], toks: &'t [Token]) -> Vec<&'t [Token]> {
    let mut out = Vec::new();
    let mut level = 0usize;
    let mut start = 0;
    for (k, t) in toks.iter().enumerate() {
        if t.is_punct(sql, b'(') {
            level += 1;
        } else if t.is_punct(sql, b')') {
            level = level.saturating_sub(1);
        } else if level == 0 && t.is_punct(sql, b',') {
            out.push(toks.get(start..k).unwrap_or_default());
            start = k + 1;
        }
    }
    out.push(toks.get(start..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::super::{parse, ClassifyOptions, StatementClass};
    use super::*;

    fn set(sql: &str) -> (StatementClass, u64, Vec<(String, String)>) {
        let lexed = lexer::lex(sql.as_bytes());
        let c = parse::classify(sql.as_bytes(), &lexed, &ClassifyOptions::default());
        let vars = c.session_vars.into_iter().map(|v| (v.name, v.value)).collect();
        (c.class, c.effects.0, vars)
    }

    /// (statement, class, effects, session variables)
    type Case<'a> = (&'a str, StatementClass, u64, &'a [(&'a str, &'a str)]);

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn set_table() {
        use Effects as E;
        const W: StatementClass = StatementClass::Write;
        const R: StatementClass = StatementClass::Read;
        let cases: &[Case] = &[
            ("SET autocommit=0", W, E::SET_SESSION, &[("autocommit", "0")]),
            ("SET AUTOCOMMIT = 1", W, E::SET_SESSION, &[("autocommit", "1")]),
            (
                "SET autocommit=1, sql_mode = concat(@@sql_mode,',STRICT_TRANS_TABLES')",
                W,
                E::SET_SESSION,
                &[("autocommit", "1"), ("sql_mode", "concat(@@sql_mode,',STRICT_TRANS_TABLES')")],
            ),
            ("SET SESSION sql_mode='ANSI'", W, E::SET_SESSION, &[("sql_mode", "'ANSI'")]),
            ("SET LOCAL sql_mode = 'ANSI'", W, E::SET_SESSION, &[("sql_mode", "'ANSI'")]),
            ("SET @@session.sql_mode = 'ANSI'", W, E::SET_SESSION, &[("sql_mode", "'ANSI'")]),
            ("SET @@SESSION.SQL_MODE = ''", W, E::SET_SESSION, &[("sql_mode", "''")]),
            ("SET @@local.time_zone = '+00:00'", W, E::SET_SESSION, &[("time_zone", "'+00:00'")]),
            ("SET @@sql_mode = DEFAULT", W, E::SET_SESSION, &[("sql_mode", "DEFAULT")]),
            ("SET time_zone := 'UTC'", W, E::SET_SESSION, &[("time_zone", "'UTC'")]),
            ("SET `sql_mode` = ''", W, E::SET_SESSION, &[("sql_mode", "''")]),
            ("SET default.key_buffer_size = 1", W, E::SET_SESSION, &[("default.key_buffer_size", "1")]),
            ("SET GLOBAL max_connections = 100", W, 0, &[]),
            ("SET @@global.max_connections = 100", W, 0, &[]),
            ("SET PERSIST max_connections = 100", W, 0, &[]),
            ("SET GLOBAL a = 1, b = 2", W, 0, &[]),
            ("SET GLOBAL a = 1, SESSION b = 2", W, E::SET_SESSION, &[("b", "2")]),
            ("SET SESSION a = 1, b = 2", W, E::SET_SESSION, &[("a", "1"), ("b", "2")]),
            ("SET GLOBAL a = 1, @@b = 2", W, E::SET_SESSION, &[("b", "2")]),
            ("SET NAMES utf8mb4", W, E::SET_SESSION, &[("names", "utf8mb4")]),
            (
                "set names 'utf8mb4' collate 'utf8mb4_bin'",
                W,
                E::SET_SESSION,
                &[("names", "'utf8mb4' COLLATE 'utf8mb4_bin'")],
            ),
            (
                "SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci",
                W,
                E::SET_SESSION,
                &[("names", "utf8mb4 COLLATE utf8mb4_unicode_ci")],
            ),
            ("SET NAMES DEFAULT", W, E::SET_SESSION, &[("names", "DEFAULT")]),
            ("/*!40101 SET NAMES utf8 */", W, E::SET_SESSION, &[("names", "utf8")]),
            ("SET CHARACTER SET utf8", W, E::SET_SESSION, &[("character set", "utf8")]),
            ("SET CHARSET latin1", W, E::SET_SESSION, &[("character set", "latin1")]),
            (
                "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
                W,
                E::SET_SESSION,
                &[("transaction isolation", "REPEATABLE READ")],
            ),
            (
                "set session transaction isolation level read committed, read only",
                W,
                E::SET_SESSION,
                &[("transaction isolation", "READ COMMITTED"), ("transaction read only", "1")],
            ),
            ("SET SESSION TRANSACTION READ ONLY", W, E::SET_SESSION, &[("transaction read only", "1")]),
            ("SET SESSION TRANSACTION READ WRITE", W, E::SET_SESSION, &[("transaction read only", "0")]),
            (
                "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
                W,
                E::SET_SESSION,
                &[("next transaction isolation", "SERIALIZABLE")],
            ),
            ("SET TRANSACTION READ ONLY", W, E::SET_SESSION, &[("next transaction read only", "1")]),
            ("SET GLOBAL TRANSACTION ISOLATION LEVEL READ UNCOMMITTED", W, 0, &[]),
            ("SET @u = 1", W, E::ASSIGNS_USER_VAR, &[]),
            ("SET @u := 1, @v = @u + 1", W, E::ASSIGNS_USER_VAR | E::READS_USER_VAR, &[]),
            (
                "SET @u=1, sql_mode='TRADITIONAL'",
                W,
                E::ASSIGNS_USER_VAR | E::SET_SESSION,
                &[("sql_mode", "'TRADITIONAL'")],
            ),
            ("SET @`quoted var` = 1", W, E::ASSIGNS_USER_VAR, &[]),
            ("SET @l = GET_LOCK('x', 10)", W, E::ASSIGNS_USER_VAR | E::USER_LOCK, &[]),
            ("SET @id = LAST_INSERT_ID()", W, E::ASSIGNS_USER_VAR | E::PREVIOUS_RESULT | E::READS_LAST_INSERT_ID, &[]),
            ("SET sql_mode = (SELECT 'ANSI')", W, E::SET_SESSION, &[("sql_mode", "(SELECT 'ANSI')")]),
            ("SET STATEMENT max_statement_time=1 FOR SELECT 1", R, E::SET_STATEMENT, &[]),
            (
                "SET STATEMENT max_statement_time=1, sql_mode='' FOR SELECT * FROM t FOR UPDATE",
                W,
                E::SET_STATEMENT | E::LOCKING_READ,
                &[],
            ),
            ("SET STATEMENT a=(SELECT 1 FOR UPDATE) FOR SELECT 1", W, E::SET_STATEMENT | E::LOCKING_READ, &[]),
            ("SET PASSWORD = PASSWORD('secret')", W, 0, &[]),
            ("SET PASSWORD FOR 'u'@'%' = 'x'", W, 0, &[]),
            ("SET ROLE admin", W, 0, &[]),
            ("SET DEFAULT ROLE admin FOR u", W, 0, &[]),
            // malformed
            ("SET", W, E::UNPARSED, &[]),
            ("SET x", W, E::UNPARSED, &[]),
            ("SET x =", W, E::UNPARSED, &[]),
            ("SET x = 1,", W, E::UNPARSED, &[]),
            ("SET TRANSACTION ISOLATION LEVEL SOMETIMES", W, E::UNPARSED, &[]),
            ("SET STATEMENT x=1", W, E::UNPARSED, &[]),
            ("SET STATEMENT FOR SELECT 1", W, E::UNPARSED, &[]),
            ("SET NAMES", W, E::UNPARSED, &[]),
            ("SET NAMES utf8 COLLATE", W, E::UNPARSED, &[]),
            ("SET 1 = 2", W, E::UNPARSED, &[]),
        ];
        for (sql, class, effects, want) in cases {
            let (got_class, got_effects, got_vars) = set(sql);
            assert_eq!((got_class, got_effects, got_vars), (*class, *effects, vars(want)), "{sql:?}");
        }
    }
}
