//! Statement classification: what a statement does, so that `route` can pick a
//! server and the session can track state. A byte-level lexer normalises each
//! statement to a digest (literals → `?`, comments and whitespace folded, routing
//! hints kept); a bounded cache maps digests to classifications, so sqlparser
//! runs once per distinct statement shape.
//!
//! Module map: `lexer` (scanner, digest, token facts), `hint` (routing hints
//! in comments), `parse` (per-statement driver and keyword table), `ast`
//! (sqlparser tree walk), `set` (SET statements), `functions` (built-in
//! function table), `cache` (bounded digest cache).

// No panics on client input: everything below reads bytes a client sent.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod ast;
mod cache;
mod functions;
mod hint;
mod lexer;
mod parse;
mod set;

use std::sync::Arc;

pub use cache::{DigestCache, UNPARSED_CAPACITY};
pub use hint::RouteHint;

/// Where a statement may run, before session state and topology are considered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatementClass {
    /// No side effects, no session dependence: any healthy replica may run it.
    Read,
    /// Must run on the master: writes, DDL, locking reads, side-effect functions,
    /// anything the classifier does not understand.
    Write,
}

/// What a statement does beyond reading or writing rows, as far as routing and
/// session tracking care. A bit set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Effects(pub u64);

impl Effects {
    pub const BEGIN: u64 = 1 << 0;
    /// START TRANSACTION READ ONLY.
    pub const BEGIN_READ_ONLY: u64 = 1 << 1;
    pub const COMMIT: u64 = 1 << 2;
    pub const ROLLBACK: u64 = 1 << 3;
    /// Ends any open transaction implicitly (DDL, LOCK TABLES, ...).
    pub const IMPLICIT_COMMIT: u64 = 1 << 4;
    pub const XA: u64 = 1 << 5;
    /// SET of session system variables (incl. NAMES, CHARACTER SET, autocommit,
    /// SESSION TRANSACTION ...): see `Classification::session_vars`.
    pub const SET_SESSION: u64 = 1 << 6;
    /// `SET @v = ...`, `SELECT ... INTO @v`, `@v := ...`.
    pub const ASSIGNS_USER_VAR: u64 = 1 << 7;
    /// Reads a user variable (`@v` not being assigned).
    pub const READS_USER_VAR: u64 = 1 << 8;
    /// USE db.
    pub const USE_DB: u64 = 1 << 9;
    pub const CREATE_TEMP_TABLE: u64 = 1 << 10;
    pub const DROP_TEMP_TABLE: u64 = 1 << 11;
    pub const LOCK_TABLES: u64 = 1 << 12;
    pub const UNLOCK_TABLES: u64 = 1 << 13;
    /// GET_LOCK(), RELEASE_LOCK(), RELEASE_ALL_LOCKS(), IS_USED_LOCK(), IS_FREE_LOCK().
    pub const USER_LOCK: u64 = 1 << 14;
    pub const SQL_CALC_FOUND_ROWS: u64 = 1 << 15;
    /// FOUND_ROWS(), ROW_COUNT(), LAST_INSERT_ID() without argument: answers about
    /// the session's previous statement, so it must run where that one ran.
    pub const PREVIOUS_RESULT: u64 = 1 << 16;
    /// SQL-level PREPARE / EXECUTE / DEALLOCATE PREPARE.
    pub const SQL_PREPARE: u64 = 1 << 17;
    pub const LOAD_DATA: u64 = 1 << 18;
    pub const CALL: u64 = 1 << 19;
    /// Several statements in one COM_QUERY.
    pub const MULTI: u64 = 1 << 20;
    /// The parser could not handle it (the lexer's fallback decided).
    pub const UNPARSED: u64 = 1 << 21;
    /// SELECT ... FOR UPDATE / LOCK IN SHARE MODE / FOR SHARE.
    pub const LOCKING_READ: u64 = 1 << 22;
    /// KILL statement (handled by the proxy itself).
    pub const KILL: u64 = 1 << 23;
    /// SET STATEMENT ... FOR <stmt>: variables apply to that statement only.
    pub const SET_STATEMENT: u64 = 1 << 24;
    /// SAVEPOINT, ROLLBACK TO SAVEPOINT, RELEASE SAVEPOINT: transaction-scoped
    /// but neither begins nor ends the transaction.
    pub const SAVEPOINT: u64 = 1 << 25;
    /// Calls LAST_INSERT_ID() (no argument): the session's own last insert id
    /// must be in place on whatever connection runs it.
    pub const READS_LAST_INSERT_ID: u64 = 1 << 26;
    /// Calls CONNECTION_ID(): the session keeps the connection whose id it saw.
    pub const CONNECTION_ID: u64 = 1 << 27;

