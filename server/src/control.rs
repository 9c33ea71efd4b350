//! The server's side of the control plane (the `tweetgen-control` crate): one
//! session on the database in use LISTENs for changes of its control record and
//! reads it on each notification, on a short poll, and whenever a write met a
//! read-only database. Writes follow the record — open, held, refused — and
//! `moved` takes the server to the database its own configuration gives that
//! name. The same session keeps this server's presence row fresh (and reports at
//! once when its writes have drained), so the cutover sees every instance
//! without calling any of them.
//!
//! Invariant: writes are open only while the record of the database in use says
//! `serving`, and a database named by a record is reached only through the URL
//! this server's configuration gives that name.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use sqlx::postgres::PgListener;
use tokio::sync::oneshot;
use tweetgen_app::ssr::database::{Admission, Connected, Database};
use tweetgen_control::{self as control, Record, Report, State};

use crate::configuration::{ControlSettings, DatabaseSettings};

pub struct Control {
    settings: DatabaseSettings,
    timing: ControlSettings,
    db: Database,
    instance_id: String,
    host: String,
    /// The session on `current`; `None` while it is being opened again.
    session: Option<PgListener>,
    current: String,
    seen: Option<Record>,
    /// The writes pool was opened while the database was serving (sessions opened
    /// while it was read-only stay read-only, so they are replaced on reopening).
    writes_fresh: bool,
    /// Writes in flight when the presence row was last written.
    reported_in_flight: usize,
}

/// What woke the control loop.
enum Event {
    Stop,
    Notified,
    SessionLost(sqlx::Error),
    Poll,
    Heartbeat,
    Drained,
}

impl Control {
    /// Reads the configured database's record (recording `control.initial_state`
    /// if it has none) and follows `moved` records, so that the server never
    /// serves from a database that has been moved away from. Returns the
    /// server's database with writes as the record says.
    pub async fn start(settings: &DatabaseSettings, timing: &ControlSettings) -> anyhow::Result<(Database, Control)> {
        let host = host_name();
        let instance_id = format!("{host}-{}-{:04x}", std::process::id(), rand::random::<u16>());
        let mut session = open_session(settings, &settings.name).await?;
        control::ensure_schema(&mut session).await?;
        let record = control::read_or_initialize(&mut session, &timing.initial_state()?, &instance_id).await?;
        let db = Database::new(settings.connect(&settings.name)?, Duration::from_millis(timing.hold_writes_ms));
        let mut this = Control {
            settings: settings.clone(),
            timing: timing.clone(),
            db: db.clone(),
            instance_id,
            host,
            session: Some(session),
            current: settings.name.clone(),
            seen: None,
            writes_fresh: true,
            reported_in_flight: 0,
        };
        this.apply(record).await;
        if let Some(problem) = db.problem() {
            bail!("cannot start on the database the control records lead to: {problem}");
        }
        tracing::info!(database = %this.current, state = %this.state_seen(), "control record read");
        Ok((db, this))
    }

