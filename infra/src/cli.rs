//! The command line: every subcommand and its options. Options that several
//! commands take are defined once here (`Databases`, `Work`, `TerraformOutput`,
//! `DnsArgs`) and flattened where they are used; the handlers are in `cli_*.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::cutover::Step;
use crate::migrate::copy::ToastCompression;
use crate::migrate::indexes::Timing;
use crate::pg::TableName;

#[derive(Parser)]
#[command(
    name = "tweetgen-infra",
    version,
    about = "Operations for tweetgen: online PostgreSQL migration and the cutover to AWS"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Move a live PostgreSQL database to another server.
    #[command(subcommand)]
    Migrate(Migrate),
    /// The service's name in Route53, ahead of the cutover.
    #[command(subcommand)]
    Dns(Dns),
    /// The target RDS instance.
    #[command(subcommand)]
    Rds(Rds),
    /// Move writes and traffic to the target database and the new fleet, through
    /// the databases' control records (`--dry-run` prints the plan; `cutover
    /// rollback` goes back, also after the commit point, losing nothing).
    #[command(args_conflicts_with_subcommands = true)]
    Cutover {
        #[command(flatten)]
        args: Box<CutoverArgs>,
        #[command(subcommand)]
        action: Option<CutoverAction>,
    },
}

/// The migration's two databases, as the migration user (the owner) reaches them.
#[derive(Args, Clone, Debug)]
pub struct Databases {
    /// The database to move from (postgres://…).
    #[arg(long, env = "TWEETGEN_MIGRATE_SOURCE", hide_env_values = true)]
    pub source: Option<String>,
    /// The database to move into.
    #[arg(long, env = "TWEETGEN_MIGRATE_TARGET", hide_env_values = true)]
    pub target: Option<String>,
}

impl Databases {
    pub fn source(&self) -> anyhow::Result<&str> {
        self.source.as_deref().ok_or_else(|| anyhow::anyhow!("--source (or TWEETGEN_MIGRATE_SOURCE) is needed"))
    }

    pub fn target(&self) -> anyhow::Result<&str> {
        self.target.as_deref().ok_or_else(|| anyhow::anyhow!("--target (or TWEETGEN_MIGRATE_TARGET) is needed"))
    }
}

#[derive(Args, Clone, Debug)]
pub struct Work {
    /// Where the migration keeps what it needs to resume.
    #[arg(long, env = "TWEETGEN_MIGRATE_DIR", default_value = "tweetgen-migrate")]
    pub work_dir: PathBuf,
}

#[derive(Args, Clone, Debug)]
pub struct TerraformOutput {
    /// `terraform output -json > FILE` of the environment: fills in what the
    /// command line leaves out (zone_id, record_name, record_ttl_seconds,
    /// alb_dns_name, alb_zone_id, rds_instance_id, database_name, old_database_name).
    #[arg(long, env = "TWEETGEN_TERRAFORM_OUTPUT")]
    pub terraform_output: Option<PathBuf>,
}

/// Where the name lives.
#[derive(Args, Clone, Debug)]
pub struct DnsArgs {
    /// Route53 hosted zone id.
    #[arg(long)]
    pub zone_id: Option<String>,
    /// The service's name, e.g. tweetgen.example or www.tweetgen.example.
    #[arg(long)]
    pub record_name: Option<String>,
    /// The short TTL, in seconds.
    #[arg(long)]
    pub ttl: Option<i64>,
}

#[derive(Subcommand)]
pub enum Dns {
    /// Lower the record's TTL (default 60 s) and remember the old one.
    Prepare {
        #[command(flatten)]
        dns: DnsArgs,
        #[command(flatten)]
        terraform: TerraformOutput,
        #[command(flatten)]
        work: Work,
    },
    /// The record now, and whether the old TTL has run out.
    Status {
        #[command(flatten)]
        dns: DnsArgs,
        #[command(flatten)]
        terraform: TerraformOutput,
        #[command(flatten)]
        work: Work,
    },
}

