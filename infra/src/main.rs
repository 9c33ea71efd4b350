//! `tweetgen-infra`: the operations CLI (pgcopydb's style: one subcommand per
//! step). `migrate preflight` is the first; the rest of the migration and the
//! cutover arrive with their issues.

mod migrate;
mod report;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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

#[derive(Subcommand)]
enum Migrate {
    /// Check that the source can be moved into the target online; exits 1 on any blocker.
    Preflight {
        /// The database to move from (postgres://…).
        #[arg(long, env = "TWEETGEN_MIGRATE_SOURCE")]
        source: String,
        /// The database to move into.
        #[arg(long, env = "TWEETGEN_MIGRATE_TARGET")]
        target: String,
        /// Print JSON instead of the table.
        #[arg(long)]
        json: bool,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("tweetgen-infra: {error:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Migrate(Migrate::Preflight { source, target, json }) => {
            let found = migrate::preflight::run(&source, &target).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&found)?);
            } else {
                print!("{}", report::table(&found.checks));
                let verdict = if found.blocked() { "blocked: fix the FAIL lines" } else { "ready" };
                println!("\npreflight: {verdict}");
            }
            Ok(if found.blocked() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
        }
    }
}
