//! `tweetgen-infra dns …`: the name's TTL ahead of the cutover.

use std::process::ExitCode;

use anyhow::Context;

use crate::aws;
use crate::cli::{Dns, DnsArgs, TerraformOutput};
use crate::dns;
use crate::migrate::workdir::WorkDir;

/// Where the name lives, from the command line or Terraform's outputs.
pub struct Zone {
    pub client: aws_sdk_route53::Client,
    pub zone_id: String,
    pub name: String,
    pub ttl: i64,
}

impl Zone {
    pub async fn find(args: &DnsArgs, terraform: &TerraformOutput) -> anyhow::Result<Self> {
        let outputs = aws::TerraformOutputs::read(terraform.terraform_output.as_deref())?;
        let zone_id =
            aws::pick(&args.zone_id, &outputs.zone_id).context("--zone-id (or --terraform-output) is needed")?;
        let name = aws::pick(&args.record_name, &outputs.record_name)
            .context("--record-name (or --terraform-output) is needed")?;
        let ttl = aws::pick(&args.ttl, &outputs.record_ttl_seconds).unwrap_or(60);
        anyhow::ensure!((1..=60).contains(&ttl), "the short TTL is 1 to 60 seconds, not {ttl}");
        let client = aws_sdk_route53::Client::new(&aws::config().await?);
        Ok(Self { client, zone_id, name, ttl })
    }
}

pub async fn run(command: Dns) -> anyhow::Result<ExitCode> {
    match command {
        Dns::Prepare { dns: args, terraform, work } => {
            let work = WorkDir::open_shared_or_create(&work.work_dir)?;
            let zone = Zone::find(&args, &terraform).await?;
            let prepared = dns::prepare(&zone.client, &zone.zone_id, &zone.name, zone.ttl).await?;
            for record in &prepared.before {
                println!("before: {}", record.describe());
            }
            for record in dns::records(&zone.client, &zone.zone_id, &zone.name).await? {
                println!("now:    {}", record.describe());
            }
            let wait = prepared.old_ttl_elapses_at() - prepared.lowered_at;
            println!("dns prepare: TTL {} s; the old TTL runs out in {wait:.0} s (`dns status` tells)", zone.ttl);
            work.write_atomically(dns::PREPARED_FILE, &serde_json::to_vec_pretty(&prepared)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Dns::Status { dns: args, terraform, work } => {
            let work = WorkDir::open_shared(&work.work_dir)?;
            let zone = Zone::find(&args, &terraform).await?;
            for record in dns::records(&zone.client, &zone.zone_id, &zone.name).await? {
                println!("now: {}", record.describe());
            }
            let Some(prepared) = dns::Prepared::load(&work)? else {
                println!("dns status: not prepared here: run `tweetgen-infra dns prepare`");
                return Ok(ExitCode::FAILURE);
            };
            let left = prepared.old_ttl_elapses_at() - dns::now();
            if left > 0.0 {
                println!(
                    "dns status: TTL lowered to {} s; resolvers may hold the old TTL for {left:.0} s more",
                    zone.ttl
                );
                Ok(ExitCode::FAILURE)
            } else {
                println!(
                    "dns status: ready: the old TTL ran out {:.0} s ago; nobody caches the name for more than {} s",
                    -left, zone.ttl
                );
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}
