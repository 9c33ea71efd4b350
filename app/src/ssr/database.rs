//! The database this server uses, and when it may write there.
//!
//! Invariant: a write reaches the database only through `Database::write`, from
//! code declared as writing (the `Writes` layer on an endpoint, or
//! `Writes::declare` around a background job), and only while the control
//! record of the database in use says `serving` (`tweetgen_control`, followed by
//! the server's control loop). Everything else reads through `reads()`, whose
//! sessions are read-only, so an endpoint that writes without the declaration
//! fails in its first test instead of slipping past a fence.
//!
//! While the record says `fenced` or `moved`, writes wait (up to `hold`) and then
//! go to whichever database the state settles on; only past `hold` do they get
//! `AppError::ReadOnly` (503 with Retry-After). A write the database itself
//! refuses as read-only (its fence came first) wrote nothing and is retried the
//! same way. Writes admitted and not yet finished are counted, so the control
//! loop can report when they have drained.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use crate::error::AppError;

/// One database, as this server uses it.
#[derive(Debug)]
pub struct Connected {
    /// Its name in the server's configuration (what control records use).
    pub name: String,
    /// Sessions that cannot write (`default_transaction_read_only` on).
    pub reads: PgPool,
    /// Sessions that may write, unless the database itself is read-only.
    pub writes: PgPool,
    /// For logs: the URL with its password hidden.
    pub redacted_url: String,
}

/// What the control record lets this server do with writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    Open,
    /// A migration's target: refused until it becomes the service's database.
    Replica,
    /// Fenced, moving, or not known yet: writes wait.
    Held,
}

#[derive(Debug)]
struct Gate {
    connected: Arc<Connected>,
    admission: Admission,
    in_flight: usize,
    held: usize,
}

#[derive(Clone, Debug)]
pub struct Database {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    gate: Mutex<Gate>,
    /// Bumped on every change of the gate's admission or database.
    changes: watch::Sender<u64>,
    /// Signalled when the last write in flight finishes while writes are not open.
    drained: Notify,
    /// Asks the control loop to read the record now (a write was refused).
    recheck: Notify,
    hold: Duration,
    /// Why the server cannot do what the control record says, if it cannot.
    problem: Mutex<Option<String>>,
    /// When the control session last heard from the database: readiness, without
    /// a pool that a busy server may have exhausted.
    contact: Mutex<Option<Instant>>,
}

impl Database {
    /// Starts with writes held until the control loop has read the record.
    pub fn new(connected: Connected, hold: Duration) -> Self {
        let gate = Gate { connected: Arc::new(connected), admission: Admission::Held, in_flight: 0, held: 0 };
        Self {
            inner: Arc::new(Inner {
                gate: Mutex::new(gate),
                changes: watch::Sender::new(0),
                drained: Notify::new(),
                recheck: Notify::new(),
                hold,
                problem: Mutex::default(),
                contact: Mutex::default(),
            }),
        }
    }

