//! PostgreSQL plumbing shared by every step: connections, names, WAL positions,
//! snapshots, and the client programs (`pg_dump`, `pg_restore`, `psql`).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{anyhow, bail, Context};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

/// Which database a message is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Source,
    Target,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Source => "source",
            Side::Target => "target",
        })
    }
}

/// Settings pinned on every session. Output settings, so that values printed as
/// text on the two servers compare equal whatever their configuration (verify's
/// checksums, the change stream's values); and read-write, since the cutover
/// makes the source read-only for every session but this tool's.
const SESSION_SETTINGS: [(&str, &str); 7] = [
    ("default_transaction_read_only", "off"),
    ("TimeZone", "UTC"),
    ("DateStyle", "ISO"),
    ("IntervalStyle", "postgres"),
    ("extra_float_digits", "1"),
    ("bytea_output", "hex"),
    ("statement_timeout", "0"),
];

/// Every session of this tool says so (`pg_stat_activity.application_name`).
pub const APPLICATION_NAME: &str = "tweetgen-infra";

pub async fn connect(side: Side, url: &str) -> anyhow::Result<PgConnection> {
    let options = PgConnectOptions::from_str(url)
        .with_context(|| format!("the {side} URL"))?
        .application_name(APPLICATION_NAME)
        .options(SESSION_SETTINGS)
        .disable_statement_logging();
    PgConnection::connect_with(&options).await.map_err(|error| anyhow!("connecting to the {side}: {error}"))
}

/// A relation's schema-qualified name, quoted when printed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TableName {
    pub schema: String,
    pub name: String,
}

impl TableName {
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        Self { schema: schema.into(), name: name.into() }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", ident(&self.schema), ident(&self.name))
    }
}

/// An SQL identifier, quoted unless it is a plain lower-case name.
pub fn ident(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED.contains(&name);
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// Reserved words that are plausible column names; quoting any other is harmless.
const RESERVED: [&str; 24] = [
    "all",
    "and",
    "any",
    "array",
    "as",
    "check",
    "column",
    "default",
    "desc",
    "do",
    "end",
    "from",
    "group",
    "limit",
    "order",
    "primary",
    "references",
    "select",
    "table",
    "to",
    "user",
    "when",
    "where",
    "with",
];

/// An SQL string literal.
pub fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A position in the write-ahead log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:X}/{:X}", self.0 >> 32, self.0 & 0xFFFF_FFFF)
    }
}

impl FromStr for Lsn {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> anyhow::Result<Self> {
        let (high, low) = text.split_once('/').ok_or_else(|| anyhow!("not an LSN: {text:?}"))?;
        let high = u64::from_str_radix(high, 16).with_context(|| format!("not an LSN: {text:?}"))?;
        let low = u64::from_str_radix(low, 16).with_context(|| format!("not an LSN: {text:?}"))?;
        Ok(Lsn(high << 32 | low))
    }
}

impl Serialize for Lsn {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Lsn {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The transactions a snapshot sees, as `pg_current_snapshot()` gives them, plus
/// the WAL insert position read just after it was taken: every transaction the
/// snapshot sees wrote its commit record before that position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotXids {
    pub xmin: u64,
    pub xmax: u64,
    pub xip: Vec<u64>,
    pub taken_at_lsn: Lsn,
}

impl SnapshotXids {
    /// Parses `pg_current_snapshot()::text`, e.g. `735:740:735,737`.
    pub fn parse(text: &str, taken_at_lsn: Lsn) -> anyhow::Result<Self> {
        let mut fields = text.split(':');
        let mut next = || fields.next().ok_or_else(|| anyhow!("not a snapshot: {text:?}"));
        let xmin = next()?.parse()?;
        let xmax = next()?.parse()?;
        let xip = next()?.split(',').filter(|x| !x.is_empty()).map(str::parse).collect::<Result<_, _>>()?;
        Ok(Self { xmin, xmax, xip, taken_at_lsn })
    }

    /// Whether a transaction that committed at `commit_lsn` is among those the
    /// snapshot sees. `xid` is the 32-bit id the change stream carries; it is
    /// compared with the snapshot's 64-bit ids only near the snapshot, where the
    /// circular comparison PostgreSQL itself uses is exact.
    pub fn sees(&self, xid: u32, commit_lsn: Lsn) -> bool {
        if commit_lsn >= self.taken_at_lsn {
            return false;
        }
        let distance = xid.wrapping_sub(self.xmax as u32) as i32;
        if distance >= 0 {
            return false;
        }
        let full = self.xmax.wrapping_sub(u64::from(distance.unsigned_abs()));
        full < self.xmin || !self.xip.contains(&full)
    }
}

/// Reads the current snapshot and WAL position inside an open REPEATABLE READ
/// transaction and exports it for other sessions.
pub async fn export_snapshot(connection: &mut PgConnection) -> anyhow::Result<(String, SnapshotXids)> {
    let (name, xids, lsn): (String, String, String) =
        sqlx::query_as("SELECT pg_export_snapshot(), pg_current_snapshot()::text, pg_current_wal_insert_lsn()::text")
            .fetch_one(connection)
            .await?;
    Ok((name, SnapshotXids::parse(&xids, lsn.parse()?)?))
}

/// A PostgreSQL client program: `$PG_BIN/NAME`, else the newest Debian
/// installation's, else `NAME` from `PATH`.
pub fn program(name: &str) -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return PathBuf::from(dir).join(name);
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok().map(|major| (major, entry.path())))
        .filter(|(_, dir)| dir.join("bin").join(name).exists())
        .max_by_key(|(major, _)| *major);
    match newest {
        Some((_, dir)) => dir.join("bin").join(name),
        None => PathBuf::from(name),
    }
}

