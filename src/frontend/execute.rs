//! One command, start to end: where it goes (the held connection, or `route`),
//! getting a connection in the session's state, read-your-writes, relaying the
//! reply, and what the reply means for the session afterwards.

use std::sync::Arc;

use bytes::Bytes;
use tracing::{debug, warn};

use super::lease::Lease;
use super::prepared::{parse_prepare_ok, put_execute, put_with_id, stmt_id, ClientStmt};
use super::session::{End, Held, Session};
use super::tracking::{Learned, Observer};
use crate::backend::statements::Prepared;
use crate::backend::{BackendError, Guard};
use crate::balance::{least_connections, lighter_elsewhere, placement_epoch, ReadHome};
use crate::classify::{Classification, Effects, StatementClass};
use crate::config::{ClusterType, ReadAffinity};
use crate::protocol::command::{self, response_kind, ResponseKind};
use crate::protocol::err::code;
use crate::protocol::handshake::CLIENT_DEPRECATE_EOF;
use crate::protocol::ok::{SESSION_STATE_CHANGED, STATUS_AUTOCOMMIT, STATUS_CURSOR_EXISTS, STATUS_IN_TRANS};
use crate::protocol::response::{Metadata, ResponseScanner, Step};
use crate::protocol::ErrPacket;
use crate::relay::{relay_reply, Relayed};
use crate::route::{master, read_target, route, Target};
use crate::runtime::Runtime;
use crate::session::{Pin, ReadYourWrites};

/// A client statement executed through its remembered backend statement
/// looks it up in full every this many executions, so that the connection's
/// least-recently-used order sees it.
const LRU_REFRESH: u32 = 64;

/// The least a session's frame buffer reserves: a small execution then
/// finds room where the last one was.
const FRAME_BUF_MIN: usize = 1024;

/// How long a replica that failed to connect is skipped for reads.
const DOWN_AFTER_CONNECT_FAILURE: std::time::Duration = std::time::Duration::from_secs(5);

impl Session {
    /// Runs a command on the right server and relays its reply. `raw` is the
    /// packet as the client framed it (forwarded as is); `payload` its content.
    pub(super) async fn execute(&mut self, raw: Bytes, payload: Bytes, reply_seq: u8) -> Result<(), End> {
        match self.execute_once(&raw, &payload, reply_seq, false).await {
            // Nothing reached the client yet and nothing ran: the statement runs
            // again elsewhere (a read on another server, a write on the new master).
            Err(End::Retry(why)) => {
                debug!(reason = %why, "running the statement again");
                match self.execute_once(&raw, &payload, reply_seq, true).await {
                    Err(End::Retry(why)) => Err(End::BackendGone(why)),
                    other => other,
                }
            }
            other => other,
        }
    }

