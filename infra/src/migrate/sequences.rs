//! `migrate sequences`: sequences are not in the change stream, so their values
//! are copied on their own — at the end of the copy, and again at the cutover
//! with a safety gap for the writes still in flight — then checked against the
//! largest value their column already holds on the target.

use sqlx::PgConnection;

use super::catalog;
use crate::pg::TableName;

#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub sequence: String,
    pub source_value: Option<i64>,
    pub target_value: Option<i64>,
    /// `schema.table.column`, for sequences that feed one.
    pub column: Option<String>,
    /// The column's largest (smallest, for a descending sequence) value on the target.
    pub column_extreme: Option<i64>,
    /// The sequence's next value would not collide with the column.
    pub ok: bool,
}

struct Value {
    last: i64,
    called: bool,
    increment: i64,
    min: i64,
    max: i64,
}

async fn read(connection: &mut PgConnection, name: &TableName) -> anyhow::Result<Value> {
    let (last, called): (i64, bool) =
        sqlx::query_as(&format!("SELECT last_value, is_called FROM {name}")).fetch_one(&mut *connection).await?;
    let (increment, min, max): (i64, i64, i64) = sqlx::query_as(
        "SELECT increment_by, min_value, max_value FROM pg_sequences WHERE schemaname = $1 AND sequencename = $2",
    )
    .bind(&name.schema)
    .bind(&name.name)
    .fetch_one(connection)
    .await?;
    Ok(Value { last, called, increment, min, max })
}

/// Sets every target sequence to the source's value moved `gap` steps ahead (the
/// source's own value when `gap` is 0), then checks each against its column.
pub async fn copy_values(
    source: &mut PgConnection,
    target: &mut PgConnection,
    gap: i64,
) -> anyhow::Result<Vec<Report>> {
    let mut reports = Vec::new();
    for sequence in catalog::sequences(source).await? {
        let value = read(source, &sequence.name).await?;
        let (next, called) = if gap == 0 {
            (value.last, value.called)
        } else {
            let ahead = value.last.saturating_add(value.increment.saturating_mul(gap));
            (ahead.clamp(value.min, value.max), true)
        };
        sqlx::query("SELECT setval($1::regclass, $2, $3)")
            .bind(sequence.name.to_string())
            .bind(next)
            .bind(called)
            .execute(&mut *target)
            .await?;
        reports.push(check(target, &sequence, Some(value.last)).await?);
    }
    Ok(reports)
}

/// Whether the target sequence's next value is past every value in its column.
async fn check(
    target: &mut PgConnection,
    sequence: &catalog::Sequence,
    source_value: Option<i64>,
) -> anyhow::Result<Report> {
    let value = read(target, &sequence.name).await?;
    let next = if value.called { value.last.saturating_add(value.increment) } else { value.last };
    let (column, column_extreme, ok) = match &sequence.owner {
        Some((table, column)) => {
            let aggregate = if value.increment > 0 { "max" } else { "min" };
            let extreme: Option<i64> =
                sqlx::query_scalar(&format!("SELECT {aggregate}({})::bigint FROM {table}", crate::pg::ident(column)))
                    .fetch_one(&mut *target)
                    .await?;
            let ok = match extreme {
                None => true,
                Some(extreme) if value.increment > 0 => next > extreme,
                Some(extreme) => next < extreme,
            };
            (Some(format!("{table}.{}", crate::pg::ident(column))), extreme, ok)
        }
        None => (None, None, true),
    };
    Ok(Report {
        sequence: sequence.name.to_string(),
        source_value,
        target_value: Some(value.last),
        column,
        column_extreme,
        ok,
    })
}

/// The check alone, on the target, without copying.
pub async fn check_all(target: &mut PgConnection) -> anyhow::Result<Vec<Report>> {
    let mut reports = Vec::new();
    for sequence in catalog::sequences(target).await? {
        reports.push(check(target, &sequence, None).await?);
    }
    Ok(reports)
}

/// The reports as a table.
pub fn table(reports: &[Report]) -> String {
    let checks: Vec<crate::report::Check> = reports
        .iter()
        .map(|report| {
            let detail = format!(
                "source {} → target {}{}",
                report.source_value.map_or("-".into(), |v| v.to_string()),
                report.target_value.map_or("-".into(), |v| v.to_string()),
                match (&report.column, report.column_extreme) {
                    (Some(column), Some(extreme)) => format!("; {column} holds up to {extreme}"),
                    (Some(column), None) => format!("; {column} is empty"),
                    _ => String::new(),
                }
            );
            if report.ok {
                crate::report::Check::ok(&report.sequence, detail)
            } else {
                crate::report::Check::fail(
                    &report.sequence,
                    detail,
                    "run `migrate sequences` again with a larger --gap, or setval() past the column's largest value",
                )
            }
        })
        .collect();
    crate::report::table(&checks)
}
