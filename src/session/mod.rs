//! What a client session expects of the server it talks to, independent of which
//! backend connection serves the next statement: the state the proxy replays
//! (database, character set, session variables) and the reasons it must keep one
//! connection (pins).

pub mod gtid;
mod pins;
pub mod sync;

pub use gtid::{ReadYourWrites, WritePositions};
pub use pins::{Pin, Pins, PIN_COUNTERS};
pub use sync::{ConnSession, SyncPlan};

/// State a pooled connection can be brought to with SET statements and
/// COM_INIT_DB: the client's session as far as it can be replayed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Replayable {
    pub database: Option<String>,
    pub collation: u8,
    /// Session variables in the order the client set them: `(name, assignment)`,
    /// where the assignment is SQL for a SET list (`SESSION sql_mode = 'ANSI'`,
    /// `NAMES utf8mb4`). A variable set again moves to the end, keeping the order
    /// in which expressions that read other variables were evaluated.
    pub variables: Vec<(String, String)>,
    /// Multi-statements on or off: the handshake's CLIENT_MULTI_STATEMENTS, then
    /// whatever COM_SET_OPTION last said.
    pub multi_statements: bool,
}

impl Replayable {
    pub fn new(database: Option<String>, collation: u8, multi_statements: bool) -> Self {
        Self { database, collation, variables: Vec::new(), multi_statements }
    }

    /// Records `SET name = value` (as the classifier reported it).
    pub fn set_variable(&mut self, name: &str, value: &str) {
        let Some(assignment) = assignment_sql(name, value) else { return };
        let key = canonical_name(name);
        self.variables.retain(|(n, _)| *n != key);
        self.variables.push((key, assignment));
    }
}

/// Variables that are one setting under several names.
fn canonical_name(name: &str) -> String {
    match name {
        "transaction isolation" | "transaction_isolation" | "tx_isolation" => "tx_isolation".into(),
        "transaction read only" | "transaction_read_only" | "tx_read_only" => "tx_read_only".into(),
        "character set" | "charset" => "names".into(),
        other => other.to_string(),
    }
}

/// The SET-list fragment that re-creates a variable's value on another connection;
/// `None` for what is not session state (next-transaction characteristics).
fn assignment_sql(name: &str, value: &str) -> Option<String> {
    Some(match name {
        "names" => format!("NAMES {value}"),
        "character set" | "charset" => format!("CHARACTER SET {value}"),
        "transaction isolation" => {
            // SET SESSION TRANSACTION ISOLATION LEVEL cannot share a SET list; the
            // variable form can.
            let level = value.trim().trim_matches('\'').to_ascii_uppercase().replace(' ', "-");
            format!("SESSION tx_isolation = '{level}'")
        }
        "transaction read only" => {
            let on = matches!(value.trim().to_ascii_lowercase().as_str(), "1" | "on" | "true" | "'1'" | "'on'");
            format!("SESSION tx_read_only = {}", u8::from(on))
        }
        n if n.starts_with("next transaction") => return None,
        n => format!("SESSION {n} = {value}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_again_moves_to_the_end() {
        let mut r = Replayable::new(None, 45, false);
        r.set_variable("sql_mode", "'ANSI'");
        r.set_variable("time_zone", "'+00:00'");
        r.set_variable("sql_mode", "concat(@@sql_mode, ',STRICT_TRANS_TABLES')");
        assert_eq!(
            r.variables,
            vec![
                ("time_zone".to_string(), "SESSION time_zone = '+00:00'".to_string()),
                ("sql_mode".to_string(), "SESSION sql_mode = concat(@@sql_mode, ',STRICT_TRANS_TABLES')".to_string()),
            ]
        );
    }

    #[test]
    fn transaction_settings_become_variables() {
        let mut r = Replayable::new(None, 45, false);
        r.set_variable("transaction isolation", "READ COMMITTED");
        r.set_variable("transaction read only", "1");
        r.set_variable("next transaction isolation", "SERIALIZABLE");
        assert_eq!(
            r.variables.iter().map(|(_, a)| a.as_str()).collect::<Vec<_>>(),
            vec!["SESSION tx_isolation = 'READ-COMMITTED'", "SESSION tx_read_only = 1"]
        );
        r.set_variable("names", "utf8mb4");
        r.set_variable("character set", "latin1");
        assert_eq!(r.variables.last().map(|(n, a)| (n.as_str(), a.as_str())), Some(("names", "CHARACTER SET latin1")));
    }
}