    async fn execute_once(&mut self, raw: &Bytes, payload: &Bytes, reply_seq: u8, retry: bool) -> Result<(), End> {
        let rt = self.current_runtime().clone();
        let started = std::time::Instant::now();
        let cmd = payload.first().copied().unwrap_or(0xFF);
        let mut stmt = None;
        let class = match cmd {
            command::COM_QUERY | command::COM_STMT_PREPARE => Some(rt.classifier.classify(&payload[1..])),
            command::COM_STMT_SEND_LONG_DATA => {
                // Kept until the execution, which may run on any connection.
                if let Some(s) = stmt_id(payload).and_then(|i| self.statements.resolve(i)) {
                    if let Some(param) = payload.get(5..7) {
                        let param = u16::from_le_bytes([param[0], param[1]]);
                        let max = rt.config.proxy.max_allowed_packet;
                        // Copied out of the read buffer, which a slice would keep
                        // alive whole: what is held is then what is counted.
                        let data = Bytes::copy_from_slice(payload.get(7..).unwrap_or_default());
                        self.statements.add_long_data(s, param, data, max);
                    }
                }
                return Ok(());
            }
            command::COM_STMT_CLOSE => {
                if let Some(s) = stmt_id(payload).and_then(|i| self.statements.resolve(i)) {
                    self.statements.remove(s);
                }
                return Ok(());
            }
            command::COM_STMT_RESET => {
                let Some(s) = stmt_id(payload).and_then(|i| self.statements.resolve(i)) else {
                    return self.reply_err(reply_seq, &unknown_statement(payload, "mysqld_stmt_reset")).await;
                };
                self.statements.take_long_data(s);
                if let Some(st) = self.statements.by_id.get_mut(&s) {
                    st.long_data_refused = false;
                }
                // The server's OK carries the session's lasting flags (transaction,
                // autocommit, sql_mode quirks), not the last statement's own.
                let lasting = self.status & (0x0001 | 0x0002 | 0x0200 | 0x2000 | 0x8000);
                let ok = crate::protocol::ok::ok_payload(lasting, 0);
                return self.client.write_payload(reply_seq, &ok).await.map(|_| ()).map_err(|_| End::ClientGone);
            }
            command::COM_STMT_EXECUTE | command::COM_STMT_BULK_EXECUTE | command::COM_STMT_FETCH => {
                let Some(s) = stmt_id(payload).and_then(|i| self.statements.resolve(i)) else {
                    let name = if cmd == command::COM_STMT_FETCH { "mysqld_stmt_fetch" } else { "mysqld_stmt_execute" };
                    return self.reply_err(reply_seq, &unknown_statement(payload, name)).await;
                };
                if cmd != command::COM_STMT_FETCH
                    && self.statements.by_id.get(&s).is_some_and(|st| st.long_data_refused)
                {
                    // The server's answer to long data over its limit, to every
                    // execution until a COM_STMT_RESET.
                    return self.reply_err(reply_seq, &long_data_too_long()).await;
                }
                stmt = Some(s);
                self.statements.by_id.get(&s).map(|st| st.class.clone())
            }
            _ => None,
        };
        if self.held.is_some() && self.only_soft_pins() && !class.as_deref().is_some_and(|c| c.diagnostics) {
            // Kept only in case the client asked about the last statement's
            // warnings; it asks something else, which may belong elsewhere.
            self.pins.remove(Pin::Warnings);
            self.held = None;
            self.handle.clear_backend();
        }
        if let Some(down) = self.held.as_ref().filter(|h| h.conn.pool().is_down()).map(|h| h.server) {
            // Boxed, as every branch below that is seldom taken: the command's
            // future is otherwise as large as its largest branch, and it is
            // built, moved and polled through for every statement.
            return Box::pin(self.lose_held_connection(down, &rt, reply_seq)).await;
        }
        let was_free = self.held.is_none();
        let mut held = match self.held.take() {
            Some(h) => h,
            None => match self.connect_for(cmd, class.as_deref(), &rt).await {
                Ok(h) => h,
                Err(err) => return self.reply_err(reply_seq, &err).await,
            },
        };
        // Only for LAST_INSERT_ID() itself: the restoring statement would reset
        // ROW_COUNT() and the warnings other PREVIOUS_RESULT statements read.
        if class.as_ref().is_some_and(|c| c.effects.has(Effects::READS_LAST_INSERT_ID)) {
            Box::pin(self.restore_last_insert_id(&mut held)).await;
        }
        if cmd == command::COM_STMT_PREPARE {
            return Box::pin(self.prepare(held, raw, payload, class, reply_seq)).await;
        }
        let mut restore = None;
        let framed;
        let raw = match stmt {
            Some(s) => match self.statement_for(&mut held, s, payload).await {
                Ok((bytes, defs)) => {
                    restore = defs;
                    framed = bytes;
                    &framed
                }
                Err(Some(err)) => {
                    self.keep_or_release(held);
                    let mut out = bytes::BytesMut::new();
                    crate::protocol::packet::write_packet(&mut out, reply_seq, &err);
                    return self.client.write_all(&out).await.map_err(|_| End::ClientGone);
                }
                Err(None) => {
                    held.conn.poisoned = true;
                    return Err(End::BackendGone(format!(
                        "backend {} failed preparing a statement",
                        held.conn.server.name
                    )));
                }
            },
            None => raw,
        };
        self.handle.set_backend(held.conn.pool(), held.conn.greeting.connection_id, held.conn.uid);

        // One-shot pins: what they kept (warnings, FOUND_ROWS) was for this
        // command; asking about the warnings does not clear them.
        if !class.as_deref().is_some_and(|c| c.diagnostics) {
            self.pins.remove(Pin::Warnings);
        }
        self.pins.remove(Pin::FoundRows);
        let kind = response_kind(payload);
        // Where the statement went, by the topology it was sent under: one
        // load of it for the checks below and the statistics.
        let on_master = rt.master_index() == Some(held.server);
        held.conn.busy = true;
        if let Err(e) = held.conn.io.write_all(raw).await {
            held.conn.poisoned = true;
            return Err(End::BackendGone(format!("backend {} write failed: {e}", held.conn.server.name)));
        }
        let mut learned = Learned::default();
        let mut error_code = None;
        let mut warnings = 0;
        let mut rows = 0;
        let mut bytes_out = 0;
        if kind != ResponseKind::None {
            let cache_metadata = held.conn.cache_metadata();
            let mut scanner = ResponseScanner::new(kind, self.capabilities & CLIENT_DEPRECATE_EOF != 0)
                .with_cache_metadata(cache_metadata);
            if cache_metadata && cmd == command::COM_STMT_EXECUTE {
                scanner = scanner.watching_metadata();
            }
            let mut relayed = Relayed::default();
            let mut observer = Observer::new(&self.tracking, &self.shared.writes);
            observer.read_only_transaction_on_replica = self.pins.has(Pin::Transaction) && !on_master;
            observer.hold_read_only_error = !retry
                && was_free
                && self.pins.is_empty()
                && self.status & STATUS_AUTOCOMMIT != 0
                && on_master
                && class.as_ref().is_some_and(|c| c.class == StatementClass::Write)
                && matches!(cmd, command::COM_QUERY | command::COM_STMT_EXECUTE);
            let result = relay_reply(
                &mut held.conn.io,
                &mut self.client,
                &mut scanner,
                &mut observer,
                &mut relayed,
                restore.as_deref(),
            )
            .await;
            learned = observer.learned;
            let seen = scanner.metadata();
            let news = matches!(seen, Metadata::Sent(_)) || (seen == Metadata::Skipped && restore.is_some());
            if let Some(st) = stmt.filter(|_| news).and_then(|s| self.statements.by_id.get_mut(&s)) {
                match seen {
                    // New definitions: both the client and this connection have them now.
                    Metadata::Sent(hash) => {
                        st.metadata = Some(hash);
                        held.conn.statements.set_metadata(&st.sql, Some(hash));
                    }
                    // The connection's definitions were put back in for the client.
                    Metadata::Skipped if restore.is_some() => {
                        self.shared.statements.metadata_restored();
                        st.metadata = held.conn.statements.peek(&st.sql).and_then(|p| p.metadata);
                    }
                    _ => {}
                }
            }
            match result {
                Ok(()) => {
                    if let Some(status) = scanner.status() {
                        self.status = status;
                    }
                    error_code = scanner.error_code();
                    warnings = scanner.warnings();
                    rows = scanner.rows();
                    bytes_out = relayed.bytes_to_client;
                    // A result set ending in a classic EOF (clients without
                    // DEPRECATE_EOF) can flag a state change (a stored function
                    // set a user variable) without saying what changed.
                    if !scanner.last_was_ok() && scanner.status().is_some_and(|s| s & SESSION_STATE_CHANGED != 0) {
                        learned.state_changed = true;
                    }
                }
                Err(e) if e.is_backend_side() => {
                    held.conn.poisoned = true;
                    let read = class.as_ref().is_some_and(|c| c.class == StatementClass::Read && c.hint.is_none());
                    // A KILL through the proxy ends the connection on purpose:
                    // the statement must not come back to life elsewhere.
                    let killing = self.handle.killing.load(std::sync::atomic::Ordering::Relaxed);
                    if was_free
                        && read
                        && !killing
                        && relayed.bytes_to_client == 0
                        && self.pins.is_empty()
                        && matches!(cmd, command::COM_QUERY | command::COM_STMT_EXECUTE)
                    {
                        if let Some(s) = rt.servers.get(held.server) {
                            s.mark_down(DOWN_AFTER_CONNECT_FAILURE);
                        }
                        self.handle.clear_backend();
                        return Err(End::Retry(format!("backend {} failed: {e}", held.conn.server.name)));
                    }
                    warn!(server = %held.conn.server.name, error = %e, "backend failed during a command");
                    // The client is disconnected, which it reports as it would a
                    // server going away (2013). An ERR packet would not do: client
                    // libraries take a server-sent 2013 for a malformed packet.
                    return Err(End::BackendGone(format!("backend {} failed: {e}", held.conn.server.name)));
                }
                Err(_) => {
                    held.conn.poisoned = true;
                    return Err(End::ClientGone);
                }
            }
        }
        held.conn.busy = false;
        if learned.refused_read_only {
            // The master turned read-only under us (a switchover): the write did
            // not run, so it waits for the next master and runs there.
            let old = held.server;
            drop(held);
            self.handle.clear_backend();
            if let Some(s) = rt.servers.get(old) {
                s.health.check_now.notify_one();
            }
            Box::pin(self.wait_for_master_other_than(old, &rt)).await;
            return Err(End::Retry(format!("master {old} refused a write as read-only")));
        }
        let done = Done {
            elapsed: started.elapsed(),
            rows,
            failed: error_code.is_some(),
            bytes_in: raw.len() as u64,
            bytes_out,
        };
        self.count(&held, class.as_ref(), &done, on_master);
        if error_code == Some(code::ER_CONNECTION_KILLED) {
            // The server killed this connection and told the client so; like the
            // server, the session ends when the client next speaks.
            held.conn.poisoned = true;
            self.killed_self = true;
            return Ok(());
        }
        let outcome = Outcome { learned, failed: error_code.is_some() };
        if self.after(cmd, payload, class.as_deref(), &outcome, &mut held, &rt) {
            // The client set session_track_*: the proxy's own tracking is put back.
            if let Err(err) = Box::pin(held.conn.retrack()).await {
                warn!(error = %err, "could not restore session tracking");
                held.conn.poisoned = true;
            }
        }
        // SHOW WARNINGS (and the drivers that send it after every statement with
        // warnings) must see this statement's: an error's too.
        if warnings > 0 || error_code.is_some() {
            self.pins.add(Pin::Warnings);
        }
        self.keep_or_release(held);
        Ok(())
    }

