//! HTTP basic auth against `[http]` `user` and `password` (plaintext, or the
//! `*` + 40 hex digits hash that `SELECT PASSWORD('...')` prints).

use base64::Engine;
use sha1::{Digest, Sha1};

use crate::protocol::auth::StoredPassword;

/// The account `/stats` and `/metrics` are open to.
pub struct Account {
    user: String,
    password: StoredPassword,
}

impl Account {
    /// From the validated config (an invalid hash cannot reach here; it would
    /// refuse everyone).
    pub fn new(user: &str, password: &str) -> Self {
        Self { user: user.to_owned(), password: StoredPassword::from_config(password).unwrap_or(StoredPassword::Empty) }
    }

    /// Whether an `Authorization` header value names this account.
    pub fn accepts(&self, header: Option<&[u8]>) -> bool {
        let Some((user, password)) = header.and_then(parse_basic) else { return false };
        if user != self.user {
            return false;
        }
        match &self.password {
            StoredPassword::Empty => password.is_empty(),
            // The password is hashed as the config's is, never taken as a hash
            // itself: knowing the stored hash is not knowing the password.
            StoredPassword::NativeHash(stored) => {
                let candidate: [u8; 20] = Sha1::digest(Sha1::digest(password.as_bytes())).into();
                !password.is_empty() && constant_time_eq(&candidate, stored)
            }
        }
    }
}

/// `Basic base64(user:password)` → (user, password).
fn parse_basic(header: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(header).ok()?.trim();
    let (scheme, credentials) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(credentials.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(credentials: &str) -> Vec<u8> {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials)).into_bytes()
    }

    #[test]
    fn plaintext_password() {
        let a = Account::new("admin", "s3cr:et");
        assert!(a.accepts(Some(&basic("admin:s3cr:et"))), "a ':' in the password is the password's");
        assert!(a.accepts(Some(b"basic YWRtaW46czNjcjpldA==")), "the scheme is case-insensitive");
        assert!(!a.accepts(Some(&basic("admin:s3cr"))));
        assert!(!a.accepts(Some(&basic("root:s3cr:et"))));
        assert!(!a.accepts(Some(&basic("admin"))));
        assert!(!a.accepts(Some(b"Bearer abc")));
        assert!(!a.accepts(Some(b"Basic !!!")));
        assert!(!a.accepts(None));
    }

    #[test]
    fn hashed_password_takes_the_password_not_the_hash() {
        // SELECT PASSWORD('admin')
        let hash = "*4ACFE3202A5FF5CF467898FC58AAB1D615029441";
        let a = Account::new("admin", hash);
        assert!(a.accepts(Some(&basic("admin:admin"))));
        assert!(!a.accepts(Some(&basic(&format!("admin:{hash}")))));
        assert!(!a.accepts(Some(&basic("admin:"))));
    }

    #[test]
    fn empty_password() {
        let a = Account::new("admin", "");
        assert!(a.accepts(Some(&basic("admin:"))));
        assert!(!a.accepts(Some(&basic("admin:x"))));
    }
}
