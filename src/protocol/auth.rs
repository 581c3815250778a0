//! Password checks for clients (the proxy is their server) and scrambles for
//! backends (the proxy is their client).
//! <https://mariadb.com/kb/en/connection/#mysql_native_password-plugin>

use rand::Rng;
use sha1::{Digest, Sha1};

pub const NATIVE_PASSWORD: &str = "mysql_native_password";
pub const CACHING_SHA2_PASSWORD: &str = "caching_sha2_password";
pub const SCRAMBLE_LEN: usize = 20;

/// What the proxy stores of a client password: SHA1(SHA1(password)), the same
/// thing `mysql.user` stores (shown there as `*` + 40 hex digits).
#[derive(Clone, PartialEq, Eq)]
pub enum StoredPassword {
    /// No password: the client must send an empty auth response.
    Empty,
    NativeHash([u8; 20]),
}

impl std::fmt::Debug for StoredPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a hash: it is enough to log in as the user through a proxy.
        match self {
            StoredPassword::Empty => f.write_str("StoredPassword::Empty"),
            StoredPassword::NativeHash(_) => f.write_str("StoredPassword::NativeHash(..)"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a password hash must be '*' followed by 40 hex digits")]
pub struct BadHash;

impl StoredPassword {
    /// From config text: `*` + 40 hex digits is taken as a native hash, anything
    /// else as the plaintext password.
    pub fn from_config(text: &str) -> Result<Self, BadHash> {
        if text.is_empty() {
            return Ok(Self::Empty);
        }
        if let Some(hex_part) = text.strip_prefix('*') {
            if hex_part.len() == 40 {
                let mut h = [0u8; 20];
                hex::decode_to_slice(hex_part, &mut h).map_err(|_| BadHash)?;
                return Ok(Self::NativeHash(h));
            }
        }
        Ok(Self::NativeHash(double_sha1(text.as_bytes())))
    }

    /// Checks a mysql_native_password response against the scramble the client saw.
    /// The client sends SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))); undoing the XOR
    /// gives a candidate SHA1(pw) whose SHA1 must equal the stored hash.
    pub fn verify_native(&self, scramble: &[u8], response: &[u8]) -> bool {
        match self {
            StoredPassword::Empty => response.is_empty(),
            StoredPassword::NativeHash(stored) => {
                if response.len() != 20 {
                    return false;
                }
                let mut h = Sha1::new();
                h.update(scramble);
                h.update(stored);
                let mask = h.finalize();
                let candidate: Vec<u8> = response.iter().zip(mask.iter()).map(|(a, b)| a ^ b).collect();
                let check = Sha1::digest(&candidate);
                constant_time_eq(check.as_slice(), stored)
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, StoredPassword::Empty)
    }

    /// Checks a password sent in clear (caching_sha2_password's full
    /// authentication, over TLS only).
    pub fn verify_cleartext(&self, password: &[u8]) -> bool {
        match self {
            StoredPassword::Empty => password.is_empty(),
            StoredPassword::NativeHash(stored) => constant_time_eq(&double_sha1(password), stored),
        }
    }
}

/// SHA256(SHA256(password)): what caching_sha2_password's fast path checks a
/// scramble against (the server keeps it in its cache after a full login).
pub type Sha2Digest = [u8; 32];

pub fn sha2_digest(password: &[u8]) -> Sha2Digest {
    sha2::Sha256::digest(sha2::Sha256::digest(password)).into()
}

/// The digest for a config password, when it is plaintext (a `*` hash does not
/// give it: such users need one full login over TLS first).
pub fn sha2_digest_from_config(text: &str) -> Option<Sha2Digest> {
    let is_hash = text.strip_prefix('*').is_some_and(|h| h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit()));
    (!text.is_empty() && !is_hash).then(|| sha2_digest(text.as_bytes()))
}

/// caching_sha2_password's fast path. The client sends
/// SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + nonce); undoing the XOR with the
/// known digest gives a candidate SHA256(pw) whose SHA256 must be the digest.
pub fn verify_sha2_fast(digest: &Sha2Digest, nonce: &[u8], response: &[u8]) -> bool {
    if response.len() != 32 {
        return false;
    }
    let mut h = sha2::Sha256::new();
    h.update(digest);
    h.update(nonce);
    let mask = h.finalize();
    let candidate: Vec<u8> = response.iter().zip(mask.iter()).map(|(a, b)| a ^ b).collect();
    constant_time_eq(&sha2::Sha256::digest(&candidate), digest)
}

fn double_sha1(pw: &[u8]) -> [u8; 20] {
    let once = Sha1::digest(pw);
    Sha1::digest(once).into()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A fresh scramble of printable ASCII: servers send it NUL-terminated, so it must
/// contain no zero byte, and some clients mishandle bytes above 0x7F.
pub fn new_scramble() -> [u8; SCRAMBLE_LEN] {
    let mut rng = rand::rng();
    let mut s = [0u8; SCRAMBLE_LEN];
    for b in &mut s {
        *b = rng.random_range(0x21..0x7F);
    }
    s
}

/// The auth response a client sends for `plugin` with this password and nonce.
/// `None` for a plugin the proxy cannot speak as a client.
pub fn client_auth_response(plugin: &str, nonce: &[u8], password: &str) -> Option<Vec<u8>> {
    if password.is_empty() {
        return Some(Vec::new());
    }
    let nonce = nonce.strip_suffix(&[0]).unwrap_or(nonce);
    match plugin {
        NATIVE_PASSWORD => mysql_common::scramble::scramble_native(nonce, password.as_bytes()).map(|s| s.to_vec()),
        CACHING_SHA2_PASSWORD => {
            mysql_common::scramble::scramble_sha256(nonce, password.as_bytes()).map(|s| s.to_vec())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_round_trip() {
        let scramble = new_scramble();
        let stored = StoredPassword::from_config("app").expect("plain");
        let resp = client_auth_response(NATIVE_PASSWORD, &scramble, "app").expect("native");
        assert!(stored.verify_native(&scramble, &resp));
        let wrong = client_auth_response(NATIVE_PASSWORD, &scramble, "nope").expect("native");
        assert!(!stored.verify_native(&scramble, &wrong));
        assert!(!stored.verify_native(&scramble, &[]));
        assert!(!stored.verify_native(&scramble, &resp[..19]));
    }

    #[test]
    fn hash_form_equals_plaintext() {
        // SELECT PASSWORD('app') on MariaDB.
        let hashed = StoredPassword::from_config("*5BCB3E6AC345B435C7C2E6B7949A04CE6F6563D3").expect("hash");
        assert_eq!(hashed, StoredPassword::from_config("app").expect("plain"));
        assert!(StoredPassword::from_config("*ZZCB3E6AC345B435C7C2E6B7949A04CE6F6563D3").is_err());
        // A '*' password that is not 41 characters is a plaintext password.
        assert!(StoredPassword::from_config("*short").is_ok());
    }

    #[test]
    fn sha2_fast_path_round_trip() {
        let nonce = new_scramble();
        let digest = sha2_digest_from_config("app").expect("plaintext gives the digest");
        let resp = client_auth_response(CACHING_SHA2_PASSWORD, &nonce, "app").expect("sha2");
        assert!(verify_sha2_fast(&digest, &nonce, &resp));
        let wrong = client_auth_response(CACHING_SHA2_PASSWORD, &nonce, "nope").expect("sha2");
        assert!(!verify_sha2_fast(&digest, &nonce, &wrong));
        assert!(!verify_sha2_fast(&digest, &nonce, &resp[..31]));
        assert!(sha2_digest_from_config("*5BCB3E6AC345B435C7C2E6B7949A04CE6F6563D3").is_none());
        assert!(sha2_digest_from_config("").is_none());
    }

    #[test]
    fn cleartext_against_either_form() {
        let hashed = StoredPassword::from_config("*5BCB3E6AC345B435C7C2E6B7949A04CE6F6563D3").expect("hash");
        assert!(hashed.verify_cleartext(b"app"));
        assert!(!hashed.verify_cleartext(b"apq"));
        assert!(StoredPassword::Empty.verify_cleartext(b""));
        assert!(!StoredPassword::Empty.verify_cleartext(b"x"));
    }

    #[test]
    fn empty_password() {
        let stored = StoredPassword::from_config("").expect("empty");
        assert!(stored.verify_native(b"x", &[]));
        assert!(!stored.verify_native(b"x", &[1; 20]));
    }

    #[test]
    fn scramble_is_printable() {
        assert!(new_scramble().iter().all(|b| (0x21..0x7F).contains(b)));
    }
}