    pub fn has(self, bit: u64) -> bool {
        self.0 & bit != 0
    }
}

/// A session variable assignment found in a SET statement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SessionVar {
    /// Lower-case variable name (`sql_mode`, `autocommit`, or one of the
    /// constants below for the SET forms that are not `name = value`).
    pub name: String,
    /// The assigned expression as written, comments removed (e.g. `'ANSI'`,
    /// `0`, `concat(@@sql_mode,',X')`, `utf8mb4 COLLATE utf8mb4_bin`). It may
    /// refer to other variables or call functions: replaying it on another
    /// connection is only exact for constants.
    pub value: String,
}

impl SessionVar {
    /// `SET NAMES cs [COLLATE c]`: value `cs` or `cs COLLATE c`.
    pub const NAMES: &'static str = "names";
    /// `SET CHARACTER SET cs` / `SET CHARSET cs`.
    pub const CHARACTER_SET: &'static str = "character set";
    /// `SET SESSION TRANSACTION ISOLATION LEVEL ...`: value `READ UNCOMMITTED`,
    /// `READ COMMITTED`, `REPEATABLE READ` or `SERIALIZABLE`.
    pub const TRANSACTION_ISOLATION: &'static str = "transaction isolation";
    /// `SET SESSION TRANSACTION READ ONLY` (`1`) / `READ WRITE` (`0`).
    pub const TRANSACTION_READ_ONLY: &'static str = "transaction read only";
    /// `SET TRANSACTION ISOLATION LEVEL ...` without SESSION: the next
    /// transaction on this connection only.
    pub const NEXT_TRANSACTION_ISOLATION: &'static str = "next transaction isolation";
    /// `SET TRANSACTION READ ONLY|READ WRITE` without SESSION.
    pub const NEXT_TRANSACTION_READ_ONLY: &'static str = "next transaction read only";
}

/// Classifier settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassifyOptions {
    /// Treat calls to functions that are not known built-ins (stored functions,
    /// UDFs) as reads. Off by default: a stored function may write, and a
    /// write sent to a replica fails or, worse, diverges it.
    pub unknown_functions_are_reads: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    pub class: StatementClass,
    pub effects: Effects,
    /// A routing hint found in a comment.
    pub hint: Option<RouteHint>,
    /// Tables the statement names, lower-case, without database qualifier (for
    /// temporary-table tracking).
    pub tables: Vec<String>,
    /// For SET statements: the session variables assigned, in order.
    pub session_vars: Vec<SessionVar>,
    /// For USE: the database.
    pub use_db: Option<String>,
    /// Normalised text (literals replaced by `?`), for stats.
    pub digest: Arc<str>,
    /// Asks about the previous statement's warnings or errors (SHOW WARNINGS,
    /// GET DIAGNOSTICS, @@warning_count): worked out once per statement shape.
    pub diagnostics: bool,
    /// Where this shape's statistics are counted, found at its first count.
    pub stats: crate::stats::DigestSlot,
}

/// Whether a digest asks about the previous statement's outcome.
pub(crate) fn is_diagnostics(digest: &str) -> bool {
    let d = digest.to_ascii_uppercase();
    ["SHOW WARNINGS", "SHOW ERRORS", "SHOW COUNT", "GET DIAGNOSTICS"].iter().any(|p| d.starts_with(p))
        || d.contains("@@WARNING_COUNT")
        || d.contains("@@ERROR_COUNT")
        || d.contains("@@SESSION.WARNING_COUNT")
        || d.contains("@@SESSION.ERROR_COUNT")
}

