//! What the cutover and its rollback have done, in the work directory
//! (`cutover.json`, `rollback.json`), written after each step so that either
//! command, run again, continues where it stopped. What the servers do is never
//! kept here: that is in the databases' control records.

use serde::{de::DeserializeOwned, Deserialize, Serialize};

use super::Step;
use crate::dns::Record;
use crate::migrate::workdir::WorkDir;

/// A state file of the work directory.
pub trait StateFile: Serialize + DeserializeOwned + Default {
    const FILE: &'static str;

    fn load(work: &WorkDir) -> anyhow::Result<Self> {
        Ok(work.read_json(Self::FILE)?.unwrap_or_default())
    }

    fn save(&self, work: &WorkDir) -> anyhow::Result<()> {
        work.write_atomically(Self::FILE, &serde_json::to_vec_pretty(self)?)
    }

    /// Forgets it (after a rollback: `cutover` may be run again).
    fn remove(work: &WorkDir) -> anyhow::Result<()> {
        work.remove(Self::FILE)
    }
}

/// The steps done so far, in order, with when and how long.
#[derive(Debug, Serialize, Deserialize)]
#[serde(bound(serialize = "S: Serialize", deserialize = "S: DeserializeOwned"))]
pub struct Steps<S> {
    done: Vec<Done<S>>,
}

impl<S> Default for Steps<S> {
    fn default() -> Self {
        Self { done: Vec::new() }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Done<S> {
    step: S,
    at: String,
    seconds: f64,
}

impl<S: Copy + PartialEq> Steps<S> {
    pub fn is_done(&self, step: S) -> bool {
        self.done.iter().any(|done| done.step == step)
    }

    pub fn mark_done(&mut self, step: S, seconds: f64) {
        self.done.push(Done { step, at: super::stamp(), seconds });
    }

    pub fn last(&self) -> Option<S> {
        self.done.last().map(|done| done.step)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CutoverState {
    pub steps: Steps<Step>,
    /// The name's records before the flip, to put back on rollback.
    pub dns_before: Option<Vec<Record>>,
    /// When the commit step began (RFC 3339): from then on the target may hold
    /// writes the source never saw.
    pub committed_at: Option<String>,
}

impl StateFile for CutoverState {
    const FILE: &'static str = "cutover.json";
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
    pub steps: Steps<RollbackStep>,
}

impl StateFile for RollbackState {
    const FILE: &'static str = "rollback.json";
}
