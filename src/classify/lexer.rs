//! Byte-level scanner over a COM_QUERY payload: tokens, the digest (the
//! normalised statement, used as the cache key), the first routing hint, the
//! statement boundaries of a multi-statement packet, and the token-level facts
//! the classifier needs where sqlparser cannot help.
//!
//! The scanner runs on every statement, cache hit or not, so it is one pass,
//! allocates three vectors at most (tokens, statement ranges, digest) and never
//! looks at a byte twice except inside comments. It accepts any bytes: MySQL
//! sends whatever the client's character set encodes, not necessarily UTF-8.
//!
//! Assumptions about the server's lexer (MariaDB defaults):
//! - backslash escapes inside strings (`NO_BACKSLASH_ESCAPES` off). With it on,
//!   `'a\'` would be scanned as an unterminated string, which only makes the
//!   digest longer and the classification more conservative;
//! - `"..."` is kept verbatim in the digest whether `ANSI_QUOTES` makes it an
//!   identifier or not, so two statements differing there never share a cache
//!   entry;
//! - executable comments `/*! */` and `/*M! */` are executed whatever their
//!   version number: MariaDB runs `/*!NNNNN` for every MySQL 5-digit version
//!   (all below 10.0) and we only front MariaDB servers.

use std::hash::{DefaultHasher, Hasher};
use std::ops::Range;
use std::sync::OnceLock;

use super::functions;
use super::hint::{self, RouteHint};

/// Tokens kept per packet. Beyond this the statement is classified from its
/// first tokens only (as a write) and not cached: a 100k-token statement is a
/// bulk load, and holding more than ~2.4 MB of token spans for it buys nothing.
pub(crate) const MAX_TOKENS: usize = 100_000;

/// Longest digest kept. Longer statements (after IN-list and VALUES-row
/// collapsing) are not cached: the digest is the cache key and also what stats
/// show, and a cache of a few thousand 64 KiB keys is already large.
pub(crate) const MAX_DIGEST_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    /// Unquoted identifier or keyword.
    Word,
    /// `` `identifier` ``.
    Quoted,
    /// `"..."`: a string, or an identifier under ANSI_QUOTES.
    DoubleQuoted,
    /// `'...'`, including `N'..'`, `X'..'`, `B'..'` and `_charset'..'`.
    Str,
    /// Integer, decimal, float, `0x..`, `0b..`.
    Number,
    /// `?` placeholder.
    Param,
    /// `@name`, `@'name'`, `` @`name` ``.
    UserVar,
    /// `@@name`, `@@session.name`.
    SysVar,
    /// One byte of punctuation or operator.
    Punct,
    /// Multi-byte operator: `:=`, `<=>`, `<=`, `>=`, `<>`, `!=`, `->`, `->>`,
    /// `||`, `&&`, `<<`, `>>`.
    Op,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: Tok,
    /// Byte span in the payload.
    pub start: usize,
    pub end: usize,
    /// Whitespace or a comment separated it from the previous token.
    pub gap: bool,
}

impl Token {
    pub fn text<'a>(&self, sql: &'a [u8]) -> &'a [u8] {
        sql.get(self.start..self.end).unwrap_or_default()
    }

    /// An unquoted word equal to `kw` (ASCII case-insensitive; `kw` upper-case).
    pub fn is_word(&self, sql: &[u8], kw: &str) -> bool {
        self.kind == Tok::Word && self.text(sql).eq_ignore_ascii_case(kw.as_bytes())
    }

    pub fn is_punct(&self, sql: &[u8], c: u8) -> bool {
        self.kind == Tok::Punct && self.text(sql) == [c]
    }

    pub fn is_op(&self, sql: &[u8], op: &str) -> bool {
        self.kind == Tok::Op && self.text(sql) == op.as_bytes()
    }

    pub fn is_literal(&self) -> bool {
        matches!(self.kind, Tok::Str | Tok::Number | Tok::Param)
    }
}

/// What the scanner found in one packet.
#[derive(Debug)]
pub(crate) struct Lexed {
    /// Normalised text: literals → `?`, `IN (...)`, folded whitespace,
    /// keywords upper-cased, comments dropped except the first routing hint.
    pub digest: String,
    pub digest_hash: u64,
    /// The classification is a function of the digest alone, so it may be
    /// cached under it. False for SET and USE (their literals are the point),
    /// and for statements whose digest or tokens were cut.
    pub cacheable: bool,
    pub hint: Option<RouteHint>,
    pub tokens: Vec<Token>,
    /// Token ranges of the statements, split at `;` outside quotes and
    /// comments; empty statements are dropped.
    pub statements: Vec<Range<usize>>,
    /// A `;` followed by more text was seen (also past the token limit).
    pub multi: bool,
    /// The token limit was hit: `tokens` holds only the beginning.
    pub truncated: bool,
}

/// Scans one COM_QUERY payload.
pub(crate) fn lex(sql: &[u8]) -> Lexed {
    let mut scanner = Scanner::new(sql);
    scanner.run();
    scanner.finish()
}

/// The statement's code as sqlparser should see it: tokens as written,
/// comments removed, executable comments unwrapped, one space wherever the
/// payload had whitespace or a comment. Bytes that are not UTF-8 become
/// U+FFFD; they can only be inside literals or identifiers.
pub(crate) fn code_text(sql: &[u8], toks: &[Token]) -> String {
    let span = match (toks.first(), toks.last()) {
        (Some(first), Some(last)) => last.end.saturating_sub(first.start),
        _ => 0,
    };
    let mut out = String::with_capacity(span + 8);
    for (k, t) in toks.iter().enumerate() {
        if k > 0 && t.gap {
            out.push(' ');
        }
        push_lossy(&mut out, t.text(sql));
    }
    out
}

/// A call `name(` found by the scanner. Used when sqlparser cannot parse the
/// statement, and as a cross-check of the AST walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FunctionCall {
    /// Upper-case, unquoted, without its database qualifier.
    pub name: String,
    /// Written `db.name(`: always a stored function.
    pub qualified: bool,
    /// Written `name()`.
    pub no_args: bool,
}

/// Token-level facts about one statement.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Facts {
    /// `@v := ...` or `INTO @v`.
    pub assigns_user_var: bool,
    /// `@v` anywhere else.
    pub reads_user_var: bool,
    pub for_update: bool,
    pub lock_in_share_mode: bool,
    pub for_share: bool,
    pub into_user_var: bool,
    /// `INTO OUTFILE` / `INTO DUMPFILE`.
    pub into_file: bool,
    pub sql_calc_found_rows: bool,
    /// `NEXT VALUE FOR seq`.
    pub next_value_for: bool,
    /// `PREVIOUS VALUE FOR seq`: the session's last generated value.
    pub previous_value_for: bool,
    /// `@@identity`, `@@last_insert_id`, `@@warning_count`... : answers about
    /// the session's previous statement.
    pub previous_result_var: bool,
    pub functions: Vec<FunctionCall>,
}

