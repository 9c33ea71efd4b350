//! `migrate preflight`: can this source be moved into this target, online? Every
//! blocker is found before anything is created on either side, with the fix.

use serde::Serialize;
use sqlx::{Connection, PgConnection};

use crate::report::{Check, Status};

/// The oldest PostgreSQL the tool reads from (logical decoding of all it needs).
const OLDEST_SUPPORTED: i32 = 130_000;

/// Everything preflight learned, for the table and `--json`.
#[derive(Debug, Serialize)]
pub struct Preflight {
    pub checks: Vec<Check>,
    /// Bytes of the source database (`pg_database_size`).
    pub source_bytes: i64,
}

impl Preflight {
    pub fn blocked(&self) -> bool {
        self.checks.iter().any(|check| check.status == Status::Fail)
    }
}

pub async fn run(source_url: &str, target_url: &str) -> anyhow::Result<Preflight> {
    let mut source = connect("source", source_url).await?;
    let mut target = connect("target", target_url).await?;
    let mut checks = Vec::new();
    let source_version = version(&mut source).await?;
    let target_version = version(&mut target).await?;
    checks.push(versions(&source_version, &target_version));
    // The source for the change stream; the target for the rollback's reverse stream.
    for (side, connection) in [("source", &mut source), ("target", &mut target)] {
        checks.push(wal_level(side, connection).await?);
        checks.push(replication_capacity(side, connection).await?);
        checks.push(replication_origins(side, connection).await?);
    }
    checks.push(replica_identities(&mut source).await?);
    checks.push(replication_privilege(&mut source).await?);
    checks.push(target_privileges(&mut target).await?);
    checks.push(target_empty(&mut target).await?);
    checks.push(client_tools(source_version.number));
    checks.push(extensions(&mut source, &mut target).await?);
    let (size_check, source_bytes) = size(&mut source, &mut target).await?;
    checks.push(size_check);
    for (side, connection) in [("source", &mut source), ("target", &mut target)] {
        checks.push(tls(side, connection).await?);
    }
    Ok(Preflight { checks, source_bytes })
}

async fn connect(side: &str, url: &str) -> anyhow::Result<PgConnection> {
    PgConnection::connect(url).await.map_err(|error| anyhow::anyhow!("connecting to the {side}: {error}"))
}

struct Version {
    number: i32,
    text: String,
}

async fn version(connection: &mut PgConnection) -> anyhow::Result<Version> {
    let (number, text): (String, String) =
        sqlx::query_as("SELECT current_setting('server_version_num'), current_setting('server_version')")
            .fetch_one(connection)
            .await?;
    Ok(Version { number: number.parse()?, text })
}

fn versions(source: &Version, target: &Version) -> Check {
    let detail = format!("source {}, target {}", source.text, target.text);
    if source.number < OLDEST_SUPPORTED || target.number < OLDEST_SUPPORTED {
        Check::fail("versions", detail, "PostgreSQL 13 or later on both sides")
    } else if target.number / 10_000 < source.number / 10_000 {
        Check::fail("versions", detail, "the target must not be an older major version than the source")
    } else {
        Check::ok("versions", detail)
    }
}

async fn wal_level(side: &str, connection: &mut PgConnection) -> anyhow::Result<Check> {
    let name = format!("{side} wal_level");
    let level: String = sqlx::query_scalar("SELECT current_setting('wal_level')").fetch_one(connection).await?;
    Ok(match level.as_str() {
        "logical" => Check::ok(&name, level),
        _ => Check::fail(
            &name,
            level,
            &format!(
                "ALTER SYSTEM SET wal_level = logical; then restart the {side} (on RDS: rds.logical_replication = 1 \
                 in the parameter group, then reboot){}",
                if side == "target" { ": the rollback's reverse stream reads the target" } else { "" }
            ),
        ),
    })
}

