use std::net::TcpStream;
use std::path::PathBuf;

use tweetgen_pgharness::{ClusterOptions, PgCluster};

fn accepts_connections(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

#[test]
fn two_clusters_run_side_by_side_with_logical_wal() {
    let source = PgCluster::start().unwrap();
    let target = PgCluster::start().unwrap();
    assert_ne!(source.port(), target.port());
    for cluster in [&source, &target] {
        assert_eq!(cluster.psql("postgres", "SHOW wal_level").unwrap().trim(), "logical");
    }
    source.create_database("app").unwrap();
    source.psql("app", "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2)").unwrap();
    assert_eq!(source.psql("app", "SELECT count(*) FROM t").unwrap().trim(), "2");
    assert!(target.psql("app", "SELECT 1").is_err(), "databases are per cluster");
}

#[test]
fn dropped_cluster_is_stopped_and_removed_even_on_panic() {
    let (sender, receiver) = std::sync::mpsc::channel::<(u16, PathBuf)>();
    let outcome = std::thread::spawn(move || {
        let cluster = PgCluster::start().unwrap();
        sender.send((cluster.port(), cluster.data_dir().to_path_buf())).unwrap();
        panic!("a failing test");
    })
    .join();
    assert!(outcome.is_err());
    let (port, data_dir) = receiver.recv().unwrap();
    assert!(!accepts_connections(port), "server still listening on {port}");
    assert!(!data_dir.exists(), "{} left behind", data_dir.display());
}

#[test]
fn persistent_cluster_keeps_its_data_across_restarts() {
    let parent = tempfile::tempdir().unwrap();
    // The server user must be able to reach the directory when we run as root.
    std::fs::set_permissions(parent.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let options = ClusterOptions { data_dir: Some(parent.path().join("data")), ..Default::default() };
    let first = PgCluster::start_with(options.clone()).unwrap();
    first.create_database("keep").unwrap();
    first.psql("keep", "CREATE TABLE kept AS SELECT 42 AS answer").unwrap();
    first.stop().unwrap();

    let second = PgCluster::start_with(options).unwrap();
    assert_eq!(second.psql("keep", "SELECT answer FROM kept").unwrap().trim(), "42");
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let first = PgCluster::start().unwrap();
    let error = PgCluster::start_with(ClusterOptions { port: Some(first.port()), ..Default::default() })
        .err()
        .expect("second server on the same port must fail");
    assert!(format!("{error:#}").contains("postgres exited"), "{error:#}");
}

/// `tweetgen-pg run` gives the command a database, and a runner killed outright
/// (SIGKILL: no destructors) still takes its server down.
#[test]
fn runner_provides_database_url_and_its_server_dies_with_it() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let mut runner = Command::new(env!("CARGO_BIN_EXE_tweetgen-pg"))
        .args(["run", "--database", "demo", "--", "sh", "-c", "echo \"url=$DATABASE_URL\"; exec sleep 600"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(runner.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let url = line.trim().strip_prefix("url=").expect("the command sees DATABASE_URL").to_string();
    assert!(url.starts_with("postgres://tweetgen@127.0.0.1:") && url.ends_with("/demo"), "{url}");
    let port: u16 = url.rsplit(':').next().unwrap().split('/').next().unwrap().parse().unwrap();
    assert!(accepts_connections(port));

    runner.kill().unwrap();
    runner.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while accepts_connections(port) {
        assert!(Instant::now() < deadline, "postgres outlived its runner on port {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `--set` reaches the server and overrides the harness's own settings.
#[test]
fn runner_settings_override_the_harness_defaults() {
    use std::process::Command;

    let psql = tweetgen_pgharness::postgres_bin_dir().unwrap().join("psql");
    let script = format!(
        "{} -X -A -t -d \"$DATABASE_URL\" -c \"SELECT current_setting('fsync') || ' ' || current_setting('work_mem')\"",
        psql.display()
    );
    let output = Command::new(env!("CARGO_BIN_EXE_tweetgen-pg"))
        .args(["run", "--set", "fsync=on", "--set", "work_mem=7MB", "--", "sh", "-c", &script])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "on 7MB");

    let bad =
        Command::new(env!("CARGO_BIN_EXE_tweetgen-pg")).args(["run", "--set", "fsync", "--", "true"]).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("NAME=VALUE"), "{}", String::from_utf8_lossy(&bad.stderr));
}

#[test]
fn an_unreachable_data_directory_is_a_clear_error_when_root() {
    if !nix::unistd::Uid::effective().is_root() {
        return; // only root hands the server to another user
    }
    let private = tempfile::tempdir().unwrap();
    std::fs::set_permissions(private.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let options = ClusterOptions { data_dir: Some(private.path().join("data")), ..Default::default() };
    let error = PgCluster::start_with(options).err().expect("the postgres user cannot enter a 0700 root directory");
    assert!(format!("{error:#}").contains("cannot enter"), "{error:#}");
}