/// Collects the facts of one statement's tokens.
pub(crate) fn facts(sql: &[u8], toks: &[Token]) -> Facts {
    let mut f = Facts::default();
    let word = |i: usize, kw: &str| toks.get(i).is_some_and(|t| t.is_word(sql, kw));
    let mut in_into_list = false;
    for (i, t) in toks.iter().enumerate() {
        match t.kind {
            Tok::UserVar => {
                let assigned = toks.get(i + 1).is_some_and(|n| n.is_op(sql, ":="));
                if assigned || in_into_list {
                    f.assigns_user_var = true;
                } else {
                    f.reads_user_var = true;
                }
            }
            Tok::SysVar if is_previous_result_var(t.text(sql)) => f.previous_result_var = true,
            Tok::Word => {
                let text = t.text(sql);
                if text.eq_ignore_ascii_case(b"INTO") {
                    match toks.get(i + 1) {
                        Some(n) if n.kind == Tok::UserVar => {
                            f.into_user_var = true;
                            in_into_list = true;
                            continue;
                        }
                        Some(n) if n.is_word(sql, "OUTFILE") || n.is_word(sql, "DUMPFILE") => f.into_file = true,
                        _ => {}
                    }
                } else if text.eq_ignore_ascii_case(b"FOR") {
                    if word(i + 1, "UPDATE") {
                        f.for_update = true;
                    } else if word(i + 1, "SHARE") {
                        f.for_share = true;
                    }
                } else if text.eq_ignore_ascii_case(b"LOCK") {
                    if word(i + 1, "IN") && word(i + 2, "SHARE") && word(i + 3, "MODE") {
                        f.lock_in_share_mode = true;
                    }
                } else if text.eq_ignore_ascii_case(b"SQL_CALC_FOUND_ROWS") {
                    f.sql_calc_found_rows = true;
                } else if text.eq_ignore_ascii_case(b"VALUE") && word(i + 1, "FOR") {
                    if i > 0 && word(i - 1, "NEXT") {
                        f.next_value_for = true;
                    } else if i > 0 && word(i - 1, "PREVIOUS") {
                        f.previous_value_for = true;
                    }
                }
                if let Some(call) = function_call(sql, toks, i) {
                    f.functions.push(call);
                }
            }
            Tok::Quoted => {
                if let Some(call) = function_call(sql, toks, i) {
                    f.functions.push(call);
                }
            }
            _ => {}
        }
        // An INTO list is `@a, @b, ...`: it ends at the first other token.
        if in_into_list && !(t.kind == Tok::UserVar || t.is_punct(sql, b',')) {
            in_into_list = false;
        }
    }
    f
}

/// `@@[scope.]name` naming a variable that reports on the session's previous
/// statement.
fn is_previous_result_var(text: &[u8]) -> bool {
    let name = text.strip_prefix(b"@@").unwrap_or(text);
    let name = match name.iter().position(|&b| b == b'.') {
        Some(dot) => name.get(dot + 1..).unwrap_or_default(),
        None => name,
    };
    [&b"identity"[..], b"last_insert_id", b"insert_id", b"warning_count", b"error_count", b"last_gtid"]
        .iter()
        .any(|v| name.eq_ignore_ascii_case(v))
}

/// Is token `i` the name of a call: a word or quoted identifier followed by
/// `(`, that is not a keyword taking a parenthesis (`IN (`, `VALUES (`), not a
/// table or CTE name followed by a column list, and not a type (`DECIMAL(10,2)`).
fn function_call(sql: &[u8], toks: &[Token], i: usize) -> Option<FunctionCall> {
    let t = toks.get(i)?;
    if !toks.get(i + 1)?.is_punct(sql, b'(') {
        return None;
    }
    let name = match t.kind {
        Tok::Word => {
            let text = t.text(sql);
            if functions::is_not_a_function(text) {
                return None;
            }
            upper_lossy(text)
        }
        Tok::Quoted => upper_lossy(&unquote(t.text(sql))),
        _ => return None,
    };
    let prev = i.checked_sub(1).and_then(|p| toks.get(p));
    if let Some(p) = prev {
        // `INSERT INTO t (a)`, `CREATE TABLE t (`, `AS dt (a, b)`, `REFERENCES t (`...
        if p.kind == Tok::Word && functions::introduces_name(p.text(sql)) {
            return None;
        }
    }
    // `WITH cte (a, b) AS (...)`: the name's column list is followed by AS.
    if let Some(close) = matching_paren(sql, toks, i + 1) {
        if toks.get(close + 1).is_some_and(|n| n.is_word(sql, "AS")) {
            return None;
        }
    }
    let qualified = prev.is_some_and(|p| p.is_punct(sql, b'.'));
    let no_args = toks.get(i + 2).is_some_and(|n| n.is_punct(sql, b')'));
    Some(FunctionCall { name, qualified, no_args })
}

/// Index of the `)` closing the `(` at `open`.
pub(crate) fn matching_paren(sql: &[u8], toks: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (k, t) in toks.iter().enumerate().skip(open) {
        if t.is_punct(sql, b'(') {
            depth += 1;
        } else if t.is_punct(sql, b')') {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                return Some(k);
            }
        }
    }
    None
}

/// Removes the quotes of a `` `quoted` `` or `'quoted'` token and undoubles
/// the quote character inside.
pub(crate) fn unquote(text: &[u8]) -> Vec<u8> {
    let Some((&q, rest)) = text.split_first() else {
        return Vec::new();
    };
    if !matches!(q, b'`' | b'\'' | b'"') {
        return text.to_vec();
    }
    let inner = rest.strip_suffix(&[q]).unwrap_or(rest);
    let mut out = Vec::with_capacity(inner.len());
    let mut k = 0;
    while let Some(&b) = inner.get(k) {
        out.push(b);
        k += if b == q && inner.get(k + 1) == Some(&q) { 2 } else { 1 };
    }
    out
}

pub(crate) fn upper_lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_uppercase()
}

fn push_lossy(out: &mut String, b: &[u8]) {
    match std::str::from_utf8(b) {
        Ok(s) => out.push_str(s),
        Err(_) => out.push_str(&String::from_utf8_lossy(b)),
    }
}

fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// What the digest writer emitted last, for spacing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prev {
    Nothing,
    /// `(` or `.`: no space after.
    Glue,
    /// A non-keyword word or quoted identifier: `name(` gets no space.
    Ident,
    Keyword(Kw),
    Other,
}

/// Keywords the digest writer reacts to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kw {
    In,
    Values,
    Other,
}

