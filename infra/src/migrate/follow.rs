//! `migrate follow`: the change stream from the slot, applied to the target in
//! commit order.
//!
//! Changes are read with `pg_logical_slot_peek_binary_changes` (pgoutput), which
//! needs no replication connection and works on RDS. A batch of whole source
//! transactions is applied in one target transaction that also stores the
//! position after it; only then is the slot advanced. Killed at any moment, the
//! follower reads the position back from the target and skips what it already
//! applied: nothing is lost and nothing applied twice.
//!
//! The transactions the copy's snapshot already saw are skipped too (see
//! `snapshot.rs`). The applier session runs with `session_replication_role =
//! replica`, as PostgreSQL's own replication does, so the target's triggers do not
//! fire a second time for rows the source's triggers already wrote.
//!
//! The same code applies the cutover's reverse stream (target to source). Each
//! applier marks its transactions with a replication origin named after its slot
//! (`tweetgen_…`), and every follower skips transactions that carry such an
//! origin: what one direction applied never comes back the other way. Changes to
//! the control plane and to this tool's own state (`tweetgen_control`,
//! `tweetgen_migrate`) belong to each database and are never applied.

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use futures_util::TryStreamExt;
use sqlx::{Connection, PgConnection};

use super::apply::Applier;
use super::pgoutput::{self, Message};
use super::state::{self, Applied, APPLY_LOCK};
use super::workdir::{Migration, WorkDir};
use crate::pg::{self, Lsn, Side, SnapshotXids};

/// Changes asked for per peek; whole transactions are always returned.
const BATCH_CHANGES: i32 = 5000;

/// Replication origins of this tool's appliers start so.
const ORIGIN_PREFIX: &str = "tweetgen_";

/// Schemas each database keeps to itself.
const OWN_SCHEMAS: [&str; 2] = [tweetgen_control::SCHEMA, "tweetgen_migrate"];

pub struct Follower {
    migration: Migration,
    pub source: PgConnection,
    pub target: PgConnection,
    applier: Applier,
    /// Relations of `OWN_SCHEMAS`, by the stream's relation id.
    ignored: HashSet<u32>,
}

/// The source's WAL: where the next record goes, what is on disk (all the
/// stream can read), and the source's clock then.
#[derive(Clone, Copy, Debug)]
pub struct SourcePosition {
    pub insert: Lsn,
    pub flush: Lsn,
    pub time: f64,
}

/// What one pass over the stream did.
#[derive(Debug, Default)]
pub struct Pass {
    pub transactions: u64,
    pub changes: u64,
    /// Every transaction the source committed before the pass's limit is applied.
    pub caught_up: bool,
    /// With a boundary: a transaction the boundary sees committed after one it
    /// does not, so the target cannot be brought to equal it; nothing was applied.
    pub race: bool,
}

impl Follower {
    pub async fn connect(migration: Migration, source_url: &str, target_url: &str) -> anyhow::Result<Self> {
        let source = pg::connect(Side::Source, source_url).await?;
        let mut target = pg::connect(Side::Target, target_url).await?;
        sqlx::query("SET session_replication_role = replica").execute(&mut target).await.context(
            "the target user may not set session_replication_role (superuser, or rds_superuser on RDS, is needed \
             to apply changes without firing triggers twice)",
        )?;
        state::prepare(&mut target, &migration.id, &migration.slot).await?;
        if !state::step_done(&mut target, "copy").await? {
            bail!("the copy has not finished: run `tweetgen-infra migrate copy` first (it resumes where it stopped)");
        }
        create_origin(&mut target, &migration.slot).await?;
        Ok(Self { migration, source, target, applier: Applier::default(), ignored: HashSet::new() })
    }

    /// Waits for the apply lock (held by one applier at a time, `verify`
    /// included); released by `unlock` or when the connection ends.
    pub async fn lock(&mut self) -> anyhow::Result<()> {
        sqlx::query("SELECT pg_advisory_lock($1)").bind(APPLY_LOCK).execute(&mut self.target).await?;
        Ok(())
    }

    pub async fn unlock(&mut self) -> anyhow::Result<()> {
        sqlx::query("SELECT pg_advisory_unlock($1)").bind(APPLY_LOCK).execute(&mut self.target).await?;
        Ok(())
    }

    pub async fn position(&mut self) -> anyhow::Result<Applied> {
        Ok(state::applied(&mut self.target, &self.migration.slot).await?.unwrap_or(Applied {
            lsn: self.migration.slot_lsn,
            source_time: now(),
            transactions: 0,
            changes: 0,
        }))
    }