    /// A connection for a command when the session holds none.
    async fn connect_for(&mut self, cmd: u8, class: Option<&Classification>, rt: &Runtime) -> Result<Held, ErrPacket> {
        let home = self.read_home_for(cmd, class, rt);
        // A lease serves reads on its own replica; for anything else it goes
        // back to the pool first, where this checkout may find it.
        let mut lease = self.lease.take().filter(|l| home.is_some() && l.server() == home);
        let server = match home {
            Some(home) => home,
            None => match self.target(cmd, class, rt) {
                Target::Server(i) => i,
                Target::Unavailable(why) => return Err(no_server(why)),
                // Reads are not held: they fail at once when they would need a master.
                Target::NoMaster if class.is_some_and(|c| c.class == StatementClass::Read) => {
                    return Err(no_master(rt))
                }
                // Boxed, as the other branches below that are seldom taken: this
                // future is built and polled through for every read.
                Target::NoMaster => Box::pin(self.wait_for_master(rt)).await?,
            },
        };
        // On Galera the writer serves reads too: a read there falls back like
        // any other.
        let galera_read = rt.config.monitor.cluster == ClusterType::Galera
            && class.is_some_and(|c| c.class == StatementClass::Read && c.hint.is_none());
        let is_read = home.is_some() || rt.master_index() != Some(server) || galera_read;
        if !is_read {
            return self.checkout_master(server, rt).await.map(|(held, _)| held);
        }
        // A read: another replica, then the master, when one cannot be reached;
        // and read-your-writes decides whether a replica has caught up.
        let mut server = server;
        loop {
            let leased = match lease.take() {
                Some(l) => self.resume_lease(l).await,
                None => None,
            };
            let got = match leased {
                Some(held) => Ok(held),
                None => self.checkout(server, rt).await,
            };
            match got {
                Ok(mut held) => {
                    if self.caught_up_with_own_writes(&mut held, rt).await {
                        let moved = self.read_home.as_ref().map(|h| h.server) != Some(held.server);
                        if moved && rt.master_index() != Some(held.server) {
                            self.read_home =
                                rt.servers.get(held.server).map(|s| ReadHome::new(held.server, s.pool.clone()));
                        }
                        return Ok(held);
                    }
                    drop(held);
                    return Box::pin(self.master_conn(rt)).await.map(|(held, _)| held);
                }
                Err((err, refused)) if refused => {
                    // The replica is fine but cannot take this session's state (a
                    // database not replicated yet, say): the master can.
                    debug!(error = %err, "session state refused by a replica; reading from the master");
                    return Box::pin(self.master_conn(rt)).await.map(|(held, _)| held);
                }
                Err((err, _)) => {
                    if let Some(s) = rt.servers.get(server) {
                        s.mark_down(DOWN_AFTER_CONNECT_FAILURE);
                        warn!(server = %s.name, error = %err, "replica unavailable for reads, trying another server");
                    }
                    match read_target(rt, Some(server)) {
                        Target::Server(next) if rt.master_index() != Some(next) => server = next,
                        Target::Server(next) => return Box::pin(self.checkout(next, rt)).await.map_err(|(e, _)| e),
                        Target::Unavailable(_) | Target::NoMaster => return Err(err),
                    }
                }
            }
        }
    }

    /// The leased connection, unless its server went down, closed it while
    /// it was kept, or it cannot be brought to the session's state: then
    /// None, and a checkout takes over (and reports a refused state).
    async fn resume_lease(&mut self, lease: Lease) -> Option<Held> {
        let mut held = lease.into_held()?;
        if held.conn.pool().is_down() || !held.conn.io.is_idle_and_open() {
            held.conn.poisoned = true;
            return None;
        }
        // Nothing set since the last statement, most of the time: no sync
        // to run (with callgrind, its future costs about 100 instructions
        // more per statement than the check).
        if held.conn.session.is_in(&self.state) {
            return Some(held);
        }
        match held.conn.sync(&self.params, &self.state).await {
            Ok(_) => Some(held),
            Err(_) => {
                held.conn.poisoned = true;
                None
            }
        }
    }

    /// With `read_affinity = "session"`, the replica for a plain read that
    /// the balancer would place: the session's own while that one is fit, so
    /// that consecutive statements reuse the same server connection
    /// (measured: a third less added latency at one client thread), and
    /// sessions, not statements, are spread over the replicas. A session
    /// without a replica (or whose replica is unfit) gets the one with the
    /// fewest sessions per unit of weight, and a session moves when that
    /// evens the count (a replica came back, or two first reads chose the
    /// same one at once). The home is taken when chosen, before the checkout,
    /// so that concurrent first reads see each other. None: the statement is
    /// not such a read, or no replica is fit (`target` decides).
    fn read_home_for(&mut self, cmd: u8, class: Option<&Classification>, rt: &Runtime) -> Option<usize> {
        let c = class?;
        let routing = &rt.config.routing;
        let sticky = routing.read_affinity == ReadAffinity::Session
            && routing.balance == crate::balance::Balance::Roundrobin
            && rt.config.monitor.cluster == ClusterType::Replication;
        // What `target` sends to `read_target` and no elsewhere.
        let plain_read = c.class == StatementClass::Read
            && c.hint.is_none()
            && matches!(
                cmd,
                command::COM_QUERY
                    | command::COM_STMT_PREPARE
                    | command::COM_STMT_EXECUTE
                    | command::COM_STMT_BULK_EXECUTE
            )
            && self.status & STATUS_AUTOCOMMIT != 0
            && !c.effects.has(Effects::PREVIOUS_RESULT)
            && !c.effects.has(Effects::CONNECTION_ID);
        if !sticky || !plain_read {
            return None;
        }
        let epoch = placement_epoch();
        if let Some(home) = self.read_home.as_ref().filter(|_| self.home_epoch == epoch) {
            return Some(home.server);
        }
        let topo = rt.topology.load();
        let fit = |i: usize| topo.master != Some(i) && rt.readable_in(&topo, i);
        let homes = |i: usize| rt.servers.get(i).map_or(0, |s| s.pool.homes.load(std::sync::atomic::Ordering::Relaxed));
        if let Some(home) = &self.read_home {
            if fit(home.server) && !lighter_elsewhere(&rt.readers, home.server, homes, fit) {
                self.home_epoch = epoch;
                return Some(home.server);
            }
        }
        // Leave the old home first, so that it does not count this session.
        self.read_home = None;
        let server = least_connections(&rt.readers, homes, fit)?;
        self.read_home = rt.servers.get(server).map(|s| ReadHome::new(server, s.pool.clone()));
        self.home_epoch = placement_epoch();
        Some(server)
    }

    /// Where a command goes when the session is free to go anywhere.
    fn target(&self, cmd: u8, class: Option<&Classification>, rt: &Runtime) -> Target {
        match (cmd, class) {
            (
                command::COM_QUERY
                | command::COM_STMT_PREPARE
                | command::COM_STMT_EXECUTE
                | command::COM_STMT_BULK_EXECUTE,
                Some(c),
            ) => {
                if self.status & STATUS_AUTOCOMMIT == 0 {
                    // With autocommit off any statement may open a transaction.
                    master(rt)
                } else if c.effects.has(Effects::PREVIOUS_RESULT) || c.effects.has(Effects::CONNECTION_ID) {
                    // LAST_INSERT_ID() and friends: where the last write ran.
                    master(rt)
                } else if c.effects.has(Effects::BEGIN_READ_ONLY) && c.hint.is_none() {
                    read_target(rt, None)
                } else {
                    route(c.class, c.hint.as_ref(), rt)
                }
            }
            (command::COM_FIELD_LIST, _) => read_target(rt, None),
            _ => master(rt),
        }
    }

    /// A connection to `server` brought to the session's state. An error says
    /// whether the server refused the state (rather than being unreachable).
    pub(super) async fn checkout(&mut self, server: usize, rt: &Runtime) -> Result<Held, (ErrPacket, bool)> {
        self.checkout_with_ok(server, rt).await.map(|(held, _)| held)
    }

