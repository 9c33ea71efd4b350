//! The cutover's control plane: one record in each database that says what the
//! servers using that database may do, and a presence table where each server
//! says where it is and what it has seen. Servers LISTEN and read; the operator's
//! tool (`tweetgen-infra cutover`) writes. No connection into any server is ever
//! needed, so instances behind a load balancer, in an autoscaling group, or on
//! the old host are all reached the same way: through the database they use.
//!
//! Nothing here holds an address or a password. `moved` names a database that
//! each server knows from its own configuration (`database.others`), so what a
//! server connects to never comes from the database or the network.
//!
//! The schema (`tweetgen_control`) is never copied by the migration and its
//! changes are never applied by the follower: each database keeps its own.
//! Presence is UNLOGGED: heartbeats write no WAL and reach no change stream.

use std::fmt;

use serde::{Deserialize, Serialize};
use sqlx::{Connection, Executor, PgConnection, Postgres};

pub const SCHEMA: &str = "tweetgen_control";
/// Notified, with the new generation, whenever the record changes.
pub const CHANNEL: &str = "tweetgen_control";

/// `application_name` of each kind of session, so that a fence can tell them
/// apart in `pg_stat_activity`: it ends the writers and leaves the rest.
pub mod application {
    /// A server's one control session (LISTEN, the record, its presence row).
    pub const CONTROL: &str = "tweetgen-control";
    /// A server's read-only sessions (`default_transaction_read_only` on).
    pub const READS: &str = "tweetgen-reads";
    /// A server's sessions that may write.
    pub const WRITES: &str = "tweetgen-writes";
}

/// What the servers using a database may do.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "state", content = "to")]
pub enum State {
    /// Reads and writes.
    Serving,
    /// Reads only: the target of a migration while the follower writes to it,
    /// so nothing else may take a sequence value or write a row.
    Replica,
    /// Writes are held (not refused) until the state settles.
    Fenced,
    /// Go to the database the servers know by this name; writes are held meanwhile.
    Moved { to: String },
}

