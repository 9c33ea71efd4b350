//! `migrate copy`: the schema, then every row under one snapshot, in parallel,
//! then indexes and constraints in parallel, then the sequences.
//!
//! Rows stream from `COPY … TO STDOUT` on the source straight into `COPY … FROM
//! STDIN` on the target, binary where both ends agree on the types, with no file
//! in between. Tables larger than `--split-tables-larger-than` are cut into
//! ranges of heap pages (TID range scans, PostgreSQL 14+), so that one huge table
//! keeps every worker busy. Each range is one target transaction together with its
//! "done" mark: a killed copy, run again, copies only the ranges not marked.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::TryStreamExt;
use sqlx::{Connection, PgConnection};
use tweetgen_control::{self as control, State};

use super::progress::{self, Progress, Row};
use super::workdir::{self, Migration, WorkDir};
use super::{catalog, schema, sequences, snapshot, state};
use crate::pg::{self, ident, Side, TableName};

pub struct Options {
    pub source_url: String,
    pub target_url: String,
    pub jobs: usize,
    pub split_bytes: u64,
    pub schema: schema::Options,
    pub hold_minutes: u64,
}

/// One range of one table.
#[derive(Clone, Debug)]
struct Part {
    table: TableName,
    part: i32,
    parts: i32,
    first_page: i64,
    end_page: Option<i64>,
    estimated_bytes: i64,
}

pub async fn run(work: &WorkDir, options: &Options) -> anyhow::Result<()> {
    let started = Instant::now();
    let progress = Progress::new();
    let mut rows = Vec::new();
    let mut source = pg::connect(Side::Source, &options.source_url).await?;
    let mut target = pg::connect(Side::Target, &options.target_url).await?;

    let step = Instant::now();
    let mut migration = match work.migration()? {
        Some(migration) => {
            check_same_source(&mut source, &migration).await?;
            progress.line(format!("resuming migration {} from {}", migration.id, work.path().display()));
            migration
        }
        None => new_migration(&mut source, work).await?,
    };
    state::prepare(&mut target, &migration.id, &migration.slot).await?;
    if state::step_done(&mut target, "copy").await? {
        snapshot::release(work)?;
        progress.line("the copy is already complete; next: `migrate follow`");
        return Ok(());
    }
    hold_as_replica(&mut target).await?;
    snapshot::ensure_slot(&mut source, &mut migration, work).await?;
    let copy_started = state::step_done(&mut target, "pre-data").await?;
    let heartbeat = tokio::spawn(keep_heartbeat(work.file("heartbeat")));
    let held = snapshot::acquire(&options.source_url, &mut migration, work, options.hold_minutes, copy_started).await?;
    progress.line(format!(
        "slot {} starts at {}; snapshot {} (held by pid {})",
        migration.slot, migration.slot_lsn, held.name, held.holder_pid
    ));
    rows.push(Row {
        step: "slot and snapshot".into(),
        seconds: step.elapsed().as_secs_f64(),
        detail: format!("slot {} at {}", migration.slot, migration.slot_lsn),
    });

    let result = copy_under_snapshot(work, options, &progress, &mut rows, &mut source, &mut target, &held.name).await;
    heartbeat.abort();
    result?;
    state::mark_step(&mut target, "copy", started.elapsed().as_secs_f64()).await?;
    snapshot::release(work)?;
    print!("{}", progress::summary(&rows, started.elapsed().as_secs_f64()));
    println!(
        "copy: complete; next: `tweetgen-infra migrate follow` applies the changes made since {}",
        migration.slot_lsn
    );
    Ok(())
}

