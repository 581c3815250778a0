//! The admin port: a MySQL-protocol listener (so `mysql -P6032 -uadmin` works)
//! for looking into the running proxy. Built on the data path's framing and
//! auth, not on a separate server library (docs/decisions/0001).

mod command;
mod edit;
mod resultset;
mod views;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tracing::{debug, info, warn, Instrument};

use crate::frontend::auth::{authenticate, Attempt, AuthOutcome};
use crate::frontend::Shared;
use crate::protocol::auth::{new_scramble, StoredPassword, NATIVE_PASSWORD};
use crate::protocol::command as com;
use crate::protocol::err::code;
use crate::protocol::handshake::{
    ClientHello, Greeting, CLIENT_CONNECT_ATTRS, CLIENT_CONNECT_WITH_DB, CLIENT_LONG_PASSWORD, CLIENT_PLUGIN_AUTH,
    CLIENT_PLUGIN_AUTH_LENENC, CLIENT_PROTOCOL_41, CLIENT_SECURE_CONNECTION,
};
use crate::protocol::ok::{ok_payload, STATUS_AUTOCOMMIT};
use crate::protocol::stream::PacketStream;
use crate::protocol::ErrPacket;
use crate::runtime::FrontendUser;
use command::Command;
use resultset::Table;

/// Admin commands are short; anything longer is not one.
const COMMAND_LIMIT: usize = 64 * 1024;
/// What the admin port offers: plain protocol 4.1 with classic EOF packets, no
/// multi-statements or session tracking.
const ADMIN_CAPABILITIES: u32 = CLIENT_LONG_PASSWORD
    | CLIENT_CONNECT_WITH_DB
    | CLIENT_PROTOCOL_41
    | 0x0000_2000 // TRANSACTIONS: clients expect status flags in OK packets
    | CLIENT_SECURE_CONNECTION
    | CLIENT_PLUGIN_AUTH
    // Offered although unused: libmariadb sets the flag whether or not the
    // server offers it, and sends the attributes only when it does.
    | CLIENT_CONNECT_ATTRS
    | CLIENT_PLUGIN_AUTH_LENENC;
const ER_PARSE_ERROR: u16 = 1064;
/// The change would make an invalid config (or could not be applied): nothing changed.
const ER_CONFIG_REFUSED: u16 = 1105;

/// Accepts admin connections until shutdown or `stop` (a reload moved it).
pub async fn serve(listener: TcpListener, shared: Arc<Shared>, stop: tokio::sync::watch::Receiver<bool>) {
    let shutdown = shared.shutdown.clone();
    crate::frontend::accept_until(listener, shutdown, stop, |socket, peer| {
        let shared = shared.clone();
        let span = tracing::info_span!("admin", %peer);
        tokio::spawn(async move { run(shared, socket, peer).await }.instrument(span));
    })
    .await;
}

async fn run(shared: Arc<Shared>, socket: TcpStream, peer: SocketAddr) {
    let mut client = PacketStream::new(socket);
    let limit = shared.runtime.load().config.proxy.handshake_timeout;
    match tokio::time::timeout(limit, login(&shared, &mut client, peer)).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(_) => {
            debug!("admin handshake timed out");
            return;
        }
    }
    let mut shutdown = shared.shutdown.clone();
    loop {
        let read = tokio::select! {
            r = client.read_payload(COMMAND_LIMIT) => r,
            _ = shutdown.wait_for(|s| *s) => break,
        };
        let (seq, payload) = match read {
            Ok(p) => p,
            Err(e) => {
                debug!(error = %e, "admin client gone");
                break;
            }
        };
        let seq = seq.wrapping_add(1);
        let reply = match payload.first().copied() {
            Some(com::COM_QUIT) => break,
            Some(com::COM_PING | com::COM_INIT_DB) => Reply::Ok,
            Some(com::COM_QUERY) => execute(&shared, &String::from_utf8_lossy(&payload[1..])).await,
            Some(cmd) => Reply::Err(ErrPacket::new(
                code::ER_UNKNOWN_COM_ERROR,
                "08S01",
                format!("rwsplit admin: {} is not supported here", com::name(cmd)),
            )),
            None => Reply::Err(ErrPacket::new(code::ER_UNKNOWN_COM_ERROR, "08S01", "Unknown command")),
        };
        let out = match reply {
            Reply::Ok => {
                let mut out = bytes::BytesMut::new();
                crate::protocol::packet::write_packet(&mut out, seq, &ok_payload(STATUS_AUTOCOMMIT, 0));
                out
            }
            Reply::Err(e) => {
                let mut out = bytes::BytesMut::new();
                crate::protocol::packet::write_packet(&mut out, seq, &e.to_payload());
                out
            }
            Reply::Table(t) => t.encode(seq),
        };
        if client.write_all(&out).await.is_err() {
            break;
        }
    }
    client.shutdown().await;
}