/// A slot and a WAL sender must be free for a change stream.
async fn replication_capacity(side: &str, connection: &mut PgConnection) -> anyhow::Result<Check> {
    let name = format!("{side} replication slots");
    let (slots_max, slots_used, senders_max, senders_used): (i32, i64, i32, i64) = sqlx::query_as(
        "SELECT current_setting('max_replication_slots')::int, (SELECT count(*) FROM pg_replication_slots),
                current_setting('max_wal_senders')::int, (SELECT count(*) FROM pg_stat_replication)",
    )
    .fetch_one(connection)
    .await?;
    let detail = format!("slots {slots_used}/{slots_max} used, WAL senders {senders_used}/{senders_max} busy");
    Ok(if i64::from(slots_max) <= slots_used {
        Check::fail(&name, detail, "raise max_replication_slots (restart) or drop an unused slot")
    } else if i64::from(senders_max) <= senders_used {
        Check::fail(&name, detail, "raise max_wal_senders (restart)")
    } else {
        Check::ok(&name, detail)
    })
}

/// Each side's applier marks what it writes with a replication origin, so that
/// the other direction's stream skips it.
async fn replication_origins(side: &str, connection: &mut PgConnection) -> anyhow::Result<Check> {
    let name = format!("{side} replication origins");
    let (user, allowed): (String, bool) = sqlx::query_as(
        "SELECT current_user::text,
                has_function_privilege('pg_replication_origin_create(text)', 'EXECUTE')
                AND has_function_privilege('pg_replication_origin_session_setup(text)', 'EXECUTE')",
    )
    .fetch_one(connection)
    .await?;
    Ok(if allowed {
        Check::ok(&name, format!("{user} may use them"))
    } else {
        Check::fail(
            &name,
            format!("{user} may not create or use a replication origin"),
            &format!(
                "GRANT EXECUTE ON FUNCTION pg_replication_origin_create(text), \
                 pg_replication_origin_session_setup(text), pg_replication_origin_session_reset() TO {user}; \
                 (superuser or rds_superuser)"
            ),
        )
    })
}

/// Updates and deletes can only be applied to rows the change stream identifies:
/// every table needs a primary key or a replica identity.
async fn replica_identities(source: &mut PgConnection) -> anyhow::Result<Check> {
    let offenders: Vec<(String, String)> = sqlx::query_as(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'r'
           AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
           AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
           AND c.relreplident IN ('d', 'n')
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
         ORDER BY 1, 2",
    )
    .fetch_all(&mut *source)
    .await?;
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'",
    )
    .fetch_one(source)
    .await?;
    if offenders.is_empty() {
        return Ok(Check::ok("primary keys", format!("all {count} tables have one (or a replica identity)")));
    }
    let names: Vec<String> = offenders.iter().map(|(schema, table)| quoted(schema, table)).collect();
    let fixes: Vec<String> = names
        .iter()
        .map(|name| format!("ALTER TABLE {name} ADD PRIMARY KEY (…); or ALTER TABLE {name} REPLICA IDENTITY FULL;"))
        .collect();
    Ok(Check::fail(
        "primary keys",
        format!("{} of {count} tables have no primary key or replica identity: {}", names.len(), names.join(", ")),
        &fixes.join(" "),
    ))
}

async fn replication_privilege(source: &mut PgConnection) -> anyhow::Result<Check> {
    let (user, superuser, replication, rds): (String, bool, bool, bool) = sqlx::query_as(
        "SELECT current_user, rolsuper, rolreplication,
                EXISTS (SELECT 1 FROM pg_roles g WHERE g.rolname IN ('rds_superuser', 'rds_replication')
                        AND pg_has_role(current_user, g.oid, 'member'))
         FROM pg_roles WHERE rolname = current_user",
    )
    .fetch_one(source)
    .await?;
    Ok(if superuser || replication || rds {
        let how = if superuser {
            "superuser"
        } else if replication {
            "REPLICATION"
        } else {
            "rds_superuser/rds_replication"
        };
        Check::ok("source privileges", format!("{user}: {how}"))
    } else {
        Check::fail(
            "source privileges",
            format!("{user} can neither replicate nor create a slot"),
            &format!("ALTER ROLE {user} REPLICATION; (on RDS: GRANT rds_replication TO {user};)"),
        )
    })
}

async fn target_privileges(target: &mut PgConnection) -> anyhow::Result<Check> {
    let (user, can_create): (String, bool) =
        sqlx::query_as("SELECT current_user, has_database_privilege(current_database(), 'CREATE')")
            .fetch_one(target)
            .await?;
    Ok(if can_create {
        Check::ok("target privileges", format!("{user} may create schemas"))
    } else {
        Check::fail(
            "target privileges",
            format!("{user} may not create schemas in the target database"),
            &format!("GRANT CREATE ON DATABASE <db> TO {user};"),
        )
    })
}

