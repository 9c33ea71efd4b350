//! The reverse stream: a publication and a logical slot on the target, made at
//! the fenced, caught-up moment when source and target hold the same rows and
//! before anything is written to the target, applied to the source by the same
//! follower as the forward stream (its position kept in the source's
//! `tweetgen_migrate`): `migrate follow` applies it as it comes, and a rollback
//! after the commit point drains what is left, so every write the target took
//! comes back, in a moment however long after the commit. Both appliers mark their
//! transactions with a replication origin and skip the other's, so nothing
//! applied one way returns the other.

use anyhow::Context;
use sqlx::PgConnection;

use super::Plan;
use crate::migrate::follow::Follower;
use crate::migrate::workdir::{Migration, WorkDir};
use crate::migrate::{catalog, state};
use crate::pg::{self, Side};

/// Creates the publication and slot on the target and the stream's state on
/// the source (unless there), marked as starting from equal databases.
pub async fn start(plan: &Plan, work: &WorkDir, forward: &Migration) -> anyhow::Result<String> {
    let mut reverse = forward.reversed();
    let mut target = pg::connect(Side::Target, &plan.target_url).await?;
    let published: bool = sqlx::query_scalar("SELECT EXISTS (SELECT FROM pg_publication WHERE pubname = $1)")
        .bind(&reverse.publication)
        .fetch_one(&mut target)
        .await?;
    if !published {
        let tables: Vec<String> =
            catalog::tables(&mut target).await?.iter().map(|table| table.name.to_string()).collect();
        anyhow::ensure!(!tables.is_empty(), "the target has no tables to publish");
        let statement =
            format!("CREATE PUBLICATION {} FOR TABLE {}", pg::ident(&reverse.publication), tables.join(", "));
        sqlx::query(&statement).execute(&mut target).await.context("publishing the target's tables")?;
    }
    reverse.slot_lsn = ensure_slot(&mut target, &reverse.slot).await?.parse()?;
    work.save_reverse_stream(&reverse)?;
    let mut source = pg::connect(Side::Source, &plan.source_url).await?;
    state::prepare(&mut source, &reverse.id, &reverse.slot).await?;
    // Nothing to copy: at this moment the source holds every row the target does.
    state::mark_step(&mut source, "copy", 0.0).await?;
    Ok(format!("slot {} on the target from {}", reverse.slot, reverse.slot_lsn))
}

/// The slot's start (made now, or by an earlier run).
async fn ensure_slot(target: &mut PgConnection, slot: &str) -> anyhow::Result<String> {
    let existing: Option<String> =
        sqlx::query_scalar("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1")
            .bind(slot)
            .fetch_optional(&mut *target)
            .await?
            .flatten();
    if let Some(lsn) = existing {
        return Ok(lsn);
    }
    sqlx::query_scalar("SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')")
        .bind(slot)
        .fetch_one(target)
        .await
        .with_context(|| {
            format!(
                "creating the replication slot {slot} on the target (on RDS: rds.logical_replication = 1, which \
                 `tweetgen-infra rds check` reports)"
            )
        })
}

/// Applies to the source everything the target committed since the stream began.
pub async fn catch_up(plan: &Plan, work: &WorkDir) -> anyhow::Result<String> {
    let reverse = work.reverse_stream()?.context(
        "this work directory started no reverse stream, so the writes the target took since the commit point \
         cannot be brought back: nothing was changed",
    )?;
    // The follower reads from its "source" (the target here) and applies to its "target".
    let follower = Follower::connect(reverse, &plan.target_url, &plan.source_url).await?;
    super::final_catch_up(follower).await
}

/// Drops the stream on both sides (after a rollback, or when none is needed),
/// between two passes of whoever applies it (`migrate follow` does, after the
/// commit point, so that a rollback has only the last changes left to apply).
pub async fn drop(plan: &Plan, work: &WorkDir) -> anyhow::Result<String> {
    let Some(reverse) = work.reverse_stream()? else { return Ok("no reverse stream".into()) };
    let mut source = pg::connect(Side::Source, &plan.source_url).await?;
    sqlx::query("SELECT pg_advisory_lock($1)").bind(state::APPLY_LOCK).execute(&mut source).await?;
    let mut target = pg::connect(Side::Target, &plan.target_url).await?;
    sqlx::query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1")
        .bind(&reverse.slot)
        .execute(&mut target)
        .await
        .with_context(|| format!("dropping the slot {}", reverse.slot))?;
    sqlx::query(&format!("DROP PUBLICATION IF EXISTS {}", pg::ident(&reverse.publication)))
        .execute(&mut target)
        .await?;
    work.forget_reverse_stream()?;
    state::drop_if_holding(&mut source, &reverse.id).await?;
    Ok(format!("dropped {} on the target and its state on the source", reverse.slot))
}
