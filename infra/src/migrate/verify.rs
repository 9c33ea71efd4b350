//! `migrate verify`: are source and target equal, table by table, at one
//! consistent point?
//!
//! The point: with the apply lock held (a running `follow` pauses), verify takes
//! a snapshot of the source, applies the change stream up to exactly what that
//! snapshot sees, and takes a snapshot of the target; then lets go. Both sides
//! are read under their snapshot by parallel workers, so writes that go on
//! meanwhile do not show as differences.
//!
//! Per table, the rows are split into ranges of the primary key (boundaries
//! sampled with TABLESAMPLE), and each range compared by row count and the sum of
//! a 64-bit hash of every row's text. A range that differs is read again row by
//! row, and the differing rows are printed by key.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::TryStreamExt;
use sqlx::{PgConnection, Row};

use super::follow::Follower;
use super::progress::Progress;
use super::workdir::Migration;
use crate::pg::{self, ident, Side, TableName};

pub struct Options {
    pub source_url: String,
    pub target_url: String,
    pub jobs: usize,
    /// About this many rows per range.
    pub range_rows: i64,
    /// At most this many differing rows printed per table.
    pub show_rows: usize,
}

#[derive(Debug, serde::Serialize)]
pub struct TableResult {
    pub table: String,
    pub source_rows: i64,
    pub target_rows: i64,
    pub ranges: usize,
    pub differing_ranges: Vec<String>,
    pub differing_rows: Vec<String>,
}

impl TableResult {
    pub fn equal(&self) -> bool {
        self.differing_ranges.is_empty() && self.source_rows == self.target_rows
    }
}

struct VerifyTable {
    name: TableName,
    columns: Vec<String>,
    /// (column, type) of the primary key; empty: compare the table as a whole.
    key: Vec<(String, String)>,
    estimated_rows: f64,
}

/// A range of the key: `[lower, upper)`, each bound a key value as text; `None`
/// is unbounded.
#[derive(Clone, Debug)]
struct Range {
    lower: Option<Vec<String>>,
    upper: Option<Vec<String>>,
}

pub async fn run(
    migration: Option<Migration>,
    options: &Options,
    progress: &Progress,
) -> anyhow::Result<Vec<TableResult>> {
    let started = Instant::now();
    let mut source = pg::connect(Side::Source, &options.source_url).await?;
    let mut target = pg::connect(Side::Target, &options.target_url).await?;
    let (source_snapshot, target_snapshot) = match migration {
        Some(migration) => {
            let mut follower = Follower::connect(migration, &options.source_url, &options.target_url).await?;
            consistent_point(&mut follower, &mut source, &mut target, progress).await?
        }
        None => {
            progress.line(
                "WARNING: no migration in the work directory: comparing source and target as they are now; writes \
                 made meanwhile show as differences",
            );
            (begin_exported(&mut source).await?, begin_exported(&mut target).await?)
        }
    };
    let tables = tables(&mut source).await?;
    let mut tasks = Vec::new();
    for table in &tables {
        for range in ranges(&mut source, table, options.range_rows).await? {
            tasks.push((table, range));
        }
    }
    progress.line(format!("comparing {} tables in {} ranges, {} at a time", tables.len(), tasks.len(), options.jobs));
    let bar = progress.count_bar(tasks.len() as u64, "verify");
    let results: Arc<Mutex<HashMap<TableName, TableResult>>> = Arc::new(Mutex::new(
        tables
            .iter()
            .map(|table| {
                let result = TableResult {
                    table: table.name.to_string(),
                    source_rows: 0,
                    target_rows: 0,
                    ranges: 0,
                    differing_ranges: Vec::new(),
                    differing_rows: Vec::new(),
                };
                (table.name.clone(), result)
            })
            .collect(),
    ));
    let queue = Arc::new(Mutex::new(tasks));
    let workers = (0..options.jobs.max(1)).map(|_| {
        let queue = queue.clone();
        let results = results.clone();
        let bar = bar.clone();
        let (source_snapshot, target_snapshot) = (source_snapshot.clone(), target_snapshot.clone());
        async move {
            let mut source = connect_at(Side::Source, &options.source_url, &source_snapshot).await?;
            let mut target = connect_at(Side::Target, &options.target_url, &target_snapshot).await?;
            loop {
                let Some((table, range)) = queue.lock().expect("queue lock").pop() else { break };
                let (source_sum, target_sum) =
                    tokio::try_join!(checksum(&mut source, table, &range), checksum(&mut target, table, &range))?;
                let differing = if source_sum == target_sum {
                    None
                } else {
                    Some(differing_rows(&mut source, &mut target, table, &range, options.show_rows).await?)
                };
                let mut results = results.lock().expect("results lock");
                let result = results.get_mut(&table.name).expect("a result per table");
                result.ranges += 1;
                result.source_rows += source_sum.0;
                result.target_rows += target_sum.0;
                if let Some(rows) = differing {
                    result.differing_ranges.push(describe(table, &range));
                    let room = options.show_rows.saturating_sub(result.differing_rows.len());
                    result.differing_rows.extend(rows.into_iter().take(room));
                }
                bar.inc(1);
            }
            anyhow::Ok(())
        }
    });
    futures_util::future::try_join_all(workers).await?;
    bar.finish_and_clear();
    drop(source);
    drop(target);
    let mut results: Vec<TableResult> = Arc::try_unwrap(results)
        .map_err(|_| ())
        .expect("workers done")
        .into_inner()
        .expect("results")
        .into_values()
        .collect();
    results.sort_by(|a, b| a.table.cmp(&b.table));
    progress.line(format!("compared in {:.2} s", started.elapsed().as_secs_f64()));
    Ok(results)
}