/// A parenthesised list being watched for collapsing.
#[derive(Debug, Clone, Copy)]
struct ListCandidate {
    kind: ListKind,
    /// Digest length before the list (and before its `, ` for a VALUES row).
    start: usize,
    expect_item: bool,
    signed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListKind {
    In,
    FirstRow,
    NextRow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowState {
    None,
    AfterRow,
    /// A `,` after a row; `usize` is the digest length before it.
    AfterComma(usize),
}

/// Renders tokens into the digest, collapsing `IN (?, ?, ...)` to `IN (...)`
/// and `VALUES (?, ?), (?, ?), ...` to `VALUES (?, ?), ...` so that list
/// lengths do not multiply cache entries.
struct DigestWriter {
    out: String,
    prev: Prev,
    list: Option<ListCandidate>,
    rows: RowState,
    rows_marked: bool,
    /// Digest length when text was first dropped for exceeding the limit.
    overflow_at: Option<usize>,
}

impl DigestWriter {
    fn new(capacity: usize) -> Self {
        Self {
            out: String::with_capacity(capacity),
            prev: Prev::Nothing,
            list: None,
            rows: RowState::None,
            rows_marked: false,
            overflow_at: None,
        }
    }

    fn push(&mut self, text: &str) {
        if self.out.len() + text.len() > MAX_DIGEST_BYTES {
            self.overflow_at.get_or_insert(self.out.len());
            return;
        }
        self.out.push_str(text);
    }

    fn truncate(&mut self, len: usize) {
        if len <= self.out.len() {
            self.out.truncate(len);
        }
        // Text dropped after `len` is gone anyway: the digest is whole again.
        if self.overflow_at.is_some_and(|o| o >= len) {
            self.overflow_at = None;
        }
    }

    fn token(&mut self, sql: &[u8], t: &Token) {
        let text = t.text(sql);
        let is_open = t.is_punct(sql, b'(');
        let is_close = t.is_punct(sql, b')');
        let is_comma = t.is_punct(sql, b',');

        // Feed the open list candidate; it survives only while the list is
        // made of literals.
        let mut completed = None;
        if let Some(c) = self.list.as_mut() {
            let literal_item = t.is_literal() || (t.kind == Tok::Word && is_literal_word(text));
            if c.expect_item {
                if literal_item {
                    c.expect_item = false;
                } else if !c.signed && t.kind == Tok::Punct && (text == b"-" || text == b"+") {
                    c.signed = true;
                } else {
                    self.cancel_list();
                }
            } else if is_comma {
                c.expect_item = true;
                c.signed = false;
            } else if is_close {
                completed = Some(*c);
                self.list = None;
            } else {
                self.cancel_list();
            }
        } else {
            match self.rows {
                RowState::AfterRow if is_comma => self.rows = RowState::AfterComma(self.out.len()),
                RowState::AfterComma(start) if is_open => {
                    self.list =
                        Some(ListCandidate { kind: ListKind::NextRow, start, expect_item: true, signed: false });
                    self.rows = RowState::None;
                }
                RowState::None => {}
                _ => self.rows = RowState::None,
            }
            if is_open && self.list.is_none() {
                let kind = match self.prev {
                    Prev::Keyword(Kw::In) => Some(ListKind::In),
                    Prev::Keyword(Kw::Values) => Some(ListKind::FirstRow),
                    _ => None,
                };
                if let Some(kind) = kind {
                    self.list = Some(ListCandidate { kind, start: self.out.len(), expect_item: true, signed: false });
                }
            }
        }

        self.emit(sql, t);

        if let Some(c) = completed {
            match c.kind {
                ListKind::In => {
                    self.truncate(c.start);
                    self.push(" (...)");
                    self.prev = Prev::Other;
                }
                ListKind::FirstRow => self.rows = RowState::AfterRow,
                ListKind::NextRow => {
                    self.truncate(c.start);
                    if !self.rows_marked {
                        self.push(", ...");
                        self.rows_marked = true;
                    }
                    self.prev = Prev::Other;
                    self.rows = RowState::AfterRow;
                }
            }
        }
    }

    fn cancel_list(&mut self) {
        self.list = None;
        self.rows = RowState::None;
    }

    fn emit(&mut self, sql: &[u8], t: &Token) {
        let text = t.text(sql);
        let glue_before = matches!(text, b"," | b")" | b"." | b";") && t.kind == Tok::Punct;
        let space = match self.prev {
            Prev::Nothing | Prev::Glue => false,
            Prev::Ident => !(glue_before || t.is_punct(sql, b'(')),
            Prev::Keyword(_) | Prev::Other => !glue_before,
        };
        if space {
            self.push(" ");
        }
        let mut next = Prev::Other;
        match t.kind {
            Tok::Str | Tok::Number | Tok::Param => self.push("?"),
            Tok::Word => match keyword(text) {
                Some(KeywordInfo { kw, function }) => {
                    let mut buf = [0u8; MAX_KEYWORD_LEN];
                    self.push(upper_ascii(text, &mut buf));
                    // Keywords that are also functions (`DATABASE()`, `IF(`,
                    // `CHAR(10)`) are spaced like function names.
                    next = if function { Prev::Ident } else { Prev::Keyword(kw) };
                    if kw == Kw::Values {
                        self.rows_marked = false;
                        self.rows = RowState::None;
                    }
                }
                None => {
                    self.push_lossy(text);
                    next = Prev::Ident;
                }
            },
            Tok::Quoted => {
                self.push_lossy(text);
                next = Prev::Ident;
            }
            _ => {
                self.push_lossy(text);
                if t.kind == Tok::Punct && (text == b"(" || text == b".") {
                    next = Prev::Glue;
                }
                if t.kind == Tok::Punct && text == b";" {
                    self.list = None;
                    self.rows = RowState::None;
                }
            }
        }
        self.prev = next;
    }

    fn push_lossy(&mut self, b: &[u8]) {
        match std::str::from_utf8(b) {
            Ok(s) => self.push(s),
            Err(_) => self.push(&String::from_utf8_lossy(b)),
        }
    }

    /// The first routing hint, rendered as a block comment whatever style it
    /// was written in.
    fn hint(&mut self, body: &[u8]) {
        if self.prev != Prev::Nothing {
            self.push(" ");
        }
        self.push("/* ");
        self.push_lossy(trim_ascii(body));
        self.push(" */");
        self.prev = Prev::Other;
    }
}

fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(b.len());
    let end = b.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(start, |p| p + 1);
    b.get(start..end).unwrap_or_default()
}

/// NULL, TRUE, FALSE and DEFAULT count as literals in collapsible lists.
fn is_literal_word(text: &[u8]) -> bool {
    [&b"NULL"[..], b"TRUE", b"FALSE", b"DEFAULT"].iter().any(|w| text.eq_ignore_ascii_case(w))
}

const MAX_KEYWORD_LEN: usize = 24;

/// Upper-cases an ASCII keyword into `buf` (keywords are ASCII and short).
fn upper_ascii<'a>(text: &[u8], buf: &'a mut [u8; MAX_KEYWORD_LEN]) -> &'a str {
    let n = text.len().min(MAX_KEYWORD_LEN);
    for (d, s) in buf.iter_mut().zip(text.iter().take(n)) {
        *d = s.to_ascii_uppercase();
    }
    std::str::from_utf8(buf.get(..n).unwrap_or_default()).unwrap_or_default()
}

/// A keyword as the digest writer sees it.
#[derive(Debug, Clone, Copy)]
struct KeywordInfo {
    kw: Kw,
    /// Also a built-in function name (`DATABASE`, `IF`, `CHAR`).
    function: bool,
}

/// Is this word a keyword (upper-cased in the digest)? Upper-casing is only
/// cosmetic and for merging `select`/`SELECT`: the classification of a
/// statement never depends on the case of a word.
///
/// This runs for every word of every statement, cache hit or not, so the
/// word is packed into three integers (upper-cased, zero-padded) and looked
/// up in an open-addressing table built once: a binary search over string
/// slices was half the cost of a cache hit.
fn keyword(text: &[u8]) -> Option<KeywordInfo> {
    let key = pack_upper(text)?;
    let table = keyword_table();
    let mask = table.len() - 1;
    let mut slot = slot_of(&key, mask);
    // The table is at most half full, so a probe ends at an empty slot.
    for _ in 0..table.len() {
        match table.get(slot)? {
            Some((k, info)) if *k == key => return Some(*info),
            Some(_) => slot = (slot + 1) & mask,
            None => return None,
        }
    }
    None
}