    /// Where the source's WAL is now.
    pub async fn source_position(&mut self) -> anyhow::Result<SourcePosition> {
        let (insert, flush, time): (String, String, f64) = sqlx::query_as(
            "SELECT pg_current_wal_insert_lsn()::text, pg_current_wal_flush_lsn()::text,
                    extract(epoch FROM clock_timestamp())::float8",
        )
        .fetch_one(&mut self.source)
        .await?;
        Ok(SourcePosition { insert: insert.parse()?, flush: flush.parse()?, time })
    }

    /// Applies what the stream holds, committed before `limit` (everything, if
    /// `None`), at most about `BATCH_CHANGES` changes unless `boundary` is given.
    /// With `boundary`, applies only transactions that snapshot sees and stops at
    /// the first it does not. Call with the apply lock held.
    pub async fn pass(&mut self, limit: Option<Lsn>, boundary: Option<&SnapshotXids>) -> anyhow::Result<Pass> {
        let deadline = Instant::now() + SLOT_RELEASE_WAIT;
        loop {
            // The origin is this session's while it applies: another applier of the
            // same stream (`follow` beside `cutover`) takes it between passes.
            sqlx::query("SELECT pg_replication_origin_session_setup($1)")
                .bind(&self.migration.slot)
                .execute(&mut self.target)
                .await
                .context("marking the applier's transactions with its replication origin")?;
            let pass = self.pass_marked(limit, boundary).await;
            let reset = sqlx::query("SELECT pg_replication_origin_session_reset()").execute(&mut self.target).await;
            match pass {
                // The source's backend of a follower killed mid-pass still reads the
                // slot until it notices its client is gone; then it lets go.
                Err(error) if slot_in_use(&error) && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                pass => {
                    let pass = pass?;
                    reset?;
                    return Ok(pass);
                }
            }
        }
    }