#[derive(Subcommand)]
pub enum Rds {
    /// Available, storage autoscaling, rds.force_ssl = 1, rds.logical_replication
    /// = 1 (the rollback's reverse stream), backups; exits 1 otherwise.
    Check {
        #[arg(long, env = "TWEETGEN_RDS_INSTANCE")]
        instance: Option<String>,
        #[command(flatten)]
        terraform: TerraformOutput,
    },
    /// Take a snapshot and wait until it is available.
    Snapshot {
        #[arg(long, env = "TWEETGEN_RDS_INSTANCE")]
        instance: Option<String>,
        #[command(flatten)]
        terraform: TerraformOutput,
        /// Give up after this many minutes.
        #[arg(long, default_value_t = 60)]
        wait_minutes: u64,
    },
}

#[derive(Subcommand)]
pub enum CutoverAction {
    /// Everything back on the source. Before the commit point nothing was written
    /// to the target; after it, the reverse stream brings what was back first.
    Rollback {
        #[command(flatten)]
        args: Box<CutoverArgs>,
    },
}

#[derive(Args, Clone, Debug)]
pub struct CutoverArgs {
    #[command(flatten)]
    pub databases: Databases,
    #[command(flatten)]
    pub work: Work,
    #[command(flatten)]
    pub terraform: TerraformOutput,
    /// The source's name in the servers' configuration (`database.name` on the
    /// old host, `database.others.NAME` on the new fleet); default: Terraform's
    /// `old_database_name`.
    #[arg(long, env = "TWEETGEN_SOURCE_NAME")]
    pub source_name: Option<String>,
    /// The target's name in the servers' configuration; default: Terraform's `database_name`.
    #[arg(long, env = "TWEETGEN_TARGET_NAME")]
    pub target_name: Option<String>,
    #[command(flatten)]
    pub dns: DnsArgs,
    /// The ALB the name moves to (default: from terraform outputs).
    #[arg(long)]
    pub alb_dns_name: Option<String>,
    #[arg(long)]
    pub alb_zone_id: Option<String>,
    /// The target RDS instance to check (default: from terraform outputs).
    #[arg(long)]
    pub rds_instance: Option<String>,
    /// Leave DNS alone (no zone to change).
    #[arg(long)]
    pub skip_dns: bool,
    #[arg(long, default_value_t = 5.0)]
    pub max_lag_seconds: f64,
    #[arg(long, default_value = "16MB", value_parser = parse_size)]
    pub max_lag_bytes: u64,
    /// A `migrate verify` that found everything equal must be at most this old.
    #[arg(long, default_value_t = 60)]
    pub verify_max_age_minutes: u64,
    /// Steps each sequence is moved ahead.
    #[arg(long, default_value_t = 1000)]
    pub sequence_gap: i64,
    /// How long the fence waits for the servers' writes under way to finish
    /// before the database ends their sessions.
    #[arg(long, default_value_t = 2000)]
    pub drain_ms: u64,
    /// A server that has not reported for this long is gone (stopped, replaced).
    #[arg(long, default_value_t = 3.0)]
    pub presence_timeout_seconds: f64,
    /// How long `confirm` waits for every server to be on the new database.
    #[arg(long, default_value_t = 30)]
    pub confirm_seconds: u64,
    /// Print the plan and the checks; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Stop after this step (to rehearse, or to look before the commit point).
    #[arg(long, value_enum)]
    pub stop_after: Option<Step>,
}

#[derive(Args, Clone, Debug)]
pub struct CopyArgs {
    /// Table parts copied at once.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// The target's cores that index builds may use (default: as many as
    /// --jobs): a build counts as its own process plus the parallel workers it
    /// has at the moment, and gets as many workers as other cores are free.
    #[arg(long)]
    pub index_jobs: Option<usize>,
    /// When a table's indexes are built: as soon as its rows are in, while other
    /// tables still copy (overlapped), or once every table's rows are in
    /// (after-data: the snapshot is released sooner and the copies run alone).
    #[arg(long, value_enum, default_value_t = Timing::Overlapped)]
    pub indexes: Timing,
    /// How the target compresses large values of columns that name no method:
    /// lz4 (much less CPU than pglz, where the target has it) or the server's default.
    #[arg(long, value_enum, default_value_t = ToastCompression::Lz4)]
    pub toast_compression: ToastCompression,
    /// Split tables larger than this into ranges copied in parallel (e.g. 256MB, 1GB).
    #[arg(long, default_value = "256MB", value_parser = parse_size)]
    pub split_tables_larger_than: u64,
    /// Copy this table (schema.name; repeatable) whole, in the order of its
    /// largest B-tree index, so that the target builds that index from sorted
    /// rows (about half the CPU for text keys). It is then one stream, not
    /// ranges: for a target whose CPU, not the link, is the bound.
    #[arg(long = "in-index-order", value_name = "TABLE", value_parser = parse_table_name)]
    pub in_index_order: Vec<TableName>,
    /// Do not restore object ownership (the source's roles need not exist on the target).
    #[arg(long)]
    pub no_owner: bool,
    /// Do not restore privileges (GRANT/REVOKE).
    #[arg(long)]
    pub no_acl: bool,
    /// How long the snapshot outlives a copy that stopped, so that running the
    /// copy again continues under it.
    #[arg(long, default_value_t = 30)]
    pub hold_minutes: u64,
}

