//! What must hold before the cutover starts: the migration caught up and
//! recently verified, the name's TTL short, the target RDS instance fit, and
//! the control plane ready — each database's record as expected, and every
//! server present on either database knowing the other one by the name this
//! cutover will use (a server that cannot follow a record would be left behind).

use tweetgen_control::{self as control, Presence, State};

use super::state::{CutoverState, StateFile};
use super::{DnsPlan, Plan};
use crate::dns;
use crate::migrate::workdir::WorkDir;
use crate::migrate::{follow, state};
use crate::pg::{self, Side};
use crate::report::{Check, Status};

pub async fn checks(plan: &Plan, work: &WorkDir) -> anyhow::Result<Vec<Check>> {
    let mut checks = Vec::new();
    if let Some(step) = CutoverState::load(work)?.steps.last() {
        // The migration's own checks held when it began; the databases have moved on since.
        checks.push(Check::ok("resuming", format!("after {}", step.name())));
        return Ok(checks);
    }
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
    let mut source = pg::connect(Side::Source, &plan.source_url).await?;
    checks.extend(control_plane(plan, &mut source, &mut target).await?);
    Ok(checks)
}

/// Each side's record, and the servers present on each.
async fn control_plane(
    plan: &Plan,
    source: &mut sqlx::PgConnection,
    target: &mut sqlx::PgConnection,
) -> anyhow::Result<Vec<Check>> {
    let (source_name, target_name) = (&plan.source_name, &plan.target_name);
    let mut checks = Vec::new();
    checks.push(match control::read(&mut *source).await?.map(|record| record.state) {
        Some(State::Serving) => Check::ok(&format!("{source_name} record"), "serving".into()),
        None => Check::fail(
            &format!("{source_name} record"),
            "none".into(),
            "run this version of tweetgen on the old host: its servers create the record",
        ),
        Some(other) => Check::fail(
            &format!("{source_name} record"),
            other.to_string(),
            "a cutover or rollback was interrupted elsewhere: finish it from its work directory",
        ),
    });
    checks.push(match control::read(&mut *target).await?.map(|record| record.state) {
        Some(State::Replica | State::Fenced | State::Moved { .. }) => {
            Check::ok(&format!("{target_name} record"), "a replica: reads only".into())
        }
        Some(State::Serving) => Check::fail(
            &format!("{target_name} record"),
            "serving: it may have taken writes of its own".into(),
            "move into a database that `migrate copy` made a replica",
        ),
        None => Check::fail(
            &format!("{target_name} record"),
            "none".into(),
            "run `tweetgen-infra migrate copy`, which makes the target a replica",
        ),
    });
    let timeout = plan.limits.presence_timeout;
    let on_source = control::present(&mut *source, timeout).await?;
    let on_target = control::present(&mut *target, timeout).await?;
    checks.push(if on_source.is_empty() {
        Check::fail(
            &format!("servers on {source_name}"),
            "none reports itself".into(),
            "run this version of tweetgen on the old host (its servers record themselves in tweetgen_control)",
        )
    } else {
        servers_know(&on_source, source_name, target_name)
    });
    if !on_target.is_empty() {
        checks.push(servers_know(&on_target, target_name, source_name));
    }
    let others = other_sessions(source).await?;
    if !others.is_empty() {
        checks.push(Check::warn(
            &format!("other clients of {source_name}"),
            others.join(", "),
            "they are cut off at the fence; stop them first if they write",
        ));
    }
    Ok(checks)
}

/// Every server on `here` calls it `here` and knows `there` (where a record may send it).
fn servers_know(servers: &[Presence], here: &str, there: &str) -> Check {
    let name = format!("servers on {here}");
    let lost: Vec<String> = servers
        .iter()
        .filter(|server| server.report.database != here || !server.report.knows.iter().any(|name| name == there))
        .map(|server| {
            format!(
                "{} calls it {:?} and knows {:?}",
                server.report.instance_id, server.report.database, server.report.knows
            )
        })
        .collect();
    if lost.is_empty() {
        let ids: Vec<&str> = servers.iter().map(|server| server.report.instance_id.as_str()).collect();
        Check::ok(&name, format!("{} ({}), each knows {there}", servers.len(), ids.join(", ")))
    } else {
        Check::fail(
            &name,
            lost.join("; "),
            &format!("configure each with database.name = {here:?} and database.others.{there} (its URL)"),
        )
    }
}

/// Client sessions that are neither this tool's nor a tweetgen server's.
async fn other_sessions(source: &mut sqlx::PgConnection) -> anyhow::Result<Vec<String>> {
    use tweetgen_control::application;
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT coalesce(nullif(application_name, ''), 'unnamed') || ' from ' || coalesce(client_addr::text, 'local')
         FROM pg_stat_activity
         WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()
           AND application_name NOT IN ($1, $2, $3, $4)",
    )
    .bind(pg::APPLICATION_NAME)
    .bind(application::CONTROL)
    .bind(application::READS)
    .bind(application::WRITES)
    .fetch_all(source)
    .await?)
}

async fn dns_ready(dns: &DnsPlan, work: &WorkDir) -> anyhow::Result<Check> {
    let current = dns::records(&dns.client, &dns.zone_id, &dns.new_record.name).await?;
    if current.iter().any(|record| record == &dns.new_record) {
        return Ok(Check::ok("DNS", format!("{} already points at the ALB", dns.new_record.name)));
    }
    let ttl = dns.new_record.ttl.unwrap_or(60);
    let longest = current.iter().filter_map(|record| record.ttl).max().unwrap_or(0);
    Ok(match dns::Prepared::load(work).ok().flatten() {
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