/// Multiplicative hashing: the top bits of the product depend on every input
/// bit (short words leave the low bytes of the packed key zero, so the low
/// bits of a product would not).
fn slot_of(key: &PackedWord, mask: usize) -> usize {
    let [a, b, c] = *key;
    let h = (a ^ b.rotate_left(21) ^ c.rotate_left(42)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((h >> 40) as usize) & mask
}

type PackedWord = [u64; MAX_KEYWORD_LEN / 8];

/// Upper-cased, zero-padded, big-endian: `None` for words that cannot be
/// keywords (too long, not ASCII).
fn pack_upper(text: &[u8]) -> Option<PackedWord> {
    if text.len() > MAX_KEYWORD_LEN || !text.is_ascii() {
        return None;
    }
    // Shifted into registers directly: bytes stored one by one and read
    // back as a u64 stall on store forwarding.
    let mut key = [0u64; MAX_KEYWORD_LEN / 8];
    for (k, chunk) in key.iter_mut().zip(text.chunks(8)) {
        for (i, b) in chunk.iter().enumerate() {
            *k |= u64::from(b.to_ascii_uppercase()) << (56 - 8 * i);
        }
    }
    Some(key)
}

type KeywordSlot = Option<(PackedWord, KeywordInfo)>;

fn keyword_table() -> &'static [KeywordSlot] {
    static TABLE: OnceLock<Vec<KeywordSlot>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let size = (KEYWORDS.len() * 2).next_power_of_two();
        let mut table = vec![None; size];
        for &k in KEYWORDS {
            let kw = match k {
                "IN" => Kw::In,
                "VALUES" | "VALUE" => Kw::Values,
                _ => Kw::Other,
            };
            let info = KeywordInfo { kw, function: kw == Kw::Other && functions::is_builtin(k) };
            let Some(key) = pack_upper(k.as_bytes()) else { continue };
            let mut slot = slot_of(&key, size - 1);
            while table.get(slot).is_some_and(Option::is_some) {
                slot = (slot + 1) & (size - 1);
            }
            if let Some(s) = table.get_mut(slot) {
                *s = Some((key, info));
            }
        }
        table
    })
}

/// Keywords upper-cased in digests. Sorted (binary search; a test checks).
#[rustfmt::skip]
const KEYWORDS: &[&str] = &[
    "ADD", "AFTER", "AGAINST", "ALGORITHM", "ALL", "ALTER", "ANALYZE", "AND", "ANY", "AS", "ASC", "AT", "ATOMIC",
    "AUTOCOMMIT", "AUTO_INCREMENT", "BEFORE", "BEGIN", "BETWEEN", "BIGINT", "BINARY", "BLOB", "BOTH", "BY", "CALL",
    "CASCADE", "CASE", "CHAIN", "CHANGE", "CHAR", "CHARACTER", "CHARSET", "CHECK", "COLLATE", "COLUMN", "COLUMNS",
    "COMMIT", "COMMITTED", "CONSISTENT", "CONSTRAINT", "CONVERT", "CREATE", "CROSS", "CURRENT_DATE", "CURRENT_TIME",
    "CURRENT_TIMESTAMP", "CURRENT_USER", "DATABASE", "DATABASES", "DATE", "DATETIME", "DAY", "DEALLOCATE", "DEC",
    "DECIMAL", "DECLARE", "DEFAULT", "DEFINER", "DELAYED", "DELETE", "DESC", "DESCRIBE", "DETERMINISTIC", "DISTINCT",
    "DISTINCTROW", "DIV", "DO", "DOUBLE", "DROP", "DUAL", "DUMPFILE", "DUPLICATE", "EACH", "ELSE", "ELSEIF",
    "ENCLOSED", "END", "ENGINE", "ESCAPED", "EXCEPT", "EXECUTE", "EXISTS", "EXPLAIN", "EXTENDED", "FALSE", "FIELDS",
    "FIRST", "FLOAT", "FLUSH", "FOR", "FORCE", "FOREIGN", "FORMAT", "FROM", "FULL", "FULLTEXT", "FUNCTION", "GLOBAL",
    "GRANT", "GROUP", "HANDLER", "HAVING", "HELP", "HIGH_PRIORITY", "HOUR", "IF", "IGNORE", "IN", "INDEX", "INFILE",
    "INNER", "INSERT", "INT", "INTEGER", "INTERSECT", "INTERVAL", "INTO", "IS", "ISOLATION", "JOIN", "KEY", "KEYS",
    "KILL", "LAST", "LEADING", "LEFT", "LEVEL", "LIKE", "LIMIT", "LINES", "LOAD", "LOCAL", "LOCK", "LOCKED",
    "LOW_PRIORITY", "MATCH", "MINUTE", "MOD", "MODE", "MONTH", "NAMES", "NATURAL", "NEXT", "NO", "NOT", "NOWAIT",
    "NULL", "OFFSET", "ON", "ONLY", "OPTIMIZE", "OPTION", "OPTIONALLY", "OR", "ORDER", "OUTER", "OUTFILE", "OVER",
    "PARTITION", "PASSWORD", "PERSIST", "PERSIST_ONLY", "PREPARE", "PREVIOUS", "PRIMARY", "PROCEDURE", "PROCESSLIST",
    "PURGE", "QUERY", "QUICK", "READ", "RECURSIVE", "REFERENCES", "REGEXP", "RELEASE", "RENAME", "REPAIR",
    "REPEATABLE", "REPLACE", "RESET", "RETURN", "RETURNING", "RETURNS", "REVOKE", "RIGHT", "RLIKE", "ROLE",
    "ROLLBACK", "ROLLUP", "ROW", "ROWS", "SAVEPOINT", "SCHEMA", "SCHEMAS", "SECOND", "SELECT", "SEPARATOR",
    "SEQUENCE", "SERIALIZABLE", "SESSION", "SET", "SHARE", "SHOW", "SKIP", "SMALLINT", "SNAPSHOT", "SOME",
    "SQL_BIG_RESULT", "SQL_BUFFER_RESULT", "SQL_CACHE", "SQL_CALC_FOUND_ROWS", "SQL_NO_CACHE", "SQL_SMALL_RESULT",
    "START", "STATEMENT", "STATUS", "STRAIGHT_JOIN", "TABLE", "TABLES", "TEMPORARY", "TERMINATED", "TEXT", "THEN",
    "TIME", "TIMESTAMP", "TINYINT", "TO", "TRAILING", "TRANSACTION", "TRIGGER", "TRUE", "TRUNCATE", "UNCOMMITTED",
    "UNION", "UNIQUE", "UNLOCK", "UNSIGNED", "UPDATE", "USE", "USING", "VALUE", "VALUES", "VARBINARY", "VARCHAR",
    "VARIABLES", "VIEW", "WAIT", "WARNINGS", "WHEN", "WHERE", "WHILE", "WINDOW", "WITH", "WORK", "WRITE", "XA", "XOR",
    "YEAR", "ZEROFILL",
];

