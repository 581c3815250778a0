//! Which function names are side-effect-free MariaDB built-ins, which ones
//! need the master or the session's own connection, and which words look like
//! calls (`IN (`, `DECIMAL(10,2)`) but are not.

/// What calling a function means for routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FnKind {
    /// A built-in without side effects whose result does not depend on what
    /// this session did before: fine on a replica. Includes RAND(), NOW(),
    /// UUID(), UUID_SHORT() (server-id dependent, any server's answer is as
    /// good), SLEEP(), CONNECTION_ID() and the replica wait functions
    /// (MASTER_GTID_WAIT() is sent to a replica on purpose).
    Pure,
    /// GET_LOCK(), RELEASE_LOCK(), RELEASE_ALL_LOCKS(), IS_USED_LOCK(),
    /// IS_FREE_LOCK(): user locks live on the server that took them.
    UserLock,
    /// FOUND_ROWS(), ROW_COUNT(), LAST_INSERT_ID(), LASTVAL(): answers about
    /// the session's previous statements.
    PreviousResult,
    /// Changes server or session state: NEXTVAL(), SETVAL(),
    /// LAST_INSERT_ID(expr).
    Writes,
    /// Not a known built-in: a stored function, which may write, or a UDF.
    Unknown,
}

/// Classifies a call. `name` is upper-case; `qualified` means `db.name(`,
/// which is always a stored function even when `name` matches a built-in.
pub(crate) fn kind(name: &str, qualified: bool, no_args: bool) -> FnKind {
    if qualified {
        return FnKind::Unknown;
    }
    match name {
        "GET_LOCK" | "RELEASE_LOCK" | "RELEASE_ALL_LOCKS" | "IS_USED_LOCK" | "IS_FREE_LOCK" => FnKind::UserLock,
        "FOUND_ROWS" | "ROW_COUNT" | "LASTVAL" => FnKind::PreviousResult,
        "LAST_INSERT_ID" if no_args => FnKind::PreviousResult,
        "LAST_INSERT_ID" | "NEXTVAL" | "SETVAL" => FnKind::Writes,
        _ if is_builtin(name) => FnKind::Pure,
        _ => FnKind::Unknown,
    }
}

/// Families whose every member is a pure built-in.
const PURE_PREFIXES: &[&str] = &["JSON_", "ST_", "MBR", "REGEXP_", "VEC_"];