impl Classification {
    /// Whether this statement's own SET accounts for a system variable the server
    /// reported changed (SET NAMES changes three character set variables, the
    /// transaction settings have two names each).
    pub fn explains_variable(&self, tracked: &str) -> bool {
        self.session_vars.iter().any(|v| {
            let set = v.name.as_str();
            set == tracked
                || matches!(
                    (set, tracked),
                    (
                        "names" | "character set" | "charset",
                        "character_set_client"
                            | "character_set_connection"
                            | "character_set_results"
                            | "collation_connection"
                    ) | (
                        "transaction isolation" | "tx_isolation" | "transaction_isolation",
                        "tx_isolation" | "transaction_isolation"
                    ) | (
                        "transaction read only" | "tx_read_only" | "transaction_read_only",
                        "tx_read_only" | "transaction_read_only"
                    )
                )
        })
    }
}

/// Classifies a statement. Cached by digest except where the result depends on
/// literals (SET, USE), which are classified afresh each time.
pub struct Classifier {
    cache: DigestCache,
    options: ClassifyOptions,
}

impl Classifier {
    pub fn new(cache_capacity: usize) -> Self {
        Self::with_options(cache_capacity, ClassifyOptions::default())
    }

    pub fn with_options(cache_capacity: usize, options: ClassifyOptions) -> Self {
        Self { cache: DigestCache::new(cache_capacity), options }
    }

    /// Classifies a COM_QUERY payload (any bytes; never panics).
    pub fn classify(&self, sql: &[u8]) -> Arc<Classification> {
        let lexed = lexer::lex(sql);
        if lexed.cacheable {
            if let Some(hit) = self.cache.get(lexed.digest_hash, &lexed.digest) {
                if hit.effects.has(Effects::UNPARSED) {
                    self.cache.record_unparsed(&hit.digest);
                }
                return hit;
            }
        } else {
            self.cache.note_uncacheable();
        }
        // Parsed outside any cache lock: a concurrent duplicate parse of the
        // same new digest is cheaper than serialising on it.
        let classification = Arc::new(parse::classify(sql, &lexed, &self.options));
        if classification.effects.has(Effects::UNPARSED) {
            self.cache.record_unparsed(&classification.digest);
        }
        if lexed.cacheable {
            self.cache.insert(lexed.digest_hash, classification.clone());
        }
        classification
    }

    pub fn options(&self) -> &ClassifyOptions {
        &self.options
    }

    pub fn cache(&self) -> &DigestCache {
        &self.cache
    }
}

#[cfg(test)]
mod tests {
    use super::lexer::{self, Tok};
    use super::parse::tests::corpus;
    use super::*;

    /// xorshift64*: deterministic, dependency-free randomness for the fuzz
    /// tests. `RWSPLIT_FUZZ_SEED` replays another sequence.
    struct Rng(u64);

