//! `tweetgen-infra cutover`: moves writes and traffic from the old database and
//! host to the new database and fleet, through the control record in each
//! database (`tweetgen_control`): this tool writes records and reads the
//! servers' presence rows; it never connects to a server. So every instance is
//! reached wherever it runs — the old host, an autoscaling group's instances
//! behind a load balancer that hides them, one started in the middle of the move
//! — and a server restarted at any point finds where it belongs.
//!
//! Checks first; then each step, logged with its time and recorded in the work
//! directory's `cutover.json` once done (a second run continues after the last
//! step done; every step is safe to repeat):
//!
//! 1. `fence`: the source's record says fenced (servers hold new writes; the
//!    target's, a replica until now, too, so its servers hold rather than
//!    refuse); every server on the source reports its writes drained, or
//!    `--drain-ms` passes; then the source ends every session that could still
//!    write. The database, read-only for new sessions since the record changed,
//!    is the authority: a write caught by it wrote nothing and is retried.
//! 2. `catch-up`: the follower applies everything up to the source's last position.
//! 3. `sequences`: every sequence copied with a gap, and checked.
//! 4. `reverse-stream`: a publication and slot on the target, at this moment when
//!    both are equal, so that a rollback after the commit point loses nothing.
//! 5. `commit`: the target's record says serving, then the source's says moved to
//!    the target's name. **The commit point**: held writes proceed on the target.
//! 6. `dns-flip`: the name points at the ALB; INSYNC; the authoritative servers asked.
//! 7. `confirm`: every live server reports itself on the target and writable.
//!
//! `cutover rollback` goes back from wherever this stopped (`rollback.rs`).

mod checks;
mod fence;
mod presence;
mod reverse;
mod rollback;
mod state;

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use tweetgen_control::{self as control, State};

pub use checks::checks;
pub use rollback::rollback;

use crate::dns::{self, Record};
use crate::migrate::follow::Follower;
use crate::migrate::progress::{self, Row};
use crate::migrate::sequences;
use crate::migrate::workdir::WorkDir;
use crate::pg::{self, Side};
use state::{CutoverState, StateFile};

/// The steps, in order (`Step::ALL`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    Fence,
    CatchUp,
    Sequences,
    ReverseStream,
    Commit,
    DnsFlip,
    Confirm,
}

impl Step {
    pub const ALL: [Step; 7] =
        [Step::Fence, Step::CatchUp, Step::Sequences, Step::ReverseStream, Step::Commit, Step::DnsFlip, Step::Confirm];

    pub fn name(self) -> &'static str {
        match self {
            Step::Fence => "fence",
            Step::CatchUp => "catch-up",
            Step::Sequences => "sequences",
            Step::ReverseStream => "reverse-stream",
            Step::Commit => "commit",
            Step::DnsFlip => "dns-flip",
            Step::Confirm => "confirm",
        }
    }
}

/// Who changed a record (`tweetgen_control.record.changed_by`).
const BY: &str = "tweetgen-infra cutover";

/// Everything the cutover acts on.
pub struct Plan {
    /// The migration user's URLs (from the operator's host).
    pub source_url: String,
    pub target_url: String,
    /// The databases' names in the servers' configurations.
    pub source_name: String,
    pub target_name: String,
    pub dns: Option<DnsPlan>,
    pub rds: Option<(aws_sdk_rds::Client, String)>,
    pub limits: Limits,
}

pub struct DnsPlan {
    pub client: aws_sdk_route53::Client,
    pub zone_id: String,
    pub zone_name: String,
    pub name_servers: Vec<String>,
    pub new_record: Record,
}

pub struct Limits {
    pub max_lag_seconds: f64,
    pub max_lag_bytes: u64,
    pub verify_max_age: Duration,
    pub sequence_gap: i64,
    /// How long a fence waits for the servers' writes under way.
    pub drain: Duration,
    /// A server silent for longer is gone.
    pub presence_timeout: f64,
    /// How long `confirm` waits for every server to arrive.
    pub confirm: Duration,
}

