//! `tweetgen-infra cutover [rollback]`: the plan from the command line and
//! Terraform's outputs, then the checks and the steps (`cutover/`).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::cli::{CutoverAction, CutoverArgs};
use crate::cli_dns::Zone;
use crate::cutover::{self, Plan};
use crate::migrate::workdir::WorkDir;
use crate::{aws, dns, report};

async fn plan(args: &CutoverArgs) -> anyhow::Result<Plan> {
    let outputs = aws::TerraformOutputs::read(args.terraform.terraform_output.as_deref())?;
    let source_name = aws::pick(&args.source_name, &outputs.old_database_name)
        .context("--source-name (or TWEETGEN_SOURCE_NAME, or Terraform's old_database_name) is needed")?;
    let target_name = aws::pick(&args.target_name, &outputs.database_name)
        .context("--target-name (or TWEETGEN_TARGET_NAME, or Terraform's database_name) is needed")?;
    anyhow::ensure!(source_name != target_name, "the source and the target need two names, not {source_name:?} twice");
    let dns = if args.skip_dns {
        None
    } else {
        let zone = Zone::find(&args.dns, &args.terraform).await?;
        let alb_dns_name = aws::pick(&args.alb_dns_name, &outputs.alb_dns_name).context("--alb-dns-name is needed")?;
        let alb_zone_id = aws::pick(&args.alb_zone_id, &outputs.alb_zone_id).context("--alb-zone-id is needed")?;
        let (zone_name, name_servers) = dns::zone(&zone.client, &zone.zone_id).await?;
        let new_record = dns::alb_record(&zone.name, &zone_name, &alb_dns_name, &alb_zone_id, zone.ttl);
        Some(cutover::DnsPlan { client: zone.client, zone_id: zone.zone_id, zone_name, name_servers, new_record })
    };
    let rds = match aws::pick(&args.rds_instance, &outputs.rds_instance_id) {
        Some(instance) => Some((aws_sdk_rds::Client::new(&aws::config().await?), instance)),
        None => None,
    };
    Ok(Plan {
        source_url: args.databases.source()?.to_string(),
        target_url: args.databases.target()?.to_string(),
        source_name,
        target_name,
        dns,
        rds,
        limits: cutover::Limits {
            max_lag_seconds: args.max_lag_seconds,
            max_lag_bytes: args.max_lag_bytes,
            verify_max_age: Duration::from_secs(args.verify_max_age_minutes * 60),
            sequence_gap: args.sequence_gap,
            drain: Duration::from_millis(args.drain_ms),
            presence_timeout: args.presence_timeout_seconds,
            confirm: Duration::from_secs(args.confirm_seconds),
        },
    })
}

pub async fn run(args: CutoverArgs, action: Option<CutoverAction>) -> anyhow::Result<ExitCode> {
    if let Some(CutoverAction::Rollback { args }) = action {
        let plan = plan(&args).await?;
        let work = WorkDir::open_locked(&args.work.work_dir, "cutover.lock")?;
        print!("{}", cutover::rollback(&plan, &work).await?);
        println!("cutover rollback: complete");
        return Ok(ExitCode::SUCCESS);
    }
    let plan = plan(&args).await?;
    let work = WorkDir::open_locked(&args.work.work_dir, "cutover.lock")?;
    let checks = cutover::checks(&plan, &work).await?;
    print!("{}", report::table(&checks));
    let failed = report::any_failed(&checks);
    if args.dry_run {
        print!("\nplan:\n{}", cutover::describe(&plan));
        println!("\ncutover --dry-run: {}", if failed { "the checks would stop it" } else { "ready" });
        return Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS });
    }
    if failed {
        println!("\ncutover: not started: fix the FAIL lines");
        return Ok(ExitCode::FAILURE);
    }
    print!("{}", cutover::run(&plan, &work, args.stop_after).await?);
    match args.stop_after {
        Some(step) if step != cutover::Step::Confirm => println!("cutover: stopped after {}", step.name()),
        _ => println!("cutover: complete"),
    }
    Ok(ExitCode::SUCCESS)
}
