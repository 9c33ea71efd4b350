//! `migrate copy`'s post-data step: indexes, keys and constraints.
//!
//! A table's indexes start as soon as its last part is in, while other tables
//! still copy (`--indexes overlapped`, the default), or all of them once every
//! row is in (`--indexes after-data`); largest first, within `--index-jobs`
//! cores.
//!
//! A B-tree build sorts with parallel workers, then merges and writes the tree
//! in its own backend alone. So each build counts as the cores it is using now
//! (read from `pg_stat_progress_create_index` and its workers in
//! `pg_stat_activity`); the next one starts when a core is free (typically when
//! the last one's serial phase begins), not beside a parallel phase where both
//! would only share the same cores; and it gets as many workers as there are
//! other free cores (none, usually: a sort split over workers costs about 13%
//! more CPU in all, worth it only on cores that would otherwise wait).
//!
//! A primary key or unique constraint is built as a plain unique index, so that
//! it builds beside the table's other indexes (`ADD CONSTRAINT` would lock the
//! table for the whole build), then attached with `ADD CONSTRAINT … USING
//! INDEX` once the table's builds are over. Foreign keys follow once both their
//! tables are built; the rest of pg_dump's post-data section (triggers, rules,
//! comments…) comes last, in the dump's order.
//!
//! Every item runs in one transaction with its mark (a key in two: its index,
//! then its attachment), so a killed copy, run again, redoes nothing that
//! committed and leaves nothing half-built.

use std::collections::{BinaryHeap, HashMap, HashSet};

use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use sqlx::{Connection, PgConnection};
use tokio::sync::mpsc::UnboundedReceiver;

use super::schema::{self, Item};
use super::workdir::WorkDir;
use crate::pg::{self, TableName};

/// When the indexes of a table are built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Timing {
    /// As soon as the table's rows are all in, beside the other tables' copies.
    Overlapped,
    /// After every table's rows: the copy's snapshot is released sooner, and
    /// the copies have the CPU to themselves.
    AfterData,
}

/// What the copy tells the post-data step.
#[derive(Debug)]
pub enum Loaded {
    /// Every part of this table is in.
    Table(TableName),
    /// Every part of every table is in.
    Everything,
}

/// What building an item takes, and what it must wait for.
#[derive(Clone, Debug)]
enum Kind {
    /// `CREATE INDEX` (a SHARE lock: it builds beside the table's other indexes).
    Index { table: TableName, bytes: i64 },
    /// A primary key or unique constraint, as its unique index, then attached.
    Key { table: TableName, bytes: i64, build: String, attach: String },
    /// Another constraint of one table (check, exclusion, a deferrable key…), as
    /// pg_dump wrote it: it locks the table, so it waits for the table's builds.
    TableConstraint { table: TableName },
    /// A foreign key between two copied tables: validated once both are built.
    ForeignKey,
    /// Everything else, last, in the dump's order.
    Last,
}

struct Planned {
    item: Item,
    kind: Kind,
    /// The tables it needs built first (foreign keys: both of theirs).
    after: Vec<TableName>,
}

pub struct Options<'a> {
    pub target_url: &'a str,
    pub schema: schema::Options,
    pub jobs: usize,
    pub timing: Timing,
    /// Told of each piece of work as it ends: the item, whether the item is
    /// done (a key's index build is not: its attachment follows), how long it took.
    pub on_done: &'a (dyn Fn(&Item, bool, std::time::Duration) + Sync),
}

/// How the step went, for the summary.
pub struct Outcome {
    pub items: usize,
    /// Index builds started before the last row was in.
    pub builds_while_copying: usize,
    /// Builds that waited for a free core (typically a running build's parallel phase to end).
    pub builds_held: usize,
}

/// The catalog facts that place an item.
#[derive(sqlx::FromRow)]
struct Facts {
    object: i64,
    table_schema: Option<String>,
    table_name: Option<String>,
    references_schema: Option<String>,
    references_name: Option<String>,
    constraint_type: Option<String>,
    constraint_name: Option<String>,
    index_name: Option<String>,
    index_bytes: i64,
    /// A primary key or unique constraint that can be built as an index then attached.
    index_definition: Option<String>,
    tablespace: Option<String>,
}

