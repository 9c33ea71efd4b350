//! `rds check`: the target instance is fit to take over — available, storage
//! that grows by itself, TLS required, logical replication on (the rollback's
//! reverse stream), backups kept. `rds snapshot`: a snapshot
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
    let required = [
        ("rds.force_ssl", "clients must use TLS"),
        (
            "rds.logical_replication",
            "the rollback's reverse stream needs a logical slot on the target; static: the instance must be \
             rebooted once after the change (terraform/README.md says when)",
        ),
    ];
    match group {
        Some(group) => checks.extend(parameters_on(client, group, &required).await?),
        None => checks.extend(
            required
                .iter()
                .map(|(name, _)| Check::fail(name, "no parameter group".into(), "attach the module's parameter group")),
        ),
    }
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

/// Each of `required` is 1 in the parameter group (`why`: what needs it).
async fn parameters_on(client: &Client, group: &str, required: &[(&str, &str)]) -> anyhow::Result<Vec<Check>> {
    let mut values = std::collections::HashMap::new();
    let mut pages = client.describe_db_parameters().db_parameter_group_name(group).into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.with_context(|| format!("reading parameter group {group}"))?;
        for parameter in page.parameters() {
            if let Some(name) = parameter.parameter_name() {
                values.insert(name.to_string(), parameter.parameter_value().map(str::to_string));
            }
        }
    }
    Ok(required
        .iter()
        .map(|(name, why)| match values.get(*name).cloned().flatten().as_deref() {
            Some("1") => Check::ok(name, format!("1 in {group}")),
            other => Check::fail(
                name,
                format!("{} in {group}", other.unwrap_or("unset")),
                &format!("set {name} = 1 in the parameter group ({why})"),
            ),
        })
        .collect())
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