    /// A connection to the master, and the server's OK if it logged in afresh.
    async fn master_conn(&mut self, rt: &Runtime) -> Result<(Held, Option<Vec<u8>>), ErrPacket> {
        match master(rt) {
            Target::Server(m) => self.checkout_master(m, rt).await,
            Target::Unavailable(why) => Err(no_server(why)),
            Target::NoMaster => Err(no_master(rt)),
        }
    }

    /// A connection to the master `server`. When it cannot be reached (nothing
    /// was sent), the checks are asked to look now, and once they name another
    /// master (a failover; up to `failover_hold`) the connection goes there.
    async fn checkout_master(&mut self, server: usize, rt: &Runtime) -> Result<(Held, Option<Vec<u8>>), ErrPacket> {
        match self.checkout_with_ok(server, rt).await {
            Ok(ok) => Ok(ok),
            // Refused (a bad database), or busy (pool_max): no failover helps.
            Err((err, _)) if err.code != code::ER_CONNECT_TO_FOREIGN_DATA_SOURCE => Err(err),
            // Boxed: every write passes through here, a failover seldom.
            Err((err, _)) => Box::pin(self.checkout_after_master_failure(server, err, rt)).await,
        }
    }

    /// The master `server` could not be reached (`err`): a connection to the
    /// master the checks name next.
    async fn checkout_after_master_failure(
        &mut self,
        server: usize,
        err: ErrPacket,
        rt: &Runtime,
    ) -> Result<(Held, Option<Vec<u8>>), ErrPacket> {
        if let Some(s) = rt.servers.get(server) {
            s.health.check_now.notify_one();
        }
        self.wait_for_master_other_than(server, rt).await;
        match master(rt) {
            Target::Server(m) if m != server => self.checkout_with_ok(m, rt).await.map_err(|(e, _)| e),
            // The checks took it down and no other is writable yet:
            // the usual hold for a master to appear.
            Target::NoMaster => {
                let m = self.wait_for_master(rt).await?;
                self.checkout_with_ok(m, rt).await.map_err(|(e, _)| e)
            }
            _ => Err(err),
        }
    }

    /// `checkout`, also returning the server's OK when the connection was logged
    /// in afresh (a new connection or a reset).
    async fn checkout_with_ok(
        &mut self,
        server: usize,
        rt: &Runtime,
    ) -> Result<(Held, Option<Vec<u8>>), (ErrPacket, bool)> {
        let Some(s) = rt.servers.get(server) else { return Err((no_server("unknown server"), false)) };
        match s.pool.checkout_for(&self.params, &self.state, self.id).await {
            Ok((conn, ok)) => {
                self.adopt_tracking_defaults(&conn);
                Ok((Held { server, conn }, ok))
            }
            Err(e) => {
                if e.is_server_fault() {
                    warn!(server = %s.name, error = %e, "backend unavailable");
                }
                let refused = matches!(e, BackendError::Refused { .. });
                Err((e.to_err_packet(), refused))
            }
        }
    }

    /// The first connection tells what a client asking for session tracking sees
    /// by default.
    pub(super) fn adopt_tracking_defaults(&mut self, conn: &Guard) {
        if self.tracking.variables.is_none() && !self.tracking.schema && !self.tracking.state_change {
            let enabled = self.tracking.enabled;
            self.tracking = crate::protocol::track::ClientTracking { enabled, ..conn.tracking_defaults.clone() };
        }
    }

    /// Read-your-writes: has the replica behind `held` applied the writes this
    /// read must see (the session's own, or every write through the proxy)?
    /// Waits up to `read_your_writes_timeout` for them (MASTER_GTID_WAIT).
    async fn caught_up_with_own_writes(&mut self, held: &mut Held, rt: &Runtime) -> bool {
        match self.own_writes_to_wait_for(held, rt) {
            OwnWrites::Applied => true,
            OwnWrites::Unknown => false,
            // Boxed: most reads have nothing to wait for, and the wait's future
            // would make every read's larger.
            OwnWrites::WaitFor { epoch, position } => {
                Box::pin(self.wait_for_own_writes(held, rt, epoch, position)).await
            }
        }
    }

    /// Whether the server of `held` is known to have applied the writes a
    /// read must see, without asking it.
    fn own_writes_to_wait_for(&self, held: &Held, rt: &Runtime) -> OwnWrites {
        let Some(server) = rt.servers.get(held.server) else { return OwnWrites::Unknown };
        let (epoch, position) = match self.read_your_writes {
            ReadYourWrites::Off => return OwnWrites::Applied,
            ReadYourWrites::Session => {
                let Some(gtid) = self.last_gtid.clone() else { return OwnWrites::Applied };
                if self.caught_up.contains(&held.server) {
                    return OwnWrites::Applied;
                }
                (None, gtid)
            }
            ReadYourWrites::Global => {
                // The epoch first, one atomic load: the position is built under
                // a lock, and only a replica behind the writes needs it.
                let applied = server.applied_epoch.load(std::sync::atomic::Ordering::Acquire);
                if applied >= self.shared.writes.epoch() {
                    return OwnWrites::Applied;
                }
                let Some((epoch, position)) = self.shared.writes.position() else { return OwnWrites::Applied };
                if applied >= epoch {
                    return OwnWrites::Applied;
                }
                (Some(epoch), position)
            }
        };
        if !position.bytes().all(|b| b.is_ascii_digit() || b == b'-' || b == b',') {
            return OwnWrites::Unknown;
        }
        OwnWrites::WaitFor { epoch, position }
    }

    /// Asks the server of `held` to wait until it has applied `position`
    /// (up to read_your_writes_timeout); whether it did.
    async fn wait_for_own_writes(
        &mut self,
        held: &mut Held,
        rt: &Runtime,
        epoch: Option<u64>,
        position: String,
    ) -> bool {
        let Some(server) = rt.servers.get(held.server) else { return false };
        let timeout = rt.config.routing.read_your_writes_timeout;
        // Galera nodes apply write sets, not a replication stream:
        // MASTER_GTID_WAIT answers -1 there, WSREP_SYNC_WAIT_UPTO_GTID waits
        // (whole seconds; an error when the time is up).
        let (sql, reached): (String, &[u8]) = if rt.config.monitor.cluster == ClusterType::Galera {
            (format!("SELECT WSREP_SYNC_WAIT_UPTO_GTID('{position}', {})", timeout.as_secs()), b"1")
        } else {
            (format!("SELECT MASTER_GTID_WAIT('{position}', {:.3})", timeout.as_secs_f64()), b"0")
        };
        match held.conn.query_rows(&sql).await {
            Ok(rows) if rows.first().and_then(|r| r.first()).is_some_and(|v| v.as_deref() == Some(reached)) => {
                match epoch {
                    Some(e) => {
                        server.applied_epoch.fetch_max(e, std::sync::atomic::Ordering::AcqRel);
                    }
                    None => self.caught_up.push(held.server),
                }
                true
            }
            Ok(_) => {
                debug!(server = %held.conn.server.name, position = %position, "replica has not applied earlier writes in time; reading from the master");
                false
            }
            // An error reply (WSREP_SYNC_WAIT_UPTO_GTID's timeout) leaves the
            // connection usable.
            Err(BackendError::Refused { err, .. }) => {
                debug!(error = %err, "server has not applied earlier writes in time; reading from the master");
                false
            }
            Err(e) => {
                held.conn.poisoned = true;
                debug!(error = %e, "waiting for earlier writes failed; reading from the master");
                false
            }
        }
    }

