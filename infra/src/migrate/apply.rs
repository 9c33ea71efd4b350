//! Applying decoded changes to the target, as SQL.
//!
//! Changes of one kind to one table are gathered and sent as one statement over
//! `unnest` of text arrays, each value cast to its target column's type (the text
//! form is what the change stream carries). Each table keeps its own order: a
//! change of another kind, or one that touches a row already in the group, sends
//! the group first. Across tables the order may change within the batch's one
//! target transaction: with `session_replication_role = replica` no trigger (and
//! so no foreign key check) runs, and every other constraint concerns one table,
//! so the state at commit is the same. Updates leave out the columns the stream
//! marks unchanged (TOASTed values it does not repeat). Every statement must touch
//! exactly the rows it names; anything else means the target has drifted from the
//! source, and the batch stops with an error rather than apply half of it.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use anyhow::{bail, ensure, Context};
use sqlx::PgConnection;

use super::pgoutput::{self, Value};
use crate::pg::{ident, TableName};

/// The most rows sent in one statement.
const MAX_ROWS: usize = 1000;

#[derive(Debug)]
struct Relation {
    table: TableName,
    columns: Vec<String>,
    /// The target's type for each column, for the casts.
    types: Vec<String>,
    /// Positions of the replica identity's columns.
    key: Vec<usize>,
    /// REPLICA IDENTITY FULL: rows are found by every column, one at a time.
    full_identity: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Insert,
    Delete,
    /// An update of the columns in this bit set (TOASTed columns left out).
    Update(u128),
}

struct Group {
    relation: Arc<Relation>,
    kind: Kind,
    /// Per row: the key values to find it (updates, deletes) and the new values.
    keys: Vec<Vec<Option<String>>>,
    values: Vec<Vec<Option<String>>>,
    /// Keys the group touches, old and new: a change that touches one again must
    /// wait for the group to be sent, to keep the source's order.
    touched: HashSet<Vec<Option<String>>>,
}

#[derive(Default)]
pub struct Applier {
    relations: HashMap<u32, Arc<Relation>>,
    /// The groups not sent yet, at most one per table, oldest first.
    groups: Vec<Group>,
}

