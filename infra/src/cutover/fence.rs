//! The fence on one database: its record says fenced, so the servers using it
//! hold new writes, and the database is read-only for new sessions (both in one
//! transaction: `tweetgen_control::set`); the servers report their writes under
//! way drained, or `drain` passes; then every session that could still write is
//! ended. From that moment nothing but this tool writes there, whatever a
//! server does: a write it still tries meets a read-only session, writes
//! nothing, and is retried where the records lead (or answered 503).

use std::time::Instant;

use tweetgen_control::{self as control, application, State};

use super::{presence, Limits, BY};
use crate::pg::{self, Side};

pub async fn fence(url: &str, side: Side, name: &str, limits: &Limits) -> anyhow::Result<String> {
    let began = Instant::now();
    let mut connection = pg::connect(side, url).await?;
    let record = control::set(&mut connection, &State::Fenced, Some(name), BY).await?;
    let drained = presence::wait_drained(&mut connection, record.generation, limits).await?;
    let ended = end_writing_sessions(&mut connection).await?;
    let mut detail = format!(
        "{name} fenced; {} servers drained in {} ms; {ended} sessions ended",
        drained.drained.len(),
        began.elapsed().as_millis()
    );
    if !drained.late.is_empty() {
        detail.push_str(&format!(
            "; not drained within {} ms, their writes were cut off by the database: {}",
            limits.drain.as_millis(),
            drained.late.join(", ")
        ));
    }
    Ok(detail)
}

/// Ends every client session of the database that may write: all but this
/// tool's, the servers' control sessions (they write only their presence) and
/// their read-only sessions. Idle write sessions just reconnect when next used.
pub async fn end_writing_sessions(connection: &mut sqlx::PgConnection) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
           AND application_name NOT IN ($1, $2, $3)",
    )
    .bind(pg::APPLICATION_NAME)
    .bind(application::CONTROL)
    .bind(application::READS)
    .fetch_one(connection)
    .await?)
}
