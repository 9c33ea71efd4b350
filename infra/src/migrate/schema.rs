//! The schema, through PostgreSQL's own tools: `pg_dump` reads it under the
//! copy's snapshot, `pg_restore` writes its pre-data part (types, tables,
//! sequences…) before the rows and its post-data part (indexes, constraints,
//! triggers…) after them. Every statement runs through `psql` in one transaction
//! with the mark that says it is done, so a killed copy redoes no index twice.

use std::collections::HashSet;
use std::path::PathBuf;

use anyhow::{bail, Context};
use futures_util::stream::{self, StreamExt, TryStreamExt};

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
    /// The size of the index it builds on the source, if it builds one.
    pub index_bytes: i64,
}

impl Item {
    /// Indexes and primary/unique keys first, all in parallel; then foreign keys,
    /// in parallel; then everything else (triggers, rules, comments, grants…) in
    /// the dump's order.
    pub fn phase(&self) -> u8 {
        let kind = &self.description;
        if kind.starts_with("INDEX ATTACH ") {
            3
        } else if kind.starts_with("INDEX ") || kind.starts_with("CONSTRAINT ") {
            1
        } else if kind.starts_with("FK CONSTRAINT ") {
            2
        } else {
            3
        }
    }
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
        Ok(Item {
            toc_id: id.trim().parse()?,
            object: object.parse()?,
            description: description.to_string(),
            index_bytes: 0,
        })
    };
    Some(parse().with_context(|| format!("reading pg_restore's list: {line:?}")))
}

/// Fills in how large an index each item builds (an index, or the one behind a
/// primary key or unique constraint), so that the largest start first and the
/// phase does not end with one long build alone.
pub async fn size_items(source: &mut sqlx::PgConnection, items: &mut [Item]) -> anyhow::Result<()> {
    let objects: Vec<i64> = items.iter().map(|item| i64::from(item.object)).collect();
    let sizes: std::collections::HashMap<i64, i64> = sqlx::query_as::<_, (i64, i64)>(
        "SELECT o.oid::bigint, coalesce(pg_relation_size(coalesce(c.conindid, i.indexrelid)), 0)
         FROM unnest($1::bigint[]) AS o(oid)
         LEFT JOIN pg_constraint c ON c.oid = o.oid::oid
         LEFT JOIN pg_index i ON i.indexrelid = o.oid::oid",
    )
    .bind(&objects)
    .fetch_all(source)
    .await?
    .into_iter()
    .collect();
    for item in items.iter_mut() {
        item.index_bytes = sizes.get(&i64::from(item.object)).copied().unwrap_or(0);
    }
    Ok(())
}

/// Creates the post-data items not done yet, `jobs` at a time within a phase;
/// `on_done` is told of each as it finishes.
pub async fn restore_post_data(
    target_url: &str,
    work: &WorkDir,
    options: Options,
    items: &[Item],
    done: &HashSet<i32>,
    jobs: usize,
    on_done: &(dyn Fn(&Item) + Sync),
) -> anyhow::Result<()> {
    for phase in 1..=3 {
        let mut pending: Vec<&Item> =
            items.iter().filter(|i| i.phase() == phase && !done.contains(&i.toc_id)).collect();
        if phase < 3 {
            pending.sort_by_key(|item| std::cmp::Reverse(item.index_bytes));
        }
        let parallel = if phase == 3 { 1 } else { jobs };
        stream::iter(pending)
            .map(|item| async move {
                restore_item(target_url, work, options, item).await?;
                on_done(item);
                anyhow::Ok(())
            })
            .buffer_unordered(parallel)
            .try_collect::<()>()
            .await?;
    }
    Ok(())
}

async fn restore_item(target_url: &str, work: &WorkDir, options: Options, item: &Item) -> anyhow::Result<()> {
    let list = work.file(&format!("post-data-{}.list", item.toc_id));
    std::fs::write(&list, format!("{};\n", item.toc_id))?;
    let list_flag = format!("--use-list={}", list.display());
    let script = restore_script(work, &["--section=post-data", &list_flag], options).await?;
    let mark = format!(
        "INSERT INTO tweetgen_migrate.post_data (toc_id, description) VALUES ({}, {});\n",
        item.toc_id,
        pg::literal(&item.description)
    );
    let result = run_script(target_url, work, &format!("post-data-{}.sql", item.toc_id), &(script + &mark)).await;
    let _ = std::fs::remove_file(list);
    result.with_context(|| format!("creating {}", item.description))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_of_contents_is_read_and_phased() {
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
        let phases: Vec<(i32, u8)> = items.iter().map(|item| (item.toc_id, item.phase())).collect();
        assert_eq!(phases, [(3206, 1), (3213, 1), (3214, 2), (3300, 3), (3301, 3)]);
        assert_eq!(items[1].object, 16424);
        assert_eq!(items[2].description, "FK CONSTRAINT public v v_u_fkey tweetgen");
    }
}
