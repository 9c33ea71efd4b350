//! `migrate copy`: the schema, then every row under one snapshot, in parallel,
//! with each table's indexes and constraints built as soon as its rows are in
//! (`indexes.rs`), then the sequences.
//!
//! Rows stream from `COPY … TO STDOUT` on the source straight into `COPY … FROM
//! STDIN` on the target, binary where both ends agree on the types, with no file
//! in between. Tables larger than `--split-tables-larger-than` are cut into
//! ranges of heap pages (TID range scans, PostgreSQL 14+) holding about the same
//! bytes each — TOAST included, so a table of large values splits as evenly as
//! one of small rows — and one huge table keeps every worker busy (a table named
//! by `--in-index-order` is instead copied whole in its largest B-tree index's
//! order, so that the target builds that index from sorted rows: for text keys,
//! about half the CPU of sorting them). Each range is one target transaction
//! together with its "done" mark: a killed copy, run again, copies only the
//! ranges not marked. A table copied whole is emptied and loaded frozen in that
//! transaction (`COPY … FREEZE`), so no later pass on the target sets its hint
//! bits or freezes it again. The snapshot is released as soon as the last row
//! is in.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::TryStreamExt;
use sqlx::{Connection, PgConnection};
use tweetgen_control::{self as control, State};

use super::indexes::{self, Loaded};
use super::progress::{self, Progress, Row};
use super::workdir::{self, Migration, WorkDir};
use super::{catalog, schema, sequences, snapshot, state};
use crate::pg::{self, ident, Side, TableName};

pub struct Options {
    pub source_url: String,
    pub target_url: String,
    pub jobs: usize,
    pub index_jobs: usize,
    pub indexes: indexes::Timing,
    pub split_bytes: u64,
    /// Copied whole, in the order of their largest B-tree index.
    pub in_index_order: Vec<TableName>,
    pub toast_compression: ToastCompression,
    pub schema: schema::Options,
    pub hold_minutes: u64,
}

/// How the target compresses large values (TOAST) of columns that name no method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ToastCompression {
    /// lz4 where the target has it (PostgreSQL 14+ built with it, as RDS is).
    Lz4,
    /// The target's `default_toast_compression` (pglz unless set).
    ServerDefault,
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
    check_in_index_order(&mut source, &options.in_index_order).await?;

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
    // Once every row is in, the rest needs no snapshot (it was released then).
    let snapshot_name = if state::step_done(&mut target, "data").await? {
        None
    } else {
        let held =
            snapshot::acquire(&options.source_url, &mut migration, work, options.hold_minutes, copy_started).await?;
        progress.line(format!(
            "slot {} starts at {}; snapshot {} (held by pid {})",
            migration.slot, migration.slot_lsn, held.name, held.holder_pid
        ));
        Some(held.name)
    };
    rows.push(Row {
        step: "slot and snapshot".into(),
        seconds: step.elapsed().as_secs_f64(),
        detail: format!("slot {} at {}", migration.slot, migration.slot_lsn),
    });

    let result =
        copy_and_build(work, options, &progress, &mut rows, &mut source, &mut target, snapshot_name.as_deref()).await;
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

