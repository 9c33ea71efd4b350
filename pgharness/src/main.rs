//! `tweetgen-pg run [--data-dir DIR] [--port P] [--database NAME] [--set NAME=VALUE]... -- COMMAND...`
//!
//! Starts a PostgreSQL cluster of the project's own, creates the database, runs
//! COMMAND with `DATABASE_URL` pointing at it, and stops the cluster when COMMAND
//! ends (or when this process gets SIGINT/SIGTERM, which it passes on to COMMAND).

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::{Context, Result};
use clap::Parser;
use signal_hook::consts::{SIGINT, SIGTERM};
use tweetgen_pgharness::{die_with_parent, ClusterOptions, PgCluster};

#[derive(Parser)]
#[command(name = "tweetgen-pg", about = "Run a command against a throwaway PostgreSQL cluster")]
enum Cli {
    /// Start a cluster, run COMMAND with DATABASE_URL set, stop the cluster.
    Run {
        /// Keep the cluster's data here across runs; default: a temporary directory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Port to listen on (127.0.0.1); default: a free one.
        #[arg(long, env = "TWEETGEN_PG_PORT")]
        port: Option<u16>,
        /// Database to create (if missing) and point DATABASE_URL at.
        #[arg(long, default_value = "tweetgen")]
        database: String,
        /// A server setting, e.g. `--set fsync=on` (repeatable; overrides the harness's own).
        #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_setting)]
        settings: Vec<(String, String)>,
        #[arg(required = true, last = true)]
        command: Vec<String>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("tweetgen-pg: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn parse_setting(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => Ok((name.trim().to_string(), value.to_string())),
        _ => Err(format!("expected NAME=VALUE, got {text:?}")),
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let Cli::Run { data_dir, port, database, settings, command } = cli;
    let data_dir = data_dir.map(|dir| std::path::absolute(dir.join("data"))).transpose()?;
    let cluster = PgCluster::start_with(ClusterOptions { data_dir, port, settings, ..ClusterOptions::default() })?;
    let url = cluster.create_database(&database)?;
    eprintln!(
        "tweetgen-pg: PostgreSQL on port {} (data in {}); DATABASE_URL={url}",
        cluster.port(),
        cluster.data_dir().display()
    );

    let mut child = Command::new(&command[0]);
    child.args(&command[1..]).env("DATABASE_URL", &url);
    die_with_parent(&mut child, libc::SIGTERM);
    let mut child = child.spawn().with_context(|| format!("starting {:?}", command[0]))?;
    // Pass termination on to the command and keep running until it has exited,
    // so that the cluster outlives its last client.
    let child_pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if let Ok(signal) = nix::sys::signal::Signal::try_from(signal) {
                let _ = nix::sys::signal::kill(child_pid, signal);
            }
        }
    });
    let status = child.wait()?;
    cluster.stop()?;
    Ok(ExitCode::from(status.code().unwrap_or(1).clamp(0, 255) as u8))
}