async fn copy_under_snapshot(
    work: &WorkDir,
    options: &Options,
    progress: &Progress,
    rows: &mut Vec<Row>,
    source: &mut PgConnection,
    target: &mut PgConnection,
    snapshot_name: &str,
) -> anyhow::Result<()> {
    let step = Instant::now();
    schema::dump(&options.source_url, snapshot_name, work).await?;
    if !state::step_done(target, "pre-data").await? {
        schema::restore_pre_data(&options.target_url, work, options.schema).await?;
    }
    rows.push(Row { step: "schema (pre-data)".into(), seconds: step.elapsed().as_secs_f64(), detail: String::new() });

    let step = Instant::now();
    let tables = snapshot_tables(source, snapshot_name).await?;
    let parts = plan(target, &tables, options.split_bytes, catalog::major_version(source).await? >= 14).await?;
    let (copied_rows, copied_bytes) = copy_parts(options, progress, &tables, parts, snapshot_name).await?;
    let seconds = step.elapsed().as_secs_f64();
    rows.push(Row {
        step: "data".into(),
        seconds,
        detail: format!(
            "{} tables, {copied_rows} rows, {} ({}/s)",
            tables.len(),
            progress::bytes(copied_bytes),
            progress::bytes((copied_bytes as f64 / seconds.max(1e-3)) as u64)
        ),
    });

    let step = Instant::now();
    let mut items = schema::post_data_items(work).await?;
    schema::size_items(source, &mut items).await?;
    let done = schema::done_items(target).await?;
    let bar = progress.count_bar(items.len() as u64, "post-data");
    bar.set_position(done.len() as u64);
    schema::restore_post_data(&options.target_url, work, options.schema, &items, &done, options.jobs, &|item| {
        bar.inc(1);
        bar.set_message(item.description.clone());
    })
    .await?;
    bar.finish_and_clear();
    rows.push(Row {
        step: "indexes, constraints".into(),
        seconds: step.elapsed().as_secs_f64(),
        detail: format!("{} post-data items, {} at a time", items.len(), options.jobs),
    });

    let step = Instant::now();
    let found = sequences::copy_values(source, target, 0).await?;
    rows.push(Row {
        step: "sequences".into(),
        seconds: step.elapsed().as_secs_f64(),
        detail: format!("{} sequences", found.len()),
    });

    let step = Instant::now();
    for table in &tables {
        sqlx::query(&format!("ANALYZE {}", table.name)).execute(&mut *target).await?;
    }
    rows.push(Row { step: "analyze".into(), seconds: step.elapsed().as_secs_f64(), detail: String::new() });
    Ok(())
}

/// Until the cutover opens it, the target is a replica: servers started on it
/// (the new fleet) only read, and the database is read-only for every session
/// but this tool's, so nothing takes a sequence value or writes a row the
/// follower will write.
async fn hold_as_replica(target: &mut PgConnection) -> anyhow::Result<()> {
    control::ensure_schema(&mut *target).await?;
    let record = control::read(&mut *target).await?;
    if record.is_none_or(|record| record.state != State::Replica) {
        control::set(target, &State::Replica, None, "tweetgen-infra migrate copy").await?;
    }
    Ok(())
}

async fn new_migration(source: &mut PgConnection, work: &WorkDir) -> anyhow::Result<Migration> {
    let (system, database) = source_identity(source).await?;
    let id = workdir::new_id();
    let migration = Migration {
        slot: format!("tweetgen_migrate_{id}"),
        publication: format!("tweetgen_migrate_{id}"),
        id,
        source_system: system,
        source_database: database,
        slot_lsn: Default::default(),
        snapshot: None,
    };
    work.save_migration(&migration)?;
    Ok(migration)
}

async fn source_identity(source: &mut PgConnection) -> anyhow::Result<(String, String)> {
    Ok(sqlx::query_as("SELECT system_identifier::text, current_database()::text FROM pg_control_system()")
        .fetch_one(source)
        .await?)
}

pub async fn check_same_source(source: &mut PgConnection, migration: &Migration) -> anyhow::Result<()> {
    let (system, database) = source_identity(source).await?;
    anyhow::ensure!(
        system == migration.source_system && database == migration.source_database,
        "this work directory's migration reads database {} of server {}, not {database} of {system}",
        migration.source_database,
        migration.source_system
    );
    Ok(())
}

/// The tables as the snapshot sees them (a table created since is the change
/// stream's to report).
async fn snapshot_tables(source: &mut PgConnection, snapshot_name: &str) -> anyhow::Result<Vec<catalog::Table>> {
    let mut transaction = begin_snapshot(source, snapshot_name).await?;
    let tables = catalog::tables(&mut transaction).await?;
    transaction.rollback().await?;
    Ok(tables)
}

async fn begin_snapshot<'c>(
    source: &'c mut PgConnection,
    snapshot_name: &str,
) -> anyhow::Result<sqlx::Transaction<'c, sqlx::Postgres>> {
    let mut transaction = source.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *transaction).await?;
    sqlx::query(&format!("SET TRANSACTION SNAPSHOT {}", pg::literal(snapshot_name)))
        .execute(&mut *transaction)
        .await
        .context("importing the copy's snapshot")?;
    Ok(transaction)
}

