//! A server's health in HAProxy's terms: `fall` consecutive failed checks take
//! an up server down, `rise` consecutive good ones bring a down server up, and
//! the check interval depends on where the server stands.

use std::sync::atomic::AtomicBool;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::check::Facts;
use crate::config::CheckSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Not checked yet: routing goes by the config.
    Unknown,
    Up,
    Down,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Unknown => "UNKNOWN",
            State::Up => "UP",
            State::Down => "DOWN",
        }
    }
}

/// A state change, to be logged once with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub from: State,
    pub to: State,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct HealthState {
    pub state: State,
    ok_streak: u32,
    fail_streak: u32,
    /// Why the last check failed (kept while down).
    pub reason: String,
    /// What the last check that reached the server learned.
    pub facts: Option<Facts>,
    /// The last check reached the server (it may still have failed, on its
    /// replication say).
    pub reachable: bool,
    pub last_check: Option<Instant>,
    pub last_check_took: Duration,
    pub changed_at: Instant,
    pub checks: u64,
    pub failed_checks: u64,
    /// State changes (UP to DOWN and back), for metrics.
    pub transitions: u64,
}

impl Default for HealthState {
    fn default() -> Self {
        Self {
            state: State::Unknown,
            ok_streak: 0,
            fail_streak: 0,
            reason: String::new(),
            facts: None,
            reachable: false,
            last_check: None,
            last_check_took: Duration::ZERO,
            changed_at: Instant::now(),
            checks: 0,
            failed_checks: 0,
            transitions: 0,
        }
    }
}

impl HealthState {
    /// Records one check: `outcome` is its verdict, `facts` what it learned if
    /// it reached the server.
    pub fn record(
        &mut self,
        outcome: Result<(), String>,
        facts: Option<Facts>,
        took: Duration,
        s: &CheckSettings,
    ) -> Option<Transition> {
        self.checks += 1;
        self.last_check = Some(Instant::now());
        self.last_check_took = took;
        self.reachable = facts.is_some();
        if facts.is_some() {
            self.facts = facts;
        }
        let to = match outcome {
            Ok(()) => {
                self.fail_streak = 0;
                self.ok_streak = self.ok_streak.saturating_add(1);
                match self.state {
                    // The first check decides at once: no reason to send traffic
                    // to a dead server for `fall` checks after a start or reload.
                    State::Unknown => State::Up,
                    State::Down if self.ok_streak >= s.rise => State::Up,
                    other => other,
                }
            }
            Err(reason) => {
                self.failed_checks += 1;
                self.ok_streak = 0;
                self.fail_streak = self.fail_streak.saturating_add(1);
                self.reason = reason;
                match self.state {
                    State::Unknown => State::Down,
                    State::Up if self.fail_streak >= s.fall => State::Down,
                    other => other,
                }
            }
        };
        if to == self.state {
            return None;
        }
        let from = std::mem::replace(&mut self.state, to);
        self.changed_at = Instant::now();
        self.transitions += 1;
        let reason = match to {
            State::Up if from == State::Unknown => "first check passed".into(),
            State::Up => format!("{} consecutive checks passed", self.ok_streak),
            _ => self.reason.clone(),
        };
        if to == State::Up {
            self.reason.clear();
        }
        Some(Transition { from, to, reason })
    }

    /// When to check next.
    pub fn interval(&self, s: &CheckSettings) -> Duration {
        match self.state {
            State::Unknown => s.fastinter,
            State::Up if self.fail_streak > 0 => s.fastinter,
            State::Up => s.inter,
            State::Down if self.ok_streak > 0 => s.fastinter,
            State::Down => s.downinter,
        }
    }

    /// "UP", "DOWN", or a pending change as HAProxy shows it ("UP 1/3").
    pub fn describe(&self, s: &CheckSettings) -> String {
        match self.state {
            State::Up if self.fail_streak > 0 => format!("UP {}/{}", self.fail_streak, s.fall),
            State::Down if self.ok_streak > 0 => format!("DOWN {}/{}", self.ok_streak, s.rise),
            other => other.name().to_owned(),
        }
    }
}

/// One server's health, shared by its checker task and everyone who reads it.
/// Carried over a reload with the server, like its pool.
#[derive(Default)]
pub struct ServerHealth {
    pub state: Mutex<HealthState>,
    pub(super) checker_running: AtomicBool,
    /// Asks for a check now (a session saw the server misbehave).
    pub check_now: tokio::sync::Notify,
}

impl ServerHealth {
    pub fn snapshot(&self) -> HealthState {
        self.state.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> CheckSettings {
        CheckSettings {
            galera: false,
            heartbeat: None,
            available_when_donor: false,
            inter: Duration::from_secs(2),
            fastinter: Duration::from_millis(500),
            downinter: Duration::from_secs(5),
            rise: 2,
            fall: 3,
            connect_timeout: Duration::from_secs(1),
            query_timeout: Duration::from_secs(1),
            max_replication_lag: Duration::from_secs(10),
        }
    }

    #[test]
    fn rise_and_fall_like_haproxy() {
        let s = settings();
        let mut h = HealthState::default();
        let t = h.record(Ok(()), None, Duration::ZERO, &s).expect("first check decides");
        assert_eq!((t.from, t.to), (State::Unknown, State::Up));
        assert_eq!(h.interval(&s), s.inter);
        assert_eq!(h.record(Err("refused".into()), None, Duration::ZERO, &s), None);
        assert_eq!(h.describe(&s), "UP 1/3");
        assert_eq!(h.interval(&s), s.fastinter);
        assert_eq!(h.record(Err("refused".into()), None, Duration::ZERO, &s), None);
        let t = h.record(Err("lag 42s > 10s".into()), None, Duration::ZERO, &s).expect("third failure");
        assert_eq!((t.to, t.reason.as_str()), (State::Down, "lag 42s > 10s"));
        assert_eq!(h.interval(&s), s.downinter);
        assert_eq!(h.record(Ok(()), None, Duration::ZERO, &s), None);
        assert_eq!(h.describe(&s), "DOWN 1/2");
        assert_eq!(h.interval(&s), s.fastinter);
        let t = h.record(Ok(()), None, Duration::ZERO, &s).expect("second success");
        assert_eq!(t.to, State::Up);
        assert!(h.reason.is_empty());
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let s = settings();
        let mut h = HealthState::default();
        h.record(Ok(()), None, Duration::ZERO, &s);
        for _ in 0..5 {
            h.record(Err("x".into()), None, Duration::ZERO, &s);
            h.record(Err("x".into()), None, Duration::ZERO, &s);
            h.record(Ok(()), None, Duration::ZERO, &s);
        }
        assert_eq!(h.state, State::Up);
    }
}