    /// LAST_INSERT_ID() answers about the connection's last insert; if the
    /// session's last insert ran on another connection, its value is put here.
    async fn restore_last_insert_id(&mut self, held: &mut Held) {
        let here = (held.server, held.conn.greeting.connection_id);
        // Zero too: a pooled connection remembers the id of whichever session
        // inserted on it last, which this session must not see.
        if self.last_write_thread == Some(here) {
            return;
        }
        let sql = format!("DO LAST_INSERT_ID({})", self.last_insert_id);
        if let Ok(reply) = held.conn.simple_query(&sql).await {
            if reply.first() == Some(&0x00) {
                self.last_write_thread = Some(here);
            }
        }
    }

    fn only_soft_pins(&self) -> bool {
        self.pins.reasons().all(|p| p == Pin::Warnings)
    }

    /// What a completed command changed: session state to replay, pins, the
    /// transaction, the position of the session's writes.
    /// Returns whether the connection's session tracking must be restored
    /// (awaited by the caller: this runs for every statement and has nothing
    /// to wait for otherwise).
    #[must_use]
    fn after(
        &mut self,
        cmd: u8,
        payload: &[u8],
        class: Option<&Classification>,
        outcome: &Outcome,
        held: &mut Held,
        rt: &Runtime,
    ) -> bool {
        let (learned, failed) = (&outcome.learned, outcome.failed);
        if let Some(schema) = &learned.schema {
            // An empty schema: the current database was dropped.
            self.state.database = Some(schema.clone()).filter(|s| !s.is_empty());
        }
        if let Some(gtid) = &learned.last_gtid {
            self.last_gtid = Some(gtid.clone());
            self.caught_up.clear();
            self.caught_up.push(held.server);
            if let (Some(epoch), Some(s)) = (learned.write_epoch, rt.servers.get(held.server)) {
                // The server that ran the write has it.
                s.applied_epoch.fetch_max(epoch, std::sync::atomic::Ordering::AcqRel);
            }
        }
        if let Some(id) = learned.insert_id.filter(|id| *id != 0) {
            self.last_insert_id = id;
            self.last_write_thread = Some((held.server, held.conn.greeting.connection_id));
        }
        let mut retrack = false;
        match cmd {
            command::COM_QUERY | command::COM_STMT_EXECUTE | command::COM_STMT_BULK_EXECUTE => {
                if let Some(c) = class {
                    retrack = self.after_query(c, learned, failed);
                }
            }
            command::COM_INIT_DB if !failed => {
                self.state.database = Some(String::from_utf8_lossy(&payload[1..]).into_owned());
            }
            command::COM_SET_OPTION if !failed => {
                if let (Some(lo), Some(hi)) = (payload.get(1), payload.get(2)) {
                    self.state.multi_statements = u16::from_le_bytes([*lo, *hi]) == 0;
                }
            }
            command::COM_RESET_CONNECTION if !failed => {
                self.statements.clear();
                held.conn.statements.clear();
                let database = self.state.database.clone();
                self.state = crate::session::Replayable { database, ..self.initial.clone() };
                self.pins.clear();
                self.last_insert_id = 0;
                // What the reset left (character set, variables) is the server's
                // business: the connection is reset fully before its next use.
                held.conn.session.unknown = true;
            }
            _ => {}
        }
        if cmd == command::COM_STMT_EXECUTE || cmd == command::COM_STMT_FETCH {
            if self.status & STATUS_CURSOR_EXISTS != 0 {
                self.pins.add(Pin::Cursor);
            } else {
                self.pins.remove(Pin::Cursor);
            }
        }
        if self.status & STATUS_IN_TRANS != 0 {
            self.pins.add(Pin::Transaction);
        } else {
            self.pins.remove(Pin::Transaction);
        }
        // autocommit=0 alone pins nothing: its statements go to the master
        // (`target`), the transaction each opens pins as any transaction does,
        // and between transactions the session holds no connection (an idle
        // PyMySQL client, autocommit off by default, costs no master connection).
        if learned.state_changed && !explains_state_change(class, cmd) {
            debug!("server reported a session state change the proxy cannot replay; pinning");
            self.pins.add(Pin::UntrackedState);
        }
        if !held.conn.session.unknown && held.conn.session.state != self.state {
            held.conn.session.state = self.state.clone();
        }
        retrack
    }

    /// Returns whether the connection's session tracking must be restored.
    #[must_use]
    fn after_query(&mut self, c: &Classification, learned: &Learned, failed: bool) -> bool {
        let e = c.effects;
        let mut retrack = false;
        if e.has(Effects::CONNECTION_ID) {
            self.pins.add(Pin::ConnectionId);
        }
        if failed && e.has(Effects::MULTI) {
            // Part of a multi-statement batch may have run: its effects are unknown.
            self.pins.add(Pin::UntrackedState);
        }
        if !failed && e.has(Effects::SET_SESSION) {
            for v in &c.session_vars {
                if v.name.starts_with("session_track") {
                    // The proxy's own tracking stays on; the client's wish only
                    // changes which entries it is shown.
                    self.track_client_setting(&v.name, &v.value);
                    continue;
                }
                self.state.set_variable(&v.name, &v.value);
            }
            retrack = c.session_vars.iter().any(|v| v.name.starts_with("session_track"));
            if c.session_vars.iter().any(|v| v.name.starts_with("next transaction")) {
                self.pins.add(Pin::NextTransaction);
            }
            if c.session_vars.iter().any(|v| v.name == "wait_timeout" || v.name == "interactive_timeout") {
                self.pins.add(Pin::SessionTimeout);
            }
        }
        if e.has(Effects::BEGIN) || e.has(Effects::COMMIT) || e.has(Effects::ROLLBACK) {
            self.pins.remove(Pin::NextTransaction);
        }
        // Variables the server reports changed that the statement did not say it
        // would set (a procedure did it, say): not replayable.
        let unexplained = learned.variables.iter().any(|(name, _)| !c.explains_variable(name));
        if unexplained && !e.has(Effects::SET_STATEMENT) {
            self.pins.add(Pin::UntrackedState);
        }
        if failed {
            return retrack;
        }
        if e.has(Effects::USE_DB) {
            if let Some(db) = &c.use_db {
                self.state.database = Some(db.clone());
            }
        }
        if e.has(Effects::ASSIGNS_USER_VAR) {
            self.pins.add(Pin::UserVariable);
        }
        if e.has(Effects::CREATE_TEMP_TABLE) {
            self.pins.add(Pin::TemporaryTable);
            self.pins.temporary_tables.extend(c.tables.iter().cloned());
        }
        if e.has(Effects::DROP_TEMP_TABLE) || (e.has(Effects::IMPLICIT_COMMIT) && c.digest.starts_with("DROP")) {
            for t in &c.tables {
                self.pins.temporary_tables.remove(t);
            }
            if self.pins.temporary_tables.is_empty() {
                self.pins.remove(Pin::TemporaryTable);
            }
        }
        if e.has(Effects::LOCK_TABLES) {
            self.pins.add(Pin::LockTables);
        }
        if e.has(Effects::UNLOCK_TABLES) {
            self.pins.remove(Pin::LockTables);
        }
        if e.has(Effects::USER_LOCK) {
            self.pins.add(Pin::UserLock);
        }
        if e.has(Effects::SQL_PREPARE) {
            self.pins.add(Pin::SqlPrepare);
        }
        if e.has(Effects::SQL_CALC_FOUND_ROWS) {
            self.pins.add(Pin::FoundRows);
        }
        if e.has(Effects::XA) {
            self.pins.add(Pin::Xa);
        }
        retrack
    }

