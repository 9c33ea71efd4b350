//! What has been done, kept in the target in schema `tweetgen_migrate`, each mark
//! written in the same transaction as the work it records: a part's rows and its
//! "done", a batch of changes and the stream position after it. A step killed at
//! any moment therefore leaves either both or neither, and runs again exactly
//! where it stopped. `clean` drops the schema.

use anyhow::bail;
use sqlx::PgConnection;

use crate::pg::Lsn;

/// Session advisory lock taken by whoever applies the change stream (`follow`,
/// `verify`), so that they take turns and each reads the position the other left.
pub const APPLY_LOCK: i64 = 0x7477_6774_6170_706c;

const CREATE: &str = "
CREATE SCHEMA IF NOT EXISTS tweetgen_migrate;
CREATE TABLE IF NOT EXISTS tweetgen_migrate.migration (
    id         text PRIMARY KEY,
    slot       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS tweetgen_migrate.steps (
    name    text PRIMARY KEY,
    done_at timestamptz NOT NULL DEFAULT now(),
    seconds double precision
);
-- The copy's plan: each table in one or more ranges of its pages.
CREATE TABLE IF NOT EXISTS tweetgen_migrate.parts (
    table_schema text NOT NULL,
    table_name   text NOT NULL,
    part         integer NOT NULL,
    first_page   bigint NOT NULL,
    end_page     bigint,
    estimated_bytes bigint NOT NULL,
    rows         bigint,
    bytes        bigint,
    done_at      timestamptz,
    PRIMARY KEY (table_schema, table_name, part)
);
-- Indexes, constraints, triggers… from pg_dump's post-data section, by TOC id.
CREATE TABLE IF NOT EXISTS tweetgen_migrate.post_data (
    toc_id      integer PRIMARY KEY,
    description text NOT NULL,
    done_at     timestamptz NOT NULL DEFAULT now()
);
-- Primary keys and unique constraints whose index is built but not yet attached.
CREATE TABLE IF NOT EXISTS tweetgen_migrate.key_indexes (
    toc_id      integer PRIMARY KEY
);
-- Everything the source committed before `lsn` is applied. `source_time` is when
-- the source was at that position (a commit's time, or when it was asked).
CREATE TABLE IF NOT EXISTS tweetgen_migrate.applied (
    slot         text PRIMARY KEY,
    lsn          pg_lsn NOT NULL,
    source_time  timestamptz NOT NULL,
    transactions bigint NOT NULL DEFAULT 0,
    changes      bigint NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
";

/// Creates the schema if needed and checks that the target belongs to this
/// migration (or to none yet).
pub async fn prepare(target: &mut PgConnection, migration_id: &str, slot: &str) -> anyhow::Result<()> {
    sqlx::raw_sql(CREATE).execute(&mut *target).await?;
    let existing: Option<String> =
        sqlx::query_scalar("SELECT id FROM tweetgen_migrate.migration").fetch_optional(&mut *target).await?;
    match existing {
        Some(id) if id == migration_id => Ok(()),
        Some(id) => bail!(
            "the target holds migration {id}, not this work directory's {migration_id}: use that migration's work \
             directory, or `tweetgen-infra migrate clean` the target first"
        ),
        None => {
            sqlx::query("INSERT INTO tweetgen_migrate.migration (id, slot) VALUES ($1, $2)")
                .bind(migration_id)
                .bind(slot)
                .execute(target)
                .await?;
            Ok(())
        }
    }
}

pub async fn step_done(target: &mut PgConnection, name: &str) -> anyhow::Result<bool> {
    Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tweetgen_migrate.steps WHERE name = $1)")
        .bind(name)
        .fetch_one(target)
        .await?)
}

pub async fn mark_step(target: &mut PgConnection, name: &str, seconds: f64) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO tweetgen_migrate.steps (name, seconds) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(seconds)
        .execute(target)
        .await?;
    Ok(())
}

/// The SQL that marks a step done, for scripts that run in their own transaction.
pub fn mark_step_sql(name: &str) -> String {
    format!("INSERT INTO tweetgen_migrate.steps (name) VALUES ({});\n", crate::pg::literal(name))
}

