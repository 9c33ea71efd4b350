//! `tweetgen-infra`: the operations CLI, in pgcopydb's style — one subcommand per
//! step, each resumable from a work directory, each ending with a summary.

mod migrate;
mod pg;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;

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
    let Command::Migrate(command) = cli.command;
    migrate::run(command).await
}

/// `256MB`, `1GB`, `512kB`, `1048576` (decimal units, as pgcopydb reads them).
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| format!("not a size: {text:?} (e.g. 256MB)"))?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => return Err(format!("unknown unit in {text:?}: use B, kB, MB, GB or TB")),
    };
    Ok(number * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_pgcopydb() {
        assert_eq!(parse_size("256MB"), Ok(256_000_000));
        assert_eq!(parse_size("1gb"), Ok(1_000_000_000));
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