/// The schema, the rows and the post-data items; `snapshot_name` is `None` when
/// every row is already in.
async fn copy_and_build(
    work: &WorkDir,
    options: &Options,
    progress: &Progress,
    rows: &mut Vec<Row>,
    source: &mut PgConnection,
    target: &mut PgConnection,
    snapshot_name: Option<&str>,
) -> anyhow::Result<()> {
    let step = Instant::now();
    let mut parts = Vec::new();
    let mut tables = Vec::new();
    if let Some(snapshot_name) = snapshot_name {
        schema::dump(&options.source_url, snapshot_name, work).await?;
        if !state::step_done(target, "pre-data").await? {
            schema::restore_pre_data(&options.target_url, work, options.schema).await?;
        }
        tables = snapshot_tables(source, snapshot_name).await?;
        let tid_ranges = catalog::major_version(source).await? >= 14;
        let split = Split { bytes: options.split_bytes, tid_ranges, whole: &options.in_index_order };
        parts = plan(source, snapshot_name, target, &tables, &split, progress).await?;
    }
    rows.push(Row { step: "schema (pre-data)".into(), seconds: step.elapsed().as_secs_f64(), detail: String::new() });

    let step = Instant::now();
    let planned = planned_tables(target).await?;
    let copied: HashSet<TableName> = planned.keys().cloned().collect();
    let loaded: HashSet<TableName> = planned.iter().filter(|(_, left)| **left == 0).map(|(t, _)| t.clone()).collect();
    let (tell, told) = tokio::sync::mpsc::unbounded_channel();
    let data = async {
        let mut moved = (0, 0);
        if let Some(snapshot_name) = snapshot_name {
            moved = copy_parts(options, progress, &tables, parts, &planned, snapshot_name, &tell).await?;
            let mut target = pg::connect(Side::Target, &options.target_url).await?;
            state::mark_step(&mut target, "data", step.elapsed().as_secs_f64()).await?;
            // The rest reads nothing under the snapshot: let the source vacuum again.
            snapshot::release(work)?;
        }
        let _ = tell.send(Loaded::Everything);
        anyhow::Ok((moved, step.elapsed().as_secs_f64()))
    };
    let bar = progress.count_bar(0, "post-data");
    let on_done = |item: &schema::Item, done: bool, took: Duration| {
        let what = if done {
            bar.inc(1);
            bar.set_message(item.description.clone());
            "done"
        } else {
            "index built for"
        };
        progress.line(format!("{what} {} in {:.2} s", item.description, took.as_secs_f64()));
    };
    let build_options = indexes::Options {
        target_url: &options.target_url,
        schema: options.schema,
        jobs: options.index_jobs,
        timing: options.indexes,
        on_done: &on_done,
    };
    // The copy's workers have connections of their own: these two serve the builds' planning.
    let build = indexes::build(work, source, target, &build_options, &copied, loaded, told);
    let (((copied_rows, copied_bytes), data_seconds), built) = tokio::try_join!(data, build)?;
    bar.finish_and_clear();
    rows.push(Row {
        step: "data".into(),
        seconds: data_seconds,
        detail: format!(
            "{} tables, {copied_rows} rows, {} ({}/s)",
            copied.len(),
            progress::bytes(copied_bytes),
            progress::bytes((copied_bytes as f64 / data_seconds.max(1e-3)) as u64)
        ),
    });
    rows.push(Row {
        step: "indexes, constraints".into(),
        seconds: (step.elapsed().as_secs_f64() - data_seconds).max(0.0),
        detail: format!(
            "{} post-data items, {} index builds started while rows copied, {} waited for a free core \
             ({}, {} cores); time after the data",
            built.items,
            built.builds_while_copying,
            built.builds_held,
            match options.indexes {
                indexes::Timing::Overlapped => "overlapped",
                indexes::Timing::AfterData => "after the data",
            },
            options.index_jobs
        ),
    });

    let step = Instant::now();
    let found = sequences::copy_values(source, target, 0).await?;
    rows.push(Row {
        step: "sequences".into(),
        seconds: step.elapsed().as_secs_f64(),
        detail: format!("{} sequences", found.len()),
    });

    let step = Instant::now();
    for table in &copied {
        sqlx::query(&format!("ANALYZE {table}")).execute(&mut *target).await?;
    }
    rows.push(Row { step: "analyze".into(), seconds: step.elapsed().as_secs_f64(), detail: String::new() });
    Ok(())
}

/// Every table named by `--in-index-order` exists and has an index to order by
/// (checked before anything is made on either server).
async fn check_in_index_order(source: &mut PgConnection, names: &[TableName]) -> anyhow::Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let tables = catalog::tables(source).await?;
    for name in names {
        let table = tables.iter().find(|table| &table.name == name).with_context(|| {
            format!("--in-index-order {name}: no such table on the source (name it as schema.table)")
        })?;
        anyhow::ensure!(
            table.index_order.is_some(),
            "--in-index-order {name}: the table has no B-tree index (not partial) to order its rows by"
        );
    }
    Ok(())
}

