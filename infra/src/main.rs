//! `tweetgen-infra`: the operations CLI, in pgcopydb's style — one subcommand per
//! step, each resumable from a work directory, each ending with a summary.

mod aws;
mod cutover;
mod dns;
mod fleet;
mod migrate;
mod pg;
mod rds;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "tweetgen-infra",
    version,
    about = "Operations for tweetgen: online PostgreSQL migration and the cutover to AWS"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Move a live PostgreSQL database to another server.
    #[command(subcommand)]
    Migrate(Migrate),
    /// The service's name in Route53, ahead of the cutover.
    #[command(subcommand)]
    Dns(Dns),
    /// The target RDS instance.
    #[command(subcommand)]
    Rds(Rds),
    /// Move writes and traffic to the target database and the new fleet
    /// (`--dry-run` prints the plan; `cutover rollback` goes back).
    Cutover {
        #[command(flatten)]
        args: Box<CutoverArgs>,
        #[command(subcommand)]
        action: Option<CutoverAction>,
    },
}

/// Where the name lives: from the command line, or `terraform output -json`.
#[derive(Args, Clone)]
struct DnsArgs {
    /// `terraform output -json > FILE` of the environment (zone_id, record_name,
    /// record_ttl_seconds, alb_dns_name, alb_zone_id, rds_instance_id).
    #[arg(long, global = true, env = "TWEETGEN_TERRAFORM_OUTPUT")]
    terraform_output: Option<PathBuf>,
    /// Route53 hosted zone id.
    #[arg(long, global = true)]
    zone_id: Option<String>,
    /// The service's name, e.g. tweetgen.example or www.tweetgen.example.
    #[arg(long, global = true)]
    record_name: Option<String>,
    /// The short TTL, in seconds.
    #[arg(long, global = true)]
    ttl: Option<i64>,
}

#[derive(Subcommand)]
enum Dns {
    /// Lower the record's TTL (default 60 s) and remember the old one.
    Prepare {
        #[command(flatten)]
        dns: DnsArgs,
        #[command(flatten)]
        work: Work,
    },
    /// The record now, and whether the old TTL has run out.
    Status {
        #[command(flatten)]
        dns: DnsArgs,
        #[command(flatten)]
        work: Work,
    },
}

#[derive(Subcommand)]
enum Rds {
    /// Available, storage autoscaling, rds.force_ssl=1, backups; exits 1 otherwise.
    Check {
        #[arg(long, env = "TWEETGEN_RDS_INSTANCE")]
        instance: Option<String>,
        #[arg(long, env = "TWEETGEN_TERRAFORM_OUTPUT")]
        terraform_output: Option<PathBuf>,
    },
    /// Take a snapshot and wait until it is available.
    Snapshot {
        #[arg(long, env = "TWEETGEN_RDS_INSTANCE")]
        instance: Option<String>,
        #[arg(long, env = "TWEETGEN_TERRAFORM_OUTPUT")]
        terraform_output: Option<PathBuf>,
        /// Give up after this many minutes.
        #[arg(long, default_value_t = 60)]
        wait_minutes: u64,
    },
}

#[derive(Subcommand)]
enum CutoverAction {
    /// Before the commit point: everything back on the source. After it: list the
    /// writes going back would lose, and go back only with --accept-loss.
    Rollback {
        #[arg(long)]
        accept_loss: bool,
    },
}

#[derive(Args, Clone)]
struct CutoverArgs {
    /// The migration's source and target (the migration user).
    #[arg(long, global = true, env = "TWEETGEN_MIGRATE_SOURCE")]
    source: Option<String>,
    #[arg(long, global = true, env = "TWEETGEN_MIGRATE_TARGET")]
    target: Option<String>,
    /// The URLs the servers use, when their user differs (default: --source, --target).
    #[arg(long, global = true, env = "TWEETGEN_APP_SOURCE_URL")]
    app_source_url: Option<String>,
    #[arg(long, global = true, env = "TWEETGEN_APP_TARGET_URL")]
    app_target_url: Option<String>,
    #[arg(long, global = true, env = "TWEETGEN_MIGRATE_DIR", default_value = "tweetgen-migrate")]
    work_dir: PathBuf,
    /// The old host's servers (http://host:port), comma-separated.
    #[arg(long, global = true, value_delimiter = ',', env = "TWEETGEN_OLD_FLEET")]
    old_fleet: Vec<String>,
    /// The new fleet's servers, comma-separated.
    #[arg(long, global = true, value_delimiter = ',', env = "TWEETGEN_NEW_FLEET")]
    new_fleet: Vec<String>,
    /// The servers' admin.token.
    #[arg(long, global = true, env = "TWEETGEN_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    #[command(flatten)]
    dns: DnsArgs,
    /// The ALB the name moves to (default: from terraform outputs).
    #[arg(long, global = true)]
    alb_dns_name: Option<String>,
    #[arg(long, global = true)]
    alb_zone_id: Option<String>,
    /// The target RDS instance to check (default: from terraform outputs).
    #[arg(long, global = true)]
    rds_instance: Option<String>,
    /// Leave DNS alone (no zone to change).
    #[arg(long, global = true)]
    skip_dns: bool,
    #[arg(long, global = true, default_value_t = 5.0)]
    max_lag_seconds: f64,
    #[arg(long, global = true, default_value = "16MB", value_parser = parse_size)]
    max_lag_bytes: u64,
    /// A `migrate verify` that found everything equal must be at most this old.
    #[arg(long, global = true, default_value_t = 60)]
    verify_max_age_minutes: u64,
    /// Steps each sequence is moved ahead.
    #[arg(long, global = true, default_value_t = 1000)]
    sequence_gap: i64,
    /// Print the plan and the checks; change nothing.
    #[arg(long, global = true)]
    dry_run: bool,
    /// Stop after this step (to rehearse, or to look before the commit point).
    #[arg(long, global = true, value_parser = clap::builder::PossibleValuesParser::new(cutover::STEPS))]
    stop_after: Option<String>,
}