struct Scanner<'a> {
    sql: &'a [u8],
    i: usize,
    tokens: Vec<Token>,
    truncated: bool,
    /// Whitespace or a comment since the last token.
    gap: bool,
    /// Inside `/*! ... */` or `/*M! ... */`: the closing `*/` is skipped.
    in_exec_comment: bool,
    hint: Option<RouteHint>,
    digest: DigestWriter,
    /// A `;` was seen; the next token makes the packet multi-statement.
    after_semicolon: bool,
    multi: bool,
}

impl<'a> Scanner<'a> {
    fn new(sql: &'a [u8]) -> Self {
        Self {
            sql,
            i: 0,
            // Typical statements have one token per 4-6 bytes.
            tokens: Vec::with_capacity((sql.len() / 4 + 4).min(MAX_TOKENS)),
            truncated: false,
            gap: false,
            in_exec_comment: false,
            hint: None,
            digest: DigestWriter::new(sql.len().min(MAX_DIGEST_BYTES) + 8),
            after_semicolon: false,
            multi: false,
        }
    }

    fn at(&self, k: usize) -> u8 {
        self.sql.get(k).copied().unwrap_or(0)
    }

    fn run(&mut self) {
        let n = self.sql.len();
        while self.i < n {
            let i = self.i;
            let b = self.at(i);
            match b {
                b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c => {
                    self.gap = true;
                    self.i += 1;
                }
                b'*' if self.in_exec_comment && self.at(i + 1) == b'/' => {
                    self.in_exec_comment = false;
                    self.gap = true;
                    self.i += 2;
                }
                b'/' if self.at(i + 1) == b'*' => self.block_comment(),
                b'#' => self.line_comment(i + 1),
                b'-' if self.at(i + 1) == b'-' && (i + 2 >= n || self.at(i + 2) <= b' ') => self.line_comment(i + 2),
                b'\'' => {
                    let end = self.quoted_end(i, b'\'', true);
                    self.token(Tok::Str, end);
                }
                b'"' => {
                    let end = self.quoted_end(i, b'"', true);
                    self.token(Tok::DoubleQuoted, end);
                }
                b'`' => {
                    let end = self.quoted_end(i, b'`', false);
                    self.token(Tok::Quoted, end);
                }
                b'@' => self.variable(),
                b'?' => self.token(Tok::Param, i + 1),
                b'0'..=b'9' => self.number_or_word(),
                b'.' if self.at(i + 1).is_ascii_digit() && !self.after_name() => self.number_or_word(),
                _ if is_ident_byte(b) => self.word(),
                _ => self.operator(),
            }
        }
    }

    /// The previous token can be qualified (`t.5` is a column reference).
    fn after_name(&self) -> bool {
        !self.gap
            && self
                .tokens
                .last()
                .is_some_and(|t| matches!(t.kind, Tok::Word | Tok::Quoted) || t.is_punct(self.sql, b')'))
    }

    fn token(&mut self, kind: Tok, end: usize) {
        let end = end.min(self.sql.len()).max(self.i + 1);
        let t = Token { kind, start: self.i, end, gap: self.gap };
        self.i = end;
        self.gap = false;
        if self.after_semicolon && !t.is_punct(self.sql, b';') {
            self.multi = true;
            self.after_semicolon = false;
        }
        if t.is_punct(self.sql, b';') {
            self.after_semicolon = true;
        }
        if self.truncated {
            return;
        }
        if self.tokens.len() >= MAX_TOKENS {
            self.truncated = true;
            return;
        }
        self.digest.token(self.sql, &t);
        self.tokens.push(t);
    }

    /// End (exclusive) of a quoted token starting at `start`; quotes double
    /// to escape themselves, backslash escapes the next byte where allowed.
    /// Unterminated: runs to the end of the payload.
    fn quoted_end(&self, start: usize, q: u8, backslash: bool) -> usize {
        let n = self.sql.len();
        let mut j = start + 1;
        while j < n {
            let c = self.at(j);
            if backslash && c == b'\\' {
                j += 2;
            } else if c == q {
                if self.at(j + 1) == q && j + 1 < n {
                    j += 2;
                } else {
                    return j + 1;
                }
            } else {
                j += 1;
            }
        }
        n
    }

    fn ident_end(&self, from: usize) -> usize {
        let mut j = from;
        while j < self.sql.len() && is_ident_byte(self.at(j)) {
            j += 1;
        }
        j
    }

    fn block_comment(&mut self) {
        let i = self.i;
        self.gap = true;
        // `/*!` and `/*M!` wrap code: skip the marker and an optional version.
        let exec_marker = if self.at(i + 2) == b'!' {
            Some(i + 3)
        } else if self.at(i + 2) == b'M' && self.at(i + 3) == b'!' {
            Some(i + 4)
        } else {
            None
        };
        if let Some(mut j) = exec_marker {
            let digits_end = j + 6;
            while j < digits_end && self.at(j).is_ascii_digit() {
                j += 1;
            }
            self.i = j.min(self.sql.len());
            self.in_exec_comment = true;
            return;
        }
        let body_start = (i + 2).min(self.sql.len());
        let rest = self.sql.get(body_start..).unwrap_or_default();
        let (body_end, end) = match rest.windows(2).position(|w| w == b"*/") {
            Some(p) => (body_start + p, body_start + p + 2),
            None => (self.sql.len(), self.sql.len()),
        };
        self.comment(body_start, body_end);
        self.i = end;
    }

    fn line_comment(&mut self, body_start: usize) {
        self.gap = true;
        let body_start = body_start.min(self.sql.len());
        let rest = self.sql.get(body_start..).unwrap_or_default();
        let body_end = rest.iter().position(|&b| b == b'\n').map_or(self.sql.len(), |p| body_start + p);
        self.comment(body_start, body_end);
        self.i = body_end;
    }

    fn comment(&mut self, start: usize, end: usize) {
        if self.hint.is_some() || self.truncated {
            return;
        }
        let body = self.sql.get(start..end).unwrap_or_default();
        if let Some(h) = hint::parse(body) {
            self.hint = Some(h);
            self.digest.hint(body);
        }
    }

    fn variable(&mut self) {
        let i = self.i;
        if self.at(i + 1) == b'@' {
            // @@name, @@session.name, @@global.`name`
            let mut end = self.ident_end(i + 2);
            if self.at(end) == b'.' {
                if self.at(end + 1) == b'`' {
                    end = self.quoted_end(end + 1, b'`', false);
                } else {
                    end = self.ident_end(end + 1);
                }
            }
            self.token(Tok::SysVar, end);
            return;
        }
        match self.at(i + 1) {
            q @ (b'\'' | b'"' | b'`') if i + 1 < self.sql.len() => {
                let end = self.quoted_end(i + 1, q, q != b'`');
                self.token(Tok::UserVar, end);
            }
            c if is_ident_byte(c) && i + 1 < self.sql.len() => {
                // User variable names may contain `.` (`@a.b`).
                let mut end = i + 1;
                while end < self.sql.len() && (is_ident_byte(self.at(end)) || self.at(end) == b'.') {
                    end += 1;
                }
                self.token(Tok::UserVar, end);
            }
            _ => self.token(Tok::Punct, i + 1),
        }
    }