enum Reply {
    Ok,
    Err(ErrPacket),
    Table(Table),
}

async fn execute(shared: &Arc<Shared>, text: &str) -> Reply {
    let command = match command::parse(text) {
        Ok(c) => c,
        Err(e) => return Reply::Err(ErrPacket::new(ER_PARSE_ERROR, "42000", format!("rwsplit admin: {e}"))),
    };
    if let Some(change) = edit::change_for(&command) {
        return match edit::apply(shared, change, text.trim()).await {
            Ok(()) => Reply::Ok,
            Err(message) => Reply::Err(ErrPacket::new(ER_CONFIG_REFUSED, "HY000", format!("rwsplit admin: {message}"))),
        };
    }
    match command {
        Command::ShowServers => Reply::Table(views::servers(shared)),
        Command::ShowPools => Reply::Table(views::pools(shared)),
        Command::ShowClients => Reply::Table(views::clients(shared)),
        Command::ShowPins => Reply::Table(views::pins(shared)),
        Command::ShowDigests { limit } => Reply::Table(views::digests(shared, limit)),
        Command::ShowUnparsed => Reply::Table(views::unparsed(shared)),
        Command::ShowConfig => Reply::Table(views::config(shared)),
        Command::ShowStatus => Reply::Table(views::status(shared)),
        Command::Help => Reply::Table(views::help()),
        Command::Variables(names) => match views::variables(shared, &names) {
            Ok(t) => Reply::Table(t),
            Err(name) => Reply::Err(ErrPacket::new(1193, "HY000", format!("Unknown system variable '{name}'"))),
        },
        Command::ResetDigests => {
            shared.digests.clear();
            info!("admin: digest statistics reset");
            Reply::Ok
        }
        Command::Reload => match crate::control::reload_file(shared).await {
            Ok(()) => Reply::Ok,
            Err(errors) => {
                let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
                Reply::Err(ErrPacket::new(
                    ER_CONFIG_REFUSED,
                    "HY000",
                    format!("rwsplit admin: reload rejected, the running config keeps serving: {}", text.join("; ")),
                ))
            }
        },
        Command::SaveConfig => match crate::control::save(shared) {
            Ok(_) => Reply::Ok,
            Err(e) => Reply::Err(ErrPacket::new(ER_CONFIG_REFUSED, "HY000", format!("rwsplit admin: {e}"))),
        },
        Command::Ignored => Reply::Ok,
        // Handled above as config edits.
        Command::SetWeight { .. }
        | Command::SetState { .. }
        | Command::AddServer { .. }
        | Command::RemoveServer { .. } => Reply::Ok,
    }
}

/// Greets, authenticates against the admin account, says OK. False when the
/// client is refused or leaves.
async fn login(shared: &Shared, client: &mut PacketStream, peer: SocketAddr) -> bool {
    let rt = shared.runtime.load_full();
    let admin = &rt.config.admin;
    let nonce = new_scramble();
    let greeting = Greeting {
        server_version: format!("{}-rwsplit-admin", env!("CARGO_PKG_VERSION")),
        connection_id: shared.next_connection_id(),
        nonce: nonce.to_vec(),
        capabilities: ADMIN_CAPABILITIES,
        mariadb_capabilities: 0,
        collation: 45,
        status: STATUS_AUTOCOMMIT,
        auth_plugin: NATIVE_PASSWORD.into(),
    };
    if client.write_payload(0, &greeting.to_payload()).await.is_err() {
        return false;
    }
    let Ok((seq, payload)) = client.read_payload(COMMAND_LIMIT).await else { return false };
    let seq = seq.wrapping_add(1);
    let hello = match ClientHello::parse(&payload) {
        Ok(h) => h,
        Err(e) => {
            debug!(error = %e, payload = %hex::encode(&payload), "bad admin handshake response");
            let err = ErrPacket::new(code::ER_HANDSHAKE_ERROR, "08S01", "Bad handshake");
            let _ = client.write_payload(seq, &err.to_payload()).await;
            return false;
        }
    };
    let account = StoredPassword::from_config(&admin.password).ok().map(|p| FrontendUser::local(&admin.user, p));
    let known = account.as_ref().filter(|_| hello.user == admin.user);
    let mut scramble = nonce;
    let attempt =
        Attempt { user: &hello.user, plugin: hello.auth_plugin.as_deref(), response: &hello.auth_response, peer };
    let outcome = authenticate(client, known, attempt, &mut scramble, seq).await;
    match outcome {
        Ok(AuthOutcome::Ok { seq, .. }) => {
            info!(user = %hello.user, "admin login");
            client.write_payload(seq, &ok_payload(STATUS_AUTOCOMMIT, 0)).await.is_ok()
        }
        Ok(AuthOutcome::Denied { seq, err }) => {
            warn!(user = %hello.user, "admin access denied");
            let _ = client.write_payload(seq, &err.to_payload()).await;
            false
        }
        Err(_) => false,
    }
}