impl Applier {
    /// A relation message: maps the source's relation id to the target table.
    pub async fn relation(&mut self, target: &mut PgConnection, relation: pgoutput::Relation) -> anyhow::Result<()> {
        let table = TableName::new(&relation.schema, &relation.name);
        let target_columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod)
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped",
        )
        .bind(&table.schema)
        .bind(&table.name)
        .fetch_all(&mut *target)
        .await?;
        if target_columns.is_empty() {
            bail!(
                "the source changed table {table}, which is not on the target: it was created on the source after \
                 the copy began. Create it on the target with the same definition (for example `pg_dump --schema-only \
                 --table='{table}' SOURCE | psql TARGET`), then run `migrate follow` again: the change stream holds \
                 every row written to it since"
            );
        }
        let mut types = Vec::with_capacity(relation.columns.len());
        for column in &relation.columns {
            let Some((_, ty)) = target_columns.iter().find(|(name, _)| *name == column.name) else {
                bail!(
                    "column {} of {table} is on the source but not on the target: the table's definition changed on \
                     the source after the copy began; change the target's the same way, then run `migrate follow` \
                     again",
                    column.name
                );
            };
            types.push(ty.clone());
        }
        ensure!(relation.columns.len() <= 128, "{table} has more than 128 columns, which the applier does not handle");
        let key: Vec<usize> = relation.columns.iter().enumerate().filter(|(_, c)| c.key).map(|(i, _)| i).collect();
        let full_identity = key.len() == relation.columns.len() && !key.is_empty();
        ensure!(
            !key.is_empty(),
            "{table} has neither a primary key nor a replica identity: its updates cannot be applied"
        );
        let mapped = Relation {
            table,
            columns: relation.columns.into_iter().map(|c| c.name).collect(),
            types,
            key,
            full_identity,
        };
        // The stream repeats a relation mid-batch whenever its catalog entry
        // changes (an ANALYZE, a VACUUM, an ALTER). Changes grouped under the old
        // mapping go first: a second group for the same table would be sent out
        // of order with it.
        if let Some(previous) = self.relations.get(&relation.id) {
            if let Some(index) = self.groups.iter().position(|group| Arc::ptr_eq(&group.relation, previous)) {
                send(target, self.groups.remove(index)).await?;
            }
        }
        self.relations.insert(relation.id, Arc::new(mapped));
        Ok(())
    }

    /// Applies one insert, update or delete (grouped with its neighbours).
    pub async fn change(&mut self, target: &mut PgConnection, message: pgoutput::Message) -> anyhow::Result<()> {
        use pgoutput::Message::*;
        let (id, kind, old, new) = match message {
            Insert { relation, new } => (relation, Kind::Insert, None, Some(new)),
            Update { relation, old, new } => {
                let present = new
                    .iter()
                    .enumerate()
                    .filter(|(_, value)| **value != Value::Unchanged)
                    .fold(0u128, |mask, (i, _)| mask | 1 << i);
                (relation, Kind::Update(present), old, Some(new))
            }
            Delete { relation, old } => (relation, Kind::Delete, Some(old), None),
            Truncate { relations, cascade, restart_identity } => {
                return self.truncate(target, &relations, cascade, restart_identity).await;
            }
            other => bail!("not a change: {other:?}"),
        };
        let relation = self.relations.get(&id).cloned().with_context(|| format!("no relation message for {id}"))?;
        // The row is found by the old key when the stream sends one, else by the new row's.
        let finder = old.as_ref().or(new.as_ref()).expect("a change has a row");
        let key: Vec<Option<String>> = relation.key.iter().map(|&i| text(&finder[i])).collect();
        let new_key: Option<Vec<Option<String>>> =
            new.as_ref().map(|new| relation.key.iter().map(|&i| text(&new[i])).collect());
        let values: Vec<Option<String>> = match (&new, kind) {
            (Some(new), Kind::Update(present)) => {
                new.iter().enumerate().filter(|(i, _)| present & 1 << i != 0).map(|(_, v)| text(v)).collect()
            }
            (Some(new), _) => new.iter().map(text).collect(),
            (None, _) => Vec::new(),
        };
        let open = self.groups.iter().position(|group| Arc::ptr_eq(&group.relation, &relation));
        if relation.full_identity && kind != Kind::Insert {
            if let Some(index) = open {
                send(target, self.groups.remove(index)).await?;
            }
            return apply_by_full_row(target, &relation, kind, &key, &values).await;
        }
        let fits = open.is_some_and(|index| {
            let group = &self.groups[index];
            group.kind == kind
                && group.keys.len() < MAX_ROWS
                && !group.touched.contains(&key)
                && new_key.as_ref().is_none_or(|new_key| !group.touched.contains(new_key))
        });
        let index = match (open, fits) {
            (Some(index), true) => index,
            (open, _) => {
                if let Some(index) = open {
                    send(target, self.groups.remove(index)).await?;
                }
                self.groups.push(Group {
                    relation,
                    kind,
                    keys: Vec::new(),
                    values: Vec::new(),
                    touched: HashSet::new(),
                });
                self.groups.len() - 1
            }
        };
        let group = &mut self.groups[index];
        if let Some(new_key) = new_key {
            group.touched.insert(new_key);
        }
        group.touched.insert(key.clone());
        group.keys.push(key);
        group.values.push(values);
        Ok(())
    }

    /// Sends every group; called before the batch's position is saved and before
    /// anything that must not overtake them.
    pub async fn flush(&mut self, target: &mut PgConnection) -> anyhow::Result<()> {
        for group in std::mem::take(&mut self.groups) {
            send(target, group).await?;
        }
        Ok(())
    }

    /// Forgets the groups of a batch that is not applied after all.
    pub fn discard(&mut self) {
        self.groups.clear();
    }

    async fn truncate(
        &mut self,
        target: &mut PgConnection,
        relations: &[u32],
        cascade: bool,
        restart_identity: bool,
    ) -> anyhow::Result<()> {
        self.flush(target).await?;
        let mut names = Vec::new();
        for id in relations {
            let relation = self.relations.get(id).with_context(|| format!("no relation message for {id}"))?;
            names.push(relation.table.to_string());
        }
        let mut sql = format!("TRUNCATE {}", names.join(", "));
        if restart_identity {
            sql.push_str(" RESTART IDENTITY");
        }
        if cascade {
            sql.push_str(" CASCADE");
        }
        sqlx::query(&sql).execute(target).await?;
        Ok(())
    }
}

