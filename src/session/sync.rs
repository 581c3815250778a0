//! Bringing a backend connection to a session's state: only the difference, in as
//! few round trips as possible.

use super::Replayable;

/// The replayable state a backend connection is in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnSession {
    pub state: Replayable,
    /// The connection was used in a way whose effects the proxy does not know (a
    /// pinned session ended on it): only a reset brings it to a known state.
    pub unknown: bool,
}

/// What to send a connection before a session's statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncPlan {
    /// Already in the session's state.
    Nothing,
    /// The connection's state is a prefix of the session's: add the rest.
    Apply { init_db: Option<String>, set: Option<String>, set_option: Option<bool> },
    /// COM_CHANGE_USER to the session's database and collation, then its variables.
    Reset { set: Option<String>, set_option: Option<bool> },
}

impl ConnSession {
    /// Already in `want`: nothing to send.
    pub fn is_in(&self, want: &Replayable) -> bool {
        !self.unknown && self.state == *want
    }
}

pub fn plan(conn: &ConnSession, want: &Replayable) -> SyncPlan {
    if conn.is_in(want) {
        return SyncPlan::Nothing;
    }
    let set_option = (conn.state.multi_statements != want.multi_statements).then_some(want.multi_statements);
    let prefix = conn.state.variables.len() <= want.variables.len()
        && want.variables[..conn.state.variables.len()] == conn.state.variables[..];
    let needs_reset = conn.unknown
        || conn.state.collation != want.collation
        || (want.database.is_none() && conn.state.database.is_some())
        || !prefix;
    if needs_reset {
        return SyncPlan::Reset { set: set_list(&want.variables), set_option };
    }
    let init_db = (conn.state.database != want.database).then(|| want.database.clone()).flatten();
    let set = set_list(&want.variables[conn.state.variables.len()..]);
    SyncPlan::Apply { init_db, set, set_option }
}

fn set_list(vars: &[(String, String)]) -> Option<String> {
    if vars.is_empty() {
        return None;
    }
    let list: Vec<&str> = vars.iter().map(|(_, a)| a.as_str()).collect();
    Some(format!("SET {}", list.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(db: Option<&str>, vars: &[(&str, &str)]) -> Replayable {
        let mut r = Replayable::new(db.map(String::from), 45, false);
        for (n, v) in vars {
            r.set_variable(n, v);
        }
        r
    }

    fn conn(s: Replayable) -> ConnSession {
        ConnSession { state: s, unknown: false }
    }

    #[test]
    fn same_state_needs_nothing() {
        let s = state(Some("test"), &[("sql_mode", "'ANSI'")]);
        assert_eq!(plan(&conn(s.clone()), &s), SyncPlan::Nothing);
    }

    #[test]
    fn prefix_gets_the_rest() {
        let have = state(Some("a"), &[("sql_mode", "'ANSI'")]);
        let want = state(Some("b"), &[("sql_mode", "'ANSI'"), ("time_zone", "'+00:00'"), ("autocommit", "1")]);
        assert_eq!(
            plan(&conn(have), &want),
            SyncPlan::Apply {
                init_db: Some("b".into()),
                set: Some("SET SESSION time_zone = '+00:00', SESSION autocommit = 1".into()),
                set_option: None
            }
        );
    }

    #[test]
    fn different_history_or_no_database_resets() {
        let have = state(Some("a"), &[("time_zone", "'+01:00'")]);
        let want = state(Some("a"), &[("time_zone", "'+00:00'")]);
        assert_eq!(
            plan(&conn(have), &want),
            SyncPlan::Reset { set: Some("SET SESSION time_zone = '+00:00'".into()), set_option: None }
        );
        let have = state(Some("a"), &[]);
        let want = state(None, &[]);
        assert_eq!(plan(&conn(have), &want), SyncPlan::Reset { set: None, set_option: None });
        let mut unknown = conn(state(None, &[]));
        unknown.unknown = true;
        assert_eq!(plan(&unknown, &state(None, &[])), SyncPlan::Reset { set: None, set_option: None });
    }

    #[test]
    fn multi_statement_option_follows() {
        let have = state(None, &[]);
        let mut want = state(None, &[]);
        want.multi_statements = true;
        assert_eq!(plan(&conn(have), &want), SyncPlan::Apply { init_db: None, set: None, set_option: Some(true) });
    }
}
