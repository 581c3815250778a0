//! Turns a lexed packet into a [`Classification`]: splits multi-statement
//! packets, asks sqlparser (MySqlDialect) about each statement and walks its
//! tree, and falls back to the leading keywords and token-level facts when
//! sqlparser cannot parse it (MariaDB-only syntax), marking `UNPARSED`.
//!
//! Who decides what:
//! - SET and USE: the token-level parsers here and in `set.rs`, always.
//!   sqlparser 0.64 loses what matters in them (the SESSION of `SET SESSION
//!   TRANSACTION`, values as written, `SET CHARACTER SET`, `SET x := 1`,
//!   `SET STATEMENT`, `SET PASSWORD = ...` read as a variable called
//!   PASSWORD), and they run on every execution (they are not cached), so
//!   the cheap path is also the precise one.
//! - Queries and DML (SELECT/WITH/VALUES, INSERT/REPLACE/UPDATE/DELETE/MERGE,
//!   EXPLAIN, CREATE TABLE/VIEW/INDEX, ALTER/DROP/TRUNCATE/RENAME, LOCK
//!   TABLES, CALL): the AST when sqlparser parses them — tables, function
//!   calls, locking clauses, INTO, user variables.
//! - Statements fully described by their leading keywords (transaction
//!   control, XA, KILL, PREPARE/EXECUTE, GRANT, FLUSH, SHOW, HELP...): the
//!   keyword table; a successful parse only means the result is not
//!   `UNPARSED`.
//! - In every statement that evaluates expressions, token-level facts that
//!   cannot be false positives (`FOR UPDATE`, `INTO @v`, `@v :=`, GET_LOCK(),
//!   `@@last_insert_id`...) are OR-ed in as a safety net behind the AST.

use std::sync::Arc;

use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::Parser;

use super::functions::{self, FnKind};
use super::lexer::{self, Facts, Lexed, Tok, Token};
use super::{ast, set};
use super::{Classification, ClassifyOptions, Effects, SessionVar, StatementClass};

/// Statements longer than this (as code text) are not given to sqlparser: its
/// parse costs time and memory proportional to the text (and is repeated for
/// statements too long to cache); the keyword table decides instead. Such
/// statements are bulk loads.
const MAX_PARSE_BYTES: usize = 1 << 20;

/// Statements with more operators than this are not given to sqlparser: a
/// chain like `a=1 AND a=1 AND ...` becomes a tree as deep as it is long, and
/// sqlparser 0.64 builds and drops it recursively (100k ANDs overflow a 2 MiB
/// tokio worker stack in a release build, 30k in a debug build). The keyword
/// table classifies such statements instead.
const MAX_OPERATORS: usize = 1000;

/// Nested EXPLAIN / DESCRIBE / ANALYZE keywords given to sqlparser at most:
/// its EXPLAIN parsing recurses outside its recursion limit (30 nested
/// EXPLAINs overflow a 2 MiB stack in a debug build).
const MAX_EXPLAINS: usize = 3;

/// Nesting allowed for statements inside statements (`EXPLAIN ANALYZE`,
/// `SET STATEMENT ... FOR`): enough for real SQL, bounded so that
/// `EXPLAIN EXPLAIN EXPLAIN ...` cannot exhaust the stack.
const MAX_DEPTH: usize = 4;

/// The classification of one statement of a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Part {
    pub class: StatementClass,
    pub effects: u64,
    pub tables: Vec<String>,
    pub session_vars: Vec<SessionVar>,
    pub use_db: Option<String>,
}

impl Part {
    pub fn new(class: StatementClass, effects: u64) -> Self {
        Self { class, effects, tables: Vec::new(), session_vars: Vec::new(), use_db: None }
    }

    pub fn read(effects: u64) -> Self {
        Self::new(StatementClass::Read, effects)
    }

    pub fn write(effects: u64) -> Self {
        Self::new(StatementClass::Write, effects)
    }

    /// What the classifier says about a statement it does not understand.
    pub fn unparsed() -> Self {
        Self::write(Effects::UNPARSED)
    }

    /// Adds an effect that requires the master.
    pub fn write_effect(&mut self, bit: u64) {
        self.effects |= bit;
        self.class = StatementClass::Write;
    }

    pub fn force_write(&mut self) {
        self.class = StatementClass::Write;
    }

    /// Adds a table name: last part of a qualified name, lower-case, once.
    pub fn add_table(&mut self, name: &str) {
        if name.is_empty() {
            return;
        }
        let lower = name.to_lowercase();
        if !self.tables.contains(&lower) {
            self.tables.push(lower);
        }
    }
}

/// Classifies a whole packet.
pub(crate) fn classify(sql: &[u8], lexed: &Lexed, opts: &ClassifyOptions) -> Classification {
    let ctx = Ctx { sql, opts };
    let mut acc: Option<Part> = None;
    for range in &lexed.statements {
        let toks = lexed.tokens.get(range.clone()).unwrap_or_default();
        let part = ctx.statement(toks, 0);
        acc = Some(match acc {
            None => part,
            Some(prev) => merge(prev, part),
        });
    }
    // An empty query (only comments or `;`): nothing to understand; the
    // master answers it with the server's own error.
    let mut part = acc.unwrap_or_else(|| Part::write(0));
    if lexed.multi {
        part.effects |= Effects::MULTI;
    }
    if lexed.truncated {
        part.write_effect(Effects::UNPARSED);
    }
    Classification {
        class: part.class,
        effects: Effects(part.effects),
        hint: lexed.hint.clone(),
        tables: part.tables,
        session_vars: part.session_vars,
        use_db: part.use_db,
        digest: Arc::from(lexed.digest.as_str()),
        diagnostics: super::is_diagnostics(&lexed.digest),
        stats: Default::default(),
    }
}

/// Combines the statements of a multi-statement packet: a read only if all
/// are reads.
fn merge(mut a: Part, b: Part) -> Part {
    if b.class == StatementClass::Write {
        a.class = StatementClass::Write;
    }
    a.effects |= b.effects;
    for t in b.tables {
        if !a.tables.contains(&t) {
            a.tables.push(t);
        }
    }
    a.session_vars.extend(b.session_vars);
    if b.use_db.is_some() {
        a.use_db = b.use_db;
    }
    a
}

/// What every statement-level classifier needs.
pub(crate) struct Ctx<'a> {
    pub sql: &'a [u8],
    pub opts: &'a ClassifyOptions,
}

