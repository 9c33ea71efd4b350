//! The schema, through PostgreSQL's own tools: `pg_dump` reads it under the
//! copy's snapshot, `pg_restore` writes its pre-data part (types, tables,
//! sequences…) before the rows and its post-data part (indexes, constraints,
//! triggers…) item by item, as `indexes.rs` orders them. Every item runs through
//! `psql` in one transaction with the mark that says it is done, so a killed copy
//! redoes no index twice.

use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::{bail, Context};

use super::state;
use super::workdir::WorkDir;
use crate::pg;

#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Leave ownership to the target's user (the source's roles need not exist there).
    pub no_owner: bool,
    /// Leave out GRANTs and REVOKEs.
    pub no_acl: bool,
}

impl Options {
    fn restore_flags(self) -> Vec<&'static str> {
        let mut flags = Vec::new();
        if self.no_owner {
            flags.push("--no-owner");
        }
        if self.no_acl {
            flags.push("--no-acl");
        }
        flags
    }
}

const DUMP_FILE: &str = "schema.dump";

/// `pg_dump --schema-only` of the source, under the snapshot, into the work
/// directory (kept: a resumed copy restores from the same dump).
pub async fn dump(source_url: &str, snapshot: &str, work: &WorkDir) -> anyhow::Result<PathBuf> {
    let path = work.file(DUMP_FILE);
    if path.exists() {
        return Ok(path);
    }
    let partial = work.file(&format!("{DUMP_FILE}.partial"));
    let mut command = pg::client_command("pg_dump", source_url)?;
    command
        .args(["--format=custom", "--schema-only", "--no-publications", "--no-subscriptions"])
        // Each database keeps its own control record, and this tool's state is not data.
        .args(["--exclude-schema=tweetgen_control", "--exclude-schema=tweetgen_migrate"])
        .arg(format!("--snapshot={snapshot}"))
        .arg("--file")
        .arg(&partial);
    pg::run_client(command, "pg_dump --schema-only of the source").await?;
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

/// Restores the pre-data section in one transaction with its mark.
pub async fn restore_pre_data(target_url: &str, work: &WorkDir, options: Options) -> anyhow::Result<()> {
    let script = restore_script(work, &["--section=pre-data"], options).await?;
    run_script(target_url, work, "pre-data.sql", &(script + &state::mark_step_sql("pre-data"))).await
}

/// One post-data item of the dump's table of contents.
#[derive(Clone, Debug)]
pub struct Item {
    pub toc_id: i32,
    /// The object's OID on the source (the index, the constraint…).
    pub object: u32,
    /// As `pg_restore -l` names it, e.g. `INDEX public generations_user_id_idx`.
    pub description: String,
}

/// The post-data items, from `pg_restore -l`.
pub async fn post_data_items(work: &WorkDir) -> anyhow::Result<Vec<Item>> {
    let mut command = tokio::process::Command::new(pg::program("pg_restore"));
    command.args(["--list", "--section=post-data"]).arg(work.file(DUMP_FILE));
    let output = command.output().await.context("running pg_restore --list")?;
    if !output.status.success() {
        bail!("pg_restore --list: {}", String::from_utf8_lossy(&output.stderr).trim());
    }
    String::from_utf8(output.stdout)?.lines().filter_map(parse_toc_line).collect()
}

/// `3213; 1259 16424 INDEX public v_u_idx owner` → (3213, `INDEX public v_u_idx owner`).
fn parse_toc_line(line: &str) -> Option<anyhow::Result<Item>> {
    if line.starts_with(';') || line.trim().is_empty() {
        return None;
    }
    let (id, rest) = line.split_once(';')?;
    let mut words = rest.trim_start().splitn(3, ' ');
    let (_catalog, object, description) = (words.next()?, words.next()?, words.next()?);
    let parse = || -> anyhow::Result<Item> {
        Ok(Item { toc_id: id.trim().parse()?, object: object.parse()?, description: description.to_string() })
    };
    Some(parse().with_context(|| format!("reading pg_restore's list: {line:?}")))
}

/// Creates one post-data item as pg_dump wrote it, after `settings` (SQL for
/// its session), with its mark.
pub async fn restore_item(
    target_url: &str,
    work: &WorkDir,
    options: Options,
    item: &Item,
    settings: &str,
) -> anyhow::Result<()> {
    let list = work.file(&format!("post-data-{}.list", item.toc_id));
    std::fs::write(&list, format!("{};\n", item.toc_id))?;
    let list_flag = format!("--use-list={}", list.display());
    let script = restore_script(work, &["--section=post-data", &list_flag], options).await;
    let _ = std::fs::remove_file(list);
    run_item_script(target_url, work, item, &format!("{settings}{}{}", script?, done_mark(item))).await
}

/// Runs statements of one item (with their mark) in one transaction.
pub async fn run_item_script(target_url: &str, work: &WorkDir, item: &Item, script: &str) -> anyhow::Result<()> {
    run_script(target_url, work, &format!("post-data-{}.sql", item.toc_id), script)
        .await
        .with_context(|| format!("creating {}", item.description))
}

/// The SQL that marks an item done.
pub fn done_mark(item: &Item) -> String {
    format!(
        "INSERT INTO tweetgen_migrate.post_data (toc_id, description) VALUES ({}, {});\n",
        item.toc_id,
        pg::literal(&item.description)
    )
}

/// The SQL that marks a key's index built (its attachment still to come).
pub fn key_index_mark(item: &Item) -> String {
    format!("INSERT INTO tweetgen_migrate.key_indexes (toc_id) VALUES ({});\n", item.toc_id)
}

async fn restore_script(work: &WorkDir, flags: &[&str], options: Options) -> anyhow::Result<String> {
    let mut command = tokio::process::Command::new(pg::program("pg_restore"));
    command.args(flags).args(options.restore_flags()).arg("--file=-").arg(work.file(DUMP_FILE));
    let output = command.output().await.context("running pg_restore")?;
    if !output.status.success() {
        bail!("pg_restore {}: {}", flags.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(String::from_utf8(output.stdout)?)
}

/// Runs a script with `psql` in a single transaction, stopping at the first error.
async fn run_script(target_url: &str, work: &WorkDir, name: &str, script: &str) -> anyhow::Result<()> {
    let path = work.file(name);
    std::fs::write(&path, script)?;
    let mut command = pg::client_command("psql", target_url)?;
    command.args(["-X", "-q", "--single-transaction", "-v", "ON_ERROR_STOP=1", "-f"]).arg(&path);
    pg::run_client(command, &format!("psql -f {name} on the target")).await?;
    std::fs::remove_file(&path)?;
    Ok(())
}

pub async fn done_items(target: &mut sqlx::PgConnection) -> anyhow::Result<HashSet<i32>> {
    let ids: Vec<i32> = sqlx::query_scalar("SELECT toc_id FROM tweetgen_migrate.post_data").fetch_all(target).await?;
    Ok(ids.into_iter().collect())
}

/// Keys whose index is built and not yet attached.
pub async fn built_key_indexes(target: &mut sqlx::PgConnection) -> anyhow::Result<HashSet<i32>> {
    let ids: Vec<i32> = sqlx::query_scalar("SELECT toc_id FROM tweetgen_migrate.key_indexes").fetch_all(target).await?;
    Ok(ids.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_of_contents_is_read() {
        let items: Vec<Item> = [
            ";",
            "; Selected TOC Entries:",
            "3206; 2606 16398 CONSTRAINT public t t_pkey tweetgen",
            "3213; 1259 16424 INDEX public v_u_idx tweetgen",
            "3214; 2606 16419 FK CONSTRAINT public v v_u_fkey tweetgen",
            "3300; 0 0 INDEX ATTACH public p1_idx tweetgen",
            "3301; 2620 16500 TRIGGER public t audit tweetgen",
        ]
        .iter()
        .filter_map(|line| parse_toc_line(line))
        .collect::<anyhow::Result<_>>()
        .unwrap();
        let ids: Vec<i32> = items.iter().map(|item| item.toc_id).collect();
        assert_eq!(ids, [3206, 3213, 3214, 3300, 3301]);
        assert_eq!(items[1].object, 16424);
        assert_eq!(items[2].description, "FK CONSTRAINT public v v_u_fkey tweetgen");
    }
}
