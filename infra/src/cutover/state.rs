//! What the cutover and its rollback have done, in the work directory
//! (`cutover.json`, `rollback.json`), written after each step so that either
//! command, run again, continues where it stopped. What the servers do is never
//! kept here: that is in the databases' control records.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::Step;
use crate::dns::Record;
use crate::migrate::workdir::WorkDir;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CutoverState {
    done: Vec<Done<Step>>,
    /// The name's records before the flip, to put back on rollback.
    pub dns_before: Option<Vec<Record>>,
    /// When the commit step began (RFC 3339): from then on the target may hold
    /// writes the source never saw.
    pub committed_at: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Done<S> {
    step: S,
    at: String,
    seconds: f64,
}

fn load<T: DeserializeOwned + Default>(work: &WorkDir, file: &str) -> anyhow::Result<T> {
    match std::fs::read(work.file(file)) {
        Ok(bytes) => Ok(serde_json::from_slice(&bytes)?),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(T::default()),
        Err(error) => Err(error.into()),
    }
}

fn done<S: Copy>(step: S, seconds: f64) -> Done<S> {
    Done { step, at: super::stamp(), seconds }
}

impl CutoverState {
    const FILE: &'static str = "cutover.json";

    pub fn load(work: &WorkDir) -> anyhow::Result<Self> {
        load(work, Self::FILE)
    }

    pub fn save(&self, work: &WorkDir) -> anyhow::Result<()> {
        work.write_atomically(Self::FILE, &serde_json::to_vec_pretty(self)?)
    }

    /// Forgets the cutover (after a rollback): `cutover` may be run again.
    pub fn remove(work: &WorkDir) -> anyhow::Result<()> {
        remove(work, Self::FILE)
    }

    pub fn is_done(&self, step: Step) -> bool {
        self.done.iter().any(|done| done.step == step)
    }

    pub fn mark_done(&mut self, step: Step, seconds: f64) {
        self.done.push(done(step, seconds));
    }

    pub fn last_done(&self) -> Option<Step> {
        self.done.last().map(|done| done.step)
    }
}

fn remove(work: &WorkDir, file: &str) -> anyhow::Result<()> {
    match std::fs::remove_file(work.file(file)) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(error.into()),
        _ => Ok(()),
    }
}

/// A rollback's steps (see `rollback.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RollbackStep {
    FenceTarget,
    ReverseCatchUp,
    SequencesBack,
    TargetBack,
    OpenSource,
    DnsBack,
    ConfirmSource,
    DropReverse,
}

impl RollbackStep {
    pub fn name(self) -> &'static str {
        match self {
            RollbackStep::FenceTarget => "fence-target",
            RollbackStep::ReverseCatchUp => "reverse-catch-up",
            RollbackStep::SequencesBack => "sequences-back",
            RollbackStep::TargetBack => "target-back",
            RollbackStep::OpenSource => "open-source",
            RollbackStep::DnsBack => "dns-back",
            RollbackStep::ConfirmSource => "confirm-source",
            RollbackStep::DropReverse => "drop-reverse",
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct RollbackState {
    /// Decided when the rollback began, kept so that a second run goes on the same way.
    pub after_commit: Option<bool>,
    done: Vec<Done<RollbackStep>>,
}

impl RollbackState {
    const FILE: &'static str = "rollback.json";

    pub fn load(work: &WorkDir) -> anyhow::Result<Self> {
        load(work, Self::FILE)
    }

    pub fn save(&self, work: &WorkDir) -> anyhow::Result<()> {
        work.write_atomically(Self::FILE, &serde_json::to_vec_pretty(self)?)
    }

    pub fn remove(work: &WorkDir) -> anyhow::Result<()> {
        remove(work, Self::FILE)
    }

    pub fn is_done(&self, step: RollbackStep) -> bool {
        self.done.iter().any(|done| done.step == step)
    }

    pub fn mark_done(&mut self, step: RollbackStep, seconds: f64) {
        self.done.push(done(step, seconds));
    }
}