impl Ctx<'_> {
    /// Classifies one statement (tokens without the `;`).
    pub fn statement(&self, toks: &[Token], depth: usize) -> Part {
        if toks.is_empty() || depth > MAX_DEPTH {
            return Part::unparsed();
        }
        if self.word(toks, 0, "SET") {
            return set::classify(self, toks, depth);
        }
        if self.word(toks, 0, "USE") {
            return self.use_db(toks);
        }
        let facts = lexer::facts(self.sql, toks);
        let code = lexer::code_text(self.sql, toks);
        if code.len() > MAX_PARSE_BYTES || self.too_deep_for_sqlparser(toks) {
            return self.unparsed(toks, &facts, depth);
        }
        match Parser::parse_sql(&MySqlDialect {}, &code) {
            Ok(stmts) => match stmts.as_slice() {
                [stmt] => ast::classify(self, stmt, &facts).unwrap_or_else(|| self.keywords(toks, &facts, depth)),
                _ => self.unparsed(toks, &facts, depth),
            },
            Err(_) => self.unparsed(toks, &facts, depth),
        }
    }

    /// See [`MAX_OPERATORS`] and [`MAX_EXPLAINS`].
    fn too_deep_for_sqlparser(&self, toks: &[Token]) -> bool {
        let mut operators = 0;
        let mut explains = 0;
        for t in toks {
            match t.kind {
                Tok::Op => operators += 1,
                Tok::Punct if !matches!(t.text(self.sql), b"(" | b")" | b"," | b"." | b";") => operators += 1,
                Tok::Word => {
                    if ["AND", "OR", "XOR", "NOT"].iter().any(|kw| t.is_word(self.sql, kw)) {
                        operators += 1;
                    } else if ["EXPLAIN", "DESCRIBE", "DESC", "ANALYZE"].iter().any(|kw| t.is_word(self.sql, kw)) {
                        explains += 1;
                    }
                }
                _ => {}
            }
        }
        operators > MAX_OPERATORS || explains > MAX_EXPLAINS
    }

    fn unparsed(&self, toks: &[Token], facts: &Facts, depth: usize) -> Part {
        let mut part = self.keywords(toks, facts, depth);
        part.effects |= Effects::UNPARSED;
        part
    }

    pub fn word(&self, toks: &[Token], i: usize, kw: &str) -> bool {
        toks.get(i).is_some_and(|t| t.is_word(self.sql, kw))
    }

    fn upper(&self, toks: &[Token], i: usize) -> String {
        match toks.get(i) {
            Some(t) if t.kind == Tok::Word => lexer::upper_lossy(t.text(self.sql)),
            Some(t) if t.kind == Tok::Punct => lexer::upper_lossy(t.text(self.sql)),
            _ => String::new(),
        }
    }

    /// `USE db` / ``USE `my db` ``: the session switches schema on whichever
    /// connection it uses next, so the class hardly matters; Read keeps it off
    /// the master when nothing else needs it.
    fn use_db(&self, toks: &[Token]) -> Part {
        let name = match toks {
            [_, t] if t.kind == Tok::Word => String::from_utf8_lossy(t.text(self.sql)).into_owned(),
            [_, t] if t.kind == Tok::Quoted => String::from_utf8_lossy(&lexer::unquote(t.text(self.sql))).into_owned(),
            _ => return Part::unparsed(),
        };
        let mut part = Part::read(Effects::USE_DB);
        part.use_db = Some(name);
        part
    }

    /// The keyword table: decides from the leading keywords, token-level
    /// tables and facts. Used for statements sqlparser cannot parse and for
    /// those whose meaning is entirely in their keywords.
    pub fn keywords(&self, toks: &[Token], facts: &Facts, depth: usize) -> Part {
        let w0 = self.upper(toks, 0);
        let w1 = self.upper(toks, 1);
        let mut evaluates = true;
        let mut part = match w0.as_str() {
            "SELECT" | "WITH" | "VALUES" | "TABLE" => return self.fallback_query(toks, facts),
            "(" => {
                let first = toks.iter().position(|t| !t.is_punct(self.sql, b'('));
                match first.map(|k| self.upper(toks, k)).as_deref() {
                    Some("SELECT" | "WITH" | "VALUES" | "TABLE") => return self.fallback_query(toks, facts),
                    _ => Part::write(0),
                }
            }
            "INSERT" | "REPLACE" | "UPDATE" | "DELETE" | "MERGE" | "DO" | "HANDLER" => Part::write(0),
            "LOAD" => match w1.as_str() {
                "DATA" | "XML" => Part::write(Effects::LOAD_DATA),
                _ => Part::write(Effects::IMPLICIT_COMMIT),
            },
            "CALL" => Part::write(Effects::CALL),
            "CREATE" => {
                evaluates = self.find_word(toks, "SELECT").is_some() && self.find_word(toks, "TABLE").is_some();
                // CREATE [OR REPLACE] TEMPORARY TABLE does not commit.
                if toks.iter().take(5).any(|t| t.is_word(self.sql, "TEMPORARY")) {
                    Part::write(Effects::CREATE_TEMP_TABLE)
                } else {
                    Part::write(Effects::IMPLICIT_COMMIT)
                }
            }
            "DROP" => {
                evaluates = false;
                match w1.as_str() {
                    "PREPARE" => Part::write(Effects::SQL_PREPARE),
                    "TEMPORARY" => Part::write(Effects::DROP_TEMP_TABLE),
                    _ => Part::write(Effects::IMPLICIT_COMMIT),
                }
            }
            "ALTER" | "RENAME" | "TRUNCATE" | "GRANT" | "REVOKE" | "INSTALL" | "UNINSTALL" => {
                evaluates = false;
                Part::write(Effects::IMPLICIT_COMMIT)
            }
            "LOCK" => match w1.as_str() {
                "TABLE" | "TABLES" => Part::write(Effects::LOCK_TABLES | Effects::IMPLICIT_COMMIT),
                _ => Part::write(0),
            },
            "UNLOCK" => match w1.as_str() {
                "TABLE" | "TABLES" => Part::write(Effects::UNLOCK_TABLES),
                _ => Part::write(0),
            },
            // BEGIN NOT ATOMIC ... END is a compound statement, not a transaction.
            "BEGIN" if w1 == "NOT" => Part::write(0),
            "BEGIN" => Part::write(Effects::BEGIN),
            "START" if w1 == "TRANSACTION" => self.start_transaction(toks),
            // START SLAVE / REPLICA / GROUP_REPLICATION
            "START" | "STOP" | "CHANGE" | "RESET" | "FLUSH" => Part::write(Effects::IMPLICIT_COMMIT),
            "COMMIT" => Part::write(Effects::COMMIT),
            // ROLLBACK [WORK] TO [SAVEPOINT] x does not end the transaction.
            "ROLLBACK" if self.find_word(toks, "TO").is_some() => Part::write(Effects::SAVEPOINT),
            "ROLLBACK" => Part::write(Effects::ROLLBACK),
            "SAVEPOINT" => Part::write(Effects::SAVEPOINT),
            "RELEASE" if w1 == "SAVEPOINT" => Part::write(Effects::SAVEPOINT),
            "XA" => Part::write(Effects::XA),
            "PREPARE" | "DEALLOCATE" => Part::write(Effects::SQL_PREPARE),
            "EXECUTE" if w1 == "IMMEDIATE" => Part::write(0),
            "EXECUTE" => Part::write(Effects::SQL_PREPARE),
            "KILL" => Part::write(Effects::KILL),
            "ANALYZE" => return self.analyze(toks, facts, depth),
            "OPTIMIZE" | "REPAIR" | "CHECK" => Part::write(Effects::IMPLICIT_COMMIT),
            "SHOW" => self.show(toks),
            "DESCRIBE" | "DESC" | "EXPLAIN" => return self.explain(toks, facts, depth),
            "HELP" => Part::read(0),
            // GET DIAGNOSTICS reads the previous statement's diagnostics area.
            "GET" => Part::write(Effects::PREVIOUS_RESULT),
            _ => Part::write(0),
        };
        self.token_tables(toks, &mut part);
        if evaluates {
            apply_facts(&mut part, facts, self.opts, true);
        }
        // `CALL p(@out)` and `LOAD DATA ... (@col) SET a = @col` assign the
        // variables they name.
        if matches!(w0.as_str(), "CALL" | "LOAD") && facts.reads_user_var {
            part.write_effect(Effects::ASSIGNS_USER_VAR);
        }
        part
    }

    fn find_word(&self, toks: &[Token], kw: &str) -> Option<usize> {
        toks.iter().position(|t| t.is_word(self.sql, kw))
    }

    /// SELECT / WITH / VALUES / TABLE that sqlparser could not parse: a read
    /// only when the tokens show nothing that could write or depend on the
    /// session (every call a known pure built-in, no locking clause, no INTO,
    /// no assignment, no DML keyword).
    fn fallback_query(&self, toks: &[Token], facts: &Facts) -> Part {
        let mut part = Part::read(0);
        self.token_tables(toks, &mut part);
        apply_facts(&mut part, facts, self.opts, true);
        let dml = toks.iter().enumerate().any(|(k, t)| {
            ["INSERT", "UPDATE", "DELETE", "REPLACE", "MERGE", "CALL", "LOCK", "HANDLER", "LOAD"]
                .iter()
                .any(|kw| t.is_word(self.sql, kw))
                && !toks.get(k + 1).is_some_and(|n| n.is_punct(self.sql, b'('))
        });
        if dml {
            part.force_write();
        }
        part
    }

    /// START TRANSACTION [READ ONLY | READ WRITE | WITH CONSISTENT SNAPSHOT], ...
    fn start_transaction(&self, toks: &[Token]) -> Part {
        let read_only =
            toks.windows(2).any(|w| matches!(w, [a, b] if a.is_word(self.sql, "READ") && b.is_word(self.sql, "ONLY")));
        if read_only {
            Part::read(Effects::BEGIN | Effects::BEGIN_READ_ONLY)
        } else {
            Part::write(Effects::BEGIN)
        }
    }

    /// SHOW is a read, except where it reports on the session's previous
    /// statement (warnings, errors, profiles): that answer exists only on the
    /// server that ran it.
    fn show(&self, toks: &[Token]) -> Part {
        let previous = toks
            .iter()
            .take(7)
            .any(|t| ["WARNINGS", "ERRORS", "PROFILE", "PROFILES"].iter().any(|kw| t.is_word(self.sql, kw)));
        if previous {
            Part::write(Effects::PREVIOUS_RESULT)
        } else {
            Part::read(0)
        }
    }

    /// EXPLAIN / DESCRIBE: plans are computed, not executed, so a read with the
    /// explained statement's tables — except `EXPLAIN ANALYZE`, which runs it.
    fn explain(&self, toks: &[Token], facts: &Facts, depth: usize) -> Part {
        if self.word(toks, 1, "ANALYZE") {
            return self.analyze(toks.get(1..).unwrap_or_default(), facts, depth);
        }
        let mut i = 1;
        while ["EXTENDED", "PARTITIONS"].iter().any(|kw| self.word(toks, i, kw)) {
            i += 1;
        }
        if self.word(toks, i, "FORMAT") {
            i += 1;
            if toks.get(i).is_some_and(|t| t.is_punct(self.sql, b'=')) {
                i += 1;
            }
            i += 1;
        }
        let inner = toks.get(i..).unwrap_or_default();
        let statement_follows = ["SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "REPLACE", "TABLE", "VALUES"]
            .iter()
            .any(|kw| self.word(toks, i, kw))
            || toks.get(i).is_some_and(|t| t.is_punct(self.sql, b'('));
        let mut part = Part::read(0);
        if statement_follows {
            part.tables = self.statement(inner, depth + 1).tables;
        } else if !self.word(toks, i, "FOR") {
            // DESCRIBE t [column]
            self.read_table_list(toks, 1, false, &mut part);
        }
        part
    }

    /// MariaDB's `ANALYZE [FORMAT=JSON] <stmt>` (and MySQL's `EXPLAIN ANALYZE`)
    /// executes the statement: it classifies as that statement.
    /// `ANALYZE TABLE` updates statistics: a write that commits.
    fn analyze(&self, toks: &[Token], facts: &Facts, depth: usize) -> Part {
        let w1 = self.upper(toks, 1);
        if matches!(w1.as_str(), "TABLE" | "TABLES" | "NO_WRITE_TO_BINLOG" | "LOCAL") {
            let mut part = Part::write(Effects::IMPLICIT_COMMIT);
            self.token_tables(toks, &mut part);
            return part;
        }
        let mut i = 1;
        if self.word(toks, i, "FORMAT") {
            i += 1;
            if toks.get(i).is_some_and(|t| t.is_punct(self.sql, b'=')) {
                i += 1;
            }
            i += 1;
        }
        let mut part = self.statement(toks.get(i..).unwrap_or_default(), depth + 1);
        apply_facts(&mut part, facts, self.opts, false);
        part
    }

    /// Table names found by keyword position, for statements without an AST:
    /// after FROM / JOIN / INTO / TABLE / UPDATE / DELETE / INSERT / REFERENCES /
    /// LIKE (CREATE TABLE ... LIKE) / ON (CREATE INDEX ... ON).
    pub fn token_tables(&self, toks: &[Token], part: &mut Part) {
        let creates_or_drops = self.word(toks, 0, "CREATE") || self.word(toks, 0, "DROP");
        let index_stmt = creates_or_drops && toks.iter().take(6).any(|t| t.is_word(self.sql, "INDEX"));
        let mut i = 0;
        while i < toks.len() {
            let Some(t) = toks.get(i) else { break };
            if t.kind != Tok::Word {
                i += 1;
                continue;
            }
            let w = self.upper(toks, i);
            let list = match w.as_str() {
                "FROM" | "JOIN" | "STRAIGHT_JOIN" | "TABLE" | "TABLES" => Some(true),
                "INTO" => {
                    let next = toks.get(i + 1);
                    let target = next.is_some_and(|n| {
                        n.kind != Tok::UserVar && !n.is_word(self.sql, "OUTFILE") && !n.is_word(self.sql, "DUMPFILE")
                    });
                    target.then_some(false)
                }
                "UPDATE" | "DELETE" | "INSERT" | "REPLACE" | "HANDLER" | "TRUNCATE" if i == 0 => {
                    Some(w == "UPDATE" || w == "DELETE")
                }
                "REFERENCES" => Some(false),
                "LIKE" if creates_or_drops => Some(false),
                "ON" if index_stmt => Some(false),
                _ => None,
            };
            i = match list {
                Some(list) => self.read_table_list(toks, i + 1, list, part).max(i + 1),
                None => i + 1,
            };
        }
    }

    /// Reads `name [[AS] alias] [options] [, name ...]` from `start`; returns
    /// where it stopped. A `(` starting a subquery stops it (the caller goes on
    /// scanning inside); `(` starting a table list is entered.
    fn read_table_list(&self, toks: &[Token], start: usize, list: bool, part: &mut Part) -> usize {
        let sql = self.sql;
        let mut j = start;
        // Modifiers before the first name.
        while [
            "TEMPORARY",
            "TABLE",
            "IF",
            "NOT",
            "EXISTS",
            "LOW_PRIORITY",
            "DELAYED",
            "HIGH_PRIORITY",
            "IGNORE",
            "QUICK",
            "ONLY",
            "INTO",
        ]
        .iter()
        .any(|kw| self.word(toks, j, kw))
        {
            j += 1;
        }
        loop {
            let Some(t) = toks.get(j) else { return j };
            if t.is_punct(sql, b'(') {
                let subquery = ["SELECT", "WITH", "VALUES", "TABLE"].iter().any(|kw| self.word(toks, j + 1, kw))
                    || toks.get(j + 1).is_some_and(|n| n.is_punct(sql, b'('));
                if subquery {
                    return j;
                }
                j += 1;
                continue;
            }
            let is_name = match t.kind {
                Tok::Quoted => true,
                Tok::Word => !is_clause_word(t.text(sql)) && !toks.get(j + 1).is_some_and(|n| n.is_punct(sql, b'(')),
                _ => false,
            };
            if !is_name {
                return j;
            }
            // db.t, `db`.`t`: keep the last part.
            let mut last = *t;
            j += 1;
            while toks.get(j).is_some_and(|d| d.is_punct(sql, b'.'))
                && toks.get(j + 1).is_some_and(|n| matches!(n.kind, Tok::Word | Tok::Quoted))
            {
                if let Some(n) = toks.get(j + 1) {
                    last = *n;
                }
                j += 2;
            }
            let name = match last.kind {
                Tok::Quoted => String::from_utf8_lossy(&lexer::unquote(last.text(sql))).into_owned(),
                _ => String::from_utf8_lossy(last.text(sql)).into_owned(),
            };
            if !name.eq_ignore_ascii_case("dual") {
                part.add_table(&name);
            }
            // Alias, index hints, partitions, lock types, then `,` / `TO` for
            // the next name.
            loop {
                let Some(t) = toks.get(j) else { return j };
                if (t.is_punct(sql, b',') && list) || t.is_word(sql, "TO") {
                    j += 1;
                    break;
                }
                if t.is_punct(sql, b')') && list {
                    j += 1;
                    continue;
                }
                let w = self.upper(toks, j);
                match w.as_str() {
                    "AS" => j += 2,
                    "READ" | "WRITE" | "LOCAL" | "LOW_PRIORITY" => j += 1,
                    "PARTITION" | "USE" | "FORCE" | "IGNORE" => {
                        let open = toks.iter().skip(j).position(|x| x.is_punct(sql, b'(')).map(|p| p + j);
                        match open.and_then(|o| lexer::matching_paren(sql, toks, o)) {
                            Some(close) => j = close + 1,
                            None => return toks.len(),
                        }
                    }
                    _ if t.kind == Tok::Quoted => j += 1,
                    _ if t.kind == Tok::Word && !is_clause_word(t.text(sql)) && lexer_keyword_free(t.text(sql)) => {
                        j += 1
                    }
                    _ => return j,
                }
            }
        }
    }
}

