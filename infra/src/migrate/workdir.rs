//! The work directory: what a migration is (its id, slot, snapshot) and the
//! schema dump, so that every step can be run again and continue. What has been
//! *done* lives in the target (`state.rs`), written in the same transaction as
//! the work itself; the directory only says what to resume.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use nix::fcntl::{Flock, FlockArg};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::pg::{Lsn, SnapshotXids};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Migration {
    /// Random; also stored in the target so that two migrations are never mixed.
    pub id: String,
    /// The source's `system_identifier` and database, so that the directory is
    /// not used against another server by mistake.
    pub source_system: String,
    pub source_database: String,
    pub slot: String,
    pub publication: String,
    /// Where the slot's change stream begins.
    pub slot_lsn: Lsn,
    /// The snapshot the copy reads, once taken.
    pub snapshot: Option<Snapshot>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    /// For `SET TRANSACTION SNAPSHOT`, while its holder lives.
    pub name: String,
    pub xids: SnapshotXids,
    /// The process keeping the snapshot's transaction open.
    pub holder_pid: u32,
}

impl Migration {
    /// The cutover's reverse stream of this migration: from the target back to
    /// the source, starting where both are equal (so it has no snapshot).
    pub fn reversed(&self) -> Migration {
        let name = format!("tweetgen_reverse_{}", self.id);
        Migration {
            id: format!("{}-reverse", self.id),
            source_system: String::new(),
            source_database: String::new(),
            slot: name.clone(),
            publication: name,
            slot_lsn: Lsn::default(),
            snapshot: None,
        }
    }
}

pub struct WorkDir {
    path: PathBuf,
    /// An exclusive lock on `lock`, held for the life of a step that writes, so
    /// that two never run on one directory at once. The kernel drops it when the
    /// process dies, however it dies. Readers (`verify`, `status`) take none.
    _lock: Option<Flock<File>>,
}

const MIGRATION_FILE: &str = "migration.json";
/// The cutover's reverse stream, from its start until a rollback is over.
const REVERSE_FILE: &str = "reverse.json";

impl WorkDir {
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        Self::open_locked(path, "lock")
    }

    /// Locked by its own lock file, for a step that may run beside the migration's
    /// (the cutover, while `follow` runs) but not beside another of its kind.
    pub fn open_locked(path: &Path, lock_name: &str) -> anyhow::Result<Self> {
        fs::create_dir_all(path).with_context(|| format!("creating the work directory {}", path.display()))?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(path.join(lock_name))
            .with_context(|| format!("opening {}/{lock_name}", path.display()))?;
        let lock = Flock::lock(lock, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
            anyhow::anyhow!("another tweetgen-infra step is using {} ({errno}); wait for it or stop it", path.display())
        })?;
        Ok(Self { path: path.to_path_buf(), _lock: Some(lock) })
    }

    /// For steps that write only files of their own (`dns prepare`), alongside
    /// a running step.
    pub fn open_shared_or_create(path: &Path) -> anyhow::Result<Self> {
        fs::create_dir_all(path).with_context(|| format!("creating the work directory {}", path.display()))?;
        Self::open_shared(path)
    }

    /// For steps that only read the directory, alongside a running writer.
    pub fn open_shared(path: &Path) -> anyhow::Result<Self> {
        anyhow::ensure!(
            path.is_dir(),
            "no work directory at {}: run `tweetgen-infra migrate copy` first",
            path.display()
        );
        Ok(Self { path: path.to_path_buf(), _lock: None })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// A JSON file of the directory, if it is there.
    pub fn read_json<T: DeserializeOwned>(&self, name: &str) -> anyhow::Result<Option<T>> {
        let path = self.file(name);
        match fs::read(&path) {
            Ok(bytes) => {
                Ok(Some(serde_json::from_slice(&bytes).with_context(|| format!("reading {}", path.display()))?))
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Removes a file of the directory, if it is there.
    pub fn remove(&self, name: &str) -> anyhow::Result<()> {
        match fs::remove_file(self.file(name)) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error.into()),
            _ => Ok(()),
        }
    }

    pub fn migration(&self) -> anyhow::Result<Option<Migration>> {
        self.read_json(MIGRATION_FILE)
    }

    /// The migration this directory holds, or an error saying which step makes one.
    pub fn existing_migration(&self) -> anyhow::Result<Migration> {
        self.migration()?.with_context(|| {
            format!("{} holds no migration: run `tweetgen-infra migrate copy` first", self.path.display())
        })
    }

    pub fn save_migration(&self, migration: &Migration) -> anyhow::Result<()> {
        self.write_atomically(MIGRATION_FILE, &serde_json::to_vec_pretty(migration)?)
    }

    /// The reverse stream the cutover started here, if one is running.
    pub fn reverse_stream(&self) -> anyhow::Result<Option<Migration>> {
        self.read_json(REVERSE_FILE)
    }

    pub fn save_reverse_stream(&self, reverse: &Migration) -> anyhow::Result<()> {
        self.write_atomically(REVERSE_FILE, &serde_json::to_vec_pretty(reverse)?)
    }

    pub fn forget_reverse_stream(&self) -> anyhow::Result<()> {
        self.remove(REVERSE_FILE)
    }

    /// Writes a file so that a crash leaves either the old or the new contents.
    pub fn write_atomically(&self, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
        let path = self.file(name);
        let temporary = self.file(&format!("{name}.tmp"));
        let mut file = File::create(&temporary).with_context(|| format!("writing {}", temporary.display()))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, &path).with_context(|| format!("writing {}", path.display()))?;
        File::open(&self.path)?.sync_all()?;
        Ok(())
    }
}

/// A random id for a new migration.
pub fn new_id() -> String {
    let bytes: [u8; 6] = rand::random();
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_step_at_a_time_per_directory() {
        let dir = tempfile::tempdir().unwrap();
        let first = WorkDir::open(dir.path()).unwrap();
        let second = WorkDir::open(dir.path()).err().expect("the second opener is refused");
        assert!(second.to_string().contains("another tweetgen-infra step"), "{second}");
        drop(first);
        WorkDir::open(dir.path()).expect("free again");
    }

    #[test]
    fn the_migration_survives_a_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let work = WorkDir::open(dir.path()).unwrap();
        assert!(work.migration().unwrap().is_none());
        assert!(work.existing_migration().unwrap_err().to_string().contains("run `tweetgen-infra migrate copy`"));
        let migration = Migration {
            id: new_id(),
            source_system: "7".into(),
            source_database: "app".into(),
            slot: "s".into(),
            publication: "p".into(),
            slot_lsn: Lsn(42),
            snapshot: None,
        };
        work.save_migration(&migration).unwrap();
        let read = work.existing_migration().unwrap();
        assert_eq!((read.id, read.slot_lsn), (migration.id, Lsn(42)));
    }
}