/// A pure built-in name (upper-case).
pub(crate) fn is_builtin(name: &str) -> bool {
    BUILTINS.binary_search(&name).is_ok() || PURE_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Words that can stand before `(` without being a call: keywords (`IN (`,
/// `EXISTS (`, `OVER (`) and type names (`CAST(a AS DECIMAL(10,2))`).
/// ASCII case-insensitive.
pub(crate) fn is_not_a_function(word: &[u8]) -> bool {
    if word.len() > 16 {
        return false;
    }
    let mut buf = [0u8; 16];
    let Some(dst) = buf.get_mut(..word.len()) else { return false };
    for (d, s) in dst.iter_mut().zip(word) {
        *d = s.to_ascii_uppercase();
    }
    std::str::from_utf8(dst).is_ok_and(|w| NOT_FUNCTIONS.binary_search(&w).is_ok())
}

/// Words after which a name followed by `(` is a table, view, CTE or column
/// list owner rather than a call: `INSERT INTO t (a)`, `AS d (a, b)`,
/// `CREATE TABLE IF NOT EXISTS t (`, `REFERENCES t (a)`. `ON` and `FROM` are
/// deliberately absent: calls follow them (`ON f(x) = y`, `FROM JSON_TABLE(`).
pub(crate) fn introduces_name(word: &[u8]) -> bool {
    [
        &b"AS"[..],
        b"INTO",
        b"TABLE",
        b"EXISTS",
        b"REFERENCES",
        b"PROCEDURE",
        b"FUNCTION",
        b"TRIGGER",
        b"VIEW",
        b"KEY",
        b"INDEX",
    ]
    .iter()
    .any(|w| word.eq_ignore_ascii_case(w))
}

/// Side-effect-free MariaDB built-in functions (string, numeric, date/time,
/// aggregate, window, control flow, cast, information, encryption, dynamic
/// columns, GIS; JSON_, ST_, MBR, REGEXP_ and VEC_ families by prefix).
/// Sorted, upper-case.
#[rustfmt::skip]
const BUILTINS: &[&str] = &[
    "ABS", "ACOS", "ADDDATE", "ADDTIME", "ADD_MONTHS", "AES_DECRYPT", "AES_ENCRYPT", "ANY_VALUE", "AREA", "ASBINARY",
    "ASCII", "ASIN", "ASTEXT", "ASWKB", "ASWKT", "ATAN", "ATAN2", "AVG", "BENCHMARK", "BIN", "BINARY",
    "BINLOG_GTID_POS", "BIN_TO_UUID", "BIT_AND", "BIT_COUNT", "BIT_LENGTH", "BIT_OR", "BIT_XOR", "BOUNDARY", "BUFFER",
    "CAST", "CEIL", "CEILING", "CENTROID", "CHAR", "CHARACTER_LENGTH", "CHARSET", "CHAR_LENGTH", "CHR", "COALESCE",
    "COERCIBILITY", "COLLATION", "COLUMN_ADD", "COLUMN_CHECK", "COLUMN_CREATE", "COLUMN_DELETE", "COLUMN_EXISTS",
    "COLUMN_GET", "COLUMN_JSON", "COLUMN_LIST", "COMPRESS", "CONCAT", "CONCAT_WS", "CONNECTION_ID", "CONTAINS",
    "CONV", "CONVERT", "CONVERT_TZ", "CONVEXHULL", "COS", "COT", "COUNT", "CRC32", "CRC32C", "CROSSES", "CUME_DIST",
    "CURDATE", "CURRENT_DATE", "CURRENT_ROLE", "CURRENT_TIME", "CURRENT_TIMESTAMP", "CURRENT_USER", "CURTIME",
    "DATABASE", "DATE", "DATEDIFF", "DATE_ADD", "DATE_FORMAT", "DATE_SUB", "DAY", "DAYNAME", "DAYOFMONTH",
    "DAYOFWEEK", "DAYOFYEAR", "DECODE", "DECODE_ORACLE", "DEFAULT", "DEGREES", "DENSE_RANK", "DES_DECRYPT",
    "DES_ENCRYPT", "DIMENSION", "DISJOINT", "ELT", "ENCODE", "ENCRYPT", "ENDPOINT", "ENVELOPE", "EQUALS", "EXP",
    "EXPORT_SET", "EXTERIORRING", "EXTRACT", "EXTRACTVALUE", "FIELD", "FIND_IN_SET", "FIRST_VALUE", "FLOOR", "FORMAT",
    "FORMAT_BYTES", "FORMAT_PICO_TIME", "FROM_BASE64", "FROM_DAYS", "FROM_UNIXTIME", "GEOMCOLLFROMTEXT",
    "GEOMCOLLFROMWKB", "GEOMETRYCOLLECTION", "GEOMETRYCOLLECTIONFROMTEXT", "GEOMETRYCOLLECTIONFROMWKB",
    "GEOMETRYFROMTEXT", "GEOMETRYFROMWKB", "GEOMETRYN", "GEOMETRYTYPE", "GEOMFROMTEXT", "GEOMFROMWKB", "GET_FORMAT",
    "GLENGTH", "GREATEST", "GROUPING", "GROUP_CONCAT", "GTID_SUBSET", "GTID_SUBTRACT", "HEX", "HOUR", "ICU_VERSION",
    "IF", "IFNULL", "INET6_ATON", "INET6_NTOA", "INET_ATON", "INET_NTOA", "INSERT", "INSTR", "INTERIORRINGN",
    "INTERSECTS", "INTERVAL", "ISCLOSED", "ISEMPTY", "ISNULL", "ISRING", "ISSIMPLE", "IS_IPV4", "IS_IPV4_COMPAT",
    "IS_IPV4_MAPPED", "IS_IPV6", "IS_UUID", "KDF", "LAG", "LAST_DAY", "LAST_VALUE", "LCASE", "LEAD", "LEAST", "LEFT",
    "LENGTH", "LENGTHB", "LINEFROMTEXT", "LINEFROMWKB", "LINESTRING", "LINESTRINGFROMTEXT", "LINESTRINGFROMWKB", "LN",
    "LOAD_FILE", "LOCALTIME", "LOCALTIMESTAMP", "LOCATE", "LOG", "LOG10", "LOG2", "LOWER", "LPAD", "LTRIM",
    "MAKEDATE", "MAKETIME", "MAKE_SET", "MASTER_GTID_WAIT", "MASTER_POS_WAIT", "MATCH", "MAX", "MD5", "MEDIAN",
    "MICROSECOND", "MID", "MIN", "MINUTE", "MLINEFROMTEXT", "MLINEFROMWKB", "MOD", "MONTH", "MONTHNAME",
    "MONTHS_BETWEEN", "MPOINTFROMTEXT", "MPOINTFROMWKB", "MPOLYFROMTEXT", "MPOLYFROMWKB", "MULTILINESTRING",
    "MULTILINESTRINGFROMTEXT", "MULTILINESTRINGFROMWKB", "MULTIPOINT", "MULTIPOINTFROMTEXT", "MULTIPOINTFROMWKB",
    "MULTIPOLYGON", "MULTIPOLYGONFROMTEXT", "MULTIPOLYGONFROMWKB", "NAME_CONST", "NATURAL_SORT_KEY", "NOW",
    "NTH_VALUE", "NTILE", "NULLIF", "NUMGEOMETRIES", "NUMINTERIORRINGS", "NUMPOINTS", "NVL", "NVL2", "OCT",
    "OCTET_LENGTH", "OLD_PASSWORD", "ORD", "OVERLAPS", "PASSWORD", "PERCENTILE_CONT", "PERCENTILE_DISC",
    "PERCENT_RANK", "PERIOD_ADD", "PERIOD_DIFF", "PI", "POINT", "POINTFROMTEXT", "POINTFROMWKB", "POINTN",
    "POINTONSURFACE", "POLYFROMTEXT", "POLYFROMWKB", "POLYGON", "POLYGONFROMTEXT", "POLYGONFROMWKB", "POSITION",
    "POW", "POWER", "QUARTER", "QUOTE", "RADIANS", "RAND", "RANDOM_BYTES", "RANK", "REPEAT", "REPLACE",
    "REPLACE_ORACLE", "REVERSE", "RIGHT", "ROUND", "ROW_NUMBER", "RPAD", "RTRIM", "SCHEMA", "SECOND", "SEC_TO_TIME",
    "SESSION_USER", "SFORMAT", "SHA", "SHA1", "SHA2", "SIGN", "SIN", "SLEEP", "SOUNDEX", "SOURCE_POS_WAIT", "SPACE",
    "SQRT", "SRID", "STARTPOINT", "STATEMENT_DIGEST", "STATEMENT_DIGEST_TEXT", "STD", "STDDEV", "STDDEV_POP",
    "STDDEV_SAMP", "STRCMP", "STR_TO_DATE", "SUBDATE", "SUBSTR", "SUBSTRING", "SUBSTRING_INDEX", "SUBSTR_ORACLE",
    "SUBTIME", "SUM", "SYSDATE", "SYSTEM_USER", "SYS_GUID", "TAN", "TIME", "TIMEDIFF", "TIMESTAMP", "TIMESTAMPADD",
    "TIMESTAMPDIFF", "TIME_FORMAT", "TIME_TO_SEC", "TOUCHES", "TO_BASE64", "TO_CHAR", "TO_DAYS", "TO_SECONDS", "TRIM",
    "TRIM_ORACLE", "TRUNCATE", "UCASE", "UNCOMPRESS", "UNCOMPRESSED_LENGTH", "UNHEX", "UNIX_TIMESTAMP", "UPDATEXML",
    "UPPER", "USER", "UTC_DATE", "UTC_TIME", "UTC_TIMESTAMP", "UUID", "UUID_SHORT", "UUID_TO_BIN",
    "VALIDATE_PASSWORD_STRENGTH", "VALUES", "VARIANCE", "VAR_POP", "VAR_SAMP", "VERSION",
    "WAIT_FOR_EXECUTED_GTID_SET", "WAIT_UNTIL_SQL_THREAD_AFTER_GTIDS", "WEEK", "WEEKDAY", "WEEKOFYEAR",
    "WEIGHT_STRING", "WITHIN", "X", "Y", "YEAR", "YEARWEEK",
];

/// Sorted, upper-case.
#[rustfmt::skip]
const NOT_FUNCTIONS: &[&str] = &[
    "AGAINST", "ALL", "AND", "ANY", "AS", "BETWEEN", "BIGINT", "BIT", "BLOB", "BY", "CASE", "CHECK", "COLUMNS",
    "CONSTRAINT", "DATETIME", "DEC", "DECIMAL", "DISTINCT", "DISTINCTROW", "DIV", "DOUBLE", "ELSE", "ELSEIF", "ENUM",
    "ESCAPE", "EXCEPT", "EXISTS", "FLOAT", "FOR", "FOREIGN", "FROM", "FUNCTION", "GROUP", "HAVING", "IN", "INDEX",
    "INT", "INTEGER", "INTERSECT", "INTO", "IS", "JOIN", "KEY", "LATERAL", "LIKE", "LIMIT", "MEDIUMINT", "NCHAR",
    "NOT", "NUMERIC", "NVARCHAR", "OFFSET", "ON", "OR", "ORDER", "OVER", "PARTITION", "PRIMARY", "PROCEDURE", "RANGE",
    "REAL", "RECURSIVE", "REFERENCES", "REGEXP", "RETURNING", "RETURNS", "RLIKE", "ROW", "ROWS", "SELECT", "SET",
    "SIGNED", "SMALLINT", "SOME", "TABLE", "TEXT", "THEN", "TINYINT", "TRIGGER", "UNION", "UNIQUE", "UNSIGNED",
    "UNTIL", "USING", "VALUE", "VALUES", "VARBINARY", "VARCHAR", "VIEW", "WHEN", "WHERE", "WHILE", "WINDOW", "WITH",
    "XOR",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_sorted_upper_case() {
        for list in [BUILTINS, NOT_FUNCTIONS] {
            for w in list.windows(2) {
                assert!(w[0] < w[1], "{} >= {}", w[0], w[1]);
            }
            assert!(list.iter().all(|w| w.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')));
        }
        assert!(NOT_FUNCTIONS.iter().all(|w| w.len() <= 16));
    }

    #[test]
    fn kind_table() {
        let cases: &[(&str, bool, bool, FnKind)] = &[
            ("NOW", false, true, FnKind::Pure),
            ("RAND", false, true, FnKind::Pure),
            ("UUID", false, true, FnKind::Pure),
            ("UUID_SHORT", false, true, FnKind::Pure),
            ("SLEEP", false, false, FnKind::Pure),
            ("VERSION", false, true, FnKind::Pure),
            ("DATABASE", false, true, FnKind::Pure),
            ("JSON_EXTRACT", false, false, FnKind::Pure),
            ("ST_DISTANCE", false, false, FnKind::Pure),
            ("MASTER_GTID_WAIT", false, false, FnKind::Pure),
            ("GET_LOCK", false, false, FnKind::UserLock),
            ("RELEASE_ALL_LOCKS", false, true, FnKind::UserLock),
            ("IS_FREE_LOCK", false, false, FnKind::UserLock),
            ("LAST_INSERT_ID", false, true, FnKind::PreviousResult),
            ("LAST_INSERT_ID", false, false, FnKind::Writes),
            ("FOUND_ROWS", false, true, FnKind::PreviousResult),
            ("ROW_COUNT", false, true, FnKind::PreviousResult),
            ("LASTVAL", false, false, FnKind::PreviousResult),
            ("NEXTVAL", false, false, FnKind::Writes),
            ("SETVAL", false, false, FnKind::Writes),
            ("MY_STORED_FN", false, false, FnKind::Unknown),
            ("NOW", true, true, FnKind::Unknown),
        ];
        for (name, qualified, no_args, want) in cases {
            assert_eq!(kind(name, *qualified, *no_args), *want, "{name}");
        }
    }

    #[test]
    fn not_a_function_table() {
        for w in ["in", "IN", "Exists", "over", "DECIMAL", "values", "using"] {
            assert!(is_not_a_function(w.as_bytes()), "{w}");
        }
        for w in ["now", "COUNT", "get_lock", "averyveryverylongidentifier", "é"] {
            assert!(!is_not_a_function(w.as_bytes()), "{w}");
        }
    }
}