    fn track_client_setting(&mut self, name: &str, value: &str) {
        let v = value.trim().trim_matches('\'').trim_matches('"');
        let on = matches!(v.to_ascii_lowercase().as_str(), "1" | "on" | "true");
        match name {
            "session_track_schema" => self.tracking.schema = on,
            "session_track_state_change" => self.tracking.state_change = on,
            "session_track_system_variables" => {
                let names: Vec<String> =
                    v.split(',').map(|n| n.trim().to_ascii_lowercase()).filter(|n| !n.is_empty()).collect();
                self.tracking.variables = if names.iter().any(|n| n == "*") { None } else { Some(names) };
            }
            _ => {}
        }
    }

    /// Keeps the connection while something pins the session to it; otherwise it
    /// goes back to the pool, in the session's state, for anyone.
    /// A reload swapped the runtime: server indexes the session keeps are
    /// translated through the pools (carried over by address). A connection on
    /// a server the reload removed stays held until its pin ends (open
    /// transactions finish where they started), under an index no server has.
    /// The runtime for this command: the session's own, unless a reload
    /// published another since (then the session follows it).
    pub(super) fn current_runtime(&mut self) -> &Arc<Runtime> {
        let version = self.shared.runtime_version.load(std::sync::atomic::Ordering::Acquire);
        if version != self.runtime_version {
            let rt = self.shared.runtime.load_full();
            if !Arc::ptr_eq(&rt, &self.runtime) {
                self.follow_reload(rt);
            }
            self.runtime_version = version;
        }
        &self.runtime
    }

    fn follow_reload(&mut self, new: Arc<Runtime>) {
        let old = std::mem::replace(&mut self.runtime, new.clone());
        let map = |i: usize| {
            old.servers
                .get(i)
                .and_then(|s| new.servers.iter().position(|n| Arc::ptr_eq(&n.pool, &s.pool)))
                .unwrap_or(usize::MAX)
        };
        if let Some(h) = &mut self.held {
            h.server = map(h.server);
        }
        // Kept for speed only: not worth carrying over.
        self.lease = None;
        self.last_write_thread = self.last_write_thread.map(|(i, tid)| (map(i), tid));
        self.read_home = self.read_home.take().and_then(|mut home| {
            home.server = map(home.server);
            (home.server != usize::MAX).then_some(home)
        });
        self.caught_up = self.caught_up.iter().map(|i| map(*i)).filter(|i| *i != usize::MAX).collect();
    }

    /// Until when a statement may wait for a master: `failover_hold`, but a
    /// login must answer before `handshake_timeout` cuts it off.
    fn hold_deadline(&self, rt: &Runtime) -> tokio::time::Instant {
        let hold = tokio::time::Instant::now() + rt.config.monitor.failover_hold;
        match self.login_deadline {
            Some(login) => hold.min(login),
            None => hold,
        }
    }

    /// While no master is known (a switchover), a write waits up to
    /// `failover_hold` for one to appear.
    async fn wait_for_master(&self, rt: &Runtime) -> Result<usize, ErrPacket> {
        self.hold_until(rt, |m| m.is_some()).await.ok_or_else(|| no_master(rt))
    }

    /// Waits (up to `failover_hold`) until the topology names a master other
    /// than `old`, or none.
    async fn wait_for_master_other_than(&self, old: usize, rt: &Runtime) {
        self.hold_until(rt, |m| m != Some(old)).await;
    }

    /// Waits until `done` holds for the topology's master (re-checked at each
    /// topology change) or the hold deadline passes; returns the master then.
    async fn hold_until(&self, rt: &Runtime, done: impl Fn(Option<usize>) -> bool) -> Option<usize> {
        let deadline = self.hold_deadline(rt);
        loop {
            let changed = self.shared.topology_changed.notified();
            if done(rt.master_index()) || tokio::time::timeout_at(deadline, changed).await.is_err() {
                return rt.master_index();
            }
        }
    }

    /// The session's pinned connection is on a server the health checks took
    /// down: the connection and what lived on it are gone, which the client is
    /// told (rather than left waiting on a dead server); the session goes on.
    async fn lose_held_connection(&mut self, server: usize, rt: &Runtime, reply_seq: u8) -> Result<(), End> {
        let name = rt.servers.get(server).map_or("?", |s| s.name.as_str()).to_owned();
        let reason = rt.servers.get(server).map(|s| s.health.snapshot().reason).unwrap_or_default();
        if let Some(mut held) = self.held.take() {
            held.conn.poisoned = true;
        }
        let lost: Vec<&str> = self.pins.reasons().map(|p| p.name()).collect();
        warn!(server = %name, pins = %lost.join(","), "session lost its connection to a server that went down");
        self.pins.clear();
        self.status = STATUS_AUTOCOMMIT;
        self.handle.clear_backend();
        let err = ErrPacket::new(
            code::ER_NET_READ_ERROR,
            "08S01",
            format!(
                "rwsplit: server {name} went down ({reason}); the session's state there ({}) is lost",
                if lost.is_empty() { "none".to_owned() } else { lost.join(", ") }
            ),
        );
        self.reply_err(reply_seq, &err).await
    }

    /// Per-server and per-digest stats of one command.
    fn count(&self, held: &Held, class: Option<&Arc<Classification>>, done: &Done, on_master: bool) {
        use std::sync::atomic::Ordering::Relaxed;
        let stats = &held.conn.pool().stats;
        stats.queries.fetch_add(1, Relaxed);
        stats.bytes_in.fetch_add(done.bytes_in, Relaxed);
        stats.bytes_out.fetch_add(done.bytes_out, Relaxed);
        if done.failed {
            stats.errors.fetch_add(1, Relaxed);
        }
        if let Some(c) = class {
            self.shared.digests.record(&c.digest, &c.stats, on_master, done.elapsed, done.rows, done.failed);
        }
    }

    fn keep_or_release(&mut self, mut held: Held) {
        if self.pins.is_empty() && !held.conn.poisoned && self.may_lease(&held) {
            match Lease::take(held) {
                Ok(lease) => {
                    self.lease = Some(lease);
                    return;
                }
                Err(back) => held = back,
            }
        }
        if self.pins.is_empty() || held.conn.poisoned {
            self.handle.clear_backend();
            if !self.pins.is_empty() {
                // A pinned connection that failed: its state is gone with it.
                self.pins.clear();
            }
            drop(held);
        } else {
            self.held = Some(held);
        }
    }

    /// Whether the unpinned connection of the statement that just ran may be
    /// kept as a lease: it served the session's home replica and is clean.
    fn may_lease(&self, held: &Held) -> bool {
        !self.runtime.config.backend.lease.is_zero()
            && self.read_home.as_ref().is_some_and(|h| h.server == held.server)
            && !held.conn.session.unknown
            && !held.conn.busy
            && !held.conn.pool().is_down()
    }

    /// Logs the session in on the master (checking database and account) and
    /// returns the OK for the client.
    pub(super) async fn login_on_master(&mut self, rt: &Arc<Runtime>) -> Result<Vec<u8>, ErrPacket> {
        let (held, ok) = match master(rt) {
            // No master (a switchover, a dead master): reads can still be
            // served, so the login is checked on a server that takes them.
            Target::NoMaster => match read_target(rt, None) {
                Target::Server(i) => self.checkout_with_ok(i, rt).await.map_err(|(e, _)| e)?,
                // Nothing at all to serve it: wait for a master like a write.
                _ => {
                    let m = self.wait_for_master(rt).await?;
                    self.checkout_with_ok(m, rt).await.map_err(|(e, _)| e)?
                }
            },
            _ => self.master_conn(rt).await?,
        };
        drop(held);
        Ok(match ok {
            Some(ok) => crate::protocol::track::rewrite_for_client(&ok, &self.tracking).unwrap_or(ok),
            None => login_ok(self.state.database.as_deref(), &self.tracking),
        })
    }
}

