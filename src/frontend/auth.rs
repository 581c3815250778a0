//! Authenticating a client against the proxy's own user list
//! (mysql_native_password), with an auth switch for clients that start with
//! another plugin (MySQL 8 clients default to caching_sha2_password).

use std::net::SocketAddr;

use crate::protocol::auth::{new_scramble, StoredPassword, NATIVE_PASSWORD};
use crate::protocol::err::code::ER_ACCESS_DENIED_ERROR;
use crate::protocol::handshake::auth_switch_payload;
use crate::protocol::stream::{PacketStream, StreamError};
use crate::protocol::ErrPacket;

/// Auth replies are a scramble; a few KiB covers any plugin's.
const AUTH_REPLY_LIMIT: usize = 64 * 1024;

pub enum AuthOutcome {
    /// Authenticated; `seq` is the sequence id for the server's next packet.
    Ok {
        seq: u8,
    },
    Denied {
        seq: u8,
        err: ErrPacket,
    },
}

/// Verifies `response` (made with `scramble` for `plugin`) against `password`
/// (None: no such user), switching the client to
/// mysql_native_password with a fresh scramble when it used another plugin.
/// `scramble` is updated to the one the client last saw.
#[allow(clippy::too_many_arguments)]
pub async fn authenticate(
    client: &mut PacketStream,
    password: Option<&StoredPassword>,
    peer: SocketAddr,
    user: &str,
    plugin: Option<&str>,
    response: &[u8],
    scramble: &mut [u8; 20],
    mut seq: u8,
) -> Result<AuthOutcome, StreamError> {
    let mut response = response.to_vec();
    if plugin.is_some_and(|p| p != NATIVE_PASSWORD) {
        *scramble = new_scramble();
        client.write_payload(seq, &auth_switch_payload(NATIVE_PASSWORD, scramble)).await?;
        let (last, reply) = client.read_payload(AUTH_REPLY_LIMIT).await?;
        response = reply;
        seq = last.wrapping_add(1);
    }
    let ok = password.is_some_and(|p| p.verify_native(scramble, &response));
    if ok {
        Ok(AuthOutcome::Ok { seq })
    } else {
        Ok(AuthOutcome::Denied { seq, err: access_denied(user, peer, !response.is_empty()) })
    }
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
