//! `tweetgen-infra cutover`: moves writes and traffic from the old database and
//! host to the new database and fleet, with about a second of paused writes.
//!
//! Checks first; then each step, logged with its time, recorded in the work
//! directory's `cutover.json` once done (a second run continues after the last
//! one done, and every step is safe to repeat):
//!
//! 1. `fence-fleet`: every server read-only (writes answer 503 with Retry-After);
//!    each answers once its writes under way have finished.
//! 2. `fence-source`: the source database read-only for new sessions, and every
//!    other session ended, so nothing else can write to it either.
//! 3. `final-catch-up`: the follower applies everything up to the source's last
//!    position.
//! 4. `sequences`: every sequence copied with a safety gap, and checked.
//! 5. `switch-fleets`: every server (old host and new fleet) onto the target.
//! 6. `open-writes`: read-only lifted. **The commit point**: from here the target
//!    takes writes the source never sees.
//! 7. `dns-flip`: the name points at the ALB (alias at the apex, CNAME below),
//!    Route53 reports INSYNC, and the authoritative servers are asked.
//! 8. `confirm`: every server ready, on the target, writable.
//!
//! `cutover rollback` before the commit point puts everything back on the source;
//! after it, it lists the rows written to the target since (a comparison with the
//! fenced source), which going back would lose, and goes back only when told to
//! accept that.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use crate::dns::{self, Record};
use crate::fleet::Fleet;
use crate::migrate::follow::{self, Follower};
use crate::migrate::progress::{self, Progress, Row};
use crate::migrate::workdir::WorkDir;
use crate::migrate::{sequences, state, verify};
use crate::pg::{self, Side};
use crate::report::{self, Check, Status};

/// Everything the cutover acts on.
pub struct Plan {
    pub source_url: String,
    pub target_url: String,
    /// What the servers use (often another user than the migration's).
    pub app_source_url: String,
    pub app_target_url: String,
    pub old_fleet: Vec<String>,
    pub new_fleet: Vec<String>,
    pub fleet: Fleet,
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
}

const STATE_FILE: &str = "cutover.json";

#[derive(Debug, Default, Serialize, Deserialize)]
struct CutoverState {
    done: Vec<Done>,
    /// The name's records before the flip, to put back on rollback.
    dns_before: Option<Vec<Record>>,
    /// When writes opened on the target (RFC 3339).
    committed_at: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Done {
    step: String,
    at: String,
    seconds: f64,
}

impl CutoverState {
    fn load(work: &WorkDir) -> anyhow::Result<Self> {
        match std::fs::read(work.file(STATE_FILE)) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes)?),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(error) => Err(error.into()),
        }
    }

    fn save(&self, work: &WorkDir) -> anyhow::Result<()> {
        work.write_atomically(STATE_FILE, &serde_json::to_vec_pretty(self)?)
    }

    fn is_done(&self, step: &str) -> bool {
        self.done.iter().any(|done| done.step == step)
    }
}

fn stamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn log(step: &str, message: impl AsRef<str>) {
    println!("{}  [{step}] {}", stamp(), message.as_ref());
}

fn servers(plan: &Plan) -> impl Iterator<Item = &String> {
    plan.old_fleet.iter().chain(&plan.new_fleet)
}