    async fn pass_marked(&mut self, limit: Option<Lsn>, boundary: Option<&SnapshotXids>) -> anyhow::Result<Pass> {
        let mut applied = self.position().await?;
        let started_at = applied.lsn;
        let copy_snapshot = self.migration.snapshot.as_ref().map(|snapshot| snapshot.xids.clone());
        let mut pass = Pass::default();
        // Groups left by a pass that ended early belong to a rolled-back transaction.
        self.applier.discard();
        let mut transaction = self.target.begin().await?;
        let mut rows = sqlx::query_scalar::<_, Vec<u8>>(
            "SELECT data FROM pg_logical_slot_peek_binary_changes($1, $2::pg_lsn, $3,
                 'proto_version', '1', 'publication_names', $4)",
        )
        .bind(&self.migration.slot)
        .bind(limit.map(|lsn| lsn.to_string()))
        .bind(if boundary.is_some() { None } else { Some(BATCH_CHANGES) })
        .bind(&self.migration.publication)
        .fetch(&mut self.source);
        let mut applying = false;
        let mut stopped = false;
        let mut returned = 0u64;
        while let Some(data) = rows.try_next().await.context("reading the change stream")? {
            returned += 1;
            match Message::decode(&data)? {
                Message::Begin { final_lsn, xid } => {
                    let done = final_lsn < applied.lsn
                        || copy_snapshot.as_ref().is_some_and(|snapshot| snapshot.sees(xid, final_lsn));
                    let outside = boundary.is_some_and(|boundary| !boundary.sees(xid, final_lsn));
                    if stopped && !done && !outside {
                        return Ok(Pass { race: true, ..Pass::default() });
                    }
                    stopped |= outside && !done;
                    applying = !done && !stopped;
                }
                // Written by an applier of this tool: it came from the other side.
                Message::Origin { name } if name.starts_with(ORIGIN_PREFIX) => applying = false,
                Message::Relation(relation) if OWN_SCHEMAS.contains(&relation.schema.as_str()) => {
                    self.ignored.insert(relation.id);
                }
                Message::Relation(relation) => self.applier.relation(&mut transaction, relation).await?,
                Message::Commit { end_lsn, commit_time, .. } => {
                    if applying {
                        applied.transactions += 1;
                        pass.transactions += 1;
                    }
                    if !stopped && end_lsn > applied.lsn {
                        applied.lsn = end_lsn;
                        applied.source_time = pgoutput::unix_seconds(commit_time);
                    }
                    applying = false;
                }
                Message::Origin { .. } | Message::Other(_) => {}
                change if touches_only(&self.ignored, &change) => {}
                change => {
                    if applying {
                        self.applier.change(&mut transaction, change).await?;
                        applied.changes += 1;
                        pass.changes += 1;
                    }
                }
            }
        }
        drop(rows);
        // The groups may span the batch's transactions: all of them go before its position.
        self.applier.flush(&mut transaction).await?;
        // Fewer rows than asked for: the stream had nothing more before the limit.
        pass.caught_up = boundary.is_none() && returned < BATCH_CHANGES as u64;
        if applied.lsn > started_at {
            state::save_applied(&mut transaction, &self.migration.slot, &applied).await?;
            transaction.commit().await?;
        } else {
            transaction.rollback().await?;
        }
        // Also after a pass that only skipped what an earlier, killed pass had
        // applied but not yet acknowledged to the slot.
        self.advance_slot(applied.lsn).await?;
        Ok(pass)
    }

    /// Lets the source recycle WAL up to `lsn` (never backwards, which is an error).
    async fn advance_slot(&mut self, lsn: Lsn) -> anyhow::Result<()> {
        sqlx::query(
            "SELECT pg_replication_slot_advance(slot_name, $2::pg_lsn) FROM pg_replication_slots
             WHERE slot_name = $1 AND confirmed_flush_lsn < $2::pg_lsn",
        )
        .bind(&self.migration.slot)
        .bind(lsn.to_string())
        .execute(&mut self.source)
        .await
        .context("advancing the replication slot")?;
        Ok(())
    }

    /// Flushes the source's WAL: a synchronous commit flushes everything before
    /// it. The transaction writes only a logical message, which pgoutput does not
    /// pass on; it works on a source made read-only for the cutover, since this
    /// tool's sessions are read-write.
    pub async fn flush_source_wal(&mut self) -> anyhow::Result<()> {
        sqlx::raw_sql(
            "BEGIN; SET LOCAL synchronous_commit = on;
             SELECT pg_logical_emit_message(true, 'tweetgen-infra', 'flush'); COMMIT;",
        )
        .execute(&mut self.source)
        .await
        .context("flushing the source's WAL")?;
        Ok(())
    }

    /// Records that everything committed before `lsn` is applied (a pass up to
    /// `lsn` found nothing more), so that lag reads zero on a quiet source.
    pub async fn mark_caught_up(&mut self, lsn: Lsn, source_time: f64) -> anyhow::Result<()> {
        let mut applied = self.position().await?;
        if lsn > applied.lsn {
            applied.lsn = lsn;
            applied.source_time = source_time;
            state::save_applied(&mut self.target, &self.migration.slot, &applied).await?;
            self.advance_slot(lsn).await?;
        }
        Ok(())
    }

    /// Applies until every transaction committed on the source before `limit`
    /// (read at `limit.time`) is on the target. Takes the apply lock for each pass.
    pub async fn catch_up_to(&mut self, limit: SourcePosition) -> anyhow::Result<Pass> {
        let mut total = Pass::default();
        loop {
            if self.source_position().await?.flush < limit.insert {
                // Asynchronous commits are visible before their WAL is flushed (the
                // WAL writer gets to it within wal_writer_delay), and the stream reads
                // only flushed WAL: have it flushed now.
                self.flush_source_wal().await?;
                continue;
            }
            self.lock().await?;
            let pass = match self.pass(Some(limit.insert), None).await {
                Ok(pass) => pass,
                Err(error) => {
                    let _ = self.unlock().await;
                    return Err(error);
                }
            };
            total.transactions += pass.transactions;
            total.changes += pass.changes;
            if pass.caught_up {
                self.mark_caught_up(limit.insert, limit.time).await?;
            }
            self.unlock().await?;
            if pass.caught_up {
                total.caught_up = true;
                return Ok(total);
            }
        }
    }
}

/// How long a pass waits for a slot another session is still reading.
const SLOT_RELEASE_WAIT: Duration = Duration::from_secs(30);

/// PostgreSQL's "replication slot … is active for PID …" (object_in_use).
fn slot_in_use(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(cause.downcast_ref::<sqlx::Error>(),
            Some(sqlx::Error::Database(database)) if database.code().as_deref() == Some("55006"))
    })
}

/// The change concerns only these relations (the ones `OWN_SCHEMAS` hold).
fn touches_only(relations: &HashSet<u32>, change: &Message) -> bool {
    match change {
        Message::Insert { relation, .. } | Message::Update { relation, .. } | Message::Delete { relation, .. } => {
            relations.contains(relation)
        }
        Message::Truncate { relations: truncated, .. } => truncated.iter().all(|relation| relations.contains(relation)),
        _ => false,
    }
}