#[derive(Args, Clone)]
struct Servers {
    /// The database to move from (postgres://…).
    #[arg(long, env = "TWEETGEN_MIGRATE_SOURCE")]
    source: String,
    /// The database to move into.
    #[arg(long, env = "TWEETGEN_MIGRATE_TARGET")]
    target: String,
}

#[derive(Args, Clone)]
struct Work {
    /// Where the migration keeps what it needs to resume.
    #[arg(long, env = "TWEETGEN_MIGRATE_DIR", default_value = "tweetgen-migrate")]
    work_dir: PathBuf,
}

#[derive(Args, Clone)]
struct CopyArgs {
    /// Tables copied and indexes built at once.
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    /// Split tables larger than this into ranges copied in parallel (e.g. 256MB, 1GB).
    #[arg(long, default_value = "256MB", value_parser = parse_size)]
    split_tables_larger_than: u64,
    /// Do not restore object ownership (the source's roles need not exist on the target).
    #[arg(long)]
    no_owner: bool,
    /// Do not restore privileges (GRANT/REVOKE).
    #[arg(long)]
    no_acl: bool,
    /// How long the snapshot outlives a copy that stopped, so that running the
    /// copy again continues under it.
    #[arg(long, default_value_t = 30)]
    hold_minutes: u64,
}

