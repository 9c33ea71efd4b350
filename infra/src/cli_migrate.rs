//! `tweetgen-infra migrate …`: each subcommand's handler (the steps themselves
//! are in `migrate/`).

use std::process::ExitCode;

use crate::cli::{CopyArgs, Databases, Migrate};
use crate::migrate::workdir::WorkDir;
use crate::migrate::{clean, copy, follow, preflight, progress, schema, sequences, snapshot, state, verify};
use crate::pg;
use crate::report;

pub async fn run(command: Migrate) -> anyhow::Result<ExitCode> {
    match command {
        Migrate::Preflight { databases, json } => run_preflight(&databases, json).await,
        Migrate::Copy { databases, work, copy } => {
            let work = WorkDir::open(&work.work_dir)?;
            copy::run(&work, &copy_options(&databases, &copy)?).await?;
            Ok(ExitCode::SUCCESS)
        }
        Migrate::Follow { databases, work, until_caught_up } => {
            let work = WorkDir::open(&work.work_dir)?;
            run_follow(&work, &databases, until_caught_up).await
        }
        Migrate::Sync { databases, work, copy, until_caught_up } => {
            let code = run_preflight(&databases, false).await?;
            if code != ExitCode::SUCCESS {
                return Ok(code);
            }
            let work = WorkDir::open(&work.work_dir)?;
            copy::run(&work, &copy_options(&databases, &copy)?).await?;
            run_follow(&work, &databases, until_caught_up).await
        }
        Migrate::Verify { databases, work, jobs, range_rows, json } => {
            let work = WorkDir::open_shared(&work.work_dir)?;
            let options = verify::Options {
                source_url: databases.source()?.to_string(),
                target_url: databases.target()?.to_string(),
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
        Migrate::Sequences { databases, gap, check_only } => {
            let mut target = pg::connect(pg::Side::Target, databases.target()?).await?;
            let reports = if check_only {
                sequences::check_all(&mut target).await?
            } else {
                let mut source = pg::connect(pg::Side::Source, databases.source()?).await?;
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
        Migrate::Status { databases, work, json } => {
            let work = WorkDir::open_shared(&work.work_dir)?;
            let status = follow::status(&work.existing_migration()?, databases.source()?, databases.target()?).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print!("{}", status_table(&status));
            }
            Ok(ExitCode::SUCCESS)
        }
        Migrate::Clean { databases, work } => {
            let work = WorkDir::open(&work.work_dir)?;
            for line in clean::run(&work, databases.source.as_deref(), databases.target.as_deref()).await? {
                println!("{line}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Migrate::HoldSnapshot { databases, work, hold_minutes } => {
            snapshot::hold(databases.source()?, &work.work_dir, hold_minutes).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn run_preflight(databases: &Databases, json: bool) -> anyhow::Result<ExitCode> {
    let found = preflight::run(databases.source()?, databases.target()?).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&found)?);
    } else {
        print!("{}", report::table(&found.checks));
        let verdict = if found.blocked() { "blocked: fix the FAIL lines" } else { "ready" };
        println!("\npreflight: {verdict}");
    }
    Ok(if found.blocked() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn copy_options(databases: &Databases, copy: &CopyArgs) -> anyhow::Result<copy::Options> {
    Ok(copy::Options {
        source_url: databases.source()?.to_string(),
        target_url: databases.target()?.to_string(),
        jobs: copy.jobs,
        index_jobs: copy.index_jobs.unwrap_or(copy.jobs),
        indexes: copy.indexes,
        split_bytes: copy.split_tables_larger_than,
        in_index_order: copy.in_index_order.clone(),
        toast_compression: copy.toast_compression,
        schema: schema::Options { no_owner: copy.no_owner, no_acl: copy.no_acl },
        hold_minutes: copy.hold_minutes,
    })
}

async fn run_follow(work: &WorkDir, databases: &Databases, until_caught_up: bool) -> anyhow::Result<ExitCode> {
    let migration = work.existing_migration()?;
    let (source, target) = (databases.source()?, databases.target()?);
    let follower = follow::Follower::connect(migration, source, target).await?;
    let reverse = follow::Reverse::new(work, source, target);
    follow::run(follower, until_caught_up, &progress::Progress::new(), reverse).await?;
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