impl Session {
    /// COM_STMT_PREPARE: prepared on the connection the statement's class picked;
    /// the client gets the server's reply with the proxy's statement id in it.
    async fn prepare(
        &mut self,
        mut held: Held,
        raw: &[u8],
        payload: &Bytes,
        class: Option<Arc<Classification>>,
        reply_seq: u8,
    ) -> Result<(), End> {
        // A copy, not a slice: a slice would keep the whole read buffer it sits
        // in alive (megabytes after a big packet) for as long as the statement
        // lives, here and in the backend connection's statement cache, which
        // outlives the session.
        let sql = Bytes::copy_from_slice(payload.get(1..).unwrap_or_default());
        let reply = match read_prepare(&mut held, raw, false).await {
            Ok(r) => r,
            Err(why) => {
                held.conn.poisoned = true;
                return Err(End::BackendGone(why));
            }
        };
        let mut out = reply.raw;
        if let (Some((backend_id, _, params)), Some(class)) = (reply.ok, class) {
            let max = self.shared.runtime.load().config.routing.max_prepared_per_connection;
            let p = Prepared { id: backend_id, params, metadata: reply.metadata, types: 0 };
            for old in held.conn.statements.insert(sql.clone(), p, max) {
                close_on(&mut held, old).await;
            }
            let id = self.statements.add(ClientStmt::new(sql, class, params, reply.metadata));
            // The statement id sits right after the 4-byte header and the OK byte.
            if let Some(slot) = out.get_mut(5..9) {
                slot.copy_from_slice(&id.to_le_bytes());
            }
        }
        // The server's sequence ids start at 1, as the client expects after its 0.
        let _ = reply_seq;
        self.keep_or_release(held);
        self.client.write_all(&out).await.map_err(|_| End::ClientGone)
    }

    /// The packet that runs client statement `s` on `held`: prepared there first
    /// if needed, its long data sent, its id (and parameter types) rewritten.
    /// With it, for an execution, the column definitions to restore if the
    /// server leaves them out (see `relay_reply`): under
    /// MARIADB_CLIENT_CACHE_METADATA the server skips the definitions this
    /// connection last sent for the statement, which may not be the ones the
    /// client has (the statement was prepared here for another session, before
    /// an ALTER TABLE, say). Such a statement is prepared again here, so the
    /// definitions the client must get are known.
    /// `Err(Some(payload))`: an error for the client; `Err(None)`: the backend failed.
    async fn statement_for(
        &mut self,
        held: &mut Held,
        s: u32,
        payload: &[u8],
    ) -> Result<(Bytes, Option<Vec<Bytes>>), Option<Vec<u8>>> {
        let Some(st) = self.statements.by_id.get_mut(&s) else { return Err(None) };
        let executing = payload.first() == Some(&command::COM_STMT_EXECUTE);
        let watch = executing && held.conn.cache_metadata();
        let generation = held.conn.statements.generation();
        let remembered = st.on.filter(|(uid, g, _)| *uid == held.conn.uid && *g == generation).map(|(_, _, p)| p);
        st.on_hits = st.on_hits.wrapping_add(1);
        let found = match remembered {
            // Now and then the full lookup, which marks the statement used.
            Some(p) if st.on_hits % LRU_REFRESH != 0 => Some(p),
            _ => held.conn.statements.get(&st.sql),
        };
        let mut restore = None;
        let mut prepared = match found {
            Some(p) if !(watch && p.metadata != st.metadata) => p,
            // Boxed, as the long data below: most executions find their
            // statement, and this future is built and polled through for each.
            stale => {
                let (p, defs) = Box::pin(self.prepare_for_execution(held, s, stale, watch)).await?;
                restore = defs;
                p
            }
        };
        if self.statements.has_long_data(s) {
            Box::pin(self.send_long_data(held, s, prepared.id)).await.map_err(|_| None)?;
        }
        let Some(st) = self.statements.by_id.get_mut(&s) else { return Err(None) };
        // Types the client left out are put back: room for them. Framed in
        // the session's buffer, whose allocation comes back once the last
        // statement's packet is dropped: no allocation per execution.
        let capacity = payload.len() + 1 + st.types.as_ref().map_or(0, Vec::len);
        let mut buf = std::mem::take(&mut self.frame_buf);
        let mut types = prepared.types;
        crate::protocol::packet::frame_into(&mut buf, 0, capacity.max(FRAME_BUF_MIN), |out| match payload.first() {
            Some(&command::COM_STMT_EXECUTE) => types = put_execute(out, payload, prepared.id, st, prepared.types),
            Some(&command::COM_STMT_BULK_EXECUTE) => {
                // A bulk execution may bind types of its own: the next
                // execution there sends the session's again.
                types = 0;
                put_with_id(out, payload, prepared.id);
            }
            _ => put_with_id(out, payload, prepared.id),
        });
        if types != prepared.types {
            prepared.types = types;
            held.conn.statements.set_types(&st.sql, types);
        }
        st.on = Some((held.conn.uid, held.conn.statements.generation(), prepared));
        let framed = buf.split().freeze();
        self.frame_buf = buf;
        Ok((framed, restore))
    }

    /// Statement `s` prepared on the connection of `held`, in place of
    /// `stale` (prepared there with other column definitions than the
    /// client has) if any; with the definitions to restore for the client.
    async fn prepare_for_execution(
        &mut self,
        held: &mut Held,
        s: u32,
        stale: Option<Prepared>,
        watch: bool,
    ) -> Result<(Prepared, Option<Vec<Bytes>>), Option<Vec<u8>>> {
        let max = self.runtime.config.routing.max_prepared_per_connection;
        let Some(st) = self.statements.by_id.get(&s) else { return Err(None) };
        let (sql, metadata) = (st.sql.clone(), st.metadata);
        if let Some(p) = stale {
            held.conn.statements.remove(&sql);
            close_on(held, p.id).await;
        }
        let mut cmd = vec![command::COM_STMT_PREPARE];
        cmd.extend_from_slice(&sql);
        let mut framed = bytes::BytesMut::new();
        crate::protocol::packet::write_packet(&mut framed, 0, &cmd);
        self.shared.statements.prepared_for_execution();
        let reply = read_prepare(held, &framed, watch).await.map_err(|_| None)?;
        let Some((id, _, params)) = reply.ok else {
            // The server refused it here (a table gone, say): its error,
            // as the client's execution's reply.
            let payload = reply.raw.get(4..).map(<[u8]>::to_vec).unwrap_or_default();
            return Err(Some(payload));
        };
        let restore = (watch && reply.metadata != metadata).then_some(reply.columns);
        let p = Prepared { id, params, metadata: reply.metadata, types: 0 };
        for old in held.conn.statements.insert(sql, p, max) {
            close_on(held, old).await;
        }
        Ok((p, restore))
    }

    /// Sends statement `s`'s long data to backend statement `id`.
    async fn send_long_data(&mut self, held: &mut Held, s: u32, id: u32) -> std::io::Result<()> {
        for (param, data) in self.statements.take_long_data(s) {
            let mut cmd = vec![command::COM_STMT_SEND_LONG_DATA];
            cmd.extend_from_slice(&id.to_le_bytes());
            cmd.extend_from_slice(&param.to_le_bytes());
            cmd.extend_from_slice(&data);
            held.conn.io.write_payload(0, &cmd).await?;
        }
        Ok(())
    }
}

