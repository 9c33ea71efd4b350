//! `tweetgen-infra rds …`: the target instance before the cutover.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::cli::{Rds, TerraformOutput};
use crate::{aws, rds, report};

async fn client_and_instance(
    instance: Option<String>,
    terraform: &TerraformOutput,
) -> anyhow::Result<(aws_sdk_rds::Client, String)> {
    let outputs = aws::TerraformOutputs::read(terraform.terraform_output.as_deref())?;
    let instance =
        aws::pick(&instance, &outputs.rds_instance_id).context("--instance (or --terraform-output) is needed")?;
    Ok((aws_sdk_rds::Client::new(&aws::config().await?), instance))
}

pub async fn run(command: Rds) -> anyhow::Result<ExitCode> {
    match command {
        Rds::Check { instance, terraform } => {
            let (client, instance) = client_and_instance(instance, &terraform).await?;
            let checks = rds::check(&client, &instance).await?;
            print!("{}", report::table(&checks));
            let failed = report::any_failed(&checks);
            println!("\nrds check: {}", if failed { "NOT READY: fix the FAIL lines" } else { "ready" });
            Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        Rds::Snapshot { instance, terraform, wait_minutes } => {
            let (client, instance) = client_and_instance(instance, &terraform).await?;
            let id = rds::snapshot(&client, &instance, Duration::from_secs(wait_minutes * 60)).await?;
            println!("rds snapshot: {id} is available");
            Ok(ExitCode::SUCCESS)
        }
    }
}