fn stamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn log(step: &str, message: impl AsRef<str>) {
    println!("{}  [{step}] {}", stamp(), message.as_ref());
}

/// `--dry-run`: what would be done, with the actual names.
pub fn describe(plan: &Plan) -> String {
    let (source, target) = (&plan.source_name, &plan.target_name);
    let limits = &plan.limits;
    let mut lines = vec![
        format!(
            "checks: follow running, lag ≤ {} s and ≤ {} bytes, a verify within {} min, DNS TTL prepared, RDS \
             healthy, control records, every server present on {source} knows {target} (and on {target}, {source})",
            limits.max_lag_seconds,
            limits.max_lag_bytes,
            limits.verify_max_age.as_secs() / 60
        ),
        format!(
            "1. fence: {source} ({}) fenced, {target} fenced; wait up to {} ms for {source}'s servers to drain; end \
             the sessions that could still write to {source}",
            pg::redacted(&plan.source_url),
            limits.drain.as_millis()
        ),
        format!("2. catch-up: apply the change stream up to {source}'s last position on {target}"),
        format!("3. sequences: copy every sequence's value + {} and check it against its column", limits.sequence_gap),
        format!("4. reverse-stream: a publication and a slot on {target}, for a rollback that loses nothing"),
        format!("5. commit: {target} serving, then {source} moved to {target} (the commit point)"),
    ];
    lines.push(match &plan.dns {
        Some(dns) => format!(
            "6. dns-flip: zone {} ({}): {}, wait for INSYNC, ask {}",
            dns.zone_id,
            dns.zone_name,
            dns.new_record.describe(),
            dns.name_servers.join(", ")
        ),
        None => "6. dns-flip: skipped (no zone given)".to_string(),
    });
    lines.push(format!(
        "7. confirm: within {} s, every server present on either database is on {target} and writable",
        limits.confirm.as_secs()
    ));
    lines.join("\n") + "\n"
}

/// Runs the steps not done yet, up to `stop_after` if given; returns the summary table.
pub async fn run(plan: &Plan, work: &WorkDir, stop_after: Option<Step>) -> anyhow::Result<String> {
    let mut cutover = CutoverState::load(work)?;
    let migration = work.existing_migration()?;
    let mut rows = Vec::new();
    let started = Instant::now();
    let mut held_since: Option<Instant> = None;
    for step in Step::ALL {
        if cutover.steps.is_done(step) {
            log(step.name(), "already done");
            continue;
        }
        let began = Instant::now();
        log(step.name(), "starting");
        let detail = match step {
            Step::Fence => {
                held_since = Some(Instant::now());
                fence_both(plan).await?
            }
            Step::CatchUp => {
                let follower = Follower::connect(migration.clone(), &plan.source_url, &plan.target_url).await?;
                final_catch_up(follower).await?
            }
            Step::Sequences => copy_sequences(&plan.source_url, &plan.target_url, plan.limits.sequence_gap).await?,
            Step::ReverseStream => reverse::start(plan, work, &migration).await?,
            Step::Commit => {
                cutover.committed_at.get_or_insert_with(stamp);
                cutover.save(work)?;
                commit(plan).await?
            }
            Step::DnsFlip => match &plan.dns {
                Some(dns) => {
                    let before = dns::records(&dns.client, &dns.zone_id, &dns.new_record.name).await?;
                    cutover.dns_before.get_or_insert(before);
                    cutover.save(work)?;
                    flip(dns).await?
                }
                None => "no zone given: skipped".to_string(),
            },
            Step::Confirm => {
                let source = (plan.source_url.as_str(), Side::Source);
                let target = (plan.target_url.as_str(), Side::Target);
                let on_target = presence::wait_all_on(source, target, &plan.target_name, &plan.limits).await?;
                format!("{} servers on {} and writable: {}", on_target.len(), plan.target_name, on_target.join(", "))
            }
        };
        injected_fault(step)?;
        let seconds = began.elapsed().as_secs_f64();
        log(step.name(), format!("done in {}: {detail}", progress::duration(seconds)));
        rows.push(Row { step: step.name().to_string(), seconds, detail });
        cutover.steps.mark_done(step, seconds);
        cutover.save(work)?;
        if let (Step::Commit, Some(since)) = (step, held_since) {
            let held = since.elapsed().as_secs_f64();
            log(step.name(), format!("writes were held for {}", progress::duration(held)));
            rows.push(Row { step: "(writes held)".into(), seconds: held, detail: "fence → commit".into() });
        }
        if stop_after == Some(step) {
            log(
                step.name(),
                "stopping here as asked (--stop-after); `cutover` continues, `cutover rollback` goes back",
            );
            break;
        }
    }
    Ok(progress::summary(&rows, started.elapsed().as_secs_f64()))
}