/// Brings the target to exactly what a new source snapshot sees, and snapshots
/// both; the returned names stay importable while `source` and `target` are open.
async fn consistent_point(
    follower: &mut Follower,
    source: &mut PgConnection,
    target: &mut PgConnection,
    progress: &Progress,
) -> anyhow::Result<(String, String)> {
    follower.lock().await?;
    let result = async {
        // A commit is in the WAL (and so may have been applied) a moment before
        // other sessions see it; let any such moment pass before the snapshot.
        tokio::time::sleep(Duration::from_millis(100)).await;
        for attempt in 1.. {
            sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *source).await?;
            let (name, xids) = pg::export_snapshot(source).await?;
            if follower.source_position().await?.flush < xids.taken_at_lsn {
                follower.flush_source_wal().await?;
            }
            let pass = follower.pass(Some(xids.taken_at_lsn), Some(&xids)).await?;
            if pass.race {
                sqlx::query("ROLLBACK").execute(&mut *source).await?;
                anyhow::ensure!(attempt < 100, "no consistent point found in 100 attempts");
                continue;
            }
            progress.line(format!(
                "consistent point: source at {} ({} transactions applied to reach it)",
                xids.taken_at_lsn, pass.transactions
            ));
            return Ok((name, begin_exported(target).await?));
        }
        unreachable!()
    }
    .await;
    follower.unlock().await?;
    result
}

async fn begin_exported(connection: &mut PgConnection) -> anyhow::Result<String> {
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *connection).await?;
    Ok(sqlx::query_scalar("SELECT pg_export_snapshot()").fetch_one(connection).await?)
}

async fn connect_at(side: Side, url: &str, snapshot: &str) -> anyhow::Result<PgConnection> {
    let mut connection = pg::connect(side, url).await?;
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut connection).await?;
    sqlx::query(&format!("SET TRANSACTION SNAPSHOT {}", pg::literal(snapshot)))
        .execute(&mut connection)
        .await
        .with_context(|| format!("importing the {side}'s snapshot"))?;
    Ok(connection)
}

async fn tables(source: &mut PgConnection) -> anyhow::Result<Vec<VerifyTable>> {
    let mut out = Vec::new();
    for table in super::catalog::tables(source).await? {
        let key: Vec<(String, String)> = sqlx::query_as(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod)
             FROM pg_index i JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, position) ON true
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
             WHERE i.indrelid = $1::regclass AND i.indisprimary ORDER BY k.position",
        )
        .bind(table.name.to_string())
        .fetch_all(&mut *source)
        .await?;
        let (columns, estimated_rows): (Vec<String>, f32) = sqlx::query_as(
            "SELECT ARRAY(SELECT attname::text FROM pg_attribute
                          WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attname),
                    reltuples FROM pg_class WHERE oid = $1::regclass",
        )
        .bind(table.name.to_string())
        .fetch_one(&mut *source)
        .await?;
        out.push(VerifyTable { name: table.name, columns, key, estimated_rows: f64::from(estimated_rows) });
    }
    Ok(out)
}

