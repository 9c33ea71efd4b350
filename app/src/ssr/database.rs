//! The database the server talks to, and whether it may write.
//!
//! The cutover moves a running server to another database without a restart:
//! the pool is swapped in one step (requests that start afterwards use the new
//! one), then the old pool is closed, which waits for the requests still using
//! it. Before that, read-only mode makes every write answer 503 with Retry-After
//! while reads go on; turning it on waits until the writes already under way
//! have finished, so that none is acknowledged after the fence.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sqlx::PgPool;

#[derive(Clone, Debug)]
pub struct Database {
    current: Arc<RwLock<Current>>,
    read_only: Arc<AtomicBool>,
    writes_in_flight: Arc<AtomicUsize>,
}

#[derive(Debug)]
struct Current {
    pool: PgPool,
    /// For status reports: the URL with its password hidden.
    redacted_url: String,
}

impl Database {
    pub fn new(pool: PgPool, redacted_url: String, read_only: bool) -> Self {
        Self {
            current: Arc::new(RwLock::new(Current { pool, redacted_url })),
            read_only: Arc::new(AtomicBool::new(read_only)),
            writes_in_flight: Arc::default(),
        }
    }

    /// The pool to use for this piece of work (cheap: a reference count).
    pub fn pool(&self) -> PgPool {
        self.current.read().expect("database lock").pool.clone()
    }

    pub fn redacted_url(&self) -> String {
        self.current.read().expect("database lock").redacted_url.clone()
    }

    /// Puts `pool` in place and returns the previous one, which the caller closes
    /// (`PgPool::close` waits for its connections to come back).
    pub fn swap(&self, pool: PgPool, redacted_url: String) -> PgPool {
        let mut current = self.current.write().expect("database lock");
        current.redacted_url = redacted_url;
        std::mem::replace(&mut current.pool, pool)
    }

    pub fn is_read_only(&self) -> bool {
        self.read_only.load(Ordering::SeqCst)
    }

    /// Turns read-only mode on or off. Turning it on waits up to `drain` for the
    /// writes under way to finish; returns how many are still running.
    pub async fn set_read_only(&self, read_only: bool, drain: Duration) -> usize {
        self.read_only.store(read_only, Ordering::SeqCst);
        let deadline = Instant::now() + drain;
        while read_only && self.writes_in_flight() > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        if read_only {
            self.writes_in_flight()
        } else {
            0
        }
    }

    pub fn writes_in_flight(&self) -> usize {
        self.writes_in_flight.load(Ordering::SeqCst)
    }

    /// Admits a write, or `None` in read-only mode. The write counts as under
    /// way until the guard is dropped. Counted before the check, so that a write
    /// admitted just as read-only mode begins is waited for.
    pub fn begin_write(&self) -> Option<WriteGuard> {
        self.writes_in_flight.fetch_add(1, Ordering::SeqCst);
        let guard = WriteGuard { count: self.writes_in_flight.clone() };
        (!self.is_read_only()).then_some(guard)
    }
}

pub struct WriteGuard {
    count: Arc<AtomicUsize>,
}

impl Drop for WriteGuard {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database() -> Database {
        let pool = sqlx::postgres::PgPoolOptions::new().connect_lazy("postgres://nobody@127.0.0.1:1/none").unwrap();
        Database::new(pool, "first".into(), false)
    }

    #[tokio::test]
    async fn read_only_mode_refuses_new_writes_and_waits_for_running_ones() {
        let database = database();
        let running = database.begin_write().expect("writable");
        let waiter = {
            let database = database.clone();
            tokio::spawn(async move { database.set_read_only(true, Duration::from_secs(5)).await })
        };
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(database.begin_write().is_none(), "refused once read-only");
        assert!(!waiter.is_finished(), "waits for the running write");
        drop(running);
        assert_eq!(waiter.await.unwrap(), 0);
        assert_eq!(database.writes_in_flight(), 0, "a refused write leaves no count behind");
        database.set_read_only(false, Duration::ZERO).await;
        assert!(database.begin_write().is_some());
    }

    #[tokio::test]
    async fn a_write_that_never_ends_is_reported_after_the_drain_time() {
        let database = database();
        let _stuck = database.begin_write().unwrap();
        assert_eq!(database.set_read_only(true, Duration::from_millis(20)).await, 1);
    }

    #[tokio::test]
    async fn swapping_hands_back_the_old_pool() {
        let database = database();
        let other = sqlx::postgres::PgPoolOptions::new().connect_lazy("postgres://nobody@127.0.0.1:2/other").unwrap();
        let old = database.swap(other, "second".into());
        assert_eq!(old.connect_options().get_port(), 1);
        assert_eq!(database.pool().connect_options().get_port(), 2);
        assert_eq!(database.redacted_url(), "second");
    }
}