/// The change stream's applied position.
#[derive(Clone, Debug)]
pub struct Applied {
    pub lsn: Lsn,
    /// Seconds since the Unix epoch.
    pub source_time: f64,
    pub transactions: i64,
    pub changes: i64,
}

pub async fn applied(target: &mut PgConnection, slot: &str) -> anyhow::Result<Option<Applied>> {
    let row: Option<(String, f64, i64, i64)> = sqlx::query_as(
        "SELECT lsn::text, extract(epoch FROM source_time)::float8, transactions, changes
         FROM tweetgen_migrate.applied WHERE slot = $1",
    )
    .bind(slot)
    .fetch_optional(target)
    .await?;
    row.map(|(lsn, source_time, transactions, changes)| {
        Ok(Applied { lsn: lsn.parse()?, source_time, transactions, changes })
    })
    .transpose()
}

/// Records the applied position; called inside the transaction that applied it.
pub async fn save_applied(target: &mut PgConnection, slot: &str, applied: &Applied) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO tweetgen_migrate.applied (slot, lsn, source_time, transactions, changes)
         VALUES ($1, $2::pg_lsn, to_timestamp($3), $4, $5)
         ON CONFLICT (slot) DO UPDATE SET lsn = excluded.lsn, source_time = excluded.source_time,
             transactions = excluded.transactions, changes = excluded.changes, updated_at = now()",
    )
    .bind(slot)
    .bind(applied.lsn.to_string())
    .bind(applied.source_time)
    .bind(applied.transactions)
    .bind(applied.changes)
    .execute(target)
    .await?;
    Ok(())
}

/// Records a verify that found source and target equal (the cutover wants a recent one).
pub async fn record_verified(target: &mut PgConnection, migration_id: &str) -> anyhow::Result<()> {
    prepare_existing(target, migration_id).await?;
    sqlx::query(
        "INSERT INTO tweetgen_migrate.steps (name) VALUES ('verified')
         ON CONFLICT (name) DO UPDATE SET done_at = now()",
    )
    .execute(target)
    .await?;
    Ok(())
}

async fn prepare_existing(target: &mut PgConnection, migration_id: &str) -> anyhow::Result<()> {
    let id: Option<String> =
        sqlx::query_scalar("SELECT id FROM tweetgen_migrate.migration").fetch_optional(&mut *target).await?;
    anyhow::ensure!(id.as_deref() == Some(migration_id), "the target does not hold migration {migration_id}");
    Ok(())
}

/// Drops this tool's state from a database, if it is `migration_id`'s (a
/// reverse stream's, on the source, once a rollback is over).
pub async fn drop_if_holding(connection: &mut PgConnection, migration_id: &str) -> anyhow::Result<()> {
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('tweetgen_migrate.migration') IS NOT NULL")
        .fetch_one(&mut *connection)
        .await?;
    if !exists {
        return Ok(());
    }
    let holder: Option<String> =
        sqlx::query_scalar("SELECT id FROM tweetgen_migrate.migration").fetch_optional(&mut *connection).await?;
    if holder.as_deref() == Some(migration_id) {
        sqlx::query("DROP SCHEMA tweetgen_migrate CASCADE").execute(connection).await?;
    }
    Ok(())
}

/// A running follower's sign of life (also on a quiet source, where nothing moves).
pub async fn heartbeat(target: &mut PgConnection, slot: &str) -> anyhow::Result<()> {
    sqlx::query("UPDATE tweetgen_migrate.applied SET updated_at = now() WHERE slot = $1")
        .bind(slot)
        .execute(target)
        .await?;
    Ok(())
}

/// Records the starting position unless one is recorded (by this or another applier).
pub async fn ensure_applied(target: &mut PgConnection, slot: &str, applied: &Applied) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO tweetgen_migrate.applied (slot, lsn, source_time) VALUES ($1, $2::pg_lsn, to_timestamp($3))
         ON CONFLICT (slot) DO NOTHING",
    )
    .bind(slot)
    .bind(applied.lsn.to_string())
    .bind(applied.source_time)
    .execute(target)
    .await?;
    Ok(())
}