/// Ranges of about `range_rows` rows, from a sample of the key.
async fn ranges(source: &mut PgConnection, table: &VerifyTable, range_rows: i64) -> anyhow::Result<Vec<Range>> {
    let wanted = (table.estimated_rows / range_rows as f64).ceil() as i64;
    if table.key.is_empty() || wanted <= 1 {
        return Ok(vec![Range { lower: None, upper: None }]);
    }
    // About 50 sampled keys per range make even boundaries.
    let percent = (100.0 * 50.0 * wanted as f64 / table.estimated_rows).min(100.0);
    // Ordered by the key's own type (by the qualified column: the bare name would
    // be the output column, the text).
    let sample: Vec<Vec<String>> = sqlx::query(&format!(
        "SELECT {} FROM {} AS s TABLESAMPLE SYSTEM ({percent}) ORDER BY {}",
        key_texts(table),
        table.name,
        key_columns(table, "s.")
    ))
    .fetch_all(source)
    .await?
    .iter()
    .map(|row| (0..table.key.len()).map(|i| row.get::<String, _>(i)).collect())
    .collect();
    let step = (sample.len() / wanted as usize).max(1);
    let mut bounds: Vec<Vec<String>> = sample.into_iter().step_by(step).skip(1).collect();
    bounds.dedup();
    let mut ranges = Vec::with_capacity(bounds.len() + 1);
    let mut lower = None;
    for bound in bounds {
        ranges.push(Range { lower: lower.clone(), upper: Some(bound.clone()) });
        lower = Some(bound);
    }
    ranges.push(Range { lower, upper: None });
    Ok(ranges)
}

fn key_columns(table: &VerifyTable, prefix: &str) -> String {
    table.key.iter().map(|(column, _)| format!("{prefix}{}", ident(column))).collect::<Vec<_>>().join(", ")
}

fn key_texts(table: &VerifyTable) -> String {
    table.key.iter().map(|(column, _)| format!("{}::text", ident(column))).collect::<Vec<_>>().join(", ")
}

/// `(k1, k2) >= ($1::t1, $2::t2) AND (k1, k2) < ($3::t1, $4::t2)`, and its values.
fn range_filter(table: &VerifyTable, range: &Range) -> (String, Vec<String>) {
    let mut clauses = Vec::new();
    let mut values = Vec::new();
    for (operator, bound) in [(">=", &range.lower), ("<", &range.upper)] {
        if let Some(bound) = bound {
            let placeholders: Vec<String> =
                table.key.iter().enumerate().map(|(i, (_, ty))| format!("${}::{ty}", values.len() + i + 1)).collect();
            clauses.push(format!("({}) {operator} ({})", key_columns(table, ""), placeholders.join(", ")));
            values.extend(bound.iter().cloned());
        }
    }
    let filter = if clauses.is_empty() { "true".to_string() } else { clauses.join(" AND ") };
    (filter, values)
}

/// The text of a whole row, columns in name order (the same on both sides
/// whatever their physical order).
fn row_text(table: &VerifyTable) -> String {
    let columns: Vec<String> = table.columns.iter().map(|column| ident(column)).collect();
    if columns.len() == 1 {
        format!("ROW({})::text", columns[0])
    } else {
        format!("({})::text", columns.join(", "))
    }
}

/// Row count and the sum of each row's 64-bit hash.
async fn checksum(connection: &mut PgConnection, table: &VerifyTable, range: &Range) -> anyhow::Result<(i64, String)> {
    let (filter, values) = range_filter(table, range);
    let sql = format!(
        "SELECT count(*), coalesce(sum(('x' || left(md5({}), 16))::bit(64)::bigint::numeric), 0)::text
         FROM ONLY {} WHERE {filter}",
        row_text(table),
        table.name
    );
    let mut query = sqlx::query_as(&sql);
    for value in values {
        query = query.bind(value);
    }
    query.fetch_one(connection).await.with_context(|| format!("checksumming {}", table.name))
}