    impl Rng {
        fn new() -> Self {
            let seed =
                std::env::var("RWSPLIT_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x9E37_79B9_7F4A_7C15);
            Rng(seed | 1)
        }

        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// Effects that can never come with a Read.
    const WRITE_ONLY_EFFECTS: u64 = Effects::LOCKING_READ
        | Effects::ASSIGNS_USER_VAR
        | Effects::USER_LOCK
        | Effects::PREVIOUS_RESULT
        | Effects::SQL_CALC_FOUND_ROWS
        | Effects::IMPLICIT_COMMIT
        | Effects::LOCK_TABLES
        | Effects::CREATE_TEMP_TABLE
        | Effects::LOAD_DATA
        | Effects::CALL
        | Effects::XA
        | Effects::KILL;

    /// Classifies on a thread with a tokio worker's default stack (2 MiB), so
    /// deep recursion shows up here rather than in production.
    fn on_small_stack(f: impl FnOnce() + Send + 'static) {
        let handle = std::thread::Builder::new().stack_size(2 << 20).spawn(f).unwrap();
        if let Err(panic) = handle.join() {
            std::panic::resume_unwind(panic);
        }
    }

    fn check(classifier: &Classifier, sql: &[u8]) {
        let c = classifier.classify(sql);
        assert!(c.digest.len() <= lexer::MAX_DIGEST_BYTES, "digest too long for {sql:?}");
        if c.class == StatementClass::Read {
            assert_eq!(
                c.effects.0 & WRITE_ONLY_EFFECTS,
                0,
                "read with write effects: {:?}",
                String::from_utf8_lossy(sql)
            );
        }
        let again = classifier.classify(sql);
        assert_eq!(c, again, "unstable classification of {:?}", String::from_utf8_lossy(sql));
    }

    const FRAGMENTS: &[&str] = &[
        "SELECT ",
        "FROM ",
        "t ",
        "WHERE ",
        "a ",
        "= ",
        "1 ",
        "'x' ",
        "\"y\" ",
        "`z` ",
        "( ",
        ") ",
        ", ",
        "; ",
        "@v ",
        "@@session.x ",
        ":= ",
        "FOR UPDATE ",
        "LOCK IN SHARE MODE ",
        "INTO ",
        "OUTFILE ",
        "/* ",
        "*/ ",
        "/*! ",
        "/*M!100100 ",
        "-- ",
        "\n",
        "# ",
        "SET ",
        "NAMES ",
        "SESSION ",
        "TRANSACTION ",
        "READ ONLY ",
        "USE ",
        "IN ",
        "VALUES ",
        "INSERT ",
        "UPDATE ",
        "DELETE ",
        "EXPLAIN ",
        "ANALYZE ",
        "WITH ",
        "AS ",
        "GET_LOCK(",
        "NOW() ",
        "CALL ",
        "BEGIN ",
        "END ",
        "CREATE ",
        "TABLE ",
        "TEMPORARY ",
        "DROP ",
        "STATEMENT ",
        "/* rwsplit:master */ ",
        "-- maxscale route to server db1\n",
        "x'41' ",
        "0x1F ",
        "1e5 ",
        "\\",
        "'",
        "\"",
        "`",
        "?",
        "AND ",
        "NOT ",
        "UNION ",
        "JOIN ",
        "ON ",
        "LIMIT ",
        "XA ",
        "LOAD DATA ",
        "DO ",
        "SHOW ",
        "DESCRIBE ",
        "\u{e9} ",
        "\u{ff}",
    ];

    #[test]
    fn fuzz_never_panics() {
        on_small_stack(|| {
            let classifier = Classifier::new(64);
            let mut rng = Rng::new();
            let corpus: Vec<&str> = corpus().into_iter().map(|c| c.0).collect();
            // Every truncation of every corpus statement.
            for sql in &corpus {
                for end in 0..=sql.len() {
                    check(&classifier, &sql.as_bytes()[..end]);
                }
            }
            // Random byte mutations of the corpus.
            for _ in 0..3_000 {
                let mut sql = corpus[rng.below(corpus.len())].as_bytes().to_vec();
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(sql.len() + 1);
                    match rng.below(3) {
                        0 if at < sql.len() => sql[at] = rng.next() as u8,
                        1 if at < sql.len() => {
                            sql.remove(at);
                        }
                        _ => sql.insert(at, rng.next() as u8),
                    }
                }
                check(&classifier, &sql);
            }
            // Random bytes.
            for _ in 0..2_000 {
                let len = rng.below(200);
                let sql: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
                check(&classifier, &sql);
            }
            // Token soup: SQL-shaped nonsense reaches the deeper paths.
            for _ in 0..4_000 {
                let n = 1 + rng.below(24);
                let sql: String = (0..n).map(|_| FRAGMENTS[rng.below(FRAGMENTS.len())]).collect();
                check(&classifier, sql.as_bytes());
            }
        });
    }

