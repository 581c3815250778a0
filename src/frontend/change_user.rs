//! COM_CHANGE_USER: the new user is authenticated by the proxy; the session then
//! starts afresh (state, pins, tracking) under that user's backend account.

use tracing::info;

use super::auth::{self, AuthOutcome};
use super::session::{End, Session};
use crate::protocol::err::code;
use crate::protocol::handshake::ChangeUser;
use crate::protocol::track::ClientTracking;
use crate::protocol::ErrPacket;
use crate::session::{Pins, Replayable};

impl Session {
    pub(super) async fn change_user(&mut self, payload: &[u8], seq: u8) -> Result<(), End> {
        let rt = self.current_runtime().clone();
        let Ok(cu) = ChangeUser::parse(payload, self.capabilities) else {
            let err = ErrPacket::new(code::ER_UNKNOWN_COM_ERROR, "08S01", "Unknown command");
            self.reply_err(seq, &err).await?;
            return Err(End::Error("malformed COM_CHANGE_USER".into()));
        };
        let attempt = auth::Attempt {
            user: &cu.user,
            plugin: cu.auth_plugin.as_deref(),
            response: &cu.auth_response,
            peer: self.peer,
        };
        let outcome =
            auth::authenticate(&mut self.client, rt.users.get(&cu.user), attempt, &mut self.scramble, seq).await;
        let seq = match outcome {
            Ok(AuthOutcome::Ok { seq, method }) => {
                self.shared.logins.succeeded(method, self.client.is_tls());
                seq
            }
            Ok(AuthOutcome::Denied { seq, err }) => {
                self.shared.logins.denied();
                info!(user = %cu.user, "access denied on COM_CHANGE_USER");
                self.reply_err(seq, &err).await?;
                return Err(End::Error("COM_CHANGE_USER denied".into()));
            }
            Err(_) => return Err(End::ClientGone),
        };
        let Some(user) = rt.users.get(&cu.user) else {
            return Err(End::Error("user vanished during COM_CHANGE_USER".into()));
        };
        // Everything the old session set up is gone, as on the server: a held
        // connection carrying it is reset before anyone reuses it.
        if let Some(mut held) = self.held.take() {
            held.conn.session.unknown = true;
        }
        // Logged in as the old user: back to the pool.
        self.lease = None;
        self.handle.clear_backend();
        let collation = cu.collation.and_then(|c| u8::try_from(c).ok()).unwrap_or(self.params.collation);
        self.params.user = user.backend_user.clone();
        self.params.password = user.backend_password.clone();
        self.params.collation = collation;
        self.read_your_writes = user.read_your_writes;
        self.state = Replayable::new(cu.database.clone(), collation, self.state.multi_statements);
        self.initial = self.state.clone();
        self.pins = Pins::default();
        self.statements.clear();
        self.last_gtid = None;
        self.caught_up.clear();
        self.last_insert_id = 0;
        self.last_write_thread = None;
        self.tracking =
            ClientTracking { enabled: self.tracking.enabled, variables: None, schema: false, state_change: false };
        self.handle.set_user(&cu.user);
        self.user = cu.user;
        match self.login_on_master(&rt).await {
            Ok(ok) => {
                self.status = crate::protocol::ok::ok_status(&ok).unwrap_or(crate::protocol::ok::STATUS_AUTOCOMMIT);
                self.client.write_payload(seq, &ok).await.map_err(|_| End::ClientGone)?;
                Ok(())
            }
            Err(err) => {
                // Like the server, refuse and close: the session is half reset.
                self.reply_err(seq, &err).await?;
                Err(End::Error(format!("COM_CHANGE_USER refused: {err}")))
            }
        }
    }
}
