//! Authenticating a client against the proxy's own user list:
//! mysql_native_password, or caching_sha2_password (its fast path, and its full
//! path over TLS), switching the client to the user's plugin when it started
//! with another; then the user's access rules (source address, TLS).

use std::net::SocketAddr;

use tracing::info;

use crate::access;
use crate::config::AuthPlugin;
use crate::protocol::auth::{new_scramble, sha2_digest, verify_sha2_fast};
use crate::protocol::err::code::ER_ACCESS_DENIED_ERROR;
use crate::protocol::handshake::auth_switch_payload;
use crate::protocol::stream::{PacketStream, StreamError};
use crate::protocol::ErrPacket;
use crate::runtime::FrontendUser;
use crate::stats::Method;

/// Auth replies are a scramble or a password; a few KiB covers any plugin's.
const AUTH_REPLY_LIMIT: usize = 64 * 1024;

/// caching_sha2_password's AuthMoreData replies.
const SHA2_FAST_AUTH_SUCCESS: [u8; 2] = [0x01, 0x03];
const SHA2_PERFORM_FULL_AUTH: [u8; 2] = [0x01, 0x04];

pub enum AuthOutcome {
    /// Authenticated; `seq` is the sequence id for the server's next packet.
    Ok {
        seq: u8,
        method: Method,
    },
    Denied {
        seq: u8,
        err: ErrPacket,
    },
}

/// A login as the client sent it (handshake response or COM_CHANGE_USER).
pub struct Attempt<'a> {
    pub user: &'a str,
    /// The plugin the client's response was made for.
    pub plugin: Option<&'a str>,
    pub response: &'a [u8],
    pub peer: SocketAddr,
}

/// Verifies `attempt` for `user` (None: no such user). `scramble` is the nonce
/// the client last saw; it is replaced when the client is switched to another
/// plugin.
pub async fn authenticate(
    client: &mut PacketStream,
    user: Option<&FrontendUser>,
    attempt: Attempt<'_>,
    scramble: &mut [u8; 20],
    mut seq: u8,
) -> Result<AuthOutcome, StreamError> {
    let tls = client.is_tls();
    // caching_sha2_password needs the digest for its fast path, or TLS for the
    // full one (the RSA key exchange that replaces TLS is not offered): without
    // either, the client is switched to mysql_native_password instead.
    let plugin = match user {
        Some(u) if u.auth_plugin == AuthPlugin::CachingSha2Password && (u.sha2.get().is_some() || tls) => {
            AuthPlugin::CachingSha2Password
        }
        _ => AuthPlugin::MysqlNativePassword,
    };
    let mut response = attempt.response.to_vec();
    // A client that names no plugin (pre-plugin clients) speaks native.
    if attempt.plugin.unwrap_or(AuthPlugin::MysqlNativePassword.name()) != plugin.name() {
        *scramble = new_scramble();
        client.write_payload(seq, &auth_switch_payload(plugin.name(), scramble)).await?;
        let (last, reply) = client.read_payload(AUTH_REPLY_LIMIT).await?;
        response = reply;
        seq = last.wrapping_add(1);
    }
    let with_password = !response.is_empty();
    let denied = |seq| AuthOutcome::Denied { seq, err: access_denied(attempt.user, attempt.peer, with_password) };
    let Some(user) = user else { return Ok(denied(seq)) };
    let method = match plugin {
        AuthPlugin::MysqlNativePassword => user.password.verify_native(scramble, &response).then_some(Method::Native),
        AuthPlugin::CachingSha2Password => {
            let (method, next) = verify_sha2(client, user, scramble, &response, seq).await?;
            seq = next;
            method
        }
    };
    let Some(method) = method else { return Ok(denied(seq)) };
    if !access::allowed(&user.allowed_hosts, attempt.peer.ip()) {
        info!(user = attempt.user, peer = %attempt.peer, "login refused: the address is not in the user's allowed_hosts");
        return Ok(denied(seq));
    }
    if user.require_tls && !tls {
        // The server answers REQUIRE SSL accounts on plain connections the same way.
        info!(user = attempt.user, peer = %attempt.peer, "login refused: the user requires TLS");
        return Ok(denied(seq));
    }
    Ok(AuthOutcome::Ok { seq, method })
}

/// caching_sha2_password after the client's scramble: the fast path when the
/// digest is known, else the full path (the password itself, over TLS).
/// Returns how it matched (None: it did not) and the next sequence id.
async fn verify_sha2(
    client: &mut PacketStream,
    user: &FrontendUser,
    scramble: &[u8; 20],
    response: &[u8],
    seq: u8,
) -> Result<(Option<Method>, u8), StreamError> {
    if response.is_empty() || response == [0] {
        return Ok((user.password.is_empty().then_some(Method::Sha2Fast), seq));
    }
    if let Some(digest) = user.sha2.get() {
        // PyMySQL scrambles with the auth switch's nonce including its closing
        // NUL; both forms prove the password.
        let mut with_nul = [0u8; 21];
        with_nul[..20].copy_from_slice(scramble);
        if verify_sha2_fast(digest, scramble, response) || verify_sha2_fast(digest, &with_nul, response) {
            let next = client.write_payload(seq, &SHA2_FAST_AUTH_SUCCESS).await?;
            return Ok((Some(Method::Sha2Fast), next));
        }
    }
    if !client.is_tls() {
        // Never ask for the password in clear over plain TCP (the server's
        // RSA exchange is not offered): a failed fast path is a wrong password.
        return Ok((None, seq));
    }
    // As the server: a fast path that failed falls back to the full one.
    client.write_payload(seq, &SHA2_PERFORM_FULL_AUTH).await?;
    let (last, reply) = client.read_payload(AUTH_REPLY_LIMIT).await?;
    let password = reply.strip_suffix(&[0]).unwrap_or(&reply);
    let ok = user.password.verify_cleartext(password);
    if ok {
        // Later logins of this user take the fast path, on any connection.
        let _ = user.sha2.set(sha2_digest(password));
    }
    Ok((ok.then_some(Method::Sha2Full), last.wrapping_add(1)))
}

pub fn access_denied(user: &str, peer: SocketAddr, with_password: bool) -> ErrPacket {
    ErrPacket::new(
        ER_ACCESS_DENIED_ERROR,
        "28000",
        format!(
            "Access denied for user '{}'@'{}' (using password: {})",
            user,
            peer.ip(),
            if with_password { "YES" } else { "NO" }
        ),
    )
}
