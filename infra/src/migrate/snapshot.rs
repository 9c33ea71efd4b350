//! The start of a migration on the source: a publication of every table, a
//! logical replication slot, then one snapshot that the whole copy reads.
//!
//! The slot is created first, so every transaction that commits after its start
//! is in the change stream; the snapshot is taken after, so it sees every
//! transaction that committed before that start. The stream's transactions that
//! the snapshot also sees are the overlap: `follow` skips exactly those
//! (`SnapshotXids::sees`), so nothing is missed and nothing applied twice.
//!
//! The snapshot lives as long as the transaction that exported it. A separate
//! process (`migrate hold-snapshot`) keeps that transaction open, so that a copy
//! killed outright can be run again and continue under the same snapshot. The
//! holder stops when the copy says it is done, when nobody has touched the
//! copy's heartbeat file for `--hold-minutes`, or when its connection ends.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context};
use sqlx::{Connection, PgConnection};

use super::workdir::{Migration, Snapshot, WorkDir};
use crate::pg::{self, Side};

const SNAPSHOT_FILE: &str = "snapshot.json";
const RELEASE_FILE: &str = "snapshot.release";
const HEARTBEAT_FILE: &str = "heartbeat";
const HOLDER_LOG: &str = "snapshot-holder.log";

/// Creates the publication and the slot if this migration has none yet.
pub async fn ensure_slot(source: &mut PgConnection, migration: &mut Migration, work: &WorkDir) -> anyhow::Result<()> {
    let publication_exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)")
            .bind(&migration.publication)
            .fetch_one(&mut *source)
            .await?;
    if !publication_exists {
        create_publication(source, &migration.publication).await?;
    }
    let slot_lsn = loop {
        // A slot still being made by a killed copy's backend has no position yet.
        let slot: Option<Option<String>> =
            sqlx::query_scalar("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1")
                .bind(&migration.slot)
                .fetch_optional(&mut *source)
                .await?;
        match slot {
            Some(Some(lsn)) => break lsn,
            Some(None) => tokio::time::sleep(Duration::from_millis(100)).await,
            None => {
                if migration.snapshot.is_some() {
                    bail!(
                        "the replication slot {} is gone from the source, so the changes made since the copy began \
                         are lost to this migration: start again (`tweetgen-infra migrate clean`, an empty target, \
                         then `migrate copy`)",
                        migration.slot
                    );
                }
                let created =
                    sqlx::query_scalar("SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')")
                        .bind(&migration.slot)
                        .fetch_one(&mut *source)
                        .await;
                match created {
                    Ok(lsn) => break lsn,
                    // Made meanwhile by a killed copy's backend: read it again.
                    Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some("42710") => continue,
                    Err(error) => {
                        return Err(error).with_context(|| format!("creating the replication slot {}", migration.slot))
                    }
                }
            }
        }
    };
    migration.slot_lsn = slot_lsn.parse()?;
    work.save_migration(migration)
}

/// What the change stream carries: every table of the user's schemas, present and
/// future, where the user may (a superuser, PostgreSQL 15 and later: `FOR TABLES IN
/// SCHEMA`); otherwise the tables there are now, and `follow` watches the catalog
/// for new ones. Never this tool's or the control plane's schemas: each database
/// keeps its own. (A superuser on PostgreSQL 13 or 14 gets `FOR ALL TABLES`, whose
/// control-plane changes the follower drops.)
async fn create_publication(source: &mut PgConnection, name: &str) -> anyhow::Result<()> {
    let (superuser, version): (bool, i32) = sqlx::query_as(
        "SELECT rolsuper, current_setting('server_version_num')::int FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(&mut *source)
    .await?;
    let tables = super::catalog::tables(source).await?;
    let statement = if superuser && version >= 150_000 {
        let mut schemas: Vec<String> = tables.iter().map(|table| pg::ident(&table.name.schema)).collect();
        schemas.dedup();
        if schemas.is_empty() {
            schemas.push("public".into());
        }
        format!("CREATE PUBLICATION {} FOR TABLES IN SCHEMA {}", pg::ident(name), schemas.join(", "))
    } else if superuser {
        format!("CREATE PUBLICATION {} FOR ALL TABLES", pg::ident(name))
    } else {
        let names: Vec<String> = tables.iter().map(|table| table.name.to_string()).collect();
        format!("CREATE PUBLICATION {} FOR TABLE {}", pg::ident(name), names.join(", "))
    };
    sqlx::query(&statement).execute(source).await.with_context(|| format!("creating the publication {name}"))?;
    Ok(())
}

/// The copy's snapshot: the one already held for this migration, or a new one
/// from a new holder. `Err` when a copy began under a snapshot that is gone.
pub async fn acquire(
    source_url: &str,
    migration: &mut Migration,
    work: &WorkDir,
    hold_minutes: u64,
    copy_started: bool,
) -> anyhow::Result<Snapshot> {
    touch_heartbeat(work)?;
    if let Some(snapshot) = &migration.snapshot {
        if importable(source_url, &snapshot.name).await? {
            return Ok(snapshot.clone());
        }
        if copy_started {
            bail!(
                "the copy's snapshot is gone (its holder, pid {}, stopped: see {}), and part of the data was copied \
                 under it; parts copied under another snapshot could not be combined exactly with the change stream. \
                 Start again: `tweetgen-infra migrate clean`, empty the target database, then `migrate copy`",
                snapshot.holder_pid,
                work.file(HOLDER_LOG).display()
            );
        }
    }
    // Any holder left by a copy killed before it recorded the snapshot sees its
    // file gone and lets go.
    let _ = std::fs::remove_file(work.file(SNAPSHOT_FILE));
    let _ = std::fs::remove_file(work.file(RELEASE_FILE));
    let holder = spawn_holder(source_url, work, hold_minutes)?;
    let snapshot = wait_for_holder(work, holder).await?;
    migration.snapshot = Some(snapshot.clone());
    work.save_migration(migration)?;
    Ok(snapshot)
}

async fn importable(source_url: &str, name: &str) -> anyhow::Result<bool> {
    let mut probe = pg::connect(Side::Source, source_url).await?;
    let mut transaction = probe.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *transaction).await?;
    Ok(sqlx::query(&format!("SET TRANSACTION SNAPSHOT {}", pg::literal(name))).execute(&mut *transaction).await.is_ok())
}