/// What a read must wait for before it runs on a server (read-your-writes).
enum OwnWrites {
    /// Nothing: the server has applied the writes, or there are none.
    Applied,
    /// Its position cannot be asked for: the read goes to the master.
    Unknown,
    /// The server is asked to wait for `position` (the global write `epoch`
    /// when read_your_writes = "global").
    WaitFor { epoch: Option<u64>, position: String },
}

struct PrepareReply {
    /// The reply's packets as the server framed them.
    raw: bytes::BytesMut,
    /// (id, columns, params) when it was a prepare-OK.
    ok: Option<(u32, u16, u16)>,
    /// A hash of the result's column definitions (None without columns).
    metadata: Option<u64>,
    /// Their payloads, when asked for.
    columns: Vec<Bytes>,
}

/// Sends a COM_STMT_PREPARE (already framed) and reads its whole reply;
/// `keep_columns` keeps the column definitions' payloads.
async fn read_prepare(held: &mut Held, framed: &[u8], keep_columns: bool) -> Result<PrepareReply, String> {
    let name = held.conn.server.name.clone();
    held.conn.busy = true;
    held.conn.io.write_all(framed).await.map_err(|e| format!("backend {name} write failed: {e}"))?;
    let deprecate_eof = held.conn.key().capabilities & CLIENT_DEPRECATE_EOF != 0;
    let mut scanner = ResponseScanner::new(ResponseKind::Prepare, deprecate_eof).watching_metadata();
    let mut raw = bytes::BytesMut::new();
    let mut ok = None;
    let mut columns = Vec::new();
    // Packets before the column definitions: the OK, the parameters' and their EOF.
    let mut first_column = usize::MAX;
    let mut index = 0usize;
    loop {
        let packet = match held.conn.io.read_packet(1 << 24).await {
            Ok(Some(p)) => p,
            Ok(None) => return Err(format!("backend {name} closed the connection")),
            Err(e) => return Err(format!("backend {name} failed: {e}")),
        };
        let bytes = held.conn.io.consume(packet.raw_len);
        let body = bytes.get(4..).unwrap_or(&[]);
        if raw.is_empty() {
            ok = parse_prepare_ok(body);
            if let Some((_, _, params)) = ok {
                let params = usize::from(params);
                first_column = 1 + params + usize::from(params > 0 && !deprecate_eof);
            }
        }
        if keep_columns && index >= first_column && columns.len() < ok.map_or(0, |(_, c, _)| usize::from(c)) {
            columns.push(Bytes::copy_from_slice(body));
        }
        index += 1;
        let step = scanner.on_packet(packet.payload_len, body).map_err(|e| format!("backend {name}: {e}"))?;
        raw.extend_from_slice(&bytes);
        if step == Step::Done {
            break;
        }
    }
    held.conn.busy = false;
    let metadata = match scanner.metadata() {
        Metadata::Sent(hash) => Some(hash),
        _ => None,
    };
    Ok(PrepareReply { raw, ok, metadata, columns })
}

/// Closes a backend statement (no reply).
async fn close_on(held: &mut Held, id: u32) {
    let mut cmd = vec![command::COM_STMT_CLOSE];
    cmd.extend_from_slice(&id.to_le_bytes());
    if held.conn.io.write_payload(0, &cmd).await.is_err() {
        held.conn.poisoned = true;
    }
}

fn unknown_statement(payload: &[u8], function: &str) -> ErrPacket {
    match stmt_id(payload) {
        Some(id) => {
            ErrPacket::new(1243, "HY000", format!("Unknown prepared statement handler ({id}) given to {function}"))
        }
        // Too short to hold a statement id: the server's answer (it has no id to name).
        None => ErrPacket::new(code::ER_MALFORMED_PACKET, "HY000", "Malformed communication packet"),
    }
}

/// MariaDB's answer to an execution whose long data went over max_allowed_packet.
fn long_data_too_long() -> ErrPacket {
    ErrPacket::new(
        code::ER_UNKNOWN_ERROR,
        "HY000",
        "Parameter of prepared statement which is set through mysql_send_long_data() is longer than \
         'max_allowed_packet' bytes",
    )
}

/// What a reply said, for `after`.
struct Outcome {
    learned: Learned,
    /// The reply ended in an ERR packet.
    failed: bool,
}

/// An OK for a login served by a pooled connection already in the right state:
/// what the server would have said, the schema included for clients tracking it.
pub(super) fn login_ok(database: Option<&str>, tracking: &crate::protocol::track::ClientTracking) -> Vec<u8> {
    use crate::protocol::ok::SESSION_STATE_CHANGED;
    use crate::protocol::packet::put_lenenc;
    match database {
        Some(db) if tracking.enabled && tracking.schema => {
            let mut entry = Vec::new();
            put_lenenc(&mut entry, db.len() as u64);
            entry.extend_from_slice(db.as_bytes());
            let mut state = vec![crate::protocol::track::TRACK_SCHEMA];
            put_lenenc(&mut state, entry.len() as u64);
            state.extend_from_slice(&entry);
            let mut out = crate::protocol::ok::ok_payload(STATUS_AUTOCOMMIT | SESSION_STATE_CHANGED, 0);
            out.push(0);
            put_lenenc(&mut out, state.len() as u64);
            out.extend_from_slice(&state);
            out
        }
        _ => crate::protocol::ok::ok_payload(STATUS_AUTOCOMMIT, 0),
    }
}

/// Whether a command's own effects account for a reported state change.
fn explains_state_change(class: Option<&Classification>, cmd: u8) -> bool {
    match class {
        Some(c) => {
            let e = c.effects;
            [
                Effects::SET_SESSION,
                Effects::ASSIGNS_USER_VAR,
                Effects::USE_DB,
                Effects::CREATE_TEMP_TABLE,
                Effects::DROP_TEMP_TABLE,
                Effects::SQL_PREPARE,
                Effects::LOCK_TABLES,
                Effects::UNLOCK_TABLES,
                Effects::USER_LOCK,
                Effects::BEGIN,
                Effects::COMMIT,
                Effects::ROLLBACK,
                Effects::XA,
                Effects::SET_STATEMENT,
                Effects::IMPLICIT_COMMIT,
            ]
            .iter()
            .any(|bit| e.has(*bit))
        }
        None => matches!(
            cmd,
            command::COM_INIT_DB
                | command::COM_STMT_PREPARE
                | command::COM_STMT_CLOSE
                | command::COM_RESET_CONNECTION
                | command::COM_SET_OPTION
        ),
    }
}

/// One finished command, for stats.
struct Done {
    elapsed: std::time::Duration,
    rows: u64,
    failed: bool,
    /// Bytes of the command as the client sent it, and of the reply relayed.
    bytes_in: u64,
    bytes_out: u64,
}

/// Why writes cannot run now, from the topology.
pub(super) fn no_master(rt: &Runtime) -> ErrPacket {
    let why = rt.topology.load().no_master.clone().unwrap_or_else(|| "no master is known".into());
    ErrPacket::new(code::ER_CONNECT_TO_FOREIGN_DATA_SOURCE, "08S01", format!("rwsplit: {why}"))
}

pub(super) fn no_server(why: &str) -> ErrPacket {
    ErrPacket::new(code::ER_CONNECT_TO_FOREIGN_DATA_SOURCE, "08S01", format!("rwsplit: {why}"))
}

impl From<BackendError> for ErrPacket {
    fn from(e: BackendError) -> Self {
        e.to_err_packet()
    }
}