impl State {
    pub fn kind(&self) -> &'static str {
        match self {
            State::Serving => "serving",
            State::Replica => "replica",
            State::Fenced => "fenced",
            State::Moved { .. } => "moved",
        }
    }

    fn moved_to(&self) -> Option<&str> {
        match self {
            State::Moved { to } => Some(to),
            _ => None,
        }
    }

    fn from_columns(kind: &str, moved_to: Option<String>) -> Result<Self, Error> {
        Ok(match (kind, moved_to) {
            ("serving", None) => State::Serving,
            ("replica", None) => State::Replica,
            ("fenced", None) => State::Fenced,
            ("moved", Some(to)) => State::Moved { to },
            (kind, moved_to) => return Err(Error::Unreadable(format!("state {kind:?}, moved_to {moved_to:?}"))),
        })
    }

    /// `serving` or `replica`: the only states a server may record on a database
    /// that has no record yet (`control.initial_state`).
    pub fn parse_initial(text: &str) -> Result<Self, Error> {
        match text {
            "serving" => Ok(State::Serving),
            "replica" => Ok(State::Replica),
            other => Err(Error::Unreadable(format!("initial state {other:?}: serving or replica"))),
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            State::Moved { to } => write!(f, "moved to {to}"),
            other => f.write_str(other.kind()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{SCHEMA} is missing and this role may not create it ({0}): run `tweetgen-infra migrate copy` or `cutover --dry-run` as the database owner, or grant CREATE on the database")]
    CannotCreate(String),
    #[error("the control record cannot be read: {0}")]
    Unreadable(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// A database's control record.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Record {
    /// This database's name in the fleet's configuration, once a cutover set it.
    pub name: Option<String>,
    pub state: State,
    /// Grows by one with every change, so that a server's report can say which
    /// change it has applied.
    pub generation: i64,
    pub changed_by: String,
    /// Seconds since the change, by the database's clock.
    pub age_seconds: f64,
}

const CREATE: &str = "
CREATE SCHEMA IF NOT EXISTS tweetgen_control;
CREATE TABLE IF NOT EXISTS tweetgen_control.record (
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    name       text,
    state      text NOT NULL CHECK (state IN ('serving', 'replica', 'fenced', 'moved')),
    moved_to   text CHECK ((state = 'moved') = (moved_to IS NOT NULL)),
    generation bigint NOT NULL DEFAULT 1,
    changed_by text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNLOGGED TABLE IF NOT EXISTS tweetgen_control.presence (
    instance_id      text PRIMARY KEY,
    host             text NOT NULL,
    database         text NOT NULL,
    knows            text[] NOT NULL,
    state_seen       text NOT NULL,
    generation_seen  bigint NOT NULL,
    writes_in_flight integer NOT NULL,
    writes_held      integer NOT NULL,
    problem          text,
    started_at       timestamptz NOT NULL DEFAULT now(),
    heartbeat_at     timestamptz NOT NULL DEFAULT now()
);
";

/// Serialises the schema's creation between servers starting at once.
const CREATE_LOCK: i64 = 0x7477_6763_746c_0001;

/// Creates the schema unless it exists (servers and the tool both call this).
/// `C` is any session: a connection, or a server's `PgListener`.
pub async fn ensure_schema<C>(connection: &mut C) -> Result<(), Error>
where
    C: Send,
    for<'c> &'c mut C: Executor<'c, Database = Postgres>,
{
    let exists: bool = sqlx::query_scalar("SELECT to_regclass('tweetgen_control.presence') IS NOT NULL")
        .fetch_one(&mut *connection)
        .await?;
    if exists {
        return Ok(());
    }
    let script = format!("BEGIN; SELECT pg_advisory_xact_lock({CREATE_LOCK}); {CREATE} COMMIT;");
    match (&mut *connection).execute(script.as_str()).await {
        Ok(_) => Ok(()),
        Err(error) => {
            (&mut *connection).execute("ROLLBACK").await?;
            match error {
                sqlx::Error::Database(error) if error.code().as_deref() == Some("42501") => {
                    Err(Error::CannotCreate(error.message().to_string()))
                }
                error => Err(error.into()),
            }
        }
    }
}

/// What a server's own role needs here, and no more: it reads the record (the
/// operator's tool, as the owner, writes it) and keeps its presence row. Run by
/// the owner after `ensure_schema`; granting again changes nothing.
pub async fn grant_to_servers(connection: &mut PgConnection, role: &str) -> Result<(), Error> {
    let role = quote_ident(role);
    let grants = format!(
        "GRANT USAGE ON SCHEMA {SCHEMA} TO {role};
         GRANT SELECT ON {SCHEMA}.record TO {role};
         GRANT SELECT, INSERT, UPDATE, DELETE ON {SCHEMA}.presence TO {role};"
    );
    (&mut *connection).execute(grants.as_str()).await?;
    Ok(())
}

const UNDEFINED_TABLE: &str = "42P01";

/// The database's record; `None` if it has none (or no control schema yet).
pub async fn read<'c>(session: impl Executor<'c, Database = Postgres>) -> Result<Option<Record>, Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        name: Option<String>,
        state: String,
        moved_to: Option<String>,
        generation: i64,
        changed_by: String,
        age_seconds: f64,
    }
    let row: Option<Row> = match sqlx::query_as(
        "SELECT name, state, moved_to, generation, changed_by,
                extract(epoch FROM now() - changed_at)::float8 AS age_seconds
         FROM tweetgen_control.record",
    )
    .fetch_optional(session)
    .await
    {
        Ok(row) => row,
        // No control plane in this database yet: no record either.
        Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some(UNDEFINED_TABLE) => None,
        Err(error) => return Err(error.into()),
    };
    row.map(|row| {
        Ok(Record {
            name: row.name,
            state: State::from_columns(&row.state, row.moved_to)?,
            generation: row.generation,
            changed_by: row.changed_by,
            age_seconds: row.age_seconds,
        })
    })
    .transpose()
}

/// The record, first written as `initial` if the database has none (a server
/// starting on a database that has never been part of a move).
pub async fn read_or_initialize<C>(connection: &mut C, initial: &State, by: &str) -> Result<Record, Error>
where
    C: Send,
    for<'c> &'c mut C: Executor<'c, Database = Postgres>,
{
    if let Some(record) = read(&mut *connection).await? {
        return Ok(record);
    }
    sqlx::query(
        "INSERT INTO tweetgen_control.record (state, moved_to, changed_by) VALUES ($1, $2, $3)
         ON CONFLICT (only_row) DO NOTHING",
    )
    .bind(initial.kind())
    .bind(initial.moved_to().map(str::to_string))
    .bind(by.to_string())
    .execute(&mut *connection)
    .await?;
    read(&mut *connection).await?.ok_or_else(|| Error::Unreadable("the record vanished after it was written".into()))
}

/// Sets the record (and the database's name, when given), and makes the
/// database itself agree: read-only for new sessions unless serving
/// (`default_transaction_read_only`, which the owner of the database may set).
/// One transaction; the servers are notified when it commits.
pub async fn set(connection: &mut PgConnection, state: &State, name: Option<&str>, by: &str) -> Result<Record, Error> {
    let database: String = sqlx::query_scalar("SELECT current_database()::text").fetch_one(&mut *connection).await?;
    let default_read_only = if *state == State::Serving {
        format!("ALTER DATABASE {} RESET default_transaction_read_only", quote_ident(&database))
    } else {
        format!("ALTER DATABASE {} SET default_transaction_read_only = on", quote_ident(&database))
    };
    let mut transaction = connection.begin().await?;
    // The record must be writable on a database that is read-only for new sessions.
    sqlx::query("SET TRANSACTION READ WRITE").execute(&mut *transaction).await?;
    let generation: i64 = sqlx::query_scalar(
        "INSERT INTO tweetgen_control.record (name, state, moved_to, changed_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (only_row) DO UPDATE SET name = coalesce(EXCLUDED.name, record.name), state = EXCLUDED.state,
             moved_to = EXCLUDED.moved_to, changed_by = EXCLUDED.changed_by, changed_at = now(),
             generation = record.generation + 1
         RETURNING generation",
    )
    .bind(name)
    .bind(state.kind())
    .bind(state.moved_to())
    .bind(by)
    .fetch_one(&mut *transaction)
    .await?;
    sqlx::query(&default_read_only).execute(&mut *transaction).await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(generation.to_string())
        .execute(&mut *transaction)
        .await?;
    transaction.commit().await?;
    read(connection).await?.ok_or_else(|| Error::Unreadable("the record vanished after it was written".into()))
}

/// An SQL identifier, quoted.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// What a server reports about itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Report {
    /// Unique per server process.
    pub instance_id: String,
    pub host: String,
    /// The name, in its configuration, of the database it uses (this one).
    pub database: String,
    /// The other databases it could move to, by name.
    pub knows: Vec<String>,
    /// The state it acts on, and the record's generation it comes from.
    pub state_seen: String,
    pub generation_seen: i64,
    /// Writes admitted and not yet finished; writes waiting for admission.
    pub writes_in_flight: i32,
    pub writes_held: i32,
    /// Why it cannot do what the record says (e.g. a database it does not know).
    pub problem: Option<String>,
}