/// `--dry-run`: what would be done, with the actual names and addresses.
pub fn describe(plan: &Plan) -> String {
    let list = |fleet: &[String]| if fleet.is_empty() { "(none)".to_string() } else { fleet.join(", ") };
    let mut lines = vec![
        format!("checks: follow running, lag ≤ {} s and ≤ {} bytes, a verify within {} min, DNS TTL prepared, RDS healthy, every server answering",
            plan.limits.max_lag_seconds, plan.limits.max_lag_bytes, plan.limits.verify_max_age.as_secs() / 60),
        format!("1. fence-fleet: read-only on {} (old) and {} (new)", list(&plan.old_fleet), list(&plan.new_fleet)),
        format!("2. fence-source: ALTER DATABASE … SET default_transaction_read_only = on on {}; end its other sessions", pg::redacted(&plan.source_url)),
        format!("3. final-catch-up: apply the change stream up to the source's last position on {}", pg::redacted(&plan.target_url)),
        format!("4. sequences: copy every sequence's value + {} and check it against its column", plan.limits.sequence_gap),
        format!("5. switch-fleets: every server onto {}", pg::redacted(&plan.app_target_url)),
        "6. open-writes: lift read-only (the commit point)".to_string(),
    ];
    lines.push(match &plan.dns {
        Some(dns) => format!(
            "7. dns-flip: zone {} ({}): {}, wait for INSYNC, ask {}",
            dns.zone_id,
            dns.zone_name,
            dns.new_record.describe(),
            dns.name_servers.join(", ")
        ),
        None => "7. dns-flip: skipped (no zone given)".to_string(),
    });
    lines.push("8. confirm: every server ready, on the target, writable".to_string());
    lines.join("\n") + "\n"
}

pub async fn checks(plan: &Plan, work: &WorkDir) -> anyhow::Result<Vec<Check>> {
    let mut checks = Vec::new();
    let migration = work.existing_migration()?;
    let mut target = pg::connect(Side::Target, &plan.target_url).await?;
    let copied = state::step_done(&mut target, "copy").await?;
    checks.push(if copied {
        Check::ok("copy", format!("migration {} copied", migration.id))
    } else {
        Check::fail("copy", "not finished".into(), "run `tweetgen-infra migrate copy` (or sync)")
    });
    let heartbeat: Option<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM now() - updated_at)::float8 FROM tweetgen_migrate.applied WHERE slot = $1",
    )
    .bind(&migration.slot)
    .fetch_optional(&mut target)
    .await?;
    checks.push(match heartbeat {
        Some(age) if age <= 10.0 => Check::ok("follow running", format!("last seen {age:.1} s ago")),
        Some(age) => {
            Check::fail("follow running", format!("last seen {age:.0} s ago"), "start `tweetgen-infra migrate follow`")
        }
        None => Check::fail("follow running", "never ran".into(), "start `tweetgen-infra migrate follow`"),
    });
    let status = follow::status(&migration, &plan.source_url, &plan.target_url).await?;
    let lag = format!("{} bytes, {:.1} s behind", status.lag_bytes, status.lag_seconds);
    checks.push(
        if status.lag_bytes <= plan.limits.max_lag_bytes && status.lag_seconds <= plan.limits.max_lag_seconds {
            Check::ok("lag", lag)
        } else {
            Check::fail("lag", lag, "wait for `migrate follow` to catch up (see `migrate status`)")
        },
    );
    let verified: Option<f64> = sqlx::query_scalar(
        "SELECT extract(epoch FROM now() - done_at)::float8 FROM tweetgen_migrate.steps WHERE name = 'verified'",
    )
    .fetch_optional(&mut target)
    .await?;
    let max_age = plan.limits.verify_max_age.as_secs_f64();
    checks.push(match verified {
        Some(age) if age <= max_age => Check::ok("verify", format!("equal {:.0} min ago", age / 60.0)),
        Some(age) => Check::fail(
            "verify",
            format!("last equal {:.0} min ago", age / 60.0),
            "run `tweetgen-infra migrate verify`",
        ),
        None => Check::fail("verify", "never equal".into(), "run `tweetgen-infra migrate verify`"),
    });
    if let Some(dns) = &plan.dns {
        checks.push(dns_ready(dns, work).await?);
    }
    if let Some((client, instance)) = &plan.rds {
        let failed: Vec<String> = crate::rds::check(client, instance)
            .await?
            .into_iter()
            .filter(|check| check.status == Status::Fail)
            .map(|check| format!("{}: {}", check.name, check.detail))
            .collect();
        checks.push(if failed.is_empty() {
            Check::ok("target RDS", format!("{instance} healthy"))
        } else {
            Check::fail("target RDS", failed.join("; "), "see `tweetgen-infra rds check`")
        });
    }
    for server in servers(plan) {
        checks.push(match plan.fleet.status(server).await {
            Ok(status) => Check::ok(
                &format!("server {server}"),
                format!("on {}, read-only {}", status.database, status.read_only),
            ),
            Err(error) => {
                Check::fail(&format!("server {server}"), format!("{error:#}"), "check its address and the admin token")
            }
        });
    }
    Ok(checks)
}