/// The major version of a client program (`pg_dump --version` → 15).
pub fn program_major_version(name: &str) -> anyhow::Result<u32> {
    let path = program(name);
    let output = std::process::Command::new(&path)
        .arg("--version")
        .output()
        .with_context(|| format!("running {}", path.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let version = text.split_whitespace().last().unwrap_or_default();
    match version.split('.').next().and_then(|major| major.parse().ok()) {
        Some(major) => Ok(major),
        None => bail!("cannot read the version of {}: {text:?}", path.display()),
    }
}

/// A PostgreSQL client program connected to `url`. The password travels in
/// `PGPASSWORD`, not on the command line, where `ps` would show it.
pub fn client_command(name: &str, url: &str) -> anyhow::Result<tokio::process::Command> {
    let mut parsed = url::Url::parse(url).with_context(|| format!("not a postgres:// URL: {}", redacted(url)))?;
    let password = parsed.password().map(percent_decode);
    parsed.set_password(None).map_err(|()| anyhow!("cannot remove the password from the URL"))?;
    let mut command = tokio::process::Command::new(program(name));
    command.arg("-d").arg(parsed.as_str());
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    // As `connect`'s sessions: named as this tool's, so that a fence leaves them
    // alone, and writable on a database that is read-only for everyone else.
    command.env("PGAPPNAME", APPLICATION_NAME).env("PGOPTIONS", "-c default_transaction_read_only=off");
    command.kill_on_drop(true);
    // Killed with us, however we die: a resumed step must not race an orphan.
    unsafe {
        command.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).map_err(std::io::Error::from)
        });
    }
    Ok(command)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let hex =
            bytes.get(at + 1..at + 3).and_then(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok());
        match (bytes[at], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                at += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// The URL with its password replaced, for messages and logs.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("*****"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "(an unreadable URL)".to_string(),
    }
}

/// Runs a client program to completion; its error output becomes the error.
pub async fn run_client(mut command: tokio::process::Command, what: &str) -> anyhow::Result<()> {
    let output = command
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .with_context(|| format!("{what}: starting {:?}", command.as_std().get_program()))?;
    if !output.status.success() {
        bail!("{what} failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsns_print_and_parse_as_postgresql_does() {
        let lsn: Lsn = "16/B374D848".parse().unwrap();
        assert_eq!(lsn.0, 0x16_B374_D848);
        assert_eq!(lsn.to_string(), "16/B374D848");
        assert_eq!(Lsn(0).to_string(), "0/0");
        assert!("16-B3".parse::<Lsn>().is_err());
    }

    #[test]
    fn identifiers_are_quoted_only_when_needed() {
        assert_eq!(ident("users"), "users");
        assert_eq!(ident("Log"), "\"Log\"");
        assert_eq!(ident("order"), "\"order\"");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(TableName::new("audit", "Log").to_string(), "audit.\"Log\"");
        assert_eq!(literal("it's"), "'it''s'");
    }

    #[test]
    fn passwords_stay_off_command_lines_and_out_of_messages() {
        let command = client_command("psql", "postgres://mover:s%40cret@db.example:5432/app?sslmode=require").unwrap();
        let command = command.as_std();
        let args: Vec<_> = command.get_args().map(|arg| arg.to_string_lossy().into_owned()).collect();
        assert_eq!(args, ["-d", "postgres://mover@db.example:5432/app?sslmode=require"]);
        let password = command.get_envs().find(|(name, _)| *name == "PGPASSWORD").and_then(|(_, value)| value);
        assert_eq!(password.unwrap(), "s@cret");
        assert_eq!(redacted("postgres://mover:pw@db/app"), "postgres://mover:*****@db/app");
    }

    #[test]
    fn a_snapshot_sees_what_committed_before_it() {
        let snapshot = SnapshotXids::parse("100:110:100,105", Lsn(1000)).unwrap();
        assert!(snapshot.sees(99, Lsn(10)));
        assert!(snapshot.sees(104, Lsn(10)));
        assert!(!snapshot.sees(100, Lsn(10)), "running when the snapshot was taken");
        assert!(!snapshot.sees(105, Lsn(10)));
        assert!(!snapshot.sees(110, Lsn(10)), "started after");
        assert!(!snapshot.sees(104, Lsn(1000)), "committed after the snapshot's position");
    }

    #[test]
    fn xids_are_compared_across_the_32_bit_wrap() {
        // Epoch 1: xmax is 2^32 + 5; xid 4294967290 of epoch 0 is before it.
        let snapshot = SnapshotXids::parse("4294967290:4294967301:", Lsn(1000)).unwrap();
        assert!(snapshot.sees(4_294_967_295, Lsn(1)));
        assert!(snapshot.sees(3, Lsn(1)));
        assert!(!snapshot.sees(5, Lsn(1)));
        assert!(snapshot.sees(4_294_967_289, Lsn(1)), "before xmin");
    }
}