/// Words that end a table reference or list.
fn is_clause_word(w: &[u8]) -> bool {
    [
        "WHERE",
        "SET",
        "VALUES",
        "VALUE",
        "ON",
        "USING",
        "GROUP",
        "ORDER",
        "LIMIT",
        "HAVING",
        "UNION",
        "EXCEPT",
        "INTERSECT",
        "LEFT",
        "RIGHT",
        "INNER",
        "OUTER",
        "CROSS",
        "NATURAL",
        "JOIN",
        "STRAIGHT_JOIN",
        "WINDOW",
        "FOR",
        "LOCK",
        "INTO",
        "SELECT",
        "WITH",
        "LIKE",
        "PROCEDURE",
        "RETURNING",
        "FULL",
        "DEFAULT",
        "CHARACTER",
        "FIELDS",
        "COLUMNS",
        "LINES",
        "IGNORE",
        "AS",
        "PARTITION",
        "READ",
        "WRITE",
        "LOW_PRIORITY",
        "TO",
        "WAIT",
        "NOWAIT",
        "FROM",
        "OPEN",
        "CLOSE",
        "ADD",
        "DROP",
        "MODIFY",
        "CHANGE",
        "RENAME",
        "ENGINE",
        "SELECT",
        "LATERAL",
        "ALL",
        "DISTINCT",
        "AND",
        "OR",
        "NOT",
        "IS",
        "IN",
        "BETWEEN",
        "LIKE",
        "REGEXP",
        "DUPLICATE",
        "KEY",
        "INDEX",
    ]
    .iter()
    .any(|kw| w.eq_ignore_ascii_case(kw.as_bytes()))
}

