//! `tweetgen-infra`: the operations CLI, in pgcopydb's style — one subcommand per
//! step, each resumable from a work directory, each ending with a summary. The
//! options are in `cli.rs`, each command group's handlers in `cli_*.rs`.

mod aws;
mod cli;
mod cli_cutover;
mod cli_dns;
mod cli_migrate;
mod cli_rds;
mod cutover;
mod dns;
mod migrate;
mod pg;
mod rds;
mod report;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

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
        Command::Migrate(command) => cli_migrate::run(command).await,
        Command::Dns(command) => cli_dns::run(command).await,
        Command::Rds(command) => cli_rds::run(command).await,
        Command::Cutover { args, action } => cli_cutover::run(*args, action).await,
    }
}