#[derive(Subcommand)]
enum Migrate {
    /// Check that the source can be moved into the target online; exits 1 on any blocker.
    Preflight {
        #[command(flatten)]
        servers: Servers,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Copy the schema and every row under one snapshot, in parallel, then build
    /// indexes and constraints; resumes where a previous run stopped.
    Copy {
        #[command(flatten)]
        servers: Servers,
        #[command(flatten)]
        work: Work,
        #[command(flatten)]
        copy: CopyArgs,
    },
    /// Apply the changes made on the source since the copy began, in commit order.
    Follow {
        #[command(flatten)]
        servers: Servers,
        #[command(flatten)]
        work: Work,
        /// Exit 0 once everything the source had committed when asked is applied.
        #[arg(long)]
        until_caught_up: bool,
    },
    /// preflight, copy, then follow: the one command to run.
    Sync {
        #[command(flatten)]
        servers: Servers,
        #[command(flatten)]
        work: Work,
        #[command(flatten)]
        copy: CopyArgs,
        /// Exit 0 once caught up instead of following on.
        #[arg(long)]
        until_caught_up: bool,
    },
    /// Compare every table at one consistent point; exits 0 only if all are equal.
    Verify {
        #[command(flatten)]
        servers: Servers,
        #[command(flatten)]
        work: Work,
        /// Ranges compared at once.
        #[arg(long, default_value_t = 4)]
        jobs: usize,
        /// About this many rows per compared range.
        #[arg(long, default_value_t = 100_000)]
        range_rows: i64,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Copy every sequence's value with a safety gap, then check none is below
    /// its column's largest value; exits 1 if one is.
    Sequences {
        #[command(flatten)]
        servers: Servers,
        /// Steps added to each value, for writes in flight.
        #[arg(long, default_value_t = 1000)]
        gap: i64,
        /// Only check the target's sequences against their columns.
        #[arg(long)]
        check_only: bool,
    },
    /// The migration's position and lag.
    Status {
        #[command(flatten)]
        servers: Servers,
        #[command(flatten)]
        work: Work,
        #[arg(long)]
        json: bool,
    },
    /// Drop the slot and publication on the source, the state on the target, and
    /// the work directory's files.
    Clean {
        #[arg(long, env = "TWEETGEN_MIGRATE_SOURCE")]
        source: Option<String>,
        #[arg(long, env = "TWEETGEN_MIGRATE_TARGET")]
        target: Option<String>,
        #[command(flatten)]
        work: Work,
    },
    /// (Internal) keep the copy's snapshot open; started by `copy`.
    #[command(hide = true)]
    HoldSnapshot {
        #[arg(long, env = "TWEETGEN_MIGRATE_SOURCE")]
        source: String,
        #[arg(long)]
        work_dir: PathBuf,
        #[arg(long)]
        hold_minutes: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("tweetgen-infra: {error:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Migrate(command) => migrate::run(command).await,
        Command::Dns(command) => dns_command(command).await,
        Command::Rds(command) => rds_command(command).await,
        Command::Cutover { args, action } => cutover_command(*args, action).await,
    }
}

/// The zone, the name and the TTL, from the command line or Terraform.
async fn dns_target(args: &DnsArgs) -> anyhow::Result<(aws_sdk_route53::Client, String, String, i64)> {
    let outputs = aws::TerraformOutputs::read(args.terraform_output.as_deref())?;
    let zone_id = aws::pick(&args.zone_id, &outputs.zone_id).context("--zone-id (or --terraform-output) is needed")?;
    let name = aws::pick(&args.record_name, &outputs.record_name)
        .context("--record-name (or --terraform-output) is needed")?;
    let ttl = aws::pick(&args.ttl, &outputs.record_ttl_seconds).unwrap_or(60);
    anyhow::ensure!((1..=60).contains(&ttl), "the short TTL is 1 to 60 seconds, not {ttl}");
    let client = aws_sdk_route53::Client::new(&aws::config().await?);
    Ok((client, zone_id, name, ttl))
}

async fn dns_command(command: Dns) -> anyhow::Result<ExitCode> {
    match command {
        Dns::Prepare { dns: args, work } => {
            let work = migrate::workdir::WorkDir::open_shared_or_create(&work.work_dir)?;
            let (client, zone_id, name, ttl) = dns_target(&args).await?;
            let prepared = dns::prepare(&client, &zone_id, &name, ttl).await?;
            for record in &prepared.before {
                println!("before: {}", record.describe());
            }
            for record in dns::records(&client, &zone_id, &name).await? {
                println!("now:    {}", record.describe());
            }
            let wait = prepared.old_ttl_elapses_at() - prepared.lowered_at;
            println!("dns prepare: TTL {ttl} s; the old TTL runs out in {wait:.0} s (`dns status` tells)");
            work.write_atomically(dns::PREPARED_FILE, &serde_json::to_vec_pretty(&prepared)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Dns::Status { dns: args, work } => {
            let work = migrate::workdir::WorkDir::open_shared(&work.work_dir)?;
            let (client, zone_id, name, ttl) = dns_target(&args).await?;
            for record in dns::records(&client, &zone_id, &name).await? {
                println!("now: {}", record.describe());
            }
            let prepared: Option<dns::Prepared> = std::fs::read(work.file(dns::PREPARED_FILE))
                .ok()
                .map(|bytes| serde_json::from_slice(&bytes))
                .transpose()?;
            let Some(prepared) = prepared else {
                println!("dns status: not prepared here: run `tweetgen-infra dns prepare`");
                return Ok(ExitCode::FAILURE);
            };
            let left = prepared.old_ttl_elapses_at() - dns::now();
            if left > 0.0 {
                println!("dns status: TTL lowered to {ttl} s; resolvers may hold the old TTL for {left:.0} s more");
                Ok(ExitCode::FAILURE)
            } else {
                println!(
                    "dns status: ready: the old TTL ran out {:.0} s ago; nobody caches the name for more than {ttl} s",
                    -left
                );
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

async fn rds_client_and_instance(
    instance: Option<String>,
    terraform_output: Option<PathBuf>,
) -> anyhow::Result<(aws_sdk_rds::Client, String)> {
    let outputs = aws::TerraformOutputs::read(terraform_output.as_deref())?;
    let instance =
        aws::pick(&instance, &outputs.rds_instance_id).context("--instance (or --terraform-output) is needed")?;
    Ok((aws_sdk_rds::Client::new(&aws::config().await?), instance))
}

async fn rds_command(command: Rds) -> anyhow::Result<ExitCode> {
    match command {
        Rds::Check { instance, terraform_output } => {
            let (client, instance) = rds_client_and_instance(instance, terraform_output).await?;
            let checks = rds::check(&client, &instance).await?;
            let (table, failed) = cutover::checks_table(&checks);
            print!("{table}");
            println!(
                "
rds check: {}",
                if failed { "NOT READY: fix the FAIL lines" } else { "ready" }
            );
            Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
        Rds::Snapshot { instance, terraform_output, wait_minutes } => {
            let (client, instance) = rds_client_and_instance(instance, terraform_output).await?;
            let id = rds::snapshot(&client, &instance, std::time::Duration::from_secs(wait_minutes * 60)).await?;
            println!("rds snapshot: {id} is available");
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn cutover_plan(args: &CutoverArgs) -> anyhow::Result<cutover::Plan> {
    let source_url = args.source.clone().context("--source (or TWEETGEN_MIGRATE_SOURCE) is needed")?;
    let target_url = args.target.clone().context("--target (or TWEETGEN_MIGRATE_TARGET) is needed")?;
    let token = args.admin_token.clone().context("--admin-token (or TWEETGEN_ADMIN_TOKEN) is needed")?;
    anyhow::ensure!(
        !args.old_fleet.is_empty() || !args.new_fleet.is_empty(),
        "name the servers: --old-fleet and --new-fleet (http://host:port, comma-separated)"
    );
    let outputs = aws::TerraformOutputs::read(args.dns.terraform_output.as_deref())?;
    let dns = if args.skip_dns {
        None
    } else {
        let (client, zone_id, name, ttl) = dns_target(&args.dns).await?;
        let alb_dns_name = aws::pick(&args.alb_dns_name, &outputs.alb_dns_name).context("--alb-dns-name is needed")?;
        let alb_zone_id = aws::pick(&args.alb_zone_id, &outputs.alb_zone_id).context("--alb-zone-id is needed")?;
        let (zone_name, name_servers) = dns::zone(&client, &zone_id).await?;
        let new_record = dns::alb_record(&name, &zone_name, &alb_dns_name, &alb_zone_id, ttl);
        Some(cutover::DnsPlan { client, zone_id, zone_name, name_servers, new_record })
    };
    let rds = match aws::pick(&args.rds_instance, &outputs.rds_instance_id) {
        Some(instance) => Some((aws_sdk_rds::Client::new(&aws::config().await?), instance)),
        None => None,
    };
    Ok(cutover::Plan {
        app_source_url: args.app_source_url.clone().unwrap_or_else(|| source_url.clone()),
        app_target_url: args.app_target_url.clone().unwrap_or_else(|| target_url.clone()),
        source_url,
        target_url,
        old_fleet: args.old_fleet.clone(),
        new_fleet: args.new_fleet.clone(),
        fleet: fleet::Fleet::new(&token)?,
        dns,
        rds,
        limits: cutover::Limits {
            max_lag_seconds: args.max_lag_seconds,
            max_lag_bytes: args.max_lag_bytes,
            verify_max_age: std::time::Duration::from_secs(args.verify_max_age_minutes * 60),
            sequence_gap: args.sequence_gap,
        },
    })
}

async fn cutover_command(args: CutoverArgs, action: Option<CutoverAction>) -> anyhow::Result<ExitCode> {
    let plan = cutover_plan(&args).await?;
    let work = migrate::workdir::WorkDir::open_locked(&args.work_dir, "cutover.lock")?;
    if let Some(CutoverAction::Rollback { accept_loss }) = action {
        let done = cutover::rollback(&plan, &work, accept_loss).await?;
        return Ok(if done { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    let (table, failed) = cutover::checks_table(&cutover::checks(&plan, &work).await?);
    print!("{table}");
    if args.dry_run {
        print!("\nplan:\n{}", cutover::describe(&plan));
        println!("\ncutover --dry-run: {}", if failed { "the checks would stop it" } else { "ready" });
        return Ok(if failed { ExitCode::FAILURE } else { ExitCode::SUCCESS });
    }
    if failed {
        println!("\ncutover: not started: fix the FAIL lines");
        return Ok(ExitCode::FAILURE);
    }
    print!("{}", cutover::run(&plan, &work, args.stop_after.as_deref()).await?);
    match args.stop_after.as_deref() {
        Some(step) if step != cutover::STEPS[cutover::STEPS.len() - 1] => println!("cutover: stopped after {step}"),
        _ => println!("cutover: complete"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `256MB`, `1GB`, `512kB`, `1048576`: units of 1024, as PostgreSQL's settings and
/// pgcopydb read them (the case of the unit does not matter here).
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| format!("not a size: {text:?} (e.g. 256MB)"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1 << 10,
        "mb" => 1 << 20,
        "gb" => 1 << 30,
        "tb" => 1 << 40,
        _ => return Err(format!("unknown unit in {text:?}: use B, kB, MB, GB or TB")),
    };
    Ok(number * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_pgcopydb() {
        assert_eq!(parse_size("256MB"), Ok(256 << 20));
        assert_eq!(parse_size("1gb"), Ok(1 << 30));
        assert_eq!(parse_size("4096"), Ok(4096));
        assert!(parse_size("1.5GB").is_err());
        assert!(parse_size("12 parsecs").is_err());
    }

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