/// An alias cannot be an SQL keyword unless quoted.
fn lexer_keyword_free(w: &[u8]) -> bool {
    !["USE", "FORCE", "STRAIGHT_JOIN", "TABLESAMPLE", "FETCH", "OFFSET", "ORDER", "GROUP", "WHERE"]
        .iter()
        .any(|kw| w.eq_ignore_ascii_case(kw.as_bytes()))
}

/// ORs token-level facts into a statement's classification. `unknown_calls`:
/// also treat calls the scanner found to unknown functions as writes (when no
/// AST is available, or the AST walk did not reach every expression).
pub(crate) fn apply_facts(part: &mut Part, facts: &Facts, opts: &ClassifyOptions, unknown_calls: bool) {
    if facts.assigns_user_var || facts.into_user_var {
        part.write_effect(Effects::ASSIGNS_USER_VAR);
    }
    if facts.reads_user_var {
        part.effects |= Effects::READS_USER_VAR;
    }
    if facts.for_update || facts.for_share || facts.lock_in_share_mode {
        part.write_effect(Effects::LOCKING_READ);
    }
    if facts.into_file || facts.next_value_for {
        part.force_write();
    }
    if facts.sql_calc_found_rows {
        part.write_effect(Effects::SQL_CALC_FOUND_ROWS);
    }
    if facts.previous_value_for || facts.previous_result_var {
        part.write_effect(Effects::PREVIOUS_RESULT);
    }
    for call in &facts.functions {
        apply_call(part, functions::kind(&call.name, call.qualified, call.no_args), opts, unknown_calls);
        if !call.qualified {
            match call.name.as_str() {
                "LAST_INSERT_ID" if call.no_args => part.effects |= Effects::READS_LAST_INSERT_ID,
                "CONNECTION_ID" => part.effects |= Effects::CONNECTION_ID,
                _ => {}
            }
        }
    }
}