/// Every planned table, with how many of its parts are still to copy.
async fn planned_tables(target: &mut PgConnection) -> anyhow::Result<HashMap<TableName, usize>> {
    let rows: Vec<(String, String, i64)> = sqlx::query_as(
        "SELECT table_schema, table_name, count(*) FILTER (WHERE done_at IS NULL)
         FROM tweetgen_migrate.parts GROUP BY 1, 2",
    )
    .fetch_all(target)
    .await?;
    Ok(rows.into_iter().map(|(schema, name, left)| (TableName::new(schema, name), left as usize)).collect())
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

/// Which tables are cut into ranges.
struct Split<'a> {
    /// Tables larger than this…
    bytes: u64,
    /// …where the source scans TID ranges (PostgreSQL 14+)…
    tid_ranges: bool,
    /// …except these, copied whole.
    whole: &'a [TableName],
}

/// The parts still to copy, from the plan stored in the target (made and stored
/// on the first run, in one transaction).
async fn plan(
    source: &mut PgConnection,
    snapshot_name: &str,
    target: &mut PgConnection,
    tables: &[catalog::Table],
    split: &Split<'_>,
    progress: &Progress,
) -> anyhow::Result<Vec<Part>> {
    if !state::step_done(target, "plan").await? {
        let mut transaction = target.begin().await?;
        for table in tables {
            let parts = if split.tid_ranges && table.pages > 1 && !split.whole.contains(&table.name) {
                (table.bytes as u64).div_ceil(split.bytes.max(1)).clamp(1, table.pages as u64) as i64
            } else {
                1
            };
            let ranges = if parts > 1 && table.mostly_toast() {
                let weights = page_weights(source, snapshot_name, table).await?;
                by_weight(&weights, parts as usize)
            } else {
                by_pages(table, parts as usize)
            };
            if ranges.len() > 1 {
                let sizes: Vec<String> = ranges.iter().map(|range| progress::bytes(range.bytes as u64)).collect();
                progress.line(format!(
                    "plan: {} in {} parts {} ({})",
                    table.name,
                    ranges.len(),
                    if table.mostly_toast() { "of equal bytes, TOAST included" } else { "of equal pages" },
                    sizes.join(", ")
                ));
            }
            for (part, range) in ranges.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO tweetgen_migrate.parts
                         (table_schema, table_name, part, first_page, end_page, estimated_bytes)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&table.name.schema)
                .bind(&table.name.name)
                .bind(part as i32)
                .bind(range.first_page)
                .bind(range.end_page)
                .bind(range.bytes)
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

/// Pages `first_page..end_page` of a table (`None`: to its end), about `bytes` of rows.
#[derive(Debug, PartialEq)]
struct Range {
    first_page: i64,
    end_page: Option<i64>,
    bytes: i64,
}

fn by_pages(table: &catalog::Table, parts: usize) -> Vec<Range> {
    let parts = parts.max(1) as i64;
    (0..parts)
        .map(|part| Range {
            first_page: table.pages * part / parts,
            end_page: (part + 1 < parts).then(|| table.pages * (part + 1) / parts),
            bytes: table.bytes / parts,
        })
        .collect()
}

/// Ranges of about equal bytes from each non-empty page's bytes (in page order);
/// fewer than `parts` when single pages outweigh a part (what is left after a
/// heavy page is shared evenly among the parts still to make).
fn by_weight(weights: &[(i64, i64)], parts: usize) -> Vec<Range> {
    let total: i64 = weights.iter().map(|(_, bytes)| bytes).sum();
    let mut ranges = vec![Range { first_page: 0, end_page: None, bytes: 0 }];
    let mut before_current = 0i64;
    for &(page, bytes) in weights {
        let count = ranges.len();
        let current = ranges.last_mut().expect("one range at least");
        let share = (total - before_current) / (parts.max(1) - count + 1) as i64;
        if count < parts && current.bytes > 0 && current.bytes + bytes / 2 > share {
            before_current += current.bytes;
            current.end_page = Some(page);
            ranges.push(Range { first_page: page, end_page: None, bytes: 0 });
        }
        ranges.last_mut().expect("one range at least").bytes += bytes;
    }
    ranges
}

/// Each non-empty page's bytes under the snapshot, values stored out of line
/// (TOAST) included at their stored size (read from their pointers: nothing is
/// detoasted).
async fn page_weights(
    source: &mut PgConnection,
    snapshot_name: &str,
    table: &catalog::Table,
) -> anyhow::Result<Vec<(i64, i64)>> {
    let sizes: Vec<String> =
        table.columns.iter().map(|column| format!("coalesce(pg_column_size({}), 0)", ident(column))).collect();
    let mut transaction = begin_snapshot(source, snapshot_name).await?;
    let weights = sqlx::query_as(&format!(
        "SELECT (ctid::text::point)[0]::bigint AS page, sum(24 + {})::bigint
         FROM ONLY {} GROUP BY 1 ORDER BY 1",
        if sizes.is_empty() { "0".to_string() } else { sizes.join(" + ") },
        table.name
    ))
    .fetch_all(&mut *transaction)
    .await
    .with_context(|| format!("weighing the pages of {}", table.name))?;
    transaction.rollback().await?;
    Ok(weights)
}

async fn copy_parts(
    options: &Options,
    progress: &Progress,
    tables: &[catalog::Table],
    parts: Vec<Part>,
    planned: &HashMap<TableName, usize>,
    snapshot_name: &str,
    tell: &tokio::sync::mpsc::UnboundedSender<Loaded>,
) -> anyhow::Result<(u64, u64)> {
    let parts_left = Mutex::new(planned.clone());
    let estimate: i64 = parts.iter().map(|part| part.estimated_bytes).sum();
    let bar = progress.bytes_bar(estimate.max(1) as u64, "data");
    let rows = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let rows_seen = Arc::new(AtomicU64::new(0));
    let queue = Arc::new(Mutex::new(VecDeque::from(parts)));
    let workers = (0..options.jobs.max(1)).map(|number| {
        let worker = Worker {
            queue: queue.clone(),
            toast_compression: options.toast_compression,
            in_index_order: &options.in_index_order,
            parts_left: &parts_left,
            tell,
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
    toast_compression: ToastCompression,
    in_index_order: &'a [TableName],
    /// Per table, its parts not yet in; a table's last part tells `tell`.
    parts_left: &'a Mutex<HashMap<TableName, usize>>,
    tell: &'a tokio::sync::mpsc::UnboundedSender<Loaded>,
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
        if self.toast_compression == ToastCompression::Lz4 {
            // Where the column names no method: lz4 gives up on incompressible
            // values, and compresses the rest, several times faster than pglz.
            // Servers built without it keep their default.
            sqlx::query(
                "SELECT set_config('default_toast_compression', 'lz4', false) FROM pg_settings
                 WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)",
            )
            .execute(&mut target)
            .await?;
        }
        loop {
            let Some(part) = self.queue.lock().expect("queue lock").pop_front() else { break };
            let table = self
                .tables
                .iter()
                .find(|table| table.name == part.table)
                .with_context(|| format!("{} is in the plan but not in the source's snapshot", part.table))?;
            self.line.set_message(format!("{} part {}/{}", part.table, part.part + 1, part.parts));
            let started = Instant::now();
            let ordered = self.in_index_order.contains(&part.table);
            let (rows, bytes) =
                copy_part(&mut transaction, &mut target, table, &part, ordered, &self.bar, &self.rows_seen)
                    .await
                    .with_context(|| format!("copying {} part {}/{}", part.table, part.part + 1, part.parts))?;
            self.rows.fetch_add(rows, Ordering::Relaxed);
            self.bytes.fetch_add(bytes, Ordering::Relaxed);
            let table_done = {
                let mut parts_left = self.parts_left.lock().expect("parts lock");
                let left = parts_left.entry(part.table.clone()).or_insert(1);
                *left = left.saturating_sub(1);
                *left == 0
            };
            if table_done {
                let _ = self.tell.send(Loaded::Table(part.table.clone()));
            }
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
    in_index_order: bool,
    bar: &indicatif::ProgressBar,
    rows_seen: &AtomicU64,
) -> anyhow::Result<(u64, u64)> {
    let columns = table.columns.iter().map(|column| ident(column)).collect::<Vec<_>>().join(", ");
    let format = if table.binary { "binary" } else { "text" };
    let whole_table = part.first_page == 0 && part.end_page.is_none();
    let order = table.index_order.as_deref().filter(|_| in_index_order && whole_table);
    let out = if let Some(order) = order {
        // Read through the index rather than sorted on the source.
        sqlx::query("SET LOCAL enable_sort = off").execute(&mut *source).await?;
        format!("COPY (SELECT {columns} FROM ONLY {} ORDER BY {order}) TO STDOUT (FORMAT {format})", table.name)
    } else if whole_table {
        format!("COPY {} ({columns}) TO STDOUT (FORMAT {format})", table.name)
    } else {
        let end = part.end_page.map(|end| format!(" AND ctid < '({end},0)'::tid")).unwrap_or_default();
        format!(
            "COPY (SELECT {columns} FROM ONLY {} WHERE ctid >= '({},0)'::tid{end}) TO STDOUT (FORMAT {format})",
            table.name, part.first_page
        )
    };
    let mut transaction = target.begin().await?;
    // A table copied whole is emptied in this transaction (of rows of a killed
    // earlier try, if any), which lets its rows be written frozen.
    let freeze = if whole_table {
        sqlx::query(&format!("TRUNCATE ONLY {}", table.name)).execute(&mut *transaction).await?;
        ", FREEZE"
    } else {
        ""
    };
    let into = format!("COPY {} ({columns}) FROM STDIN (FORMAT {format}{freeze})", table.name);
    let mut writer = transaction.copy_in_raw(&into).await?;
    let mut reader = source.copy_out_raw(&out).await?;
    // Read and write at once: the source's next chunk arrives while the target
    // takes the last one.
    let (sender, receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let read = async {
        let mut buffer = Vec::with_capacity(CHUNK * 2);
        let mut bytes = 0u64;
        // The server sends a row per message (binary format: plus a header and
        // a trailer); the shared counters and the bar move once per chunk, not
        // per row (at millions of rows, a clock read and a shared atomic per
        // row cost more than the bytes' copy).
        let mut messages = 0u64;
        let count = |buffer: &[u8], messages: u64| {
            bar.inc(buffer.len() as u64);
            let seen = rows_seen.fetch_add(messages, Ordering::Relaxed) + messages;
            bar.set_message(format!("≈{seen} rows"));
        };
        while let Some(chunk) = reader.try_next().await? {
            bytes += chunk.len() as u64;
            messages += 1;
            buffer.extend_from_slice(&chunk);
            if buffer.len() >= CHUNK {
                count(&buffer, std::mem::take(&mut messages));
                let full = std::mem::replace(&mut buffer, Vec::with_capacity(CHUNK * 2));
                if sender.send(full).await.is_err() {
                    break;
                }
            }
        }
        if !buffer.is_empty() {
            count(&buffer, messages);
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
    if order.is_some() {
        sqlx::query("SET LOCAL enable_sort TO DEFAULT").execute(&mut *source).await?;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_by_weight_hold_about_equal_bytes() {
        // Page 0 holds half of everything; pages 1-10 share the rest among the
        // three other parts.
        let mut weights = vec![(0, 1000)];
        weights.extend((1..=10).map(|page| (page, 100)));
        let ranges = by_weight(&weights, 4);
        let bytes: Vec<i64> = ranges.iter().map(|range| range.bytes).collect();
        assert_eq!(bytes, [1000, 300, 400, 300]);
        assert_eq!(ranges[0], Range { first_page: 0, end_page: Some(1), bytes: 1000 });
        assert_eq!(ranges[1].first_page, 1);
        assert_eq!(ranges[3].end_page, None);

        // Even pages split evenly, and a range ends where the next begins.
        let even: Vec<(i64, i64)> = (3..103).map(|page| (page, 10)).collect();
        let ranges = by_weight(&even, 4);
        assert_eq!(ranges.iter().map(|range| range.bytes).collect::<Vec<_>>(), [250, 250, 250, 250]);
        assert_eq!(ranges[0].first_page, 0, "the first range starts at the table's first page");
        for pair in ranges.windows(2) {
            assert_eq!(pair[0].end_page, Some(pair[1].first_page));
        }
        assert_eq!(ranges[3].end_page, None);
        assert_eq!(by_weight(&[], 3), [Range { first_page: 0, end_page: None, bytes: 0 }]);
    }
}