    fn gate(&self) -> std::sync::MutexGuard<'_, Gate> {
        self.inner.gate.lock().expect("database gate")
    }

    /// The pool for reading (cheap: a reference count). Taken per piece of work,
    /// never kept: the server may move to another database while it runs.
    pub fn reads(&self) -> PgPool {
        self.gate().connected.reads.clone()
    }

    pub fn connected(&self) -> Arc<Connected> {
        self.gate().connected.clone()
    }

    pub fn admission(&self) -> Admission {
        self.gate().admission
    }

    /// Writes admitted and not finished; writes waiting for admission.
    pub fn counts(&self) -> (usize, usize) {
        let gate = self.gate();
        (gate.in_flight, gate.held)
    }

    /// Runs `work` with the pool that may write, once writes are open, and again
    /// on the database the state settles on if the database refused it as
    /// read-only. `work` must write in one transaction (or one statement), so
    /// that a refused attempt left nothing behind.
    pub async fn write<T, F, Fut>(&self, mut work: F) -> Result<T, AppError>
    where
        F: FnMut(PgPool) -> Fut,
        Fut: Future<Output = Result<T, AppError>>,
    {
        if WRITES_DECLARED.try_with(|_| ()).is_err() {
            tracing::error!("a write from code not declared as writing (add the Writes layer to its endpoint)");
            return Err(AppError::Internal);
        }
        let deadline = Instant::now() + self.inner.hold;
        loop {
            let permit = self.admit(deadline).await?;
            let mut changes = self.inner.changes.subscribe();
            match work(permit.connected.writes.clone()).await {
                Err(AppError::ReadOnly) => {
                    drop(permit);
                    tracing::info!("a write met a read-only database: waiting for the control record");
                    self.inner.recheck.notify_one();
                    if tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
                        return Err(AppError::ReadOnly);
                    }
                }
                done => return done,
            }
        }
    }

    /// Waits while writes are held; counts the write as in flight once admitted.
    async fn admit(&self, deadline: Instant) -> Result<Permit, AppError> {
        let mut changes = self.inner.changes.subscribe();
        let mut waiting: Option<HeldWrite> = None;
        loop {
            changes.borrow_and_update();
            {
                let mut gate = self.gate();
                match gate.admission {
                    Admission::Open => {
                        gate.in_flight += 1;
                        return Ok(Permit { database: self.clone(), connected: gate.connected.clone() });
                    }
                    Admission::Replica => return Err(AppError::NotOpenYet),
                    Admission::Held if waiting.is_none() => {
                        gate.held += 1;
                        waiting = Some(HeldWrite(self.clone()));
                    }
                    Admission::Held => {}
                }
            }
            if tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
                return Err(AppError::ReadOnly);
            }
        }
    }

    /// Why the server cannot follow its control record (then it is not ready).
    pub fn problem(&self) -> Option<String> {
        self.inner.problem.lock().expect("problem lock").clone()
    }

    // --- For the control loop ------------------------------------------------

    /// The control session has just read from or written to the database in use.
    pub fn heard_from_database(&self) {
        *self.inner.contact.lock().expect("contact") = Some(Instant::now());
    }

    /// How long since the control session last heard from the database.
    pub fn since_contact(&self) -> Option<Duration> {
        self.inner.contact.lock().expect("contact").map(|at| at.elapsed())
    }

    pub fn set_problem(&self, problem: Option<String>) {
        *self.inner.problem.lock().expect("problem lock") = problem;
    }

    /// Sets what writes may do. Held writes waiting for `Open` then proceed.
    pub fn set_admission(&self, admission: Admission) {
        self.gate().admission = admission;
        self.inner.changes.send_modify(|version| *version += 1);
    }

    /// Puts another database (or fresh pools for the same one) in place for every
    /// write and read that starts from now on; returns the previous one.
    pub fn replace(&self, connected: Connected) -> Arc<Connected> {
        let previous = std::mem::replace(&mut self.gate().connected, Arc::new(connected));
        self.inner.changes.send_modify(|version| *version += 1);
        previous
    }

    /// Resolves once no write is in flight (immediately if none is).
    pub async fn drained(&self) {
        loop {
            let notified = self.inner.drained.notified();
            if self.gate().in_flight == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Resolves when a write asks for the record to be read again.
    pub async fn recheck_requested(&self) {
        self.inner.recheck.notified().await;
    }
}

/// A write in flight, until dropped.
struct Permit {
    database: Database,
    connected: Arc<Connected>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let drained = {
            let mut gate = self.database.gate();
            gate.in_flight -= 1;
            gate.in_flight == 0
        };
        if drained {
            self.database.inner.drained.notify_waiters();
        }
    }
}

/// A write waiting for admission, until dropped.
struct HeldWrite(Database);

impl Drop for HeldWrite {
    fn drop(&mut self) {
        self.0.gate().held -= 1;
    }
}

tokio::task_local! {
    static WRITES_DECLARED: ();
}

/// Declares an endpoint as one that writes: put it on the route or on the server
/// function (`#[middleware(crate::ssr::database::Writes)]`), where the endpoint is
/// defined. Without it, `Database::write` refuses (500, logged) and the read-only
/// sessions refuse any other attempt.
#[derive(Clone, Copy, Debug, Default)]
pub struct Writes;

impl Writes {
    /// Runs a background job (not a request) that writes.
    pub async fn declare<F: Future>(job: F) -> F::Output {
        WRITES_DECLARED.scope((), job).await
    }
}

impl<S> tower::Layer<S> for Writes {
    type Service = DeclaredWrites<S>;

    fn layer(&self, inner: S) -> Self::Service {
        DeclaredWrites { inner }
    }
}

#[derive(Clone, Debug)]
pub struct DeclaredWrites<S> {
    inner: S,
}