#[derive(Subcommand)]
pub enum Migrate {
    /// Check that the source can be moved into the target online; exits 1 on any blocker.
    Preflight {
        #[command(flatten)]
        databases: Databases,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
    /// Copy the schema and every row under one snapshot, in parallel, then build
    /// indexes and constraints; resumes where a previous run stopped.
    Copy {
        #[command(flatten)]
        databases: Databases,
        #[command(flatten)]
        work: Work,
        #[command(flatten)]
        copy: CopyArgs,
    },
    /// Apply the changes made on the source since the copy began, in commit order.
    Follow {
        #[command(flatten)]
        databases: Databases,
        #[command(flatten)]
        work: Work,
        /// Exit 0 once everything the source had committed when asked is applied.
        #[arg(long)]
        until_caught_up: bool,
    },
    /// preflight, copy, then follow: the one command to run.
    Sync {
        #[command(flatten)]
        databases: Databases,
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
        databases: Databases,
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
        databases: Databases,
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
        databases: Databases,
        #[command(flatten)]
        work: Work,
        #[arg(long)]
        json: bool,
    },
    /// Drop the slots and publications of both directions, this tool's state on
    /// both sides, and the work directory's files (whatever of it is reachable).
    Clean {
        #[command(flatten)]
        databases: Databases,
        #[command(flatten)]
        work: Work,
    },
    /// (Internal) keep the copy's snapshot open; started by `copy`.
    #[command(hide = true)]
    HoldSnapshot {
        #[command(flatten)]
        databases: Databases,
        #[command(flatten)]
        work: Work,
        #[arg(long)]
        hold_minutes: u64,
    },
}

/// `256MB`, `1GB`, `512kB`, `1048576`: units of 1024, as PostgreSQL's settings and
/// pgcopydb read them (the case of the unit does not matter here).
pub fn parse_size(text: &str) -> Result<u64, String> {
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

/// `schema.name`, as the catalog spells them (no quotes).
pub fn parse_table_name(text: &str) -> Result<TableName, String> {
    match text.split_once('.') {
        Some((schema, name)) if !schema.is_empty() && !name.is_empty() => Ok(TableName::new(schema, name)),
        _ => Err(format!("not a schema-qualified table name: {text:?} (e.g. public.markov_transitions)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_name_their_schema() {
        assert_eq!(parse_table_name("public.markov_transitions"), Ok(TableName::new("public", "markov_transitions")));
        assert_eq!(parse_table_name("app.v2.events"), Ok(TableName::new("app", "v2.events")));
        assert!(parse_table_name("markov_transitions").is_err());
        assert!(parse_table_name(".t").is_err());
    }

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

    #[test]
    fn rollback_takes_the_cutover_options_after_it() {
        let cli = Cli::try_parse_from(["tweetgen-infra", "cutover", "rollback", "--source-name", "vps"]).unwrap();
        let Command::Cutover { action: Some(CutoverAction::Rollback { args }), .. } = cli.command else { panic!() };
        assert_eq!(args.source_name.as_deref(), Some("vps"));
        let cli = Cli::try_parse_from(["tweetgen-infra", "cutover", "--stop-after", "commit"]).unwrap();
        let Command::Cutover { args, action: None } = cli.command else { panic!() };
        assert_eq!(args.stop_after, Some(Step::Commit));
        assert!(Cli::try_parse_from(["tweetgen-infra", "cutover", "--stop-after", "open-writes"]).is_err());
    }
}
