//! `tweetgen-infra migrate`: moving a live PostgreSQL database to another
//! server — preflight, copy, follow, verify, sequences, status, clean — with a
//! work directory that lets each step be run again and continue.

mod apply;
mod catalog;
mod clean;
mod copy;
pub(crate) mod follow;
mod pgoutput;
pub mod preflight;
pub(crate) mod progress;
mod schema;
pub(crate) mod sequences;
mod snapshot;
pub(crate) mod state;
pub(crate) mod verify;
pub(crate) mod workdir;

use std::process::ExitCode;

use crate::{report, CopyArgs, Migrate, Servers};
use workdir::WorkDir;

pub async fn run(command: Migrate) -> anyhow::Result<ExitCode> {
    match command {
        Migrate::Preflight { servers, json } => preflight(&servers, json).await,
        Migrate::Copy { servers, work, copy } => {
            let work = WorkDir::open(&work.work_dir)?;
            copy::run(&work, &copy_options(&servers, &copy)).await?;
            Ok(ExitCode::SUCCESS)
        }
        Migrate::Follow { servers, work, until_caught_up } => {
            let work = WorkDir::open(&work.work_dir)?;
            follow(&work, &servers, until_caught_up).await
        }
        Migrate::Sync { servers, work, copy, until_caught_up } => {
            let code = preflight(&servers, false).await?;
            if code != ExitCode::SUCCESS {
                return Ok(code);
            }
            let work = WorkDir::open(&work.work_dir)?;
            copy::run(&work, &copy_options(&servers, &copy)).await?;
            follow(&work, &servers, until_caught_up).await
        }
        Migrate::Verify { servers, work, jobs, range_rows, json } => {
            let work = WorkDir::open_shared(&work.work_dir)?;
            let options = verify::Options {
                source_url: servers.source,
                target_url: servers.target,
                jobs,
                range_rows,
                show_rows: 20,
            };
            let results = verify::run(work.migration()?, &options, &progress::Progress::new()).await?;
            let (table, equal) = verify::report(&results);
            if json {
                println!("{}", serde_json::to_string_pretty(&results)?);
            } else {
                print!("{table}");
                println!("\nverify: {}", if equal { "source and target are equal" } else { "DIFFERENT" });
            }
            if equal {
                if let Some(migration) = work.migration()? {
                    let mut target = pg::connect(pg::Side::Target, &options.target_url).await?;
                    state::record_verified(&mut target, &migration.id).await?;
                }
            }
            Ok(if equal { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Migrate::Sequences { servers, gap, check_only } => {
            let mut target = pg::connect(pg::Side::Target, &servers.target).await?;
            let reports = if check_only {
                sequences::check_all(&mut target).await?
            } else {
                let mut source = pg::connect(pg::Side::Source, &servers.source).await?;
                sequences::copy_values(&mut source, &mut target, gap).await?
            };
            print!("{}", sequences::table(&reports));
            let ok = reports.iter().all(|report| report.ok);
            println!(
                "\nsequences: {}",
                if ok { "every one is ahead of its column" } else { "BEHIND: fix the FAIL lines" }
            );
            Ok(if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Migrate::Status { servers, work, json } => {
            let work = WorkDir::open_shared(&work.work_dir)?;
            let status = follow::status(&work.existing_migration()?, &servers.source, &servers.target).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", status_table(&status));
            }
            Ok(ExitCode::SUCCESS)
        }
        Migrate::Clean { source, target, work } => {
            let work = WorkDir::open(&work.work_dir)?;
            for line in clean::run(&work, source.as_deref(), target.as_deref()).await? {
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Migrate::HoldSnapshot { source, work_dir, hold_minutes } => {
            snapshot::hold(&source, &work_dir, hold_minutes).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

use crate::pg;

async fn preflight(servers: &Servers, json: bool) -> anyhow::Result<ExitCode> {
    let found = preflight::run(&servers.source, &servers.target).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&found)?);
    } else {
        print!("{}", report::table(&found.checks));
        let verdict = if found.blocked() { "blocked: fix the FAIL lines" } else { "ready" };
        println!("\npreflight: {verdict}");
    }
    Ok(if found.blocked() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn copy_options(servers: &Servers, copy: &CopyArgs) -> copy::Options {
    copy::Options {
        source_url: servers.source.clone(),
        target_url: servers.target.clone(),
        jobs: copy.jobs,
        split_bytes: copy.split_tables_larger_than,
        schema: schema::Options { no_owner: copy.no_owner, no_acl: copy.no_acl },
        hold_minutes: copy.hold_minutes,
    }
}

async fn follow(work: &WorkDir, servers: &Servers, until_caught_up: bool) -> anyhow::Result<ExitCode> {
    let migration = work.existing_migration()?;
    let follower = follow::Follower::connect(migration, &servers.source, &servers.target).await?;
    follow::run(follower, until_caught_up, &progress::Progress::new()).await?;
    Ok(ExitCode::SUCCESS)
}

fn status_table(status: &follow::Status) -> String {
    let mut out = String::new();
    let mut line = |name: &str, value: String| out.push_str(&format!("{name:<22} {value}\n"));
    line("migration", status.migration.clone());
    line("slot", status.slot.clone());
    line("source WAL", status.source_lsn.to_string());
    line("applied up to", status.applied_lsn.to_string());
    line("lag", format!("{} bytes, {:.1} s", status.lag_bytes, status.lag_seconds));
    line("applied", format!("{} transactions, {} changes", status.transactions, status.changes));
    if let Some(retained) = status.slot_retained_bytes {
        line("WAL kept by the slot", progress::bytes(retained.max(0) as u64));
    }
    let steps: Vec<&str> = status.steps.iter().map(|(name, _)| name.as_str()).collect();
    line("steps done", steps.join(", "));
    out
}