impl<S, Request> tower::Service<Request> for DeclaredWrites<S>
where
    S: tower::Service<Request>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        Box::pin(WRITES_DECLARED.scope((), self.inner.call(request)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database(hold: Duration) -> Database {
        let pool = |port| {
            sqlx::postgres::PgPoolOptions::new()
                .connect_lazy(&format!("postgres://nobody@127.0.0.1:{port}/none"))
                .unwrap()
        };
        let connected = Connected { name: "first".into(), reads: pool(1), writes: pool(2), redacted_url: "x".into() };
        Database::new(connected, hold)
    }

    fn port(pool: &PgPool) -> u16 {
        pool.connect_options().get_port()
    }

    #[tokio::test]
    async fn undeclared_code_cannot_write() {
        let database = database(Duration::from_secs(1));
        database.set_admission(Admission::Open);
        let refused = database.write(|_| async { Ok(()) }).await;
        assert_eq!(refused, Err(AppError::Internal));
        Writes::declare(database.write(|_| async { Ok(()) })).await.expect("declared");
    }

    #[tokio::test]
    async fn held_writes_go_to_the_database_the_state_settles_on() {
        let database = database(Duration::from_secs(5));
        let write = tokio::spawn({
            let database = database.clone();
            Writes::declare(async move { database.write(|pool| async move { Ok(port(&pool)) }).await })
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert_eq!(database.counts(), (0, 1), "held, not in flight");
        let pool =
            |port| sqlx::postgres::PgPoolOptions::new().connect_lazy(&format!("postgres://n@127.0.0.1:{port}/x"));
        let moved = Connected {
            name: "second".into(),
            reads: pool(3).unwrap(),
            writes: pool(4).unwrap(),
            redacted_url: "y".into(),
        };
        assert_eq!(database.replace(moved).name, "first");
        assert!(!write.is_finished(), "still held while the new database's state is unknown");
        database.set_admission(Admission::Open);
        assert_eq!(write.await.unwrap(), Ok(4), "written on the new database");
        assert_eq!(database.counts(), (0, 0));
        assert_eq!(port(&database.reads()), 3);
    }

    #[tokio::test]
    async fn a_write_held_past_the_bound_is_answered_not_lost() {
        let database = database(Duration::from_millis(50));
        let refused = Writes::declare(database.write(|_| async { Ok(()) })).await;
        assert_eq!(refused, Err(AppError::ReadOnly));
        assert_eq!(database.counts(), (0, 0));
        database.set_admission(Admission::Replica);
        let refused = Writes::declare(database.write(|_| async { Ok(()) })).await;
        assert_eq!(refused, Err(AppError::NotOpenYet));
    }

    #[tokio::test]
    async fn a_write_the_database_refused_is_retried_once_the_state_changes() {
        let database = database(Duration::from_secs(5));
        database.set_admission(Admission::Open);
        let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let write = tokio::spawn({
            let (database, attempts) = (database.clone(), attempts.clone());
            Writes::declare(async move {
                database
                    .write(|_| {
                        let attempt = attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        async move {
                            if attempt == 0 {
                                Err(AppError::ReadOnly)
                            } else {
                                Ok(attempt)
                            }
                        }
                    })
                    .await
            })
        });
        tokio::time::timeout(Duration::from_secs(1), database.recheck_requested()).await.expect("asks for a re-read");
        assert!(!write.is_finished(), "waits for the record rather than spinning");
        database.set_admission(Admission::Open);
        assert_eq!(write.await.unwrap(), Ok(1));
    }

    #[tokio::test]
    async fn drained_waits_for_the_writes_in_flight() {
        let database = database(Duration::from_secs(5));
        database.set_admission(Admission::Open);
        let (started, finish) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
        let write = tokio::spawn({
            let (database, started, finish) = (database.clone(), started.clone(), finish.clone());
            Writes::declare(async move {
                database
                    .write(|_| {
                        let (started, finish) = (started.clone(), finish.clone());
                        async move {
                            started.notify_one();
                            finish.notified().await;
                            Ok(())
                        }
                    })
                    .await
            })
        });
        started.notified().await;
        database.set_admission(Admission::Held);
        assert_eq!(database.counts(), (1, 0));
        let drained = tokio::spawn({
            let database = database.clone();
            async move { database.drained().await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!drained.is_finished());
        finish.notify_one();
        tokio::time::timeout(Duration::from_secs(1), drained).await.unwrap().unwrap();
        write.await.unwrap().unwrap();
    }
}
