//! `rds check`: the target instance is fit to take over — available, storage
//! that grows by itself, TLS required, backups kept. `rds snapshot`: a snapshot
//! to return to, taken before the cutover and waited for.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use aws_sdk_rds::Client;

use crate::report::Check;

pub async fn check(client: &Client, instance_id: &str) -> anyhow::Result<Vec<Check>> {
    let described = client
        .describe_db_instances()
        .db_instance_identifier(instance_id)
        .send()
        .await
        .with_context(|| format!("describing RDS instance {instance_id}"))?;
    let Some(instance) = described.db_instances().first() else { bail!("no RDS instance {instance_id}") };
    let mut checks = Vec::new();
    let status = instance.db_instance_status().unwrap_or("unknown");
    checks.push(if status == "available" {
        Check::ok("status", status.to_string())
    } else {
        Check::fail("status", status.to_string(), "wait until the instance is available")
    });
    let (allocated, maximum) =
        (instance.allocated_storage().unwrap_or(0), instance.max_allocated_storage().unwrap_or(0));
    checks.push(if maximum > allocated {
        Check::ok("storage autoscaling", format!("{allocated} GiB, grows up to {maximum} GiB"))
    } else {
        Check::fail(
            "storage autoscaling",
            format!("{allocated} GiB, no larger maximum"),
            "set max_allocated_storage above allocated_storage (terraform/modules/database)",
        )
    });
    let retention = instance.backup_retention_period().unwrap_or(0);
    checks.push(if retention > 0 {
        Check::ok("backups", format!("kept {retention} days"))
    } else {
        Check::fail("backups", "off".into(), "set backup_retention_period to 1 day or more")
    });
    checks.push(match instance.storage_encrypted() {
        Some(true) => Check::ok("encryption", "storage encrypted".into()),
        _ => Check::warn("encryption", "storage not encrypted".into(), "recreate the instance encrypted"),
    });
    let group = instance.db_parameter_groups().first().and_then(|group| group.db_parameter_group_name());
    checks.push(match group {
        Some(group) => force_ssl(client, group).await?,
        None => Check::fail("rds.force_ssl", "no parameter group".into(), "attach the module's parameter group"),
    });
    let endpoint = instance.endpoint().and_then(|endpoint| endpoint.address()).unwrap_or("-");
    checks.push(Check::ok(
        "instance",
        format!(
            "{} {} at {endpoint}{}",
            instance.engine().unwrap_or("?"),
            instance.engine_version().unwrap_or("?"),
            if instance.multi_az() == Some(true) { ", Multi-AZ" } else { "" }
        ),
    ));
    Ok(checks)
}

async fn force_ssl(client: &Client, group: &str) -> anyhow::Result<Check> {
    let mut pages = client.describe_db_parameters().db_parameter_group_name(group).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.with_context(|| format!("reading parameter group {group}"))?;
        if let Some(parameter) = page.parameters().iter().find(|p| p.parameter_name() == Some("rds.force_ssl")) {
            return Ok(match parameter.parameter_value() {
                Some("1") => Check::ok("rds.force_ssl", format!("1 in {group}")),
                other => Check::fail(
                    "rds.force_ssl",
                    format!("{} in {group}", other.unwrap_or("unset")),
                    "set rds.force_ssl = 1 in the parameter group (clients must use TLS)",
                ),
            });
        }
    }
    Ok(Check::fail("rds.force_ssl", format!("unset in {group}"), "set rds.force_ssl = 1 in the parameter group"))
}

/// Takes a snapshot and waits until it is available; returns its id.
pub async fn snapshot(client: &Client, instance_id: &str, wait: Duration) -> anyhow::Result<String> {
    let id = format!("tweetgen-pre-cutover-{}", chrono::Utc::now().format("%Y%m%d-%H%M%S"));
    client
        .create_db_snapshot()
        .db_instance_identifier(instance_id)
        .db_snapshot_identifier(&id)
        .send()
        .await
        .with_context(|| format!("snapshotting {instance_id}"))?;
    let deadline = Instant::now() + wait;
    loop {
        let described = client.describe_db_snapshots().db_snapshot_identifier(&id).send().await?;
        let status = described.db_snapshots().first().and_then(|snapshot| snapshot.status()).unwrap_or("unknown");
        match status {
            "available" => return Ok(id),
            "failed" | "deleted" => bail!("snapshot {id} is {status}"),
            _ if Instant::now() > deadline => bail!("snapshot {id} still {status} after {} s", wait.as_secs()),
            _ => tokio::time::sleep(Duration::from_secs(10)).await,
        }
    }
}