async fn dns_ready(dns: &DnsPlan, work: &WorkDir) -> anyhow::Result<Check> {
    let current = dns::records(&dns.client, &dns.zone_id, &dns.new_record.name).await?;
    if current.iter().any(|record| record == &dns.new_record) {
        return Ok(Check::ok("DNS", format!("{} already points at the ALB", dns.new_record.name)));
    }
    let ttl = dns.new_record.ttl.unwrap_or(60);
    let longest = current.iter().filter_map(|record| record.ttl).max().unwrap_or(0);
    let prepared: Option<dns::Prepared> =
        std::fs::read(work.file(dns::PREPARED_FILE)).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok());
    Ok(match prepared {
        _ if longest > ttl => Check::fail("DNS", format!("TTL {longest} s"), "run `tweetgen-infra dns prepare`"),
        None => Check::fail(
            "DNS",
            format!("TTL {longest} s, but not lowered by `dns prepare` here"),
            "run `tweetgen-infra dns prepare`",
        ),
        Some(prepared) if prepared.old_ttl_elapses_at() > dns::now() => Check::fail(
            "DNS",
            format!("the old TTL runs out in {:.0} s", prepared.old_ttl_elapses_at() - dns::now()),
            "wait for `tweetgen-infra dns status` to say it has",
        ),
        Some(_) => Check::ok("DNS", format!("TTL {longest} s, the old one has run out")),
    })
}

/// The steps, in order.
pub const STEPS: [&str; 8] = [
    "fence-fleet",
    "fence-source",
    "final-catch-up",
    "sequences",
    "switch-fleets",
    "open-writes",
    "dns-flip",
    "confirm",
];

/// Runs the steps not done yet, up to `stop_after` if given; returns the summary table.
pub async fn run(plan: &Plan, work: &WorkDir, stop_after: Option<&str>) -> anyhow::Result<String> {
    let mut cutover = CutoverState::load(work)?;
    let migration = work.existing_migration()?;
    let mut rows = Vec::new();
    let started = Instant::now();
    let mut paused_since: Option<Instant> = None;
    for step in STEPS {
        if cutover.is_done(step) {
            log(step, "already done");
            continue;
        }
        if step == "fence-fleet" {
            paused_since = Some(Instant::now());
        }
        let began = Instant::now();
        log(step, "starting");
        let detail = match step {
            "fence-fleet" => fence_fleet(plan).await?,
            "fence-source" => fence_source(plan).await?,
            "final-catch-up" => {
                let follower = Follower::connect(migration.clone(), &plan.source_url, &plan.target_url).await?;
                final_catch_up(follower).await?
            }
            "sequences" => copy_sequences(plan).await?,
            "switch-fleets" => switch_fleets(plan, &plan.app_target_url).await?,
            "open-writes" => {
                cutover.committed_at = Some(stamp());
                cutover.save(work)?;
                set_read_only(plan, servers(plan), false).await?
            }
            "dns-flip" => match &plan.dns {
                Some(dns) => {
                    let before = dns::records(&dns.client, &dns.zone_id, &dns.new_record.name).await?;
                    cutover.dns_before.get_or_insert(before);
                    cutover.save(work)?;
                    flip(dns).await?
                }
                None => "no zone given: skipped".to_string(),
            },
            "confirm" => confirm(plan).await?,
            _ => unreachable!(),
        };
        let seconds = began.elapsed().as_secs_f64();
        log(step, format!("done in {}: {detail}", progress::duration(seconds)));
        rows.push(Row { step: step.to_string(), seconds, detail });
        cutover.done.push(Done { step: step.to_string(), at: stamp(), seconds });
        cutover.save(work)?;
        if step == "open-writes" {
            if let Some(since) = paused_since {
                let window = since.elapsed().as_secs_f64();
                log(step, format!("writes were paused for {}", progress::duration(window)));
                rows.push(Row {
                    step: "(writes paused)".into(),
                    seconds: window,
                    detail: "fence-fleet → open-writes".into(),
                });
            }
        }
        if stop_after == Some(step) {
            log(step, "stopping here as asked (--stop-after); `cutover` continues, `cutover rollback` goes back");
            break;
        }
    }
    Ok(progress::summary(&rows, started.elapsed().as_secs_f64()))
}