/// The parts still to copy, from the plan stored in the target (made and stored
/// on the first run, in one transaction).
async fn plan(
    target: &mut PgConnection,
    tables: &[catalog::Table],
    split_bytes: u64,
    tid_ranges: bool,
) -> anyhow::Result<Vec<Part>> {
    if !state::step_done(target, "plan").await? {
        let mut transaction = target.begin().await?;
        for table in tables {
            let parts = if tid_ranges && table.pages > 1 {
                (table.bytes as u64).div_ceil(split_bytes.max(1)).clamp(1, table.pages as u64) as i64
            } else {
                1
            };
            for part in 0..parts {
                let first_page = table.pages * part / parts;
                let end_page = (part + 1 < parts).then(|| table.pages * (part + 1) / parts);
                sqlx::query(
                    "INSERT INTO tweetgen_migrate.parts
                         (table_schema, table_name, part, first_page, end_page, estimated_bytes)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&table.name.schema)
                .bind(&table.name.name)
                .bind(part as i32)
                .bind(first_page)
                .bind(end_page)
                .bind(table.bytes / parts)
                .execute(&mut *transaction)
                .await?;
            }
        }
        sqlx::query(&state::mark_step_sql("plan")).execute(&mut *transaction).await?;
        transaction.commit().await?;
    }
    #[derive(sqlx::FromRow)]
    struct Planned {
        table_schema: String,
        table_name: String,
        part: i32,
        parts: i64,
        first_page: i64,
        end_page: Option<i64>,
        estimated_bytes: i64,
    }
    let rows: Vec<Planned> = sqlx::query_as(
        "SELECT table_schema, table_name, part,
                (SELECT count(*) FROM tweetgen_migrate.parts a
                 WHERE a.table_schema = p.table_schema AND a.table_name = p.table_name) AS parts,
                first_page, end_page, estimated_bytes
         FROM tweetgen_migrate.parts p WHERE done_at IS NULL
         ORDER BY estimated_bytes DESC, table_schema, table_name, part",
    )
    .fetch_all(target)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| Part {
            table: TableName::new(row.table_schema, row.table_name),
            part: row.part,
            parts: row.parts as i32,
            first_page: row.first_page,
            end_page: row.end_page,
            estimated_bytes: row.estimated_bytes,
        })
        .collect())
}

async fn copy_parts(
    options: &Options,
    progress: &Progress,
    tables: &[catalog::Table],
    parts: Vec<Part>,
    snapshot_name: &str,
) -> anyhow::Result<(u64, u64)> {
    let estimate: i64 = parts.iter().map(|part| part.estimated_bytes).sum();
    let bar = progress.bytes_bar(estimate.max(1) as u64, "data");
    let rows = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let rows_seen = Arc::new(AtomicU64::new(0));
    let queue = Arc::new(Mutex::new(VecDeque::from(parts)));
    let workers = (0..options.jobs.max(1)).map(|number| {
        let worker = Worker {
            queue: queue.clone(),
            tables,
            rows: rows.clone(),
            bytes: bytes.clone(),
            rows_seen: rows_seen.clone(),
            bar: bar.clone(),
            line: progress.worker_line(&format!("worker {}", number + 1)),
            progress,
        };
        async move {
            let result = worker.run(&options.source_url, &options.target_url, snapshot_name).await;
            worker.line.finish_and_clear();
            result
        }
    });
    futures_util::future::try_join_all(workers).await?;
    bar.finish_and_clear();
    Ok((rows.load(Ordering::Relaxed), bytes.load(Ordering::Relaxed)))
}

struct Worker<'a> {
    queue: Arc<Mutex<VecDeque<Part>>>,
    tables: &'a [catalog::Table],
    rows: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
    /// Rows streamed so far, finished parts or not (for the bar).
    rows_seen: Arc<AtomicU64>,
    bar: indicatif::ProgressBar,
    line: indicatif::ProgressBar,
    progress: &'a Progress,
}