/// The rows of a range that differ, by key (or, without a key, by row hash).
async fn differing_rows(
    source: &mut PgConnection,
    target: &mut PgConnection,
    table: &VerifyTable,
    range: &Range,
    limit: usize,
) -> anyhow::Result<Vec<String>> {
    let (source_rows, target_rows) =
        tokio::try_join!(row_hashes(source, table, range), row_hashes(target, table, range))?;
    let mut differences = Vec::new();
    for (key, (hash, count)) in &source_rows {
        match target_rows.get(key) {
            None => differences.push(format!("missing on the target: {key}")),
            Some((target_hash, target_count)) if target_hash != hash || target_count != count => {
                differences.push(format!("different: {key}"))
            }
            Some(_) => {}
        }
    }
    for key in target_rows.keys().filter(|key| !source_rows.contains_key(*key)) {
        differences.push(format!("only on the target: {key}"));
    }
    differences.sort();
    differences.truncate(limit);
    Ok(differences)
}

/// Key text → (row hash, how many rows have it).
async fn row_hashes(
    connection: &mut PgConnection,
    table: &VerifyTable,
    range: &Range,
) -> anyhow::Result<HashMap<String, (String, i64)>> {
    let (filter, values) = range_filter(table, range);
    let key = if table.key.is_empty() {
        "md5(".to_string() + &row_text(table) + ")"
    } else {
        let pairs: Vec<String> = table
            .key
            .iter()
            .map(|(column, _)| format!("{} || '=' || coalesce({}::text, 'NULL')", pg::literal(column), ident(column)))
            .collect();
        pairs.join(" || ', ' || ")
    };
    let sql = format!(
        "SELECT {key}, md5({}), count(*) FROM ONLY {} WHERE {filter} GROUP BY 1, 2",
        row_text(table),
        table.name
    );
    let mut query = sqlx::query_as::<_, (String, String, i64)>(&sql);
    for value in values {
        query = query.bind(value);
    }
    let mut rows = query.fetch(connection);
    let mut hashes = HashMap::new();
    while let Some((key, hash, count)) = rows.try_next().await? {
        hashes.insert(if table.key.is_empty() { format!("row with md5 {key}") } else { key }, (hash, count));
    }
    Ok(hashes)
}

fn describe(table: &VerifyTable, range: &Range) -> String {
    let bound = |bound: &Option<Vec<String>>| match bound {
        Some(values) => format!("({})", values.join(", ")),
        None => "…".to_string(),
    };
    if table.key.is_empty() {
        "the whole table".to_string()
    } else {
        format!("({}) from {} to {}", key_columns(table, ""), bound(&range.lower), bound(&range.upper))
    }
}

/// The results as a table; `true` when every table is equal.
pub fn report(results: &[TableResult]) -> (String, bool) {
    let checks: Vec<crate::report::Check> = results
        .iter()
        .map(|result| {
            let detail = format!(
                "{} rows on the source, {} on the target, {} ranges",
                result.source_rows, result.target_rows, result.ranges
            );
            if result.equal() {
                crate::report::Check::ok(&result.table, detail)
            } else {
                let mut lines = vec![format!(
                    "{} differing: {}",
                    result.differing_ranges.len(),
                    result.differing_ranges.join("; ")
                )];
                lines.extend(result.differing_rows.iter().cloned());
                crate::report::Check::fail(
                    &result.table,
                    format!("{detail}; {}", lines.join("; ")),
                    "see the rows above",
                )
            }
        })
        .collect();
    let equal = results.iter().all(TableResult::equal);
    (crate::report::table(&checks), equal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(key: &[(&str, &str)]) -> VerifyTable {
        VerifyTable {
            name: TableName::new("public", "t"),
            columns: vec!["a".into(), "b".into()],
            key: key.iter().map(|(c, t)| (c.to_string(), t.to_string())).collect(),
            estimated_rows: 0.0,
        }
    }

    #[test]
    fn ranges_become_row_comparisons_on_the_key() {
        let table = table(&[("a", "bigint"), ("order", "text")]);
        let range = Range { lower: Some(vec!["1".into(), "x".into()]), upper: Some(vec!["5".into(), "y".into()]) };
        let (filter, values) = range_filter(&table, &range);
        assert_eq!(filter, "(a, \"order\") >= ($1::bigint, $2::text) AND (a, \"order\") < ($3::bigint, $4::text)");
        assert_eq!(values, ["1", "x", "5", "y"]);
        let (filter, values) = range_filter(&table, &Range { lower: None, upper: None });
        assert_eq!((filter.as_str(), values.len()), ("true", 0));
        assert_eq!(row_text(&table), "(a, b)::text");
    }
}