async fn set_read_only<'a>(
    plan: &Plan,
    servers: impl Iterator<Item = &'a String>,
    read_only: bool,
) -> anyhow::Result<String> {
    let calls = servers.map(|server| async move {
        let status = plan.fleet.set_read_only(server, read_only).await?;
        anyhow::Ok(format!(
            "{server} {}",
            if read_only { format!("drained in {} ms", status.drained_ms.unwrap_or(0)) } else { "writable".into() }
        ))
    });
    Ok(futures_util::future::try_join_all(calls).await?.join(", "))
}

async fn fence_fleet(plan: &Plan) -> anyhow::Result<String> {
    set_read_only(plan, servers(plan), true).await
}

/// New sessions start read-only; every other session (except this tool's own,
/// the follower among them) is ended, so none keeps writing.
async fn fence_source(plan: &Plan) -> anyhow::Result<String> {
    let mut source = pg::connect(Side::Source, &plan.source_url).await?;
    set_database_read_only(&mut source, true).await?;
    let ended = end_other_sessions(&mut source).await?;
    Ok(format!("read-only for new sessions; {ended} other sessions ended"))
}

async fn set_database_read_only(source: &mut PgConnection, read_only: bool) -> anyhow::Result<()> {
    let database: String = sqlx::query_scalar("SELECT current_database()::text").fetch_one(&mut *source).await?;
    let statement = if read_only {
        format!("ALTER DATABASE {} SET default_transaction_read_only = on", pg::ident(&database))
    } else {
        format!("ALTER DATABASE {} RESET default_transaction_read_only", pg::ident(&database))
    };
    sqlx::query(&statement)
        .execute(&mut *source)
        .await
        .with_context(|| format!("{statement} (the migration user must own the database)"))?;
    Ok(())
}

async fn end_other_sessions(source: &mut PgConnection) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
           AND application_name <> 'tweetgen-infra'",
    )
    .fetch_one(source)
    .await?)
}

async fn final_catch_up(mut follower: Follower) -> anyhow::Result<String> {
    let last = follower.source_position().await?;
    let pass = follower.catch_up_to(last).await?;
    Ok(format!("applied up to {} ({} transactions, {} changes)", last.insert, pass.transactions, pass.changes))
}

async fn copy_sequences(plan: &Plan) -> anyhow::Result<String> {
    let mut source = pg::connect(Side::Source, &plan.source_url).await?;
    let mut target = pg::connect(Side::Target, &plan.target_url).await?;
    let reports = sequences::copy_values(&mut source, &mut target, plan.limits.sequence_gap).await?;
    let behind: Vec<&str> = reports.iter().filter(|report| !report.ok).map(|report| report.sequence.as_str()).collect();
    if !behind.is_empty() {
        bail!("sequences behind their column on the target: {}", behind.join(", "));
    }
    Ok(format!("{} sequences, each {} ahead", reports.len(), plan.limits.sequence_gap))
}

async fn switch_fleets(plan: &Plan, url: &str) -> anyhow::Result<String> {
    let calls = servers(plan).map(|server| async move {
        let status = plan.fleet.switch_database(server, url).await?;
        anyhow::Ok(format!("{server} → {} ({} ms)", status.database, status.drained_ms.unwrap_or(0)))
    });
    Ok(futures_util::future::try_join_all(calls).await?.join(", "))
}