    /// A run starting with a digit (or `.digit`): a number, or an identifier
    /// such as `2fa_codes` (MySQL allows identifiers to start with a digit).
    fn number_or_word(&mut self) {
        let i = self.i;
        let run_end = self.ident_end(i);
        let run = self.sql.get(i..run_end).unwrap_or_default();
        let digits = run.iter().take_while(|b| b.is_ascii_digit()).count();
        if self.at(i) == b'.' || digits == run.len() {
            let mut j = run_end;
            if self.at(i) == b'.' {
                j = i + 1;
                while self.at(j).is_ascii_digit() && j < self.sql.len() {
                    j += 1;
                }
            } else if self.at(j) == b'.' {
                j += 1;
                while self.at(j).is_ascii_digit() && j < self.sql.len() {
                    j += 1;
                }
            }
            j = self.exponent_end(j);
            self.token(Tok::Number, j);
            return;
        }
        let hex = run.len() > 2
            && (run.starts_with(b"0x") || run.starts_with(b"0X"))
            && run.iter().skip(2).all(|b| b.is_ascii_hexdigit());
        let bits = run.len() > 2 && run.starts_with(b"0b") && run.iter().skip(2).all(|b| matches!(b, b'0' | b'1'));
        if hex || bits {
            self.token(Tok::Number, run_end);
            return;
        }
        // 1e10, 2E5
        let after = run.get(digits + 1..).unwrap_or_default();
        if matches!(run.get(digits), Some(b'e' | b'E')) && !after.is_empty() && after.iter().all(u8::is_ascii_digit) {
            self.token(Tok::Number, run_end);
            return;
        }
        // 1e-5, 1E+5: the run stopped at the sign.
        if digits + 1 == run.len()
            && matches!(run.get(digits), Some(b'e' | b'E'))
            && matches!(self.at(run_end), b'+' | b'-')
            && self.at(run_end + 1).is_ascii_digit()
        {
            let mut j = run_end + 1;
            while self.at(j).is_ascii_digit() && j < self.sql.len() {
                j += 1;
            }
            self.token(Tok::Number, j);
            return;
        }
        self.token(Tok::Word, run_end);
    }

    fn exponent_end(&self, j: usize) -> usize {
        if !matches!(self.at(j), b'e' | b'E') {
            return j;
        }
        let mut k = j + 1;
        if matches!(self.at(k), b'+' | b'-') {
            k += 1;
        }
        if !self.at(k).is_ascii_digit() || k >= self.sql.len() {
            return j;
        }
        while self.at(k).is_ascii_digit() && k < self.sql.len() {
            k += 1;
        }
        k
    }

    fn word(&mut self) {
        let i = self.i;
        let end = self.ident_end(i);
        let word = self.sql.get(i..end).unwrap_or_default();
        if self.at(end) == b'\'' && end < self.sql.len() {
            // X'41', B'01', N'text', _utf8mb4'text': one literal.
            let prefixed = matches!(word, b"x" | b"X" | b"b" | b"B" | b"n" | b"N") || word.first() == Some(&b'_');
            if prefixed {
                let escapes = !matches!(word, b"x" | b"X" | b"b" | b"B");
                let str_end = self.quoted_end(end, b'\'', escapes);
                self.token(Tok::Str, str_end);
                return;
            }
        }
        self.token(Tok::Word, end);
    }

    fn operator(&mut self) {
        let i = self.i;
        let rest = self.sql.get(i..(i + 3).min(self.sql.len())).unwrap_or_default();
        for op in [&b"<=>"[..], b"->>"] {
            if rest.starts_with(op) {
                self.token(Tok::Op, i + 3);
                return;
            }
        }
        for op in [&b":="[..], b"<=", b">=", b"<>", b"!=", b"->", b"||", b"&&", b"<<", b">>"] {
            if rest.starts_with(op) {
                self.token(Tok::Op, i + 2);
                return;
            }
        }
        // One byte, whatever it is (non-ASCII bytes are identifier bytes and
        // never get here).
        self.token(Tok::Punct, i + 1);
    }

    fn finish(self) -> Lexed {
        let sql = self.sql;
        let statements = split_statements(sql, &self.tokens);
        let mut digest = self.digest.out;
        let overflow = self.digest.overflow_at.is_some();
        let cacheable = !self.truncated
            && !overflow
            && statements.iter().all(|r| {
                let toks = self.tokens.get(r.clone()).unwrap_or_default();
                statement_cacheable(sql, toks)
            });
        // A statement ending in `;` (or `;;`) is not multi-statement.
        while digest.ends_with(';') {
            digest.pop();
        }
        let mut hasher = DefaultHasher::new();
        hasher.write(digest.as_bytes());
        Lexed {
            digest_hash: hasher.finish(),
            digest,
            cacheable,
            hint: self.hint,
            tokens: self.tokens,
            // Past the token limit the split is unknown: trust the raw `;` scan.
            multi: statements.len() > 1 || (self.truncated && self.multi),
            statements,
            truncated: self.truncated,
        }
    }
}

/// Splits at `;`, except that a compound statement (a stored program body, or
/// MariaDB's `BEGIN NOT ATOMIC ... END` and `IF ... END IF` outside programs)
/// takes the rest of the packet: its inner `;` belong to it.
fn split_statements(sql: &[u8], toks: &[Token]) -> Vec<Range<usize>> {
    let mut out = Vec::with_capacity(1);
    let mut start = 0;
    while start < toks.len() {
        let rest = toks.get(start..).unwrap_or_default();
        let semi = rest.iter().position(|t| t.is_punct(sql, b';')).map(|p| start + p);
        let end = semi.unwrap_or(toks.len());
        let stmt = toks.get(start..end).unwrap_or_default();
        if semi.is_some() && is_compound(sql, stmt) {
            out.push(start..toks.len());
            break;
        }
        if end > start {
            out.push(start..end);
        }
        start = end + 1;
    }
    out
}

fn is_compound(sql: &[u8], stmt: &[Token]) -> bool {
    let w = |k: usize, kw: &str| stmt.get(k).is_some_and(|t| t.is_word(sql, kw));
    if w(0, "BEGIN") && w(1, "NOT") {
        return true;
    }
    if ["IF", "WHILE", "LOOP", "REPEAT", "CASE", "DECLARE"].iter().any(|kw| w(0, kw)) {
        return true;
    }
    // `label: BEGIN ...`
    if stmt.get(1).is_some_and(|t| t.is_punct(sql, b':')) {
        return true;
    }
    w(0, "CREATE") && stmt.iter().any(|t| t.is_word(sql, "BEGIN"))
}

