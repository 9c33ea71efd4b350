//! What only the database's owner does, before the servers start
//! (`tweetgen-server migrate`): the control plane's schema and record, the
//! migrations (on a database whose record says serving), and the servers' own
//! role with exactly what they use — the rows of the app's tables, the control
//! record read, their presence row. The process that faces the internet then
//! holds no right to change the schema, the database's settings or its record.
//!
//! Invariant: the role's password reaches PostgreSQL only as a SCRAM-SHA-256
//! verifier, never as plain text (statement logs, `pg_stat_activity`).

use std::str::FromStr;

use anyhow::{bail, ensure, Context};
use base64::{engine::general_purpose::STANDARD as BASE64, Engine};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use sqlx::migrate::Migrator;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, Executor, PgConnection};
use tweetgen_control::{self as control, quote_ident as ident, State};

use crate::configuration::{redact, ControlSettings, DatabaseSettings};

pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// Serialises the role's creation and grants between servers starting at once.
const ROLE_LOCK: i64 = 0x7477_6763_726f_6c65;

/// The role the servers sign in as (its name and password from the fleet's secret).
pub struct AppRole {
    name: String,
    password: String,
}

impl AppRole {
    /// Printable ASCII only: PostgreSQL would normalise anything else (SASLprep)
    /// before hashing, which this verifier does not.
    pub fn new(name: &str, password: &str) -> anyhow::Result<Self> {
        ensure!(!name.is_empty() && !name.starts_with("pg_"), "app role {name:?}: not a name for a new role");
        ensure!(password.len() >= 16, "the app role's password is shorter than 16 characters");
        ensure!(
            password.bytes().all(|byte| byte.is_ascii_graphic()),
            "the app role's password has characters other than printable ASCII"
        );
        Ok(Self { name: name.to_string(), password: password.to_string() })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl std::fmt::Debug for AppRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppRole").field("name", &self.name).field("password", &"***").finish()
    }
}

/// What `prepare` found and did.
#[derive(Debug)]
pub struct Prepared {
    pub state: State,
    /// Migrations applied now (none unless the record says serving).
    pub migrations_applied: usize,
}

/// Prepares the configured database as its owner: see the module's comment.
/// Running it again changes nothing but the role's password (from `app_role`).
pub async fn prepare(
    database: &DatabaseSettings,
    control_settings: &ControlSettings,
    app_role: Option<&AppRole>,
) -> anyhow::Result<Prepared> {
    let options = PgConnectOptions::from_str(&database.url)
        .context("invalid database URL")?
        .application_name("tweetgen-server-migrate")
        // A replica or fenced database is read-only for new sessions; its owner still prepares it.
        .options([("default_transaction_read_only", "off")]);
    let mut owner = PgConnection::connect_with(&options)
        .await
        .with_context(|| format!("connecting to {} as its owner", database.redacted_url()))?;
    let owner_name: String = sqlx::query_scalar("SELECT current_user::text").fetch_one(&mut owner).await?;
    if let Some(role) = app_role {
        ensure!(
            role.name != owner_name,
            "the app role {:?} is the user of {}: the servers' role must not be the owner",
            role.name,
            redact(&database.url)
        );
    }
    control::ensure_schema(&mut owner).await?;
    let record =
        control::read_or_initialize(&mut owner, &control_settings.initial_state()?, "tweetgen-server migrate").await?;
    let migrations_applied = if record.state == State::Serving {
        let before = applied_migrations(&mut owner).await?;
        MIGRATOR.run(&mut owner).await.context("applying database migrations")?;
        applied_migrations(&mut owner).await? - before
    } else {
        // A replica's schema comes from the migration; a fenced or moved one takes no change.
        tracing::info!(state = %record.state, "not migrating: the control record does not say serving");
        0
    };
    if let Some(role) = app_role {
        let mut transaction = owner.begin().await?;
        // Instances starting together: concurrent CREATE ROLE or GRANT on one object fail.
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(ROLE_LOCK).execute(&mut *transaction).await?;
        ensure_role(&mut transaction, role).await?;
        grant(&mut transaction, &role.name).await?;
        transaction.commit().await?;
    }
    Ok(Prepared { state: record.state, migrations_applied })
}