/// A server's report as the database holds it.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow)]
pub struct Presence {
    #[serde(flatten)]
    #[sqlx(flatten)]
    pub report: Report,
    /// Seconds since its last heartbeat, by the database's clock.
    pub heartbeat_age: f64,
}

/// Records (or refreshes) a server's report; also its heartbeat.
pub async fn announce<'c>(session: impl Executor<'c, Database = Postgres>, report: &Report) -> Result<(), Error> {
    sqlx::query(
        "INSERT INTO tweetgen_control.presence (instance_id, host, database, knows, state_seen, generation_seen,
             writes_in_flight, writes_held, problem)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (instance_id) DO UPDATE SET host = EXCLUDED.host, database = EXCLUDED.database,
             knows = EXCLUDED.knows, state_seen = EXCLUDED.state_seen, generation_seen = EXCLUDED.generation_seen,
             writes_in_flight = EXCLUDED.writes_in_flight, writes_held = EXCLUDED.writes_held,
             problem = EXCLUDED.problem, heartbeat_at = now()",
    )
    .bind(&report.instance_id)
    .bind(&report.host)
    .bind(&report.database)
    .bind(&report.knows)
    .bind(&report.state_seen)
    .bind(report.generation_seen)
    .bind(report.writes_in_flight)
    .bind(report.writes_held)
    .bind(&report.problem)
    .execute(session)
    .await?;
    Ok(())
}

/// A server leaving this database (it moved, or it is shutting down).
pub async fn leave<'c>(session: impl Executor<'c, Database = Postgres>, instance_id: &str) -> Result<(), Error> {
    sqlx::query("DELETE FROM tweetgen_control.presence WHERE instance_id = $1")
        .bind(instance_id)
        .execute(session)
        .await?;
    Ok(())
}

/// Every server that reported here within `max_age` seconds, oldest first
/// (none where no server ever started: no control schema yet).
pub async fn present<'c>(
    session: impl Executor<'c, Database = Postgres>,
    max_age: f64,
) -> Result<Vec<Presence>, Error> {
    let present = sqlx::query_as(
        "SELECT instance_id, host, database, knows, state_seen, generation_seen, writes_in_flight, writes_held,
                problem, extract(epoch FROM now() - heartbeat_at)::float8 AS heartbeat_age
         FROM tweetgen_control.presence
         WHERE heartbeat_at > now() - make_interval(secs => $1)
         ORDER BY started_at, instance_id",
    )
    .bind(max_age)
    .fetch_all(session)
    .await;
    match present {
        Err(sqlx::Error::Database(error)) if error.code().as_deref() == Some(UNDEFINED_TABLE) => Ok(Vec::new()),
        other => Ok(other?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_read_back_from_their_columns() {
        for state in [State::Serving, State::Replica, State::Fenced, State::Moved { to: "rds".into() }] {
            let back = State::from_columns(state.kind(), state.moved_to().map(str::to_string)).unwrap();
            assert_eq!(back, state);
        }
        assert!(State::from_columns("moved", None).is_err());
        assert!(State::from_columns("serving", Some("x".into())).is_err());
        assert!(State::from_columns("paused", None).is_err());
        assert_eq!(State::Moved { to: "rds".into() }.to_string(), "moved to rds");
        assert_eq!(State::parse_initial("replica").unwrap(), State::Replica);
        assert!(State::parse_initial("fenced").is_err(), "a server never fences a database by itself");
    }
}