async fn classify(
    source: &mut PgConnection,
    items: Vec<Item>,
    copied: &HashSet<TableName>,
) -> anyhow::Result<Vec<Planned>> {
    let objects: Vec<i64> = items.iter().map(|item| i64::from(item.object)).collect();
    let mut transaction = source.begin().await?;
    // Every name in pg_get_indexdef's output qualified.
    sqlx::query("SET LOCAL search_path = ''").execute(&mut *transaction).await?;
    let facts: HashMap<i64, Facts> = sqlx::query_as::<_, Facts>(
        "SELECT o.oid AS object, tn.nspname::text AS table_schema, t.relname::text AS table_name,
                rn.nspname::text AS references_schema, r.relname::text AS references_name,
                con.contype::text AS constraint_type, con.conname::text AS constraint_name,
                ic.relname::text AS index_name,
                coalesce(pg_relation_size(coalesce(con.conindid, i.indexrelid)), 0) AS index_bytes,
                CASE WHEN con.contype IN ('p', 'u') AND t.relkind = 'r' AND NOT t.relispartition
                          AND NOT con.condeferrable
                     THEN pg_get_indexdef(con.conindid) END AS index_definition,
                ts.spcname::text AS tablespace
         FROM unnest($1::bigint[]) AS o(oid)
         LEFT JOIN pg_index i ON i.indexrelid = o.oid::oid
         LEFT JOIN pg_constraint con ON con.oid = o.oid::oid
         LEFT JOIN pg_class t ON t.oid = coalesce(i.indrelid, con.conrelid)
         LEFT JOIN pg_namespace tn ON tn.oid = t.relnamespace
         LEFT JOIN pg_class r ON r.oid = con.confrelid
         LEFT JOIN pg_namespace rn ON rn.oid = r.relnamespace
         LEFT JOIN pg_class ic ON ic.oid = con.conindid
         LEFT JOIN pg_tablespace ts ON ts.oid = ic.reltablespace",
    )
    .bind(&objects)
    .fetch_all(&mut *transaction)
    .await?
    .into_iter()
    .map(|facts| (facts.object, facts))
    .collect();
    transaction.rollback().await?;
    Ok(items
        .into_iter()
        .map(|item| {
            let (kind, after) = match facts.get(&i64::from(item.object)) {
                Some(facts) => kind_of(&item, facts, copied),
                // Gone from the source since the dump: as pg_dump wrote it, last.
                None => (Kind::Last, Vec::new()),
            };
            Planned { item, kind, after }
        })
        .collect())
}

fn kind_of(item: &Item, facts: &Facts, copied: &HashSet<TableName>) -> (Kind, Vec<TableName>) {
    let name = |schema: &Option<String>, name: &Option<String>| match (schema, name) {
        (Some(schema), Some(name)) => Some(TableName::new(schema, name)),
        _ => None,
    };
    let table = name(&facts.table_schema, &facts.table_name).filter(|table| copied.contains(table));
    let references = name(&facts.references_schema, &facts.references_name);
    let description = item.description.as_str();
    let Some(table) = table else { return (Kind::Last, Vec::new()) };
    if description.starts_with("INDEX ") && !description.starts_with("INDEX ATTACH ") {
        return (Kind::Index { table: table.clone(), bytes: facts.index_bytes }, vec![table]);
    }
    if description.starts_with("FK CONSTRAINT ") {
        return match references.filter(|references| copied.contains(references)) {
            Some(references) => (Kind::ForeignKey, vec![table, references]),
            // A key of a partitioned table is complete only once its partitions'
            // indexes are attached, which pg_dump orders before its foreign keys.
            None => (Kind::Last, Vec::new()),
        };
    }
    if !description.starts_with("CONSTRAINT ") {
        return (Kind::Last, Vec::new());
    }
    let key = match (&facts.index_definition, &facts.constraint_type, &facts.constraint_name, &facts.index_name) {
        (Some(definition), Some(kind), Some(constraint), Some(index)) => {
            let tablespace = pg::literal(facts.tablespace.as_deref().unwrap_or(""));
            let kind = if kind == "p" { "PRIMARY KEY" } else { "UNIQUE" };
            Some(Kind::Key {
                table: table.clone(),
                bytes: facts.index_bytes,
                build: format!("SET default_tablespace = {tablespace};\n{definition};\n"),
                attach: format!(
                    "ALTER TABLE ONLY {table} ADD CONSTRAINT {} {kind} USING INDEX {};\n",
                    pg::ident(constraint),
                    pg::ident(index)
                ),
            })
        }
        _ => None,
    };
    (key.unwrap_or(Kind::TableConstraint { table: table.clone() }), vec![table])
}

