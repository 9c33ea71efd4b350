//! Waiting on what the servers report in each database's presence table: their
//! writes drained after a fence, or every one of them arrived where the records
//! send it. A server silent for `presence_timeout` is gone (stopped, replaced)
//! and not waited for; one that reports a problem is named in the error.

use std::time::{Duration, Instant};

use anyhow::bail;
use sqlx::PgConnection;
use tweetgen_control::{self as control, Presence};

use super::Limits;
use crate::pg::{self, Side};

/// How often the presence table is read while waiting.
const POLL: Duration = Duration::from_millis(5);

pub struct Drained {
    /// Instances that applied the fence with nothing in flight.
    pub drained: Vec<String>,
    /// Instances still writing (or not yet fenced) when `drain` passed.
    pub late: Vec<String>,
}

/// Waits until every server present on this database has applied the record's
/// `generation` with no write in flight, at most `limits.drain`.
pub async fn wait_drained(connection: &mut PgConnection, generation: i64, limits: &Limits) -> anyhow::Result<Drained> {
    let deadline = Instant::now() + limits.drain;
    loop {
        let present = control::present(&mut *connection, limits.presence_timeout).await?;
        let (drained, late): (Vec<&Presence>, Vec<&Presence>) = present
            .iter()
            .partition(|server| server.report.generation_seen >= generation && server.report.writes_in_flight == 0);
        if late.is_empty() || Instant::now() >= deadline {
            let describe = |servers: Vec<&Presence>| servers.iter().map(|server| describe(server)).collect();
            return Ok(Drained { drained: describe(drained), late: describe(late) });
        }
        tokio::time::sleep(POLL).await;
    }
}

fn describe(server: &Presence) -> String {
    let report = &server.report;
    let mut text = format!("{} ({} writes in flight", report.instance_id, report.writes_in_flight);
    if report.writes_held > 0 {
        text.push_str(&format!(", {} held", report.writes_held));
    }
    text.push(')');
    text
}

/// Waits until every server present on either database is on `to`'s, named
/// `name`, sees its current record and may write there; returns them.
pub async fn wait_all_on(
    (from_url, from_side): (&str, Side),
    (to_url, to_side): (&str, Side),
    name: &str,
    limits: &Limits,
) -> anyhow::Result<Vec<String>> {
    let mut from = pg::connect(from_side, from_url).await?;
    let mut to = pg::connect(to_side, to_url).await?;
    let deadline = Instant::now() + limits.confirm;
    loop {
        let record = control::read(&mut to).await?;
        let generation = record.as_ref().map_or(0, |record| record.generation);
        let arrived = control::present(&mut to, limits.presence_timeout).await?;
        let behind = control::present(&mut from, limits.presence_timeout).await?;
        let waiting: Vec<String> = behind
            .iter()
            .map(|server| format!("{} still on {}", server.report.instance_id, server.report.database))
            .chain(arrived.iter().filter(|server| !writable(server, name, generation)).map(|server| {
                format!(
                    "{} on {} sees {} (generation {} of {generation}){}",
                    server.report.instance_id,
                    server.report.database,
                    server.report.state_seen,
                    server.report.generation_seen,
                    server.report.problem.as_deref().map(|problem| format!(": {problem}")).unwrap_or_default()
                )
            }))
            .collect();
        if waiting.is_empty() {
            return Ok(arrived.into_iter().map(|server| server.report.instance_id).collect());
        }
        if Instant::now() >= deadline {
            bail!(
                "not every server is on {name} and writable after {} s: {}",
                limits.confirm.as_secs(),
                waiting.join("; ")
            );
        }
        tokio::time::sleep(POLL * 10).await;
    }
}

/// Waits until every server present on this database may write there: the
/// ones that never left it, after a rollback before the commit point.
pub async fn wait_serving(url: &str, side: Side, name: &str, limits: &Limits) -> anyhow::Result<Vec<String>> {
    let mut connection = pg::connect(side, url).await?;
    let deadline = Instant::now() + limits.confirm;
    loop {
        let generation = control::read(&mut connection).await?.map_or(0, |record| record.generation);
        let present = control::present(&mut connection, limits.presence_timeout).await?;
        let (ready, waiting): (Vec<Presence>, Vec<Presence>) =
            present.into_iter().partition(|server| writable(server, name, generation));
        if waiting.is_empty() {
            return Ok(ready.into_iter().map(|server| server.report.instance_id).collect());
        }
        if Instant::now() >= deadline {
            let waiting: Vec<String> = waiting.iter().map(describe).collect();
            bail!("servers on {name} not writable after {} s: {}", limits.confirm.as_secs(), waiting.join(", "));
        }
        tokio::time::sleep(POLL * 10).await;
    }
}

fn writable(server: &Presence, name: &str, generation: i64) -> bool {
    let report = &server.report;
    report.database == name
        && report.state_seen == "serving"
        && report.generation_seen >= generation
        && report.problem.is_none()
}