/// What one function call does to a classification.
pub(crate) fn apply_call(part: &mut Part, kind: FnKind, opts: &ClassifyOptions, unknown_counts: bool) {
    match kind {
        FnKind::Pure => {}
        FnKind::UserLock => part.write_effect(Effects::USER_LOCK),
        FnKind::PreviousResult => part.write_effect(Effects::PREVIOUS_RESULT),
        FnKind::Writes => part.force_write(),
        FnKind::Unknown if unknown_counts && !opts.unknown_functions_are_reads => part.force_write(),
        FnKind::Unknown => {}
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::{Classifier, ClassifyOptions, RouteHint};
    use super::*;

    const R: StatementClass = StatementClass::Read;
    const W: StatementClass = StatementClass::Write;

    fn classify_with(sql: &str, opts: ClassifyOptions) -> Classification {
        let lexed = lexer::lex(sql.as_bytes());
        super::classify(sql.as_bytes(), &lexed, &opts)
    }

    fn c(sql: &str) -> Classification {
        classify_with(sql, ClassifyOptions::default())
    }

    fn bits(names: &[u64]) -> u64 {
        names.iter().fold(0, |a, b| a | b)
    }

    /// (statement, class, exact effects). The corpus of the tests: real
    /// driver, CLI and benchmark statements plus MariaDB-only syntax.
    pub(crate) fn corpus() -> Vec<(&'static str, StatementClass, u64)> {
        use Effects as E;
        vec![
            // sysbench oltp_read_write
            ("SELECT c FROM sbtest1 WHERE id=5012", R, 0),
            ("SELECT c FROM sbtest1 WHERE id BETWEEN 5012 AND 5111", R, 0),
            ("SELECT SUM(k) FROM sbtest1 WHERE id BETWEEN 5012 AND 5111", R, 0),
            ("SELECT c FROM sbtest1 WHERE id BETWEEN 5012 AND 5111 ORDER BY c", R, 0),
            ("SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 5012 AND 5111 ORDER BY c", R, 0),
            ("UPDATE sbtest1 SET k=k+1 WHERE id=5012", W, 0),
            ("UPDATE sbtest1 SET c='1234-5678' WHERE id=5012", W, 0),
            ("DELETE FROM sbtest1 WHERE id=5012", W, 0),
            ("INSERT INTO sbtest1 (id, k, c, pad) VALUES (5012, 4997, '123-456', '789-012')", W, 0),
            // MariaDB Connector/J
            ("SET autocommit=1, sql_mode = concat(@@sql_mode,',STRICT_TRANS_TABLES')", W, E::SET_SESSION),
            ("SET SESSION TRANSACTION READ ONLY", W, E::SET_SESSION),
            ("SELECT @@max_allowed_packet , @@system_time_zone, @@time_zone, @@auto_increment_increment", R, 0),
            ("/* mysql-connector-java-8.0.33 (Revision: 7d6b0800) */SELECT  @@session.auto_increment_increment AS auto_increment_increment, @@character_set_client AS character_set_client, @@sql_mode AS sql_mode, @@time_zone AS time_zone, @@transaction_isolation AS transaction_isolation", R, 0),
            ("SHOW VARIABLES LIKE 'max_allowed_packet'", R, 0),
            ("SET NAMES utf8mb4", W, E::SET_SESSION),
            ("SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci", W, E::SET_SESSION),
            // PyMySQL
            ("SET AUTOCOMMIT = 0", W, E::SET_SESSION),
            ("SELECT VERSION()", R, 0),
            // mysql CLI
            ("select @@version_comment limit 1", R, 0),
            ("SELECT DATABASE()", R, 0),
            ("show databases", R, 0),
            ("show tables", R, 0),
            ("SHOW WARNINGS", W, E::PREVIOUS_RESULT),
            ("SHOW COUNT(*) ERRORS", W, E::PREVIOUS_RESULT),
            ("HELP 'contents'", R, E::UNPARSED),
            // reads
            ("SELECT 1", R, 0),
            ("SELECT 1 FROM dual", R, 0),
            ("SELECT NOW(), RAND(), UUID(), UUID_SHORT(), CONNECTION_ID()", R, E::CONNECTION_ID),
            ("SELECT SLEEP(1)", R, 0),
            ("SELECT @@version", R, 0),
            ("SELECT @@global.read_only", R, 0),
            ("WITH c AS (SELECT 1 AS n) SELECT n FROM c", R, 0),
            ("WITH RECURSIVE c (n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 5) SELECT * FROM c", R, 0),
            ("VALUES (1, 2), (3, 4)", R, 0),
            ("(SELECT a FROM t1) UNION (SELECT a FROM t2)", R, 0),
            ("SELECT JSON_EXTRACT(doc, '$.a'), ST_AsText(g), REGEXP_REPLACE(a, 'x', 'y') FROM t", R, 0),
            ("SELECT CAST(a AS DECIMAL(10,2)), CONVERT(b USING utf8mb4), IF(a, 1, 2), COALESCE(a, b) FROM t", R, 0),
            ("SELECT ROW_NUMBER() OVER (PARTITION BY a ORDER BY b) FROM t", R, 0),
            ("SELECT * FROM t WHERE id IN (SELECT id FROM u WHERE EXISTS (SELECT 1 FROM v))", R, 0),
            ("SELECT * FROM t WHERE a = @u", R, E::READS_USER_VAR),
            ("SELECT MASTER_GTID_WAIT('0-1-100', 1)", R, 0),
            ("DESCRIBE t", R, 0),
            ("DESC t", R, 0),
            ("EXPLAIN SELECT * FROM t", R, 0),
            ("EXPLAIN EXTENDED SELECT * FROM t", R, E::UNPARSED),
            ("EXPLAIN UPDATE t SET a = 1", R, 0),
            ("EXPLAIN SELECT GET_LOCK('x', 1)", R, 0),
            ("EXPLAIN FORMAT=JSON SELECT 1", R, 0),
            ("EXPLAIN ANALYZE SELECT * FROM t", R, 0),
            ("EXPLAIN ANALYZE UPDATE t SET a = 1", W, 0),
            ("ANALYZE SELECT * FROM t", R, E::UNPARSED),
            ("ANALYZE FORMAT=JSON DELETE FROM t", W, E::UNPARSED),
            ("SELECT * FROM t1 LEFT JOIN (t2, t3) ON t1.a = t2.a", R, E::UNPARSED),
            ("SELECT a DIV 2, a MOD 2 FROM t", R, E::UNPARSED),
            ("SELECT CHAR(65 USING utf8)", R, E::UNPARSED),
            ("SELECT * FROM t WHERE a = 1 LIMIT ROWS EXAMINED 10", R, E::UNPARSED),
            // locking reads
            ("SELECT c FROM t WHERE id = 1 FOR UPDATE", W, E::LOCKING_READ),
            ("SELECT c FROM t WHERE id = 1 FOR SHARE", W, E::LOCKING_READ),
            ("SELECT c FROM t WHERE id = 1 FOR UPDATE SKIP LOCKED", W, E::LOCKING_READ),
            ("SELECT c FROM t WHERE id = 1 LOCK IN SHARE MODE", W, E::LOCKING_READ | E::UNPARSED),
            ("SELECT 1 FOR UPDATE", W, E::LOCKING_READ | E::UNPARSED),
            // INTO
            ("SELECT 1 INTO @v", W, E::ASSIGNS_USER_VAR),
            ("SELECT a, b INTO @x, @y FROM t", W, E::ASSIGNS_USER_VAR),
            ("SELECT * FROM t INTO @a", W, E::ASSIGNS_USER_VAR | E::UNPARSED),
            ("SELECT 1 INTO OUTFILE '/tmp/x'", W, E::UNPARSED),
            ("SELECT 1 INTO DUMPFILE '/tmp/x'", W, E::UNPARSED),
            // side-effect and session-dependent functions
            ("SELECT GET_LOCK('lock1', 10)", W, E::USER_LOCK),
            ("SELECT RELEASE_LOCK('lock1')", W, E::USER_LOCK),
            ("SELECT RELEASE_ALL_LOCKS()", W, E::USER_LOCK),
            ("SELECT IS_USED_LOCK('lock1'), IS_FREE_LOCK('lock1')", W, E::USER_LOCK),
            ("SELECT LAST_INSERT_ID()", W, E::PREVIOUS_RESULT | E::READS_LAST_INSERT_ID),
            ("SELECT LAST_INSERT_ID(42)", W, 0),
            ("SELECT @@identity", W, E::PREVIOUS_RESULT),
            ("SELECT @@last_insert_id", W, E::PREVIOUS_RESULT),
            ("SELECT FOUND_ROWS()", W, E::PREVIOUS_RESULT),
            ("SELECT ROW_COUNT()", W, E::PREVIOUS_RESULT),
            ("SELECT NEXTVAL(s)", W, 0),
            ("SELECT SETVAL(s, 10)", W, 0),
            ("SELECT LASTVAL(s)", W, E::PREVIOUS_RESULT),
            ("SELECT NEXT VALUE FOR s", W, E::UNPARSED),
            ("SELECT PREVIOUS VALUE FOR s", W, E::PREVIOUS_RESULT | E::UNPARSED),
            ("SELECT @a := 1", W, E::ASSIGNS_USER_VAR),
            ("SELECT @rn := @rn + 1 AS rn, a FROM t", W, E::ASSIGNS_USER_VAR | E::READS_USER_VAR),
            ("SELECT SQL_CALC_FOUND_ROWS * FROM t LIMIT 10", W, E::SQL_CALC_FOUND_ROWS),
            ("SELECT my_stored_function(a) FROM t", W, 0),
            ("SELECT db1.now()", W, 0),
            ("SELECT a FROM t WHERE b = (SELECT GET_LOCK('x', 0))", W, E::USER_LOCK),
            ("SELECT * FROM t WHERE a IN (SELECT LAST_INSERT_ID())", W, E::PREVIOUS_RESULT | E::READS_LAST_INSERT_ID),
            // DML
            ("REPLACE INTO t VALUES (1)", W, 0),
            ("INSERT INTO t SELECT * FROM u", W, 0),
            ("INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a = VALUES(a)", W, 0),
            ("INSERT INTO t (a) VALUES (LAST_INSERT_ID())", W, E::PREVIOUS_RESULT | E::READS_LAST_INSERT_ID),
            ("UPDATE t1, t2 SET t1.a = t2.a WHERE t1.id = t2.id", W, E::UNPARSED),
            ("DELETE t1 FROM t1 JOIN t2 ON t1.id = t2.id", W, 0),
            ("MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE", W, 0),
            ("WITH c AS (SELECT 1) UPDATE t SET a = 1", W, 0),
            ("LOAD DATA LOCAL INFILE '/tmp/f.csv' INTO TABLE t", W, E::LOAD_DATA | E::UNPARSED),
            ("LOAD DATA INFILE 'f' INTO TABLE t FIELDS TERMINATED BY ','", W, E::LOAD_DATA | E::UNPARSED),
            ("CALL p(1)", W, E::CALL),
            ("CALL p", W, E::CALL),
            ("CALL p(@in, @out)", W, E::CALL | E::READS_USER_VAR | E::ASSIGNS_USER_VAR),
            ("LOAD DATA INFILE 'f' INTO TABLE t (@c1) SET a = @c1", W, E::LOAD_DATA | E::UNPARSED | E::READS_USER_VAR | E::ASSIGNS_USER_VAR),
            ("DO 1", W, E::UNPARSED),
            ("DO GET_LOCK('a', 1)", W, E::USER_LOCK | E::UNPARSED),
            ("HANDLER t OPEN", W, E::UNPARSED),
            // DDL
            ("CREATE TABLE t (a INT)", W, E::IMPLICIT_COMMIT),
            ("CREATE TABLE t2 SELECT * FROM t", W, E::IMPLICIT_COMMIT),
            ("CREATE TEMPORARY TABLE tt (a INT)", W, E::CREATE_TEMP_TABLE),
            ("CREATE TEMPORARY TABLE IF NOT EXISTS tt SELECT * FROM u", W, E::CREATE_TEMP_TABLE),
            ("DROP TEMPORARY TABLE tt", W, E::DROP_TEMP_TABLE),
            ("DROP TABLE IF EXISTS db.t1, t2", W, E::IMPLICIT_COMMIT),
            ("ALTER TABLE t ADD COLUMN x INT", W, E::IMPLICIT_COMMIT),
            ("CREATE INDEX i ON t (a)", W, E::IMPLICIT_COMMIT),
            ("DROP INDEX i ON t", W, E::IMPLICIT_COMMIT),
            ("CREATE VIEW v AS SELECT GET_LOCK('x', 1)", W, E::IMPLICIT_COMMIT),
            ("RENAME TABLE a TO b", W, E::IMPLICIT_COMMIT),
            ("TRUNCATE TABLE t", W, E::IMPLICIT_COMMIT),
            ("TRUNCATE t", W, E::IMPLICIT_COMMIT),
            ("CREATE DATABASE d", W, E::IMPLICIT_COMMIT),
            ("CREATE SEQUENCE s", W, E::IMPLICIT_COMMIT),
            ("CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END", W, E::IMPLICIT_COMMIT | E::UNPARSED),
            ("GRANT SELECT ON db.* TO u", W, E::IMPLICIT_COMMIT),
            ("REVOKE SELECT ON db.* FROM u", W, E::IMPLICIT_COMMIT),
            ("CREATE USER u IDENTIFIED BY 'p'", W, E::IMPLICIT_COMMIT | E::UNPARSED),
            // maintenance
            ("FLUSH TABLES", W, E::IMPLICIT_COMMIT),
            ("FLUSH PRIVILEGES", W, E::IMPLICIT_COMMIT),
            ("ANALYZE TABLE t", W, E::IMPLICIT_COMMIT),
            ("OPTIMIZE TABLE t", W, E::IMPLICIT_COMMIT | E::UNPARSED),
            ("REPAIR TABLE t", W, E::IMPLICIT_COMMIT | E::UNPARSED),
            ("CHECK TABLE t", W, E::IMPLICIT_COMMIT | E::UNPARSED),
            ("KILL 5", W, E::KILL),
            ("KILL QUERY 5", W, E::KILL),
            ("SHUTDOWN", W, E::UNPARSED),
            // locks
            ("LOCK TABLES t READ", W, E::LOCK_TABLES | E::IMPLICIT_COMMIT),
            ("LOCK TABLES t WRITE, u READ", W, E::LOCK_TABLES | E::IMPLICIT_COMMIT),
            ("LOCK TABLE t READ", W, E::LOCK_TABLES | E::IMPLICIT_COMMIT | E::UNPARSED),
            ("UNLOCK TABLES", W, E::UNLOCK_TABLES),
            // transactions
            ("BEGIN", W, E::BEGIN),
            ("BEGIN WORK", W, E::BEGIN),
            ("START TRANSACTION", W, E::BEGIN),
            ("START TRANSACTION READ WRITE", W, E::BEGIN),
            ("START TRANSACTION WITH CONSISTENT SNAPSHOT", W, E::BEGIN | E::UNPARSED),
            ("START TRANSACTION READ ONLY", R, E::BEGIN | E::BEGIN_READ_ONLY),
            ("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY", R, E::BEGIN | E::BEGIN_READ_ONLY | E::UNPARSED),
            ("COMMIT", W, E::COMMIT),
            ("COMMIT WORK", W, E::COMMIT),
            ("ROLLBACK", W, E::ROLLBACK),
            ("ROLLBACK TO SAVEPOINT a", W, E::SAVEPOINT),
            ("ROLLBACK WORK TO a", W, E::SAVEPOINT),
            ("SAVEPOINT a", W, E::SAVEPOINT),
            ("RELEASE SAVEPOINT a", W, E::SAVEPOINT),
            ("XA START 'x'", W, E::XA | E::UNPARSED),
            ("XA END 'x'", W, E::XA | E::UNPARSED),
            ("XA COMMIT 'x'", W, E::XA | E::UNPARSED),
            ("START SLAVE", W, E::IMPLICIT_COMMIT | E::UNPARSED),
            // SQL-level prepared statements
            ("PREPARE s FROM 'select 1'", W, E::SQL_PREPARE | E::UNPARSED),
            ("EXECUTE s", W, E::SQL_PREPARE),
            ("EXECUTE s USING @a", W, E::SQL_PREPARE | E::READS_USER_VAR),
            ("DEALLOCATE PREPARE s", W, E::SQL_PREPARE),
            ("DROP PREPARE s", W, E::SQL_PREPARE | E::UNPARSED),
            // SET forms (details in set.rs)
            ("SET @u = 1", W, E::ASSIGNS_USER_VAR),
            ("SET GLOBAL max_connections = 100", W, 0),
            ("SET STATEMENT max_statement_time=1 FOR SELECT 1", R, E::SET_STATEMENT),
            ("SET STATEMENT max_statement_time=1 FOR UPDATE t SET a = 1", W, E::SET_STATEMENT),
            ("SET PASSWORD = PASSWORD('x')", W, 0),
            ("SET ROLE r", W, 0),
            ("/*!40101 SET NAMES utf8 */", W, E::SET_SESSION),
            ("USE db", R, E::USE_DB),
            // executable comments
            ("/*M!100100 SELECT 1 */", R, 0),
            ("SELECT 1 /*!50100 FOR UPDATE */", W, E::LOCKING_READ | E::UNPARSED),
            ("/*!50001 CREATE ALGORITHM=UNDEFINED */ /*!50013 DEFINER=`root`@`%` SQL SECURITY DEFINER */ /*!50001 VIEW v AS SELECT 1 */", W, E::IMPLICIT_COMMIT),
            // hints do not change the class
            ("/* rwsplit:master */ SELECT 1", R, 0),
            // multi-statement packets
            ("SELECT 1; SELECT 2", R, E::MULTI),
            ("SELECT 1; UPDATE t SET a = 1", W, E::MULTI),
            ("BEGIN; UPDATE t SET a = 1; COMMIT", W, E::MULTI | E::BEGIN | E::COMMIT),
            // oddities
            ("", W, 0),
            ("/* only a comment */", W, 0),
            (";", W, 0),
            ("FROBNICATE the database", W, E::UNPARSED),
        ]
    }

    #[test]
    fn corpus_classes_and_effects() {
        let mut failures = Vec::new();
        for (sql, class, effects) in corpus() {
            let got = c(sql);
            if got.class != class || got.effects.0 != effects {
                failures.push(format!(
                    "{sql:?}: got {:?} {:#x}, want {:?} {:#x}",
                    got.class, got.effects.0, class, effects
                ));
            }
        }
        assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
    }

    #[test]
    fn corpus_through_the_cache_agrees() {
        // Second classification comes from the cache (for cacheable ones) and
        // must be identical.
        let classifier = Classifier::new(1000);
        for (sql, _, _) in corpus() {
            let first = classifier.classify(sql.as_bytes());
            let second = classifier.classify(sql.as_bytes());
            assert_eq!(first, second, "{sql:?}");
        }
        assert!(classifier.cache().hits() > 100);
    }

    #[test]
    fn unknown_functions_option() {
        let opts = ClassifyOptions { unknown_functions_are_reads: true };
        assert_eq!(classify_with("SELECT my_fn(a) FROM t", opts.clone()).class, R);
        assert_eq!(classify_with("SELECT a FROM t LOCK IN SHARE MODE", opts.clone()).class, W);
        assert_eq!(classify_with("SELECT GET_LOCK('a', 1)", opts).class, W);
    }

    #[test]
    fn tables_table() {
        let cases: &[(&str, &[&str])] = &[
            ("SELECT c FROM sbtest1 WHERE id = 1", &["sbtest1"]),
            ("SELECT * FROM db.T1 AS a JOIN `Db`.`t2` b ON a.x = b.x LEFT JOIN t3 USING (x)", &["t1", "t2", "t3"]),
            ("SELECT * FROM t1, t2 WHERE t1.a = t2.a", &["t1", "t2"]),
            ("SELECT * FROM t WHERE a IN (SELECT b FROM u) AND EXISTS (SELECT 1 FROM v)", &["t", "u", "v"]),
            ("SELECT * FROM (SELECT a FROM inner_t) AS d", &["inner_t"]),
            ("WITH c AS (SELECT a FROM base) SELECT * FROM c", &["base", "c"]),
            ("SELECT 1 FROM dual", &[]),
            ("SELECT 1", &[]),
            ("INSERT INTO t1 (a) SELECT a FROM t2", &["t1", "t2"]),
            ("REPLACE INTO t VALUES (1)", &["t"]),
            ("UPDATE t1 JOIN t2 ON t1.a = t2.a SET t1.b = 1", &["t1", "t2"]),
            ("UPDATE t1, t2 SET t1.a = t2.a WHERE t1.id = t2.id", &["t1", "t2"]),
            ("DELETE FROM t WHERE id IN (SELECT id FROM u)", &["t", "u"]),
            ("DELETE t1 FROM t1 JOIN t2 ON t1.id = t2.id", &["t1", "t2"]),
            ("CREATE TEMPORARY TABLE tt (a INT)", &["tt"]),
            ("CREATE TABLE t2 LIKE t1", &["t2", "t1"]),
            ("CREATE TABLE t2 SELECT * FROM t1", &["t2", "t1"]),
            ("DROP TEMPORARY TABLE IF EXISTS tt", &["tt"]),
            ("DROP TABLE IF EXISTS db.t1, t2", &["t1", "t2"]),
            ("ALTER TABLE db.t ADD INDEX (a)", &["t"]),
            ("CREATE INDEX i ON t (a)", &["t"]),
            ("TRUNCATE TABLE t", &["t"]),
            ("RENAME TABLE a TO b, c TO d", &["a", "b", "c", "d"]),
            ("LOCK TABLES t1 READ, db.t2 AS x WRITE", &["t1", "t2"]),
            ("LOCK TABLE t1 READ, t2 WRITE", &["t1", "t2"]),
            ("LOAD DATA LOCAL INFILE 'f' INTO TABLE db.target", &["target"]),
            ("SELECT c FROM t1 JOIN t2 ON t1.a = t2.a WHERE id = 1 LOCK IN SHARE MODE", &["t1", "t2"]),
            ("SELECT * FROM t1 LEFT JOIN (t2, t3) ON t1.a = t2.a", &["t1", "t2", "t3"]),
            ("DESCRIBE t", &["t"]),
            ("EXPLAIN SELECT * FROM t", &["t"]),
            ("SHOW CREATE TABLE tt", &["tt"]),
            ("SHOW COLUMNS FROM tt", &["tt"]),
            ("HANDLER t OPEN", &["t"]),
            ("SELECT 1; SELECT * FROM a; SELECT * FROM A", &["a"]),
            ("TABLE t", &["t"]),
            ("SELECT * FROM t FORCE INDEX (i) WHERE a = 1", &["t"]),
            ("SELECT * FROM JSON_TABLE('[]', '$[*]' COLUMNS (a INT PATH '$')) AS j", &[]),
        ];
        for (sql, want) in cases {
            assert_eq!(c(sql).tables, *want, "tables of {sql:?}");
        }
    }

    #[test]
    fn use_db_table() {
        assert_eq!(c("USE db1").use_db.as_deref(), Some("db1"));
        assert_eq!(c("use `My Db`").use_db.as_deref(), Some("My Db"));
        assert_eq!(c("USE `a``b`").use_db.as_deref(), Some("a`b"));
        let bad = c("USE");
        assert_eq!((bad.class, bad.use_db), (W, None));
        assert!(bad.effects.has(Effects::UNPARSED));
        let multi = c("USE a; SELECT 1");
        assert_eq!(multi.use_db.as_deref(), Some("a"));
        assert!(multi.effects.has(Effects::USE_DB | Effects::MULTI));
    }

    #[test]
    fn hints_reach_the_classification() {
        assert_eq!(c("/* rwsplit:master */ SELECT 1").hint, Some(RouteHint::Master));
        assert_eq!(c("SELECT 1 -- maxscale route to slave").hint, Some(RouteHint::Replica));
        assert_eq!(c("SELECT /* rwsplit:server=db2 */ 1").hint, Some(RouteHint::Server("db2".into())));
        assert_eq!(c("SELECT 1").hint, None);
    }

    #[test]
    fn digest_is_recorded() {
        assert_eq!(&*c("SELECT c FROM sbtest1 WHERE id=5").digest, "SELECT c FROM sbtest1 WHERE id = ?");
    }

    #[test]
    fn nested_statements_are_bounded() {
        let sql = "EXPLAIN ANALYZE ".repeat(50) + "SELECT 1";
        assert_eq!(c(&sql).class, W);
        let sql = "SET STATEMENT a=1 FOR ".repeat(50) + "SELECT 1";
        assert_eq!(c(&sql).class, W);
    }

    #[test]
    fn long_operator_chains_skip_sqlparser() {
        let sql = format!("SELECT * FROM t WHERE {}", vec!["a = 1"; 20_000].join(" AND "));
        let got = c(&sql);
        assert_eq!(got.class, R);
        assert!(got.effects.has(Effects::UNPARSED));
        let sql = format!("SELECT * FROM t WHERE {}", vec!["a = 1"; 400].join(" AND "));
        assert_eq!(c(&sql).effects.0, 0);
    }

    #[test]
    fn deep_nesting_falls_back() {
        let sql = format!("SELECT {}1{}", "(".repeat(500), ")".repeat(500));
        let got = c(&sql);
        assert!(got.effects.has(Effects::UNPARSED));
        assert_eq!(got.class, R);
    }

    #[test]
    fn effects_helpers() {
        assert_eq!(bits(&[Effects::BEGIN, Effects::COMMIT]), 0b101);
    }
}