async fn flip(dns: &DnsPlan) -> anyhow::Result<String> {
    dns::point(&dns.client, &dns.zone_id, std::slice::from_ref(&dns.new_record), "tweetgen-infra cutover").await?;
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

async fn confirm(plan: &Plan) -> anyhow::Result<String> {
    let expected = pg::redacted(&plan.app_target_url);
    for server in servers(plan) {
        plan.fleet.ready(server).await?;
        let status = plan.fleet.status(server).await?;
        if status.read_only || !same_database(&status.database, &expected) {
            bail!("{server} is on {} (read-only {}), not writable on the target", status.database, status.read_only);
        }
    }
    Ok(format!("{} servers ready and writable on the target", servers(plan).count()))
}

/// The servers hide passwords as `***`, this tool as `*****`.
fn same_database(reported: &str, expected: &str) -> bool {
    let normal = |url: &str| url.replace("*****", "***").trim_end_matches('/').to_string();
    normal(reported) == normal(expected)
}

/// `cutover rollback`.
pub async fn rollback(plan: &Plan, work: &WorkDir, accept_loss: bool) -> anyhow::Result<bool> {
    let cutover = CutoverState::load(work)?;
    if let Some(committed_at) = &cutover.committed_at {
        log("rollback", format!("writes opened on the target at {committed_at}: comparing it with the fenced source"));
        let options = verify::Options {
            source_url: plan.source_url.clone(),
            target_url: plan.target_url.clone(),
            jobs: 2,
            range_rows: 100_000,
            show_rows: 50,
        };
        let results = verify::run(None, &options, &Progress::new()).await?;
        let lost: Vec<&verify::TableResult> = results.iter().filter(|result| !result.equal()).collect();
        if lost.is_empty() {
            log("rollback", "no row differs: nothing written since would be lost");
        } else {
            println!("Going back to the source would lose what was written to the target since {committed_at}:");
            for table in &lost {
                println!(
                    "  {}: {} rows on the target, {} on the source; {}",
                    table.table,
                    table.target_rows,
                    table.source_rows,
                    table.differing_rows.join("; ")
                );
            }
            if !accept_loss {
                println!("Nothing was changed. Run `tweetgen-infra cutover rollback --accept-loss` to go back anyway.");
                return Ok(false);
            }
        }
    }
    let began = Instant::now();
    if cutover.is_done("switch-fleets") || cutover.is_done("open-writes") {
        set_read_only(plan, servers(plan), true).await?;
        log("rollback", format!("servers back on the source: {}", switch_fleets(plan, &plan.app_source_url).await?));
    }
    if let (Some(dns), Some(before)) = (&plan.dns, &cutover.dns_before) {
        if !before.is_empty() {
            dns::point(&dns.client, &dns.zone_id, before, "tweetgen-infra cutover rollback").await?;
            log(
                "rollback",
                format!("DNS back to {}", before.iter().map(Record::describe).collect::<Vec<_>>().join(", ")),
            );
        }
    }
    let mut source = pg::connect(Side::Source, &plan.source_url).await?;
    set_database_read_only(&mut source, false).await?;
    // Sessions opened while fenced would stay read-only: end them, the servers reconnect.
    let ended = end_other_sessions(&mut source).await?;
    log("rollback", format!("source writable again ({ended} read-only sessions ended)"));
    log("rollback", format!("old fleet writable: {}", set_read_only(plan, plan.old_fleet.iter(), false).await?));
    std::fs::remove_file(work.file(STATE_FILE)).ok();
    log(
        "rollback",
        format!(
            "done in {}; the new fleet stays read-only; `cutover` can be run again",
            progress::duration(began.elapsed().as_secs_f64())
        ),
    );
    Ok(true)
}

/// The checks as a table, and whether any failed.
pub fn checks_table(checks: &[Check]) -> (String, bool) {
    (report::table(checks), checks.iter().any(|check| check.status == Status::Fail))
}