impl Worker<'_> {
    async fn run(&self, source_url: &str, target_url: &str, snapshot_name: &str) -> anyhow::Result<()> {
        if self.queue.lock().expect("queue lock").is_empty() {
            return Ok(());
        }
        let mut source = pg::connect(Side::Source, source_url).await?;
        let mut transaction = begin_snapshot(&mut source, snapshot_name).await?;
        let mut target = pg::connect(Side::Target, target_url).await?;
        // A commit lost in a target crash loses its part's mark with its rows.
        sqlx::query("SET synchronous_commit = off").execute(&mut target).await?;
        loop {
            let Some(part) = self.queue.lock().expect("queue lock").pop_front() else { break };
            let table = self
                .tables
                .iter()
                .find(|table| table.name == part.table)
                .with_context(|| format!("{} is in the plan but not in the source's snapshot", part.table))?;
            self.line.set_message(format!("{} part {}/{}", part.table, part.part + 1, part.parts));
            let started = Instant::now();
            let (rows, bytes) = copy_part(&mut transaction, &mut target, table, &part, &self.bar, &self.rows_seen)
                .await
                .with_context(|| format!("copying {} part {}/{}", part.table, part.part + 1, part.parts))?;
            self.rows.fetch_add(rows, Ordering::Relaxed);
            self.bytes.fetch_add(bytes, Ordering::Relaxed);
            self.progress.line(format!(
                "copied {} part {}/{}: {rows} rows, {} in {:.2} s",
                part.table,
                part.part + 1,
                part.parts,
                progress::bytes(bytes),
                started.elapsed().as_secs_f64()
            ));
        }
        transaction.rollback().await?;
        Ok(())
    }
}

/// Flushes to the target in chunks of about this size.
const CHUNK: usize = 256 * 1024;

async fn copy_part(
    source: &mut PgConnection,
    target: &mut PgConnection,
    table: &catalog::Table,
    part: &Part,
    bar: &indicatif::ProgressBar,
    rows_seen: &AtomicU64,
) -> anyhow::Result<(u64, u64)> {
    let columns = table.columns.iter().map(|column| ident(column)).collect::<Vec<_>>().join(", ");
    let format = if table.binary { "binary" } else { "text" };
    let whole_table = part.first_page == 0 && part.end_page.is_none();
    let out = if whole_table {
        format!("COPY {} ({columns}) TO STDOUT (FORMAT {format})", table.name)
    } else {
        let end = part.end_page.map(|end| format!(" AND ctid < '({end},0)'::tid")).unwrap_or_default();
        format!(
            "COPY (SELECT {columns} FROM ONLY {} WHERE ctid >= '({},0)'::tid{end}) TO STDOUT (FORMAT {format})",
            table.name, part.first_page
        )
    };
    let into = format!("COPY {} ({columns}) FROM STDIN (FORMAT {format})", table.name);
    let mut transaction = target.begin().await?;
    let mut writer = transaction.copy_in_raw(&into).await?;
    let mut reader = source.copy_out_raw(&out).await?;
    // Read and write at once: the source's next chunk arrives while the target
    // takes the last one.
    let (sender, receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let read = async {
        let mut buffer = Vec::with_capacity(CHUNK * 2);
        let mut bytes = 0u64;
        while let Some(chunk) = reader.try_next().await? {
            bytes += chunk.len() as u64;
            bar.inc(chunk.len() as u64);
            // The server sends a row per message (binary format: plus a header and a trailer).
            let seen = rows_seen.fetch_add(1, Ordering::Relaxed) + 1;
            if seen.is_multiple_of(4096) {
                bar.set_message(format!("≈{seen} rows"));
            }
            buffer.extend_from_slice(&chunk);
            if buffer.len() >= CHUNK {
                let full = std::mem::replace(&mut buffer, Vec::with_capacity(CHUNK * 2));
                if sender.send(full).await.is_err() {
                    break;
                }
            }
        }
        if !buffer.is_empty() {
            let _ = sender.send(buffer).await;
        }
        drop(sender);
        anyhow::Ok(bytes)
    };
    let write = async {
        // Owned here, so that a failed write drops it and unblocks the reader.
        let mut receiver = receiver;
        while let Some(chunk) = receiver.recv().await {
            writer.send(chunk).await?;
        }
        anyhow::Ok(())
    };
    let (bytes, written) = tokio::join!(read, write);
    drop(reader);
    let bytes = bytes?;
    written?;
    let rows = writer.finish().await?;
    sqlx::query(
        "UPDATE tweetgen_migrate.parts SET rows = $4, bytes = $5, done_at = now()
         WHERE table_schema = $1 AND table_name = $2 AND part = $3",
    )
    .bind(&part.table.schema)
    .bind(&part.table.name)
    .bind(part.part)
    .bind(rows as i64)
    .bind(bytes as i64)
    .execute(&mut *transaction)
    .await?;
    transaction.commit().await?;
    Ok((rows, bytes))
}

async fn keep_heartbeat(path: std::path::PathBuf) {
    loop {
        let _ = std::fs::write(&path, b"");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
