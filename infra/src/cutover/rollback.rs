//! `cutover rollback`: everything back on the source, from wherever the cutover
//! stopped, losing nothing.
//!
//! Before the commit point the target took no write (its record said replica or
//! fenced, and the database refused anything else): its record goes back to
//! replica, the source's to serving, and the servers' held writes proceed there.
//!
//! After it, the target may hold writes the source never saw. The target is
//! fenced like the source was (servers hold writes, the database ends the
//! sessions that could write); the reverse stream, started at the fenced moment
//! of the cutover, brings what the target took into the source; sequences move
//! back ahead of their columns; the source serves; the target's record sends its
//! servers to the source; the name goes back; every server is confirmed on the
//! source. Which of the two a rollback is, is decided when it begins (from the
//! records themselves, and the cutover's own notes) and kept, so that a rollback
//! run again after a failure goes on the same way.

use std::time::Instant;

use tweetgen_control::{self as control, State};

use super::state::{CutoverState, RollbackState, RollbackStep, StateFile};
use super::{fence, log, presence, reverse, Plan, BY};
use crate::dns;
use crate::migrate::progress::{self, Row};
use crate::migrate::workdir::WorkDir;
use crate::pg::{self, Side};

const BEFORE_COMMIT: [RollbackStep; 4] =
    [RollbackStep::TargetBack, RollbackStep::OpenSource, RollbackStep::DropReverse, RollbackStep::ConfirmSource];

const AFTER_COMMIT: [RollbackStep; 8] = [
    RollbackStep::FenceTarget,
    RollbackStep::ReverseCatchUp,
    RollbackStep::SequencesBack,
    RollbackStep::OpenSource,
    RollbackStep::TargetBack,
    RollbackStep::DnsBack,
    RollbackStep::ConfirmSource,
    RollbackStep::DropReverse,
];

/// Runs the rollback's steps not done yet; returns the summary table.
pub async fn rollback(plan: &Plan, work: &WorkDir) -> anyhow::Result<String> {
    let cutover = CutoverState::load(work)?;
    let mut rollback = RollbackState::load(work)?;
    let after_commit = match rollback.after_commit {
        Some(decided) => decided,
        None => {
            let decided = cutover.committed_at.is_some() || target_may_have_writes(plan).await?;
            rollback.after_commit = Some(decided);
            rollback.save(work)?;
            decided
        }
    };
    log(
        "rollback",
        if after_commit {
            "after the commit point: the target's writes come back through the reverse stream"
        } else {
            "before the commit point: the target took no write"
        },
    );
    let started = Instant::now();
    let mut rows = Vec::new();
    let steps: &[RollbackStep] = if after_commit { &AFTER_COMMIT } else { &BEFORE_COMMIT };
    for &step in steps {
        if rollback.steps.is_done(step) {
            log(step.name(), "already done");
            continue;
        }
        let began = Instant::now();
        log(step.name(), "starting");
        let detail = match step {
            RollbackStep::FenceTarget => {
                fence::fence(&plan.target_url, Side::Target, &plan.target_name, &plan.limits).await?
            }
            RollbackStep::ReverseCatchUp => reverse::catch_up(plan, work).await?,
            RollbackStep::SequencesBack => {
                super::copy_sequences(&plan.target_url, &plan.source_url, plan.limits.sequence_gap).await?
            }
            RollbackStep::TargetBack => {
                // Its servers go to the source after the commit point; before it, they never wrote.
                let state = if after_commit { State::Moved { to: plan.source_name.clone() } } else { State::Replica };
                let mut target = pg::connect(Side::Target, &plan.target_url).await?;
                control::set(&mut target, &state, Some(&plan.target_name), BY).await?;
                format!("{} {state}", plan.target_name)
            }
            RollbackStep::OpenSource => {
                let mut source = pg::connect(Side::Source, &plan.source_url).await?;
                let record = control::set(&mut source, &State::Serving, Some(&plan.source_name), BY).await?;
                let held = started.elapsed().as_secs_f64();
                rows.push(Row {
                    step: "(writes held)".into(),
                    seconds: held,
                    detail: "rollback → source serving".into(),
                });
                format!("{} serving (generation {})", plan.source_name, record.generation)
            }
            RollbackStep::DnsBack => match (&plan.dns, &cutover.dns_before) {
                (Some(dns), Some(before)) if !before.is_empty() => {
                    dns::point(&dns.client, &dns.zone_id, before, "tweetgen-infra cutover rollback").await?;
                    format!("back to {}", before.iter().map(dns::Record::describe).collect::<Vec<_>>().join(", "))
                }
                _ => "the name was not moved".into(),
            },
            RollbackStep::ConfirmSource => {
                let servers = if after_commit {
                    let target = (plan.target_url.as_str(), Side::Target);
                    let source = (plan.source_url.as_str(), Side::Source);
                    presence::wait_all_on(target, source, &plan.source_name, &plan.limits).await?
                } else {
                    presence::wait_serving(&plan.source_url, Side::Source, &plan.source_name, &plan.limits).await?
                };
                format!("{} servers on {} and writable: {}", servers.len(), plan.source_name, servers.join(", "))
            }
            RollbackStep::DropReverse => reverse::drop(plan, work).await?,
        };
        let seconds = began.elapsed().as_secs_f64();
        log(step.name(), format!("done in {}: {detail}", progress::duration(seconds)));
        rows.push(Row { step: step.name().to_string(), seconds, detail });
        rollback.steps.mark_done(step, seconds);
        rollback.save(work)?;
    }
    CutoverState::remove(work)?;
    RollbackState::remove(work)?;
    log("rollback", "done: everything is on the source; `cutover` can be run again");
    Ok(progress::summary(&rows, started.elapsed().as_secs_f64()))
}

/// The records say the target may have taken writes: it serves, or the source
/// sends its servers away.
async fn target_may_have_writes(plan: &Plan) -> anyhow::Result<bool> {
    let mut target = pg::connect(Side::Target, &plan.target_url).await?;
    let mut source = pg::connect(Side::Source, &plan.source_url).await?;
    let target_serves = control::read(&mut target).await?.is_some_and(|record| record.state == State::Serving);
    let source_moved =
        control::read(&mut source).await?.is_some_and(|record| matches!(record.state, State::Moved { .. }));
    Ok(target_serves || source_moved)
}