/// Sends one group as one statement.
async fn send(target: &mut PgConnection, group: Group) -> anyhow::Result<()> {
    let relation = &group.relation;
    let rows = group.keys.len();
    let (sql, arrays) = match group.kind {
        Kind::Insert => {
            let columns: Vec<usize> = (0..relation.columns.len()).collect();
            let sql = format!(
                "INSERT INTO {} ({}) SELECT {} FROM {}",
                relation.table,
                column_list(relation, &columns),
                casts(relation, &columns, 0),
                unnest(columns.len())
            );
            (sql, transpose(&group.values, columns.len()))
        }
        Kind::Delete => {
            let sql = format!(
                "DELETE FROM {} t USING {} WHERE {}",
                relation.table,
                unnest(relation.key.len()),
                key_match(relation, 0)
            );
            (sql, transpose(&group.keys, relation.key.len()))
        }
        Kind::Update(present) => {
            let columns: Vec<usize> = (0..relation.columns.len()).filter(|i| present & 1 << i != 0).collect();
            let assignments: Vec<String> = columns
                .iter()
                .enumerate()
                .map(|(n, &i)| {
                    format!("{} = u.v{}::{}", ident(&relation.columns[i]), relation.key.len() + n, relation.types[i])
                })
                .collect();
            let sql = format!(
                "UPDATE {} t SET {} FROM {} WHERE {}",
                relation.table,
                assignments.join(", "),
                unnest(relation.key.len() + columns.len()),
                key_match(relation, 0)
            );
            let mut arrays = transpose(&group.keys, relation.key.len());
            arrays.extend(transpose(&group.values, columns.len()));
            (sql, arrays)
        }
    };
    let mut query = sqlx::query(&sql);
    for array in arrays {
        query = query.bind(array);
    }
    let affected = query.execute(target).await.with_context(|| format!("applying to {}", relation.table))?;
    ensure!(
        affected.rows_affected() as usize == rows,
        "the target has drifted from the source: {:?} of {rows} rows in {} touched {} rows",
        group.kind,
        relation.table,
        affected.rows_affected()
    );
    Ok(())
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::Text(text) => Some(text.clone()),
        Value::Null | Value::Unchanged => None,
    }
}

fn column_list(relation: &Relation, columns: &[usize]) -> String {
    columns.iter().map(|&i| ident(&relation.columns[i])).collect::<Vec<_>>().join(", ")
}

/// `u.v0::type0, u.v1::type1, …` for the given columns, numbering from `first`.
fn casts(relation: &Relation, columns: &[usize], first: usize) -> String {
    columns
        .iter()
        .enumerate()
        .map(|(n, &i)| format!("u.v{}::{}", first + n, relation.types[i]))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `unnest($1::text[], …) AS u(v0, …)`.
fn unnest(count: usize) -> String {
    let arrays: Vec<String> = (1..=count).map(|n| format!("${n}::text[]")).collect();
    let names: Vec<String> = (0..count).map(|n| format!("v{n}")).collect();
    format!("unnest({}) AS u({})", arrays.join(", "), names.join(", "))
}

/// `t.k0 = u.v0::type AND …` over the replica identity.
fn key_match(relation: &Relation, first: usize) -> String {
    relation
        .key
        .iter()
        .enumerate()
        .map(|(n, &i)| format!("t.{} = u.v{}::{}", ident(&relation.columns[i]), first + n, relation.types[i]))
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn transpose(rows: &[Vec<Option<String>>], width: usize) -> Vec<Vec<Option<String>>> {
    (0..width).map(|column| rows.iter().map(|row| row[column].clone()).collect()).collect()
}

/// REPLICA IDENTITY FULL: one row that equals the old row in every column (as
/// text, since not every type has equality), the first of any duplicates.
async fn apply_by_full_row(
    target: &mut PgConnection,
    relation: &Relation,
    kind: Kind,
    old: &[Option<String>],
    values: &[Option<String>],
) -> anyhow::Result<()> {
    let matches: Vec<String> = relation
        .columns
        .iter()
        .enumerate()
        .map(|(i, column)| format!("{}::text IS NOT DISTINCT FROM ${}", ident(column), i + 1))
        .collect();
    let row = format!("SELECT ctid FROM {} WHERE {} LIMIT 1", relation.table, matches.join(" AND "));
    let sql = match kind {
        Kind::Delete => format!("DELETE FROM {} WHERE ctid = ({row})", relation.table),
        Kind::Update(present) => {
            let assignments: Vec<String> = (0..relation.columns.len())
                .filter(|i| present & 1 << i != 0)
                .enumerate()
                .map(|(n, i)| {
                    format!("{} = ${}::{}", ident(&relation.columns[i]), old.len() + n + 1, relation.types[i])
                })
                .collect();
            format!("UPDATE {} SET {} WHERE ctid = ({row})", relation.table, assignments.join(", "))
        }
        Kind::Insert => unreachable!("inserts are grouped"),
    };
    let mut query = sqlx::query(&sql);
    for value in old.iter().chain(values) {
        query = query.bind(value.clone());
    }
    let affected = query.execute(target).await.with_context(|| format!("applying to {}", relation.table))?;
    ensure!(
        affected.rows_affected() == 1,
        "the target has drifted from the source: a {kind:?} in {} found no matching row",
        relation.table
    );
    Ok(())
}