/// The copy creates the schema; tables already on the target would collide
/// (unless they are this tool's own, from a migration being resumed).
async fn target_empty(target: &mut PgConnection) -> anyhow::Result<Check> {
    let tables: Vec<String> = sqlx::query_scalar(&format!(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind IN ('r', 'p') AND {} ORDER BY 1 LIMIT 6",
        super::catalog::SYSTEM_SCHEMAS
    ))
    .fetch_all(&mut *target)
    .await?;
    let resuming: bool =
        sqlx::query_scalar("SELECT to_regclass('tweetgen_migrate.migration') IS NOT NULL").fetch_one(target).await?;
    Ok(if tables.is_empty() {
        Check::ok("target empty", "no tables yet".into())
    } else if resuming {
        Check::ok("target empty", "holds a migration in progress, which `copy` resumes".into())
    } else {
        Check::fail(
            "target empty",
            format!("the target already has tables: {}", tables.join(", ")),
            "migrate into an empty database (CREATE DATABASE …), or drop these tables",
        )
    })
}

/// pg_dump reads the schema; it must be at least the source's major version.
fn client_tools(source_version: i32) -> Check {
    let source_major = (source_version / 10_000) as u32;
    match crate::pg::program_major_version("pg_dump") {
        Ok(major) if major >= source_major => {
            Check::ok("client tools", format!("pg_dump {major} at {}", crate::pg::program("pg_dump").display()))
        }
        Ok(major) => Check::fail(
            "client tools",
            format!("pg_dump {major} cannot dump a PostgreSQL {source_major} server"),
            &format!("install postgresql-client-{source_major} and point PG_BIN at its bin directory"),
        ),
        Err(error) => Check::fail(
            "client tools",
            format!("{error:#}"),
            "install the PostgreSQL client programs (pg_dump, pg_restore, psql), or set PG_BIN",
        ),
    }
}

/// The source's extensions must be installable on the target.
async fn extensions(source: &mut PgConnection, target: &mut PgConnection) -> anyhow::Result<Check> {
    let used: Vec<String> =
        sqlx::query_scalar("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1")
            .fetch_all(source)
            .await?;
    let available: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pg_available_extensions").fetch_all(target).await?;
    let missing: Vec<&String> = used.iter().filter(|name| !available.contains(name)).collect();
    Ok(if missing.is_empty() {
        let list = if used.is_empty() { "none besides plpgsql".to_string() } else { used.join(", ") };
        Check::ok("extensions", list)
    } else {
        let list = missing.iter().map(|name| name.as_str()).collect::<Vec<_>>().join(", ");
        Check::fail(
            "extensions",
            format!("not available on the target: {list}"),
            "install them on the target server (on RDS: a supported extension, or drop it on the source)",
        )
    })
}

/// The data has to fit. The target's free space cannot be read over SQL; its
/// databases' size can (RDS: compare with the instance's storage).
async fn size(source: &mut PgConnection, target: &mut PgConnection) -> anyhow::Result<(Check, i64)> {
    let bytes: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())").fetch_one(source).await?;
    let target_bytes: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())").fetch_one(target).await?;
    let detail = format!(
        "source {} (indexes included); target database now {}; free space on the target is not visible over SQL",
        human_bytes(bytes),
        human_bytes(target_bytes)
    );
    Ok((Check::warn("size", detail, "make sure the target's storage holds at least 1.2 × the source"), bytes))
}

/// Passwords and data should not cross networks in clear.
async fn tls(side: &str, connection: &mut PgConnection) -> anyhow::Result<Check> {
    let ssl: Option<(bool, Option<String>)> =
        sqlx::query_as("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_optional(connection)
            .await?;
    let name = format!("{side} TLS");
    Ok(match ssl {
        Some((true, version)) => Check::ok(&name, version.unwrap_or_else(|| "on".into())),
        _ => Check::warn(&name, "not in use".into(), "add sslmode=require (or verify-full) to the URL"),
    })
}

fn quoted(schema: &str, table: &str) -> String {
    let quote = |name: &str| {
        if name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
            name.to_string()
        } else {
            format!("\"{}\"", name.replace('"', "\"\""))
        }
    };
    format!("{}.{}", quote(schema), quote(table))
}

pub fn human_bytes(bytes: i64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}
