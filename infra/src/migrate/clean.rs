//! `migrate clean`: drops what a migration left on both sides — the slot (which
//! otherwise keeps the source's WAL forever), the publication, the target's
//! `tweetgen_migrate` schema — and the work directory's files.

use super::workdir::WorkDir;
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
    if let (Some(url), Some(migration)) = (source_url, &migration) {
        let mut source = pg::connect(Side::Source, url).await?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)")
                .bind(&migration.slot)
                .fetch_one(&mut source)
                .await?;
        if exists {
            sqlx::query("SELECT pg_drop_replication_slot($1)")
                .bind(&migration.slot)
                .execute(&mut source)
                .await
                .map_err(|error| {
                    anyhow::anyhow!(
                        "dropping the slot {} (is `migrate follow` still running?): {error}",
                        migration.slot
                    )
                })?;
            done.push(format!("dropped the replication slot {} on the source", migration.slot));
        }
        sqlx::query(&format!("DROP PUBLICATION IF EXISTS {}", pg::ident(&migration.publication)))
            .execute(&mut source)
            .await?;
        done.push(format!("dropped the publication {} on the source", migration.publication));
    }
    if let Some(url) = target_url {
        let mut target = pg::connect(Side::Target, url).await?;
        sqlx::query("DROP SCHEMA IF EXISTS tweetgen_migrate CASCADE").execute(&mut target).await?;
        done.push("dropped schema tweetgen_migrate on the target".into());
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