/// The replication origin that marks what the applier of `slot` writes.
async fn create_origin(target: &mut PgConnection, slot: &str) -> anyhow::Result<()> {
    let created = sqlx::query(
        "SELECT pg_replication_origin_create($1) WHERE NOT EXISTS (SELECT FROM pg_replication_origin WHERE roname = $1)",
    )
    .bind(slot)
    .execute(&mut *target)
    .await;
    match created {
        // Made meanwhile by another applier of the same stream.
        Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("23505") => Ok(()),
        other => other.map(drop).context(
            "creating a replication origin (needs superuser, rds_superuser on RDS, or EXECUTE on \
             pg_replication_origin_create and pg_replication_origin_session_setup)",
        ),
    }
}

pub fn now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64()
}

/// `migrate follow`: apply continuously, or until caught up with the source as
/// it was when asked.
pub async fn run(
    mut follower: Follower,
    until_caught_up: bool,
    progress: &super::progress::Progress,
    mut reverse: Reverse<'_>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let position = follower.position().await?;
    // The row exists from the start, so that the heartbeat has one to touch.
    state::ensure_applied(&mut follower.target, &follower.migration.slot, &position).await?;
    progress.line(format!(
        "following slot {} from {} ({} transactions applied so far)",
        follower.migration.slot, position.lsn, position.transactions
    ));
    if until_caught_up {
        let limit = follower.source_position().await?;
        let pass = follower.catch_up_to(limit).await?;
        progress.line(format!(
            "caught up with {}: {} transactions, {} changes applied in {:.2} s",
            limit.insert,
            pass.transactions,
            pass.changes,
            started.elapsed().as_secs_f64()
        ));
        return Ok(());
    }
    let mut tables = NewTables::default();
    let mut reported = Instant::now();
    let mut heartbeat = Instant::now();
    let (mut transactions, mut changes) = (0u64, 0u64);
    loop {
        tables.check(&mut follower, progress).await?;
        if heartbeat.elapsed() > Duration::from_secs(1) {
            // The cutover's "follow running" check reads it.
            state::heartbeat(&mut follower.target, &follower.migration.slot).await?;
            heartbeat = Instant::now();
        }
        // What is on disk already: following on needs no flush of its own (the
        // final catch-up of `--until-caught-up` and the cutover force one).
        let now = follower.source_position().await?;
        let limit = SourcePosition { insert: now.flush, ..now };
        let pass = follower.catch_up_to(limit).await?;
        let reversed = reverse.follow(progress).await?;
        transactions += pass.transactions;
        changes += pass.changes;
        if reported.elapsed() > Duration::from_secs(10) {
            progress.line(format!(
                "applied {transactions} transactions, {changes} changes; caught up with {}",
                limit.insert
            ));
            reported = Instant::now();
        }
        if pass.transactions == 0 && reversed == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The cutover's reverse stream (target to source), followed beside the forward
/// one from when the cutover starts it until a rollback is over, so that a
/// rollback after the commit point has only the last changes left to apply.
pub struct Reverse<'a> {
    work: &'a WorkDir,
    /// The migration's target and source: the reverse stream's source and target.
    from_url: String,
    to_url: String,
    follower: Option<Follower>,
    looked_at: Option<Instant>,
}

impl<'a> Reverse<'a> {
    pub fn new(work: &'a WorkDir, source_url: &str, target_url: &str) -> Self {
        Self { work, from_url: target_url.into(), to_url: source_url.into(), follower: None, looked_at: None }
    }

    /// Applies what the reverse stream holds, if there is one; returns how many
    /// transactions.
    async fn follow(&mut self, progress: &super::progress::Progress) -> anyhow::Result<u64> {
        if self.follower.is_none() {
            if self.looked_at.is_some_and(|at| at.elapsed() < Duration::from_secs(1)) {
                return Ok(0);
            }
            self.looked_at = Some(Instant::now());
            let Some(migration) = self.work.reverse_stream()? else { return Ok(0) };
            // Until the cutover has recorded the stream's start on the source, there is nothing to follow.
            let Ok(follower) = Follower::connect(migration, &self.from_url, &self.to_url).await else { return Ok(0) };
            progress.line(format!("following the reverse stream {} too (target to source)", follower.migration.slot));
            self.follower = Some(follower);
        }
        let follower = self.follower.as_mut().expect("connected above");
        let now = follower.source_position().await?;
        match follower.catch_up_to(SourcePosition { insert: now.flush, ..now }).await {
            Ok(pass) => Ok(pass.transactions),
            // The rollback is over and dropped it.
            Err(_) if self.work.reverse_stream()?.is_none() => {
                progress.line("the reverse stream is gone: its rollback is over");
                self.follower = None;
                Ok(0)
            }
            Err(error) => Err(error.context("following the reverse stream")),
        }
    }
}

/// Tables created on the source since the copy: their rows can only reach the
/// target once the table exists there, so they are reported, never ignored.
#[derive(Default)]
struct NewTables {
    last_check: Option<Instant>,
    reported: std::collections::HashSet<String>,
}

impl NewTables {
    async fn check(&mut self, follower: &mut Follower, progress: &super::progress::Progress) -> anyhow::Result<()> {
        if self.last_check.is_some_and(|at| at.elapsed() < Duration::from_secs(5)) {
            return Ok(());
        }
        self.last_check = Some(Instant::now());
        let on_source = super::catalog::tables(&mut follower.source).await?;
        let on_target: Vec<String> = super::catalog::tables(&mut follower.target)
            .await?
            .into_iter()
            .map(|table| table.name.to_string())
            .collect();
        for table in on_source.into_iter().filter(|table| !on_target.contains(&table.name.to_string())) {
            let published: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2
                                AND tablename = $3)",
            )
            .bind(&follower.migration.publication)
            .bind(&table.name.schema)
            .bind(&table.name.name)
            .fetch_one(&mut follower.source)
            .await?;
            let table = table.name.to_string();
            if !published {
                bail!(
                    "table {table} was created on the source after the copy began, outside what the publication \
                     covers (the tables there were then, or their schemas): its rows are not in the change stream. \
                     Add it: ALTER PUBLICATION {} ADD TABLE {table}; create it on the target, and copy its rows",
                    follower.migration.publication
                );
            }
            if self.reported.insert(table.clone()) {
                progress.line(format!(
                    "WARNING: table {table} was created on the source after the copy began and is not on the target. \
                     Its rows are in the change stream; the follower stops at the first of them until the table is \
                     created on the target with the same definition"
                ));
            }
        }
        Ok(())
    }
}