/// A build waiting for a free job, largest first.
#[derive(PartialEq, Eq)]
struct Ready {
    bytes: i64,
    index: usize,
}

impl Ord for Ready {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.bytes.cmp(&other.bytes).then(other.index.cmp(&self.index))
    }
}

impl PartialOrd for Ready {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// What a finished job was.
enum Finished {
    /// One of the table's index builds.
    Build(TableName),
    /// The table's attachments and other constraints: it is built.
    Table(TableName),
    ForeignKey,
}

/// Builds the post-data items not done yet as their tables come in (`loaded`).
/// Returns once all are done; if `loaded` closes before saying `Everything`
/// (the copy failed), it starts nothing more and fails once the running ones end.
pub async fn build(
    work: &WorkDir,
    source: &mut PgConnection,
    target: &mut PgConnection,
    options: &Options<'_>,
    copied: &HashSet<TableName>,
    already_loaded: HashSet<TableName>,
    mut loaded: UnboundedReceiver<Loaded>,
) -> anyhow::Result<Outcome> {
    let items = schema::post_data_items(work).await?;
    let planned = classify(source, items, copied).await?;
    let done = schema::done_items(target).await?;
    let keys_built = schema::built_key_indexes(target).await?;
    let planned: Vec<Planned> = planned.into_iter().filter(|planned| !done.contains(&planned.item.toc_id)).collect();
    let total = planned.len();

    let mut tables_loaded = already_loaded;
    let mut everything_loaded = false;
    let mut copy_failed = false;
    // Per table: builds waiting for its rows, builds queued or running, and
    // what finishes it.
    let mut waiting_builds: HashMap<TableName, Vec<usize>> = HashMap::new();
    let mut unfinished_builds: HashMap<TableName, usize> = HashMap::new();
    let mut finishing: HashMap<TableName, Vec<usize>> = HashMap::new();
    let mut foreign_keys: Vec<usize> = Vec::new();
    let mut last: Vec<usize> = Vec::new();
    for (index, planned) in planned.iter().enumerate() {
        match &planned.kind {
            Kind::Index { table, .. } => waiting_builds.entry(table.clone()).or_default().push(index),
            Kind::Key { table, .. } => {
                if !keys_built.contains(&planned.item.toc_id) {
                    waiting_builds.entry(table.clone()).or_default().push(index);
                }
                finishing.entry(table.clone()).or_default().push(index);
            }
            Kind::TableConstraint { table } => finishing.entry(table.clone()).or_default().push(index),
            Kind::ForeignKey => foreign_keys.push(index),
            Kind::Last => last.push(index),
        }
    }
    let mut built: HashSet<TableName> = HashSet::new();
    let mut finishing_started: HashSet<TableName> = HashSet::new();
    let mut ready: BinaryHeap<Ready> = BinaryHeap::new();
    let mut running: FuturesUnordered<BoxFuture<'_, anyhow::Result<Finished>>> = FuturesUnordered::new();
    let mut builds_while_copying = 0;
    let mut builds_held: HashSet<usize> = HashSet::new();
    let mut builds_running = 0;
    let parallel_workers: i32 = sqlx::query_scalar("SELECT current_setting('max_parallel_maintenance_workers')::int")
        .fetch_one(&mut *target)
        .await?;
    let script = |planned: &Planned| ScriptRun { work, options, item: planned.item.clone(), workers: None };

    loop {
        let may_start = |table: &TableName, tables_loaded: &HashSet<TableName>, everything_loaded: bool| {
            tables_loaded.contains(table) && (options.timing == Timing::Overlapped || everything_loaded)
        };
        // Builds of tables that may start now join the queue.
        let startable: Vec<TableName> = waiting_builds
            .keys()
            .filter(|table| may_start(table, &tables_loaded, everything_loaded))
            .cloned()
            .collect();
        for table in startable {
            let builds = waiting_builds.remove(&table).unwrap_or_default();
            *unfinished_builds.entry(table).or_default() += builds.len();
            for index in builds {
                let bytes = match &planned[index].kind {
                    Kind::Index { bytes, .. } | Kind::Key { bytes, .. } => *bytes,
                    _ => 0,
                };
                ready.push(Ready { bytes, index });
            }
        }
        // Tables whose builds are over are finished (attachments, constraints).
        let finishable: Vec<TableName> = copied
            .iter()
            .filter(|table| {
                !built.contains(*table)
                    && !finishing_started.contains(*table)
                    && may_start(table, &tables_loaded, everything_loaded)
                    && !waiting_builds.contains_key(*table)
                    && unfinished_builds.get(*table).copied().unwrap_or(0) == 0
            })
            .cloned()
            .collect();
        for table in finishable {
            let jobs: Vec<usize> = finishing.remove(&table).unwrap_or_default();
            if jobs.is_empty() {
                built.insert(table);
                continue;
            }
            finishing_started.insert(table.clone());
            let runs: Vec<(ScriptRun, Option<String>)> = jobs
                .iter()
                .map(|&index| {
                    let attach = match &planned[index].kind {
                        Kind::Key { attach, .. } => Some(attach.clone()),
                        _ => None,
                    };
                    (script(&planned[index]), attach)
                })
                .collect();
            running.push(Box::pin(async move {
                for (run, attach) in runs {
                    match attach {
                        Some(attach) => run.run_own(&attach, Mark::Done).await?,
                        None => run.restore_as_dumped().await?,
                    }
                }
                Ok(Finished::Table(table))
            }));
        }
        // Foreign keys whose tables are built.
        let (startable_keys, later): (Vec<usize>, Vec<usize>) =
            foreign_keys.iter().partition(|&&index| planned[index].after.iter().all(|table| built.contains(table)));
        foreign_keys = later;
        for index in startable_keys {
            let run = script(&planned[index]);
            running.push(Box::pin(async move {
                run.restore_as_dumped().await?;
                Ok(Finished::ForeignKey)
            }));
        }
        // Index builds, as cores allow (finishing and foreign keys take one too,
        // but are not held back: each is short, and they unblock others).
        let mut held = false;
        while running.len() < options.jobs.max(1) && !ready.is_empty() {
            let busy = if builds_running > 0 {
                let others = running.len() - builds_running;
                cores_in_builds(target, builds_running, parallel_workers).await? + others
            } else {
                running.len()
            };
            let Some(free) = options.jobs.max(1).checked_sub(busy + 1) else {
                held = true;
                builds_held.extend(ready.peek().map(|ready| ready.index));
                break;
            };
            let Some(Ready { index, .. }) = ready.pop() else { break };
            let Some(table) = planned[index].kind.table().cloned() else { continue };
            if !everything_loaded {
                builds_while_copying += 1;
            }
            let workers = free.min(parallel_workers.max(0) as usize);
            let run = ScriptRun { workers: Some(workers), ..script(&planned[index]) };
            let build = match &planned[index].kind {
                Kind::Key { build, .. } => Some(build.clone()),
                _ => None,
            };
            builds_running += 1;
            running.push(Box::pin(async move {
                match build {
                    Some(build) => run.run_own(&build, Mark::KeyIndexBuilt).await?,
                    None => run.restore_as_dumped().await?,
                }
                Ok(Finished::Build(table))
            }));
        }

        let nothing_left =
            ready.is_empty() && foreign_keys.is_empty() && waiting_builds.is_empty() && finishing.is_empty();
        if running.is_empty() && (copy_failed || (everything_loaded && nothing_left)) {
            break;
        }
        tokio::select! {
            message = loaded.recv(), if !everything_loaded && !copy_failed => match message {
                Some(Loaded::Table(table)) => { tables_loaded.insert(table); }
                Some(Loaded::Everything) => {
                    everything_loaded = true;
                    tables_loaded.extend(copied.iter().cloned());
                }
                None => copy_failed = true,
            },
            Some(finished) = running.next(), if !running.is_empty() => {
                match finished? {
                    Finished::Build(table) => {
                        builds_running -= 1;
                        *unfinished_builds.get_mut(&table).expect("counted when queued") -= 1;
                    }
                    Finished::Table(table) => { built.insert(table); }
                    Finished::ForeignKey => {}
                }
            }
            // A held build looks again whether a core has come free.
            () = tokio::time::sleep(PHASE_POLL), if held => {}
            else => anyhow::bail!("post-data items wait for tables that are never built: {foreign_keys:?}"),
        }
    }
    if copy_failed {
        anyhow::bail!("the copy stopped before every row was in");
    }
    for index in last {
        script(&planned[index]).restore_as_dumped().await?;
    }
    Ok(Outcome { items: total, builds_while_copying, builds_held: builds_held.len() })
}

/// How often a held build looks at the running builds' phases.
const PHASE_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// The cores this database's running index builds use now: a build's own
/// backend, plus its parallel workers while it has them. `builds` of them are
/// ours; one not (or no longer) in the progress view is counted as using every
/// worker it may, so that two builds started together do not both go parallel.
/// A build still initializing counts the same (its workers are not launched yet).
async fn cores_in_builds(target: &mut PgConnection, builds: usize, parallel_workers: i32) -> anyhow::Result<usize> {
    let seen: Vec<(String, i64)> = sqlx::query_as(
        "SELECT p.phase, (SELECT count(*) FROM pg_stat_activity w WHERE w.leader_pid = p.pid)
         FROM pg_stat_progress_create_index p
         WHERE p.datid = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .fetch_all(target)
    .await?;
    let whole = 1 + parallel_workers.max(0) as usize;
    let cores: usize = seen
        .iter()
        .map(|(phase, workers)| match phase.as_str() {
            "initializing" => whole,
            _ => 1 + *workers as usize,
        })
        .sum();
    Ok(cores + builds.saturating_sub(seen.len()) * whole)
}

impl Kind {
    fn table(&self) -> Option<&TableName> {
        match self {
            Kind::Index { table, .. } | Kind::Key { table, .. } | Kind::TableConstraint { table } => Some(table),
            Kind::ForeignKey | Kind::Last => None,
        }
    }
}

/// Which mark a script writes with its work.
enum Mark {
    /// A key's index is built (its attachment is still to come).
    KeyIndexBuilt,
    /// The item is done.
    Done,
}

struct ScriptRun<'a> {
    work: &'a WorkDir,
    options: &'a Options<'a>,
    item: Item,
    /// The parallel workers a build may use (other items: the server's setting).
    workers: Option<usize>,
}

impl ScriptRun<'_> {
    /// SQL for the item's session, before its statements.
    fn settings(&self) -> String {
        match self.workers {
            Some(workers) => format!("SET max_parallel_maintenance_workers = {workers};\n"),
            None => String::new(),
        }
    }

    /// The item's statements as pg_dump wrote them, with its mark.
    async fn restore_as_dumped(self) -> anyhow::Result<()> {
        let started = std::time::Instant::now();
        schema::restore_item(self.options.target_url, self.work, self.options.schema, &self.item, &self.settings())
            .await?;
        (self.options.on_done)(&self.item, true, started.elapsed());
        Ok(())
    }

    /// Statements of our own for the item, with a mark.
    async fn run_own(self, sql: &str, mark: Mark) -> anyhow::Result<()> {
        let started = std::time::Instant::now();
        let done = matches!(mark, Mark::Done);
        let mark = match mark {
            Mark::KeyIndexBuilt => schema::key_index_mark(&self.item),
            Mark::Done => schema::done_mark(&self.item),
        };
        let script = format!("{}{sql}{mark}", self.settings());
        schema::run_item_script(self.options.target_url, self.work, &self.item, &script).await?;
        (self.options.on_done)(&self.item, done, started.elapsed());
        Ok(())
    }
}