/// SET and USE carry their meaning in literals and names the digest drops or
/// that the session must see each time; everything else classifies the same
/// for every statement sharing its digest.
fn statement_cacheable(sql: &[u8], toks: &[Token]) -> bool {
    let Some(first) = toks.first() else { return true };
    if first.is_word(sql, "USE") {
        return false;
    }
    if first.is_word(sql, "SET") {
        // SET STATEMENT ... FOR <stmt> has no session effect of its own.
        if toks.get(1).is_some_and(|t| t.is_word(sql, "STATEMENT")) {
            if let Some(f) = toks.iter().position(|t| t.is_word(sql, "FOR")) {
                return toks.get(f + 1..).is_some_and(|inner| statement_cacheable(sql, inner));
            }
        }
        return false;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(sql: &str) -> String {
        lex(sql.as_bytes()).digest
    }

    #[test]
    fn keywords_sorted_and_short() {
        for w in KEYWORDS.windows(2) {
            assert!(w[0] < w[1], "{} >= {}", w[0], w[1]);
        }
        assert!(KEYWORDS.iter().all(|k| k.len() <= MAX_KEYWORD_LEN));
        assert_eq!(keyword_table().iter().flatten().count(), KEYWORDS.len());
        assert!(KEYWORDS.iter().all(|k| keyword(k.as_bytes()).is_some()));
        assert!(keyword(b"select").is_some() && keyword(b"SeLeCt").is_some());
        assert!(keyword(b"selec").is_none() && keyword(b"selects").is_none() && keyword(b"sbtest1").is_none());
        assert!(matches!(keyword(b"in"), Some(KeywordInfo { kw: Kw::In, .. })));
        assert!(matches!(keyword(b"database"), Some(KeywordInfo { function: true, .. })));
        assert!(keyword(b"sql_calc_found_rows").is_some());
        assert!(keyword("séléct".as_bytes()).is_none());
    }

    #[test]
    fn digest_table() {
        let cases: &[(&str, &str)] = &[
            ("SELECT c FROM sbtest1 WHERE id=42", "SELECT c FROM sbtest1 WHERE id = ?"),
            ("select c from sbtest1 where id = 7", "SELECT c FROM sbtest1 WHERE id = ?"),
            (
                "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN 5 AND 104 ORDER BY c",
                "SELECT DISTINCT c FROM sbtest1 WHERE id BETWEEN ? AND ? ORDER BY c",
            ),
            ("UPDATE sbtest1 SET k=k+1 WHERE id=5", "UPDATE sbtest1 SET k = k + ? WHERE id = ?"),
            ("DELETE FROM sbtest1 WHERE id=5", "DELETE FROM sbtest1 WHERE id = ?"),
            (
                "INSERT INTO sbtest1 (id, k, c, pad) VALUES (5, 6, '0123-4567', 'abc')",
                "INSERT INTO sbtest1(id, k, c, pad) VALUES (?, ?, ?, ?)",
            ),
            ("INSERT INTO t VALUES (1,'a'),(2,'b'),(3,'c')", "INSERT INTO t VALUES (?, ?), ..."),
            (
                "INSERT INTO t VALUES (1,'a'),(2,'b') ON DUPLICATE KEY UPDATE a=VALUES(a)",
                "INSERT INTO t VALUES (?, ?), ... ON DUPLICATE KEY UPDATE a = VALUES (a)",
            ),
            ("INSERT INTO t VALUES (1, NOW()), (2, NOW())", "INSERT INTO t VALUES (?, NOW()), (?, NOW())"),
            ("SELECT * FROM t WHERE id IN (1, 2, 3)", "SELECT * FROM t WHERE id IN (...)"),
            ("SELECT * FROM t WHERE id IN (1)", "SELECT * FROM t WHERE id IN (...)"),
            (
                "SELECT * FROM t WHERE id IN ('a','b') AND x NOT IN (-1, 2)",
                "SELECT * FROM t WHERE id IN (...) AND x NOT IN (...)",
            ),
            ("SELECT * FROM t WHERE id IN (?, ?, ?)", "SELECT * FROM t WHERE id IN (...)"),
            ("SELECT * FROM t WHERE id IN (SELECT a FROM u)", "SELECT * FROM t WHERE id IN (SELECT a FROM u)"),
            ("SELECT * FROM t WHERE id IN (1, a)", "SELECT * FROM t WHERE id IN (?, a)"),
            (
                "SELECT 1.5, -2, 1e10, 1e-5, .5, 0x1F, 0b101, x'4142', B'01', N'n', _utf8mb4'u'",
                "SELECT ?, - ?, ?, ?, ?, ?, ?, ?, ?, ?, ?",
            ),
            ("SELECT 'it''s', 'a\\'b', \"dq\", `bt`", "SELECT ?, ?, \"dq\", `bt`"),
            ("SELECT a FROM 2fa_codes", "SELECT a FROM 2fa_codes"),
            ("SELECT   a\n\tFROM  t", "SELECT a FROM t"),
            ("SELECT a -- trailing comment\nFROM t # hash comment\n", "SELECT a FROM t"),
            ("SELECT /* inline */ a FROM t", "SELECT a FROM t"),
            (
                "/* mysql-connector-java-8.0.33 (Revision: abc) */SELECT  @@session.auto_increment_increment AS a",
                "SELECT @@session.auto_increment_increment AS a",
            ),
            ("SELECT /*+ MAX_EXECUTION_TIME(100) */ a FROM t", "SELECT a FROM t"),
            ("/*!40101 SET NAMES utf8 */", "SET NAMES utf8"),
            ("SELECT 1 /*!50100 , 2 */", "SELECT ?, ?"),
            ("/*M!100100 SELECT 1 */", "SELECT ?"),
            ("/* rwsplit:master */ SELECT 1", "/* rwsplit:master */ SELECT ?"),
            ("SELECT 1 -- maxscale route to server db2", "SELECT ? /* maxscale route to server db2 */"),
            ("SELECT @x := 1, @y", "SELECT @x := ?, @y"),
            ("SELECT COUNT(*), t.* FROM db.t", "SELECT COUNT(*), t.* FROM db.t"),
            ("SELECT a->>'$.b' FROM t WHERE a<=>b", "SELECT a ->> ? FROM t WHERE a <=> b"),
            ("SELECT 1;", "SELECT ?"),
            ("SELECT 1; SELECT 2", "SELECT ?; SELECT ?"),
            ("select @@version_comment limit 1", "SELECT @@version_comment LIMIT ?"),
            ("", ""),
        ];
        for (sql, want) in cases {
            assert_eq!(digest(sql), *want, "digest of {sql:?}");
        }
    }

    #[test]
    fn long_in_lists_share_one_digest() {
        let ids = |n: usize| (0..n).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        let a = lex(format!("SELECT * FROM t WHERE id IN ({})", ids(3)).as_bytes());
        let b = lex(format!("SELECT * FROM t WHERE id IN ({})", ids(5000)).as_bytes());
        assert_eq!(a.digest, b.digest);
        assert_eq!(a.digest_hash, b.digest_hash);
        assert!(b.cacheable);
    }

    #[test]
    fn huge_list_longer_than_digest_limit_still_collapses() {
        let ids = (0..40_000).map(|i| format!("'{i:08}'")).collect::<Vec<_>>().join(", ");
        let l = lex(format!("SELECT * FROM t WHERE id IN ({ids}) AND a = 1").as_bytes());
        assert_eq!(l.digest, "SELECT * FROM t WHERE id IN (...) AND a = ?");
        assert!(l.cacheable);
    }

    #[test]
    fn oversized_digest_is_not_cacheable() {
        let cols = (0..20_000).map(|i| format!("col{i}")).collect::<Vec<_>>().join(", ");
        let l = lex(format!("SELECT {cols} FROM t").as_bytes());
        assert!(l.digest.len() <= MAX_DIGEST_BYTES);
        assert!(!l.cacheable);
    }

    #[test]
    fn token_limit_truncates() {
        let cols = "a,".repeat(MAX_TOKENS);
        let l = lex(format!("SELECT {cols} b FROM t; SELECT 2").as_bytes());
        assert!(l.truncated);
        assert!(!l.cacheable);
        assert!(l.multi);
        assert_eq!(l.tokens.len(), MAX_TOKENS);
    }

    #[test]
    fn statements_split_outside_quotes_and_comments() {
        let l = lex(b"SELECT ';' ; /* ; */ SELECT `a;b` -- ;\n; ;");
        assert_eq!(l.statements.len(), 2);
        assert!(l.multi);
        let l = lex(b"SELECT 1 ;  ");
        assert_eq!(l.statements.len(), 1);
        assert!(!l.multi);
        let l = lex(b"CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END");
        assert_eq!(l.statements.len(), 1);
        assert!(!l.multi);
        let l = lex(b"DROP PROCEDURE IF EXISTS p; CREATE PROCEDURE p() BEGIN SELECT 1; END");
        assert_eq!(l.statements.len(), 2);
        let l = lex(b"BEGIN NOT ATOMIC SELECT 1; SELECT 2; END");
        assert_eq!(l.statements.len(), 1);
        let l = lex(b"BEGIN; SELECT 1");
        assert_eq!(l.statements.len(), 2);
    }

    #[test]
    fn cacheable_table() {
        let cases: &[(&str, bool)] = &[
            ("SELECT 1", true),
            ("SET autocommit=0", false),
            ("set names utf8mb4", false),
            ("USE db", false),
            ("SELECT 1; SET @a = 1", false),
            ("SET STATEMENT max_statement_time=1 FOR SELECT 1", true),
            ("SET STATEMENT max_statement_time=1 FOR SET sql_mode=''", false),
            ("/* rwsplit:server=db2 */ SELECT 1", true),
            ("/*!40101 SET NAMES utf8 */", false),
        ];
        for (sql, want) in cases {
            assert_eq!(lex(sql.as_bytes()).cacheable, *want, "cacheable {sql:?}");
        }
    }

    #[test]
    fn hint_is_first_one_only() {
        let l = lex(b"/* rwsplit:replica */ SELECT /* rwsplit:master */ 1");
        assert_eq!(l.hint, Some(RouteHint::Replica));
        assert_eq!(l.digest, "/* rwsplit:replica */ SELECT ?");
        let l = lex(b"SELECT 1 # maxscale route to master");
        assert_eq!(l.hint, Some(RouteHint::Master));
    }

    #[test]
    fn code_text_unwraps_executable_comments_and_drops_comments() {
        let sql = b"/*!40101 SET NAMES utf8 */";
        let l = lex(sql);
        assert_eq!(code_text(sql, &l.tokens), "SET NAMES utf8");
        let sql = b"SELECT/* c */a,b<=c FROM/*M!100100 t */x -- y\n";
        let l = lex(sql);
        assert_eq!(code_text(sql, &l.tokens), "SELECT a,b<=c FROM t x");
    }

    #[test]
    fn facts_table() {
        let f = |sql: &str| {
            let l = lex(sql.as_bytes());
            facts(sql.as_bytes(), &l.tokens)
        };
        assert!(f("SELECT @a := 1").assigns_user_var);
        assert!(!f("SELECT @a := 1").reads_user_var);
        assert!(f("SELECT @a").reads_user_var);
        assert!(f("SELECT a FROM t WHERE b = @a").reads_user_var);
        let into = f("SELECT a, b INTO @x, @y FROM t WHERE c = @z");
        assert!(into.into_user_var && into.assigns_user_var && into.reads_user_var);
        assert!(!f("SELECT a INTO @x FROM t").reads_user_var);
        assert!(f("SELECT 1 INTO OUTFILE '/tmp/x'").into_file);
        assert!(f("SELECT 1 INTO DUMPFILE '/tmp/x'").into_file);
        assert!(!f("INSERT INTO t VALUES (1)").into_file);
        assert!(f("SELECT * FROM t FOR UPDATE").for_update);
        assert!(f("SELECT * FROM t FOR SHARE").for_share);
        assert!(f("SELECT * FROM t LOCK IN SHARE MODE").lock_in_share_mode);
        assert!(f("SELECT SQL_CALC_FOUND_ROWS * FROM t").sql_calc_found_rows);
        assert!(f("SELECT NEXT VALUE FOR s").next_value_for);
        assert!(f("SELECT PREVIOUS VALUE FOR s").previous_value_for);
        assert!(f("SELECT @@identity").previous_result_var);
        assert!(f("SELECT @@session.last_insert_id").previous_result_var);
        assert!(f("SELECT @@SESSION.WARNING_COUNT").previous_result_var);
        assert!(!f("SELECT @@version").previous_result_var);
        assert!(!f("SELECT 'FOR UPDATE', `LOCK IN SHARE MODE`").for_update);

        let names = |sql: &str| f(sql).functions.into_iter().map(|c| c.name).collect::<Vec<_>>();
        assert_eq!(names("SELECT NOW(), count(*), `myfunc`(1), db.f2(2)"), ["NOW", "COUNT", "MYFUNC", "F2"]);
        assert_eq!(
            names("SELECT a FROM t WHERE b IN (1) AND EXISTS (SELECT 1) AND c = ANY (SELECT 1)"),
            [] as [&str; 0]
        );
        assert_eq!(names("INSERT INTO t (a) VALUES (1)"), [] as [&str; 0]);
        assert_eq!(names("WITH c (n) AS (SELECT 1) SELECT * FROM c"), [] as [&str; 0]);
        assert_eq!(names("SELECT CAST(a AS DECIMAL(10,2)) FROM t"), ["CAST"]);
        assert_eq!(names("SELECT * FROM (SELECT 1) AS d (a)"), [] as [&str; 0]);
        let calls = f("SELECT LAST_INSERT_ID(), LAST_INSERT_ID(5), db.g()").functions;
        assert!(calls[0].no_args && !calls[1].no_args && calls[2].qualified);
    }

    #[test]
    fn unterminated_constructs_do_not_panic() {
        for sql in [
            &b"SELECT 'abc"[..],
            b"SELECT \"abc",
            b"SELECT `abc",
            b"SELECT /* abc",
            b"SELECT /*! abc",
            b"SELECT @",
            b"SELECT @@",
            b"SELECT @'x",
            b"SELECT 1e",
            b"SELECT 0x",
            b"SELECT x'4",
            b"--",
            b"-- ",
            b"#",
            b"/*",
            b"/*M!",
            b"'\\",
            b"SELECT 1.",
            b".",
            b"@@a.",
            b"\xff\xfe\xfd",
            b"SELECT \xc3",
            b"<=",
            b"-",
        ] {
            let l = lex(sql);
            assert!(l.digest.len() <= 2 * sql.len() + 8);
            let _ = code_text(sql, &l.tokens);
            for r in &l.statements {
                let _ = facts(sql, &l.tokens[r.clone()]);
            }
        }
    }
}