/// A test's way to fail a step after its work and before it is recorded: the
/// worst moment to be killed (`TWEETGEN_INFRA_FAULT_AFTER=commit`).
fn injected_fault(step: Step) -> anyhow::Result<()> {
    if std::env::var("TWEETGEN_INFRA_FAULT_AFTER").is_ok_and(|wanted| wanted == step.name()) {
        bail!("a fault injected after {} (TWEETGEN_INFRA_FAULT_AFTER)", step.name());
    }
    Ok(())
}

/// The source fenced and drained; the target's servers hold writes too.
async fn fence_both(plan: &Plan) -> anyhow::Result<String> {
    let mut target = pg::connect(Side::Target, &plan.target_url).await?;
    control::set(&mut target, &State::Fenced, Some(&plan.target_name), BY).await?;
    fence::fence(&plan.source_url, Side::Source, &plan.source_name, &plan.limits).await
}

async fn final_catch_up(mut follower: Follower) -> anyhow::Result<String> {
    let last = follower.source_position().await?;
    let pass = follower.catch_up_to(last).await?;
    Ok(format!("applied up to {} ({} transactions, {} changes)", last.insert, pass.transactions, pass.changes))
}

/// Copies every sequence from `from` to `to`, `gap` ahead, and checks each.
async fn copy_sequences(from_url: &str, to_url: &str, gap: i64) -> anyhow::Result<String> {
    let mut from = pg::connect(Side::Source, from_url).await?;
    let mut to = pg::connect(Side::Target, to_url).await?;
    let reports = sequences::copy_values(&mut from, &mut to, gap).await?;
    let behind: Vec<&str> = reports.iter().filter(|report| !report.ok).map(|report| report.sequence.as_str()).collect();
    if !behind.is_empty() {
        bail!("sequences behind their column: {}", behind.join(", "));
    }
    Ok(format!("{} sequences, each {gap} ahead", reports.len()))
}

/// The commit point: the target serves, then the source sends its servers there.
async fn commit(plan: &Plan) -> anyhow::Result<String> {
    let mut target = pg::connect(Side::Target, &plan.target_url).await?;
    let opened = control::set(&mut target, &State::Serving, Some(&plan.target_name), BY).await?;
    let mut source = pg::connect(Side::Source, &plan.source_url).await?;
    let moved = State::Moved { to: plan.target_name.clone() };
    control::set(&mut source, &moved, Some(&plan.source_name), BY).await.with_context(|| {
        format!("the target serves, but {} is not yet moved: run `cutover` again", plan.source_name)
    })?;
    Ok(format!("{} serving (generation {}); {} {moved}", plan.target_name, opened.generation, plan.source_name))
}

async fn flip(dns: &DnsPlan) -> anyhow::Result<String> {
    dns::point(&dns.client, &dns.zone_id, std::slice::from_ref(&dns.new_record), BY).await?;
    let answers = answers_line(dns);
    Ok(format!("{} (INSYNC); authoritative servers: {answers}", dns.new_record.describe()))
}

fn answers_line(dns: &DnsPlan) -> String {
    dns::ask_authoritative(&dns.name_servers, &dns.new_record.name)
        .into_iter()
        .map(|(server, answer)| match answer {
            Ok(records) if records.is_empty() => format!("{server}: no records"),
            Ok(records) => format!("{server}: {}", records.join(", ")),
            Err(error) => format!("{server}: {error}"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}