fn spawn_holder(source_url: &str, work: &WorkDir, hold_minutes: u64) -> anyhow::Result<u32> {
    let log = std::fs::File::create(work.file(HOLDER_LOG))?;
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command
        .args(["migrate", "hold-snapshot", "--work-dir"])
        .arg(work.path())
        .args(["--hold-minutes", &hold_minutes.to_string()])
        .env("TWEETGEN_MIGRATE_SOURCE", source_url)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // Its own session: a terminal's hang-up or Ctrl-C, or a kill of the copy,
    // does not end it.
    unsafe {
        command.pre_exec(|| nix::unistd::setsid().map(drop).map_err(std::io::Error::from));
    }
    let child = command.spawn().context("starting the snapshot holder")?;
    Ok(child.id())
}

async fn wait_for_holder(work: &WorkDir, pid: u32) -> anyhow::Result<Snapshot> {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(bytes) = std::fs::read(work.file(SNAPSHOT_FILE)) {
            return Ok(serde_json::from_slice(&bytes)?);
        }
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok() && !is_zombie(pid);
        if !alive || Instant::now() > deadline {
            let log = std::fs::read_to_string(work.file(HOLDER_LOG)).unwrap_or_default();
            bail!("the snapshot holder did not export a snapshot: {}", log.trim());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| stat.rsplit(')').next().is_some_and(|rest| rest.trim_start().starts_with('Z')))
        .unwrap_or(true)
}

/// The copy's sign of life, touched every second while it runs.
pub fn touch_heartbeat(work: &WorkDir) -> anyhow::Result<()> {
    std::fs::write(work.file(HEARTBEAT_FILE), b"")?;
    Ok(())
}

/// Tells the holder the copy is finished; it ends its transaction.
pub fn release(work: &WorkDir) -> anyhow::Result<()> {
    std::fs::write(work.file(RELEASE_FILE), b"")?;
    Ok(())
}

/// `migrate hold-snapshot`: export a snapshot and keep it until released.
pub async fn hold(source_url: &str, dir: &Path, hold_minutes: u64) -> anyhow::Result<()> {
    let mut source = pg::connect(Side::Source, source_url).await?;
    sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut source).await?;
    let (name, xids) = pg::export_snapshot(&mut source).await?;
    let snapshot = Snapshot { name, xids, holder_pid: std::process::id() };
    let temporary = dir.join(format!("{SNAPSHOT_FILE}.tmp"));
    std::fs::write(&temporary, serde_json::to_vec_pretty(&snapshot)?)?;
    std::fs::rename(&temporary, dir.join(SNAPSHOT_FILE))?;
    eprintln!("holding snapshot {} (xmin {}, at {})", snapshot.name, snapshot.xids.xmin, snapshot.xids.taken_at_lsn);
    let limit = Duration::from_secs(hold_minutes * 60);
    let mut last_probe = Instant::now();
    loop {
        if dir.join(RELEASE_FILE).exists() {
            eprintln!("released: the copy is done");
            return Ok(());
        }
        let current: Option<Snapshot> =
            std::fs::read(dir.join(SNAPSHOT_FILE)).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok());
        if current.is_none_or(|current| current.holder_pid != snapshot.holder_pid) {
            eprintln!("letting go: a newer holder took over");
            return Ok(());
        }
        let idle = std::fs::metadata(dir.join(HEARTBEAT_FILE))
            .and_then(|meta| meta.modified())
            .map(|modified| SystemTime::now().duration_since(modified).unwrap_or_default())
            .unwrap_or(limit);
        if idle >= limit {
            eprintln!("letting go: no copy has run for {} minutes", idle.as_secs() / 60);
            return Ok(());
        }
        if last_probe.elapsed() > Duration::from_secs(5) {
            sqlx::query("SELECT 1").execute(&mut source).await.context("the source connection ended")?;
            last_probe = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
