//! Test hosts in network namespaces: a cluster on one host, reached from a host
//! the firewall admits and refused to one it does not.

use std::process::Command;

use tweetgen_pgharness::netns::{Allow, Firewall, Network};
use tweetgen_pgharness::{ClusterOptions, PgCluster};

fn network() -> Option<Network> {
    match Network::create() {
        Ok(network) => Some(network),
        Err(error) => {
            eprintln!("SKIPPED: network namespaces cannot be made here: {error:#}");
            None
        }
    }
}

#[test]
fn a_cluster_on_a_host_admits_only_whom_its_firewall_admits() {
    let Some(mut network) = network() else { return };
    let db = network.add_host("db").unwrap();
    let app = network.add_host("app").unwrap();
    let stranger = network.add_host("stranger").unwrap();
    let options =
        ClusterOptions { host: Some(db.clone()), password: Some("s3cret".into()), ..ClusterOptions::default() };
    let cluster = PgCluster::start_with(options).unwrap();
    network
        .firewall(&db, &Firewall { inbound: vec![Allow::only(cluster.port(), [app.address])], outbound: None })
        .unwrap();
    // The app host may open connections to the database and nowhere else.
    let only_the_database =
        Firewall { inbound: vec![], outbound: Some(vec![Allow::only(cluster.port(), [db.address])]) };
    network.firewall(&app, &only_the_database).unwrap();
    cluster.create_database("app").unwrap();
    let psql = postgres_bin().join("psql");
    let query = |host: &tweetgen_pgharness::netns::Host, url: &str| {
        host.command(&psql)
            .args(["-X", "-A", "-t", "-d", url, "-c", "SELECT inet_client_addr()"])
            .env("PGCONNECT_TIMEOUT", "2")
            .output()
            .unwrap()
    };
    let admitted = query(&app, &cluster.remote_url("app"));
    assert!(admitted.status.success(), "{}", String::from_utf8_lossy(&admitted.stderr));
    assert_eq!(String::from_utf8_lossy(&admitted.stdout).trim(), app.address.to_string(), "it came from the app host");
    let refused = query(&stranger, &cluster.remote_url("app"));
    assert!(!refused.status.success(), "the firewall drops the stranger");
    let elsewhere = query(&app, &format!("postgres://tweetgen:s3cret@{}:{}/app", stranger.address, cluster.port()));
    assert!(!elsewhere.status.success(), "the app host's outbound rules allow the database only");
    let wrong_password = query(&app, &cluster.remote_url("app").replace("s3cret", "guess"));
    assert!(String::from_utf8_lossy(&wrong_password.stderr).contains("password authentication failed"));
    assert_eq!(cluster.psql("app", "SELECT 1").unwrap().trim(), "1", "the harness reaches it through the socket");
    let names: Vec<String> = network.hosts().iter().map(|host| host.netns.clone()).collect();
    drop(cluster);
    drop(network);
    let listed = String::from_utf8(Command::new("ip").args(["netns", "list"]).output().unwrap().stdout).unwrap();
    assert!(names.iter().all(|name| !listed.contains(name.as_str())), "every namespace is removed: {listed}");
}

fn postgres_bin() -> std::path::PathBuf {
    tweetgen_pgharness::postgres_bin_dir().unwrap()
}
