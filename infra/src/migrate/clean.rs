//! `migrate clean`: drops what a migration left on both sides, in both
//! directions — the slots (which otherwise keep WAL forever), the publications,
//! the replication origins, this tool's `tweetgen_migrate` schema — and the work
//! directory's files. The control records stay: the servers live by them.

use sqlx::PgConnection;

use super::workdir::{Migration, WorkDir};
use crate::pg::{self, Side};

pub async fn run(work: &WorkDir, source_url: Option<&str>, target_url: Option<&str>) -> anyhow::Result<Vec<String>> {
    let mut done = Vec::new();
    let migration = work.migration()?;
    if let Some(snapshot) = migration.as_ref().and_then(|migration| migration.snapshot.as_ref()) {
        super::snapshot::release(work)?;
        let pid = nix::unistd::Pid::from_raw(snapshot.holder_pid as i32);
        if nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).is_ok() {
            done.push(format!("stopped the snapshot holder (pid {})", snapshot.holder_pid));
        }
    }
    if let Some(migration) = &migration {
        let reverse = migration.reversed();
        // Each side holds one direction's stream and the other's applier state.
        if let Some(url) = source_url {
            let mut source = pg::connect(Side::Source, url).await?;
            drop_stream(&mut source, migration, "source", &mut done).await?;
            drop_applier_state(&mut source, &reverse, "source", &mut done).await?;
        }
        if let Some(url) = target_url {
            let mut target = pg::connect(Side::Target, url).await?;
            drop_stream(&mut target, &reverse, "target", &mut done).await?;
            drop_applier_state(&mut target, migration, "target", &mut done).await?;
        }
    }
    for entry in std::fs::read_dir(work.path())? {
        let entry = entry?;
        if !entry.file_name().to_string_lossy().ends_with("lock") {
            std::fs::remove_file(entry.path())?;
        }
    }
    done.push(format!("emptied {}", work.path().display()));
    Ok(done)
}

/// The slot and publication that `stream` reads from this database.
async fn drop_stream(
    connection: &mut PgConnection,
    stream: &Migration,
    side: &str,
    done: &mut Vec<String>,
) -> anyhow::Result<()> {
    let dropped: Option<bool> = sqlx::query_scalar(
        "SELECT pg_drop_replication_slot(slot_name) IS NULL FROM pg_replication_slots WHERE slot_name = $1",
    )
    .bind(&stream.slot)
    .fetch_optional(&mut *connection)
    .await
    .map_err(|error| {
        anyhow::anyhow!("dropping the slot {} (is `migrate follow` still running?): {error}", stream.slot)
    })?;
    if dropped.is_some() {
        done.push(format!("dropped the replication slot {} on the {side}", stream.slot));
    }
    sqlx::query(&format!("DROP PUBLICATION IF EXISTS {}", pg::ident(&stream.publication)))
        .execute(&mut *connection)
        .await?;
    done.push(format!("dropped the publication {} on the {side}", stream.publication));
    Ok(())
}

/// What `stream`'s applier keeps in this database: its origin and its state.
async fn drop_applier_state(
    connection: &mut PgConnection,
    stream: &Migration,
    side: &str,
    done: &mut Vec<String>,
) -> anyhow::Result<()> {
    sqlx::query("SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin WHERE roname = $1")
        .bind(&stream.slot)
        .execute(&mut *connection)
        .await?;
    super::state::drop_if_holding(connection, &stream.id).await?;
    done.push(format!("dropped {}'s applier state on the {side}", stream.slot));
    Ok(())
}