    #[test]
    fn pathological_inputs_stay_within_a_small_stack() {
        on_small_stack(|| {
            let classifier = Classifier::new(16);
            let cases = [
                format!("SELECT * FROM t WHERE {}", vec!["a=1"; 30_000].join(" AND ")),
                format!("SELECT {}", vec!["1"; 30_000].join("+")),
                format!("{}SELECT 1", "EXPLAIN ".repeat(1_000)),
                format!("{}SELECT 1", "EXPLAIN ANALYZE ".repeat(100)),
                format!("{}SELECT 1", "ANALYZE ".repeat(1_000)),
                format!("SELECT {}1{}", "(".repeat(10_000), ")".repeat(10_000)),
                format!("SELECT {}1{}", "(SELECT ".repeat(5_000), ")".repeat(5_000)),
                format!("SELECT {}1", "NOT ".repeat(10_000)),
                format!("SELECT {}1", "- ".repeat(10_000)),
                format!("SELECT {}1{}", "f(".repeat(10_000), ")".repeat(10_000)),
                format!("{}SELECT 1", "SET STATEMENT a=1 FOR ".repeat(1_000)),
                format!("SELECT * FROM t WHERE id IN ({})", vec!["1"; 200_000].join(",")),
                "/*".repeat(100_000),
                "/*!".repeat(100_000),
                ";".repeat(100_000),
                "'".repeat(100_001),
            ];
            for sql in &cases {
                let c = classifier.classify(sql.as_bytes());
                assert!(c.digest.len() <= lexer::MAX_DIGEST_BYTES);
            }
        });
    }

    /// Caching is sound only if statements sharing a digest classify alike:
    /// rewrite every literal of the corpus and compare.
    #[test]
    fn same_digest_same_classification() {
        let mut rng = Rng::new();
        let opts = ClassifyOptions::default();
        for (sql, _, _) in corpus() {
            let l = lexer::lex(sql.as_bytes());
            if !l.cacheable {
                continue;
            }
            for _ in 0..3 {
                let mut out = Vec::new();
                let mut pos = 0;
                for t in &l.tokens {
                    out.extend_from_slice(&sql.as_bytes()[pos..t.start]);
                    match t.kind {
                        Tok::Number => out.extend_from_slice(rng.next().to_string().as_bytes()),
                        Tok::Str => out.extend_from_slice(format!("'v{}'", rng.below(1000)).as_bytes()),
                        _ => out.extend_from_slice(t.text(sql.as_bytes())),
                    }
                    pos = t.end;
                }
                out.extend_from_slice(&sql.as_bytes()[pos..]);
                let l2 = lexer::lex(&out);
                assert_eq!(l.digest, l2.digest, "{sql:?} vs {:?}", String::from_utf8_lossy(&out));
                let a = parse::classify(sql.as_bytes(), &l, &opts);
                let b = parse::classify(&out, &l2, &opts);
                assert_eq!(a, b, "{sql:?} vs {:?}", String::from_utf8_lossy(&out));
            }
        }
    }

    #[test]
    fn unparsed_statements_are_tallied_with_their_digest() {
        let classifier = Classifier::new(100);
        for _ in 0..3 {
            classifier.classify(b"XA START 'a'");
            classifier.classify(b"SELECT c FROM t WHERE id = 7 LOCK IN SHARE MODE");
        }
        classifier.classify(b"SELECT c FROM t WHERE id = 8 LOCK IN SHARE MODE");
        classifier.classify(b"SELECT 1");
        let tally = classifier.cache().unparsed();
        assert_eq!(tally.len(), 2);
        assert_eq!(&*tally[0].0, "SELECT c FROM t WHERE id = ? LOCK IN SHARE MODE");
        assert_eq!(tally[0].1, 4);
        assert_eq!((&*tally[1].0, tally[1].1), ("XA START ?", 3));
    }

    #[test]
    fn counters() {
        let classifier = Classifier::new(100);
        classifier.classify(b"SELECT 1");
        classifier.classify(b"SELECT 2");
        classifier.classify(b"SET autocommit = 0");
        classifier.classify(b"USE db");
        let cache = classifier.cache();
        assert_eq!((cache.hits(), cache.misses(), cache.entries(), cache.uncacheable()), (1, 1, 1, 2));
    }

    #[test]
    fn options_are_kept() {
        let opts = ClassifyOptions { unknown_functions_are_reads: true };
        let classifier = Classifier::with_options(10, opts.clone());
        assert_eq!(classifier.options(), &opts);
        assert_eq!(classifier.classify(b"SELECT my_fn(1)").class, StatementClass::Read);
        assert_eq!(Classifier::new(10).classify(b"SELECT my_fn(1)").class, StatementClass::Write);
    }
}