/// `migrate status`: how far the target is behind.
#[derive(Debug, serde::Serialize)]
pub struct Status {
    pub migration: String,
    pub slot: String,
    pub source_lsn: Lsn,
    pub applied_lsn: Lsn,
    pub lag_bytes: u64,
    pub lag_seconds: f64,
    pub transactions: i64,
    pub changes: i64,
    pub steps: Vec<(String, f64)>,
    pub slot_retained_bytes: Option<i64>,
}

pub async fn status(migration: &Migration, source_url: &str, target_url: &str) -> anyhow::Result<Status> {
    let mut source = pg::connect(Side::Source, source_url).await?;
    let mut target = pg::connect(Side::Target, target_url).await?;
    let (source_lsn, source_now, retained): (String, f64, Option<i64>) = sqlx::query_as(
        "SELECT pg_current_wal_insert_lsn()::text, extract(epoch FROM clock_timestamp())::float8,
                (SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint
                 FROM pg_replication_slots WHERE slot_name = $1)",
    )
    .bind(&migration.slot)
    .fetch_one(&mut source)
    .await?;
    let source_lsn: Lsn = source_lsn.parse()?;
    let applied = state::applied(&mut target, &migration.slot).await?;
    let steps: Vec<(String, f64)> =
        sqlx::query_as("SELECT name, extract(epoch FROM done_at)::float8 FROM tweetgen_migrate.steps ORDER BY done_at")
            .fetch_all(&mut target)
            .await
            .unwrap_or_default();
    let (applied_lsn, source_time, transactions, changes) = match applied {
        Some(applied) => (applied.lsn, applied.source_time, applied.transactions, applied.changes),
        None => (migration.slot_lsn, source_now, 0, 0),
    };
    let lag_bytes = source_lsn.0.saturating_sub(applied_lsn.0);
    Ok(Status {
        migration: migration.id.clone(),
        slot: migration.slot.clone(),
        source_lsn,
        applied_lsn,
        lag_bytes,
        lag_seconds: if lag_bytes == 0 { 0.0 } else { (source_now - source_time).max(0.0) },
        transactions,
        changes,
        steps,
        slot_retained_bytes: retained,
    })
}