async fn applied_migrations(owner: &mut PgConnection) -> anyhow::Result<usize> {
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL").fetch_one(&mut *owner).await?;
    if !exists {
        return Ok(0);
    }
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success").fetch_one(owner).await?;
    Ok(count.try_into()?)
}

/// Creates the role, or brings an existing one to a login role with the given
/// password and no power over databases or roles.
async fn ensure_role(owner: &mut PgConnection, role: &AppRole) -> anyhow::Result<()> {
    let powers: Option<bool> =
        sqlx::query_scalar("SELECT rolsuper OR rolreplication OR rolbypassrls FROM pg_roles WHERE rolname = $1")
            .bind(&role.name)
            .fetch_optional(&mut *owner)
            .await?;
    let attributes = format!("LOGIN NOCREATEDB NOCREATEROLE PASSWORD {}", literal(&scram_sha_256(&role.password)));
    let statement = match powers {
        None => format!("CREATE ROLE {} WITH {attributes}", ident(&role.name)),
        Some(false) => format!("ALTER ROLE {} WITH {attributes}", ident(&role.name)),
        Some(true) => bail!(
            "the role {:?} exists as a superuser, replication or RLS-bypassing role: not one for the servers",
            role.name
        ),
    };
    owner.execute(statement.as_str()).await.with_context(|| format!("creating or updating the role {}", role.name))?;
    Ok(())
}

/// Rows of the app's tables (also tables the owner creates later: the migration
/// tool copies the schema onto a target whose servers are already up), sequence
/// values, and the control plane's part; nothing else.
async fn grant(owner: &mut PgConnection, role: &str) -> anyhow::Result<()> {
    let database: String = sqlx::query_scalar("SELECT current_database()::text").fetch_one(&mut *owner).await?;
    let role_name = role;
    let role = ident(role);
    let mut grants = format!(
        "GRANT CONNECT ON DATABASE {database} TO {role};
         GRANT USAGE ON SCHEMA public TO {role};
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
         GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};
         ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role};
         ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role};",
        database = ident(&database)
    );
    // The servers read which migrations were applied; they never record one.
    let migrations_table: bool =
        sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL").fetch_one(&mut *owner).await?;
    if migrations_table {
        grants.push_str(&format!("REVOKE INSERT, UPDATE, DELETE ON _sqlx_migrations FROM {role};"));
    }
    owner.execute(grants.as_str()).await.with_context(|| format!("granting to {role_name}"))?;
    control::grant_to_servers(owner, role_name).await?;
    Ok(())
}

/// The verifier PostgreSQL stores for a password (RFC 5802 and 7677, as
/// `psql`'s `\password` computes it): salted, 4096 iterations.
fn scram_sha_256(password: &str) -> String {
    const ITERATIONS: u32 = 4096;
    let salt: [u8; 16] = rand::random();
    let hmac = |key: &[u8], message: &[u8]| {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes a key of any length");
        mac.update(message);
        mac.finalize().into_bytes()
    };
    // Hi(password, salt, i): PBKDF2 with HMAC-SHA-256, one block.
    let mut block = hmac(password.as_bytes(), &[&salt[..], &1u32.to_be_bytes()].concat());
    let mut salted = block;
    for _ in 1..ITERATIONS {
        block = hmac(password.as_bytes(), &block);
        salted.iter_mut().zip(block.iter()).for_each(|(sum, byte)| *sum ^= byte);
    }
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac(&salted, b"Server Key");
    format!(
        "SCRAM-SHA-256${ITERATIONS}:{}${}:{}",
        BASE64.encode(salt),
        BASE64.encode(stored_key),
        BASE64.encode(server_key)
    )
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