    /// Follows the record until `stop` fires, then leaves the presence table.
    pub async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        let mut poll = tokio::time::interval(Duration::from_millis(self.timing.poll_ms));
        let mut heartbeat = tokio::time::interval(Duration::from_millis(self.timing.heartbeat_ms));
        loop {
            let Some(session) = self.session.as_mut() else {
                match open_session(&self.settings, &self.current).await {
                    Ok(session) => {
                        self.session = Some(session);
                        // Notifications sent meanwhile are lost: read the record now.
                        self.refresh().await;
                    }
                    Err(error) => {
                        tracing::warn!(error = format!("{error:#}"), database = %self.current, "control session");
                        tokio::select! {
                            _ = &mut stop => return,
                            _ = poll.tick() => {}
                        }
                    }
                }
                continue;
            };
            let db = &self.db;
            let waiting_for_drain = self.reported_in_flight > 0;
            let event = tokio::select! {
                _ = &mut stop => Event::Stop,
                received = session.try_recv() => match received {
                    // `None`: the session was lost and opened again; a notification may be lost.
                    Ok(_) => Event::Notified,
                    Err(error) => Event::SessionLost(error),
                },
                _ = db.recheck_requested() => Event::Notified,
                _ = poll.tick() => Event::Poll,
                _ = heartbeat.tick() => Event::Heartbeat,
                _ = db.drained(), if waiting_for_drain => Event::Drained,
            };
            match event {
                Event::Stop => {
                    self.leave().await;
                    return;
                }
                Event::Notified | Event::Poll => self.refresh().await,
                Event::SessionLost(error) => {
                    tracing::warn!(%error, database = %self.current, "control session lost");
                    self.session = None;
                }
                Event::Heartbeat | Event::Drained => self.announce().await,
            }
        }
    }

    async fn refresh(&mut self) {
        let Some(session) = self.session.as_mut() else { return };
        match control::read(&mut *session).await {
            Ok(Some(record)) => {
                self.db.heard_from_database();
                let changed = self
                    .seen
                    .as_ref()
                    .is_none_or(|seen| (seen.generation, &seen.state) != (record.generation, &record.state));
                if changed {
                    self.apply(record).await;
                }
            }
            Ok(None) => {
                self.db.set_problem(Some(format!("{} has no control record", self.current)));
                self.announce().await;
            }
            Err(error) => {
                tracing::warn!(%error, database = %self.current, "reading the control record");
                self.session = None;
            }
        }
    }

    /// Makes writes do what `record` says, following `moved` to other databases.
    async fn apply(&mut self, mut record: Record) {
        let mut visited = BTreeSet::from([self.current.clone()]);
        let mut problem = None;
        loop {
            match &record.state {
                State::Serving => self.open_writes(),
                State::Replica => self.close_writes(Admission::Replica),
                State::Fenced => self.close_writes(Admission::Held),
                State::Moved { to } => {
                    self.close_writes(Admission::Held);
                    let to = to.clone();
                    if !visited.insert(to.clone()) {
                        problem = Some(format!("the control records move in a circle through {to}"));
                    } else {
                        match self.move_to(&to).await {
                            Ok(next) => {
                                record = next;
                                continue;
                            }
                            Err(error) => problem = Some(format!("cannot move to {to}: {error:#}")),
                        }
                    }
                }
            }
            break;
        }
        if let Some(problem) = &problem {
            tracing::error!(database = %self.current, %problem, "cannot do what the control record says");
        }
        tracing::info!(database = %self.current, state = %record.state, generation = record.generation, "control record");
        self.db.set_problem(problem);
        self.seen = Some(record);
        self.announce().await;
    }

    fn close_writes(&mut self, admission: Admission) {
        self.writes_fresh = false;
        self.db.set_admission(admission);
    }

    fn open_writes(&mut self) {
        if self.db.admission() == Admission::Open {
            return;
        }
        if !self.writes_fresh {
            match self.settings.connect(&self.current) {
                Ok(fresh) => {
                    let previous = self.db.connected();
                    let connected = Connected { reads: previous.reads.clone(), ..fresh };
                    close_when_idle(self.db.replace(connected), false);
                    self.writes_fresh = true;
                }
                Err(error) => tracing::error!(error = format!("{error:#}"), "reopening the writes pool"),
            }
        }
        self.db.set_admission(Admission::Open);
    }

    /// Checks the database called `to` (its record names it so; it holds this
    /// server's schema), then puts it in place for every request from now on.
    async fn move_to(&mut self, to: &str) -> anyhow::Result<Record> {
        let mut session = open_session(&self.settings, to).await?;
        let record = control::read(&mut session).await?.context("it has no control record")?;
        if record.name.as_deref() != Some(to) {
            bail!(
                "its control record calls it {:?}: this server's URL for {to} leads to another database",
                record.name.as_deref().unwrap_or("(no name)")
            );
        }
        check_schema(&mut session).await?;
        let previous = self.db.replace(self.settings.connect(to)?);
        if let Some(mut left) = self.session.replace(session) {
            if let Err(error) = control::leave(&mut left, &self.instance_id).await {
                tracing::warn!(%error, "leaving the previous database's presence table");
            }
        }
        tracing::warn!(from = %self.current, to, "moved to another database, as its control record said");
        self.current = to.to_string();
        self.writes_fresh = true;
        close_when_idle(previous, true);
        Ok(record)
    }

    fn state_seen(&self) -> String {
        self.seen.as_ref().map_or("unknown".into(), |record| record.state.kind().to_string())
    }

    async fn announce(&mut self) {
        let (in_flight, held) = self.db.counts();
        let report = Report {
            instance_id: self.instance_id.clone(),
            host: self.host.clone(),
            database: self.current.clone(),
            knows: self.settings.others_than(&self.current),
            state_seen: self.state_seen(),
            generation_seen: self.seen.as_ref().map_or(0, |record| record.generation),
            writes_in_flight: in_flight as i32,
            writes_held: held as i32,
            problem: self.db.problem(),
        };
        let Some(session) = self.session.as_mut() else { return };
        match control::announce(&mut *session, &report).await {
            Ok(()) => {
                self.reported_in_flight = in_flight;
                self.db.heard_from_database();
            }
            Err(error) => {
                tracing::warn!(%error, database = %self.current, "recording presence");
                self.session = None;
            }
        }
    }

    async fn leave(&mut self) {
        if let Some(session) = self.session.as_mut() {
            if let Err(error) = control::leave(&mut *session, &self.instance_id).await {
                tracing::warn!(%error, "leaving the presence table");
            }
        }
    }
}

async fn open_session(settings: &DatabaseSettings, name: &str) -> anyhow::Result<PgListener> {
    let pool = settings.control_pool(name)?;
    let mut listener =
        PgListener::connect_with(&pool).await.with_context(|| format!("connecting to the database {name}"))?;
    listener.listen(control::CHANNEL).await?;
    Ok(listener)
}

/// The database must hold this server's schema: the last of its migrations
/// applied, and none unknown to it.
async fn check_schema(session: &mut PgListener) -> anyhow::Result<()> {
    let expected = crate::migrate::MIGRATOR.migrations.iter().map(|m| m.version).max().unwrap_or(0);
    let applied: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
        .fetch_one(session)
        .await
        .context("it cannot be read as tweetgen's")?;
    anyhow::ensure!(applied == Some(expected), "its schema is at migration {applied:?}, this server's at {expected}");
    Ok(())
}

/// Closes a replaced database's pools once the requests still using them are
/// done: only the writes pool when the same database's reads pool stays in use.
fn close_when_idle(previous: Arc<Connected>, with_reads: bool) {
    tokio::spawn(async move {
        previous.writes.close().await;
        if with_reads {
            previous.reads.close().await;
        }
    });
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}
