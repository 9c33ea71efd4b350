//! `tweetgen-infra migrate preflight` against two real PostgreSQL clusters.

use std::process::{Command, Output};

use tweetgen_pgharness::{ClusterOptions, PgCluster};

fn cluster(settings: &[(&str, &str)]) -> PgCluster {
    let settings = settings.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    PgCluster::start_with(ClusterOptions { settings, ..ClusterOptions::default() }).expect("starting PostgreSQL")
}

fn preflight(source: &str, target: &str, json: bool) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tweetgen-infra"));
    command.args(["migrate", "preflight", "--source", source, "--target", target]);
    if json {
        command.arg("--json");
    }
    command.output().expect("running tweetgen-infra")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const SCHEMA: &str = "CREATE TABLE users (id bigint PRIMARY KEY, name text);
    CREATE TABLE events (at timestamptz, what text);
    ALTER TABLE events REPLICA IDENTITY FULL;";

/// The table with its alignment removed.
fn squeezed(table: &str) -> String {
    table.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn a_ready_pair_passes_with_warnings_only() {
    let source = cluster(&[("wal_level", "logical")]);
    let target = cluster(&[]);
    let source_url = source.create_database("app").unwrap();
    let target_url = target.create_database("app").unwrap();
    source.psql("app", SCHEMA).unwrap();

    let output = preflight(&source_url, &target_url, false);
    let table = stdout(&output);
    let flat = squeezed(&table);
    assert!(output.status.success(), "{table}");
    assert!(flat.contains("ok source wal_level logical"), "{table}");
    assert!(flat.contains("ok target wal_level logical"), "the reverse stream reads the target: {table}");
    assert!(flat.contains("ok target replication origins tweetgen may use them"), "{table}");
    assert!(table.contains("all 2 tables have one"), "{table}");
    assert!(table.contains("WARN  source TLS") && table.contains("sslmode=require"), "{table}");
    assert!(table.ends_with("preflight: ready\n"), "{table}");

    let json: serde_json::Value = serde_json::from_slice(&preflight(&source_url, &target_url, true).stdout).unwrap();
    let statuses: Vec<&str> =
        json["checks"].as_array().unwrap().iter().map(|c| c["status"].as_str().unwrap()).collect();
    assert!(!statuses.contains(&"fail"), "{json}");
    assert!(json["source_bytes"].as_i64().unwrap() > 1_000_000, "{json}");
}

#[test]
fn blockers_are_listed_with_their_fix_and_exit_non_zero() {
    let source = cluster(&[("wal_level", "replica")]);
    let target = cluster(&[]);
    let source_url = source.create_database("app").unwrap();
    let target_url = target.create_database("app").unwrap();
    source.psql("app", SCHEMA).unwrap();
    source
        .psql("app", "CREATE SCHEMA audit; CREATE TABLE audit.\"Log\" (line text); CREATE TABLE no_key (x int);")
        .unwrap();
    source.psql("app", "CREATE ROLE mover LOGIN; GRANT SELECT ON ALL TABLES IN SCHEMA public TO mover;").unwrap();
    let as_mover = source_url.replacen("tweetgen@", "mover@", 1);

    let output = preflight(&as_mover, &target_url, false);
    let table = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{table}");
    assert!(squeezed(&table).contains("FAIL source wal_level replica"), "{table}");
    assert!(squeezed(&table).contains("FAIL source replication origins mover may not"), "{table}");
    assert!(table.contains("GRANT EXECUTE ON FUNCTION pg_replication_origin_create(text)"), "{table}");
    assert!(table.contains("ALTER SYSTEM SET wal_level = logical"), "{table}");
    assert!(
        table.contains("2 of 4 tables have no primary key or replica identity: audit.\"Log\", public.no_key"),
        "the FULL-identity table is fine, the others are named: {table}"
    );
    assert!(table.contains("ALTER TABLE public.no_key REPLICA IDENTITY FULL;"), "{table}");
    assert!(table.contains("FAIL  source privileges") && table.contains("ALTER ROLE mover REPLICATION;"), "{table}");
    assert!(table.ends_with("preflight: blocked: fix the FAIL lines\n"), "{table}");
}

#[test]
fn an_unreachable_server_is_an_error_not_a_verdict() {
    let source = cluster(&[("wal_level", "logical")]);
    let source_url = source.create_database("app").unwrap();
    let output = preflight(&source_url, "postgres://tweetgen@127.0.0.1:1/app", false);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("connecting to the target"));
}
