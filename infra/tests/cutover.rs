//! The cutover and its rollback on the real topology (`topology/`): the old
//! host and the new fleet in network namespaces with security-group firewalls,
//! clients through both front doors the whole time, the operator's tool
//! reaching only the two databases (and AWS, moto here). moto neither enforces
//! Route53's rules nor reports real change progress: the test checks what the
//! tool asked of it, not how Route53 would take it.

mod topology;

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_route53::types::RrType;
use topology::load::{Attempt, Kind, Load, Outcome};
use topology::{explain, Topology, RDS_INSTANCE};
use tweetgen_control::{self as control, State};

/// When the tool logged `[step] starting` or `[step] done`, in wall-clock seconds.
fn logged_at(report: &str, step: &str, event: &str) -> f64 {
    let line = report
        .lines()
        .find(|line| line.contains(&format!("[{step}] {event}")))
        .unwrap_or_else(|| panic!("no [{step}] {event} in:\n{report}"));
    let stamp = line.split_whitespace().next().unwrap();
    chrono::DateTime::parse_from_rfc3339(stamp).unwrap().timestamp_micros() as f64 / 1e6
}

/// Writes held by a fence: the ones under way at some moment of `window`.
struct Held {
    /// Seconds each took beyond the usual (the median of the writes outside).
    added: Vec<f64>,
    /// The longest any of them took.
    pause: f64,
}

fn held(attempts: &[Attempt], (from, to): (f64, f64)) -> Held {
    let writes: Vec<&Attempt> = attempts.iter().filter(|attempt| attempt.acknowledged_write()).collect();
    let (inside, outside): (Vec<&Attempt>, Vec<&Attempt>) =
        writes.into_iter().partition(|attempt| attempt.started < to && attempt.ended() > from);
    let mut usual: Vec<f64> = outside.iter().map(|attempt| attempt.seconds).collect();
    usual.sort_by(f64::total_cmp);
    let median = usual.get(usual.len() / 2).copied().unwrap_or(0.0);
    Held {
        added: inside.iter().map(|attempt| (attempt.seconds - median).max(0.0)).collect(),
        pause: inside.iter().map(|attempt| attempt.seconds).fold(0.0, f64::max),
    }
}

/// Attempts that failed: anything but an acknowledgement, a replica's refusal of
/// a write that started before the target opened, and a training refused while
/// another of the same account's was under way.
fn failures(attempts: &[Attempt], target_opened: f64) -> Vec<String> {
    attempts
        .iter()
        .filter(|attempt| match &attempt.outcome {
            Outcome::Acknowledged(_) | Outcome::TrainingUnderWay => false,
            Outcome::NotOpenYet => attempt.started > target_opened,
            Outcome::Failed(_) => true,
        })
        .map(|attempt| {
            format!("{:?} via {} at {:.3}: {:?}", attempt.kind, attempt.via, attempt.started, attempt.outcome)
        })
        .collect()
}

/// The acknowledged generations that are not on `database` with their text.
async fn missing_generations(database: &sqlx::PgPool, attempts: &[Attempt]) -> Vec<i64> {
    let stored: HashMap<i64, String> =
        sqlx::query_as("SELECT id, text FROM generations").fetch_all(database).await.unwrap().into_iter().collect();
    attempts
        .iter()
        .filter_map(|attempt| match (&attempt.kind, &attempt.outcome) {
            (Kind::Generate, Outcome::Acknowledged(Some((id, text)))) if stored.get(id) != Some(text) => Some(*id),
            _ => None,
        })
        .collect()
}

async fn assert_generations_on(database: &sqlx::PgPool, attempts: &[Attempt]) {
    let missing = missing_generations(database, attempts).await;
    assert!(missing.is_empty(), "acknowledged generations missing: {missing:?}");
}

/// Each user's model version, and when it was read (wall clock, before and after).
struct Versions {
    read: (f64, f64),
    by_user: HashMap<String, i64>,
}

async fn model_versions(database: &sqlx::PgPool) -> Versions {
    let started = topology::wall_clock();
    let by_user = sqlx::query_as("SELECT u.screen_name, m.version FROM models m JOIN users u ON u.id = m.user_id")
        .fetch_all(database)
        .await
        .unwrap()
        .into_iter()
        .collect();
    Versions { read: (started, topology::wall_clock()), by_user }
}

/// Between two readings under load, each model was retrained exactly once per
/// training that committed: at least once for every training acknowledged in
/// between, at most once for every one that was under way at some point in between.
fn assert_trainings_exactly_once(before: &Versions, after: &Versions, attempts: &[Attempt]) {
    for (name, first) in &before.by_user {
        let trainings = || attempts.iter().filter(|attempt| attempt.kind == Kind::Train(name.clone()));
        let surely = trainings()
            .filter(|attempt| attempt.acknowledged_write())
            .filter(|attempt| attempt.started > before.read.1 && attempt.ended() < after.read.0)
            .count() as i64;
        let possibly = trainings()
            .filter(|attempt| !matches!(attempt.outcome, Outcome::NotOpenYet | Outcome::TrainingUnderWay))
            .filter(|attempt| attempt.started < after.read.1 && attempt.ended() > before.read.0)
            .count() as i64;
        let retrained = after.by_user[name] - first;
        assert!(
            (surely..=possibly).contains(&retrained),
            "{name}: retrained {retrained} times; {surely} trainings surely committed, {possibly} possibly"
        );
    }
}

/// Rows of the service's tables on `database` committed in `(from, to)`, with a
/// replication origin (`Some(true)`: by this tool's appliers), without one
/// (`Some(false)`: by a server), or either (`None`).
async fn rows_committed(database: &sqlx::PgPool, (from, to): (f64, f64), by_an_applier: Option<bool>) -> i64 {
    let mut total = 0;
    for table in ["users", "models", "generations", "sessions", "oauth_logins"] {
        let count: i64 = sqlx::query_scalar(&format!(
            "SELECT count(*) FROM {table}, pg_xact_commit_timestamp_origin(xmin) AS committed
             WHERE committed.timestamp > to_timestamp($1) AND committed.timestamp < to_timestamp($2)
               AND ($3::bool IS NULL OR (committed.roident <> 0) = $3)"
        ))
        .bind(from)
        .bind(to)
        .bind(by_an_applier)
        .fetch_one(database)
        .await
        .unwrap();
        total += count;
    }
    total
}

/// Each present server as (database, state seen), by instance id.
async fn presence(database: &sqlx::PgPool) -> Vec<(String, String, String)> {
    control::present(database, 3.0)
        .await
        .unwrap()
        .into_iter()
        .map(|server| (server.report.instance_id, server.report.database, server.report.state_seen))
        .collect()
}

async fn record(database: &sqlx::PgPool) -> State {
    control::read(database).await.unwrap().expect("a control record").state
}

/// Starts a replacement on `new_host` as soon as the cutover fences the target,
/// and retires the instance on `old_host` (as an autoscaling group replaces one).
async fn replace_when_fenced(topology: &Topology, old_host: &str, new_host: &str) {
    let target = topology.target_pool().await;
    while record(&target).await == State::Replica {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    topology.start_server(new_host, topology.fleet_config());
    topology.retire(old_host).await;
}

struct Round {
    /// Seen by the clients: the longest write under way while writes were held.
    cutover_pause: f64,
    rollback_pause: f64,
    /// What holding added to each write held, in the cutover and in the rollback.
    cutover_added: Vec<f64>,
    rollback_added: Vec<f64>,
    failed: usize,
    lost: usize,
}

/// One cutover and one rollback after its commit point, under `load`, replacing
/// the fleet instance on `old_host` by one on `new_host` during the cutover.
/// Asserts everything the two promise; returns what the clients saw.
async fn cutover_and_rollback(topology: &Topology, load: &Load, old_host: &str, new_host: &str) -> Round {
    let began = std::time::Instant::now();
    let note = |what: &str| eprintln!("round: {what} after {:.1} s", began.elapsed().as_secs_f64());
    let (source, target) = (topology.source_pool().await, topology.target_pool().await);
    let versions_before = model_versions(&source).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let replacing = replace_when_fenced(topology, old_host, new_host);
    let cutover = async {
        let output = topology.op_command(&topology.cutover_args(&["cutover"])).output();
        tokio::task::spawn_blocking(move || output.unwrap()).await.unwrap()
    };
    let (_, output) = tokio::join!(replacing, cutover);
    note("cutover");
    let report = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "the cutover failed:\n{}", explain(&output));
    println!("{report}");
    let fenced = logged_at(&report, "fence", "starting");
    let fence_done = logged_at(&report, "fence", "done");
    let committed = logged_at(&report, "commit", "done");
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Every live server is on the target and writable, the replacement included,
    // and nothing wrote to the source after its fence.
    assert!(presence(&source).await.is_empty(), "no server left on the source: {:?}", presence(&source).await);
    let on_target = presence(&target).await;
    assert!(on_target.len() >= 3, "the old host and two fleet instances: {on_target:?}");
    assert!(on_target.iter().all(|(_, database, state)| (database.as_str(), state.as_str()) == ("rds", "serving")));
    assert_eq!(
        rows_committed(&source, (fence_done, topology::wall_clock()), Some(false)).await,
        0,
        "no server wrote to the source after its fence (only the reverse stream's applier did)"
    );
    assert_eq!(
        rows_committed(&target, (versions_before.read.0.max(topology.copied_at()), fenced), Some(false)).await,
        0,
        "before the commit point only the follower wrote to the target"
    );
    let on_target_versions = model_versions(&target).await;
    let during = load.attempts_started_before(on_target_versions.read.1).await;
    assert_generations_on(&target, &during).await;
    assert_trainings_exactly_once(&versions_before, &on_target_versions, &during);
    assert!(topology.follow_alive(), "the follower runs on: no duplicate key stopped it");
    let records = topology.records().await;
    assert_eq!(records.len(), 1, "the old A record went in the same change: {records:?}");
    assert_eq!((records[0].r#type(), records[0].ttl()), (&RrType::Cname, Some(60)));

    note("checks after the cutover");
    // A server started on the old host now, as one restarted would be, finds
    // its configured database moved and follows it before it serves.
    topology.start_server_as("vps-restarted", "vps", 3001, topology.old_host_config());
    assert_eq!(presence(&target).await.len(), on_target.len() + 1, "the restarted server is on the target");
    topology.stop_server("vps-restarted").await;

    // Rollback after the commit point, under the same load, loses nothing.
    let rollback = async {
        let output = topology.op_command(&topology.cutover_args(&["cutover", "rollback"])).output();
        tokio::task::spawn_blocking(move || output.unwrap()).await.unwrap()
    };
    let output = rollback.await;
    note("rollback");
    let rolled_back = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "the rollback failed:\n{}", explain(&output));
    println!("{rolled_back}");
    let target_fenced = logged_at(&rolled_back, "fence-target", "starting");
    let source_open = logged_at(&rolled_back, "open-source", "done");
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let back_on_source = model_versions(&source).await;
    let attempts = load.attempts_started_before(back_on_source.read.1).await;
    let lost = missing_generations(&source, &attempts).await.len();
    assert_eq!(lost, 0, "every acknowledged generation of both periods is on the source");
    assert_trainings_exactly_once(&versions_before, &back_on_source, &attempts);
    assert!(presence(&target).await.is_empty(), "no server left on the target: {:?}", presence(&target).await);
    let on_source = presence(&source).await;
    assert!(on_source.iter().all(|(_, database, state)| (database.as_str(), state.as_str()) == ("vps", "serving")));
    assert!(on_source.len() >= 3, "{on_source:?}");
    assert_eq!(record(&target).await, State::Moved { to: "vps".into() });
    let records = topology.records().await;
    assert_eq!((records[0].r#type(), records[0].ttl()), (&RrType::A, Some(60)), "the name is back: {records:?}");
    let after = attempts.iter().filter(|attempt| attempt.started > source_open && attempt.acknowledged_write());
    assert!(after.count() > 0, "writes go on after the rollback");

    let attempts: Vec<Attempt> =
        attempts.into_iter().filter(|attempt| attempt.ended() > versions_before.read.0).collect();
    note("checks after the rollback");
    let failed = failures(&attempts, committed);
    for failure in &failed {
        println!("failed: {failure}");
    }
    let cutover_held = held(&attempts, (fenced, committed));
    let rollback_held = held(&attempts, (target_fenced, source_open));
    Round {
        cutover_pause: cutover_held.pause,
        rollback_pause: rollback_held.pause,
        cutover_added: cutover_held.added,
        rollback_added: rollback_held.added,
        failed: failed.len(),
        lost,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cutover_and_a_rollback_on_the_real_topology_lose_nothing_and_fail_no_request() {
    let Some(topology) = Topology::start().await else { return };
    let checked = topology.run_ok(&["rds", "check", "--instance", RDS_INSTANCE]);
    assert!(checked.contains("ok    rds.logical_replication") && checked.contains("rds check: ready"), "{checked}");
    assert!(topology.run_ok(&["rds", "snapshot", "--instance", RDS_INSTANCE]).contains("is available"));
    let plan = topology.run_ok(&topology.cutover_args(&["cutover", "--dry-run"]));
    assert!(plan.contains("cutover --dry-run: ready") && plan.contains("5. commit: rds serving"), "{plan}");
    assert!(plan.contains("each knows rds"), "the old host's server knows where it goes: {plan}");

    let load = Load::start(&topology, 3);
    let round = cutover_and_rollback(&topology, &load, "app1", "app3").await;
    let attempts = load.stop().await;
    let failed = failures(&attempts, f64::MAX);
    assert!(failed.is_empty(), "every request succeeded: {failed:#?}\nserver errors: {:#?}", topology.server_errors());
    assert!(topology.server_errors().is_empty(), "{:#?}", topology.server_errors());
    println!(
        "cutover: writes paused for at most {:.3} s; rollback after the commit point: {:.3} s; {} requests, {} \
         failed, {} acknowledged writes lost",
        round.cutover_pause,
        round.rollback_pause,
        attempts.len(),
        round.failed,
        round.lost
    );
}

/// After a failure at any step (the tool killed right after the step's work),
/// `cutover rollback` puts every server back on the source, writing there, with
/// every acknowledged write kept; and `cutover` can be run again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_after_a_failure_at_any_step_puts_every_server_back() {
    let Some(topology) = Topology::start().await else { return };
    let (source, target) = (topology.source_pool().await, topology.target_pool().await);
    let versions_before = model_versions(&source).await;
    let load = Load::start(&topology, 1);
    for step in ["fence", "catch-up", "sequences", "reverse-stream", "commit", "dns-flip", "confirm"] {
        let cutover = topology.cutover_args(&["cutover"]);
        let failed = topology.run(&cutover, &[("TWEETGEN_INFRA_FAULT_AFTER", step)]);
        let said = String::from_utf8_lossy(&failed.stderr);
        assert_eq!(failed.status.code(), Some(2), "{step}: {}", explain(&failed));
        assert!(said.contains(&format!("a fault injected after {step}")), "{said}");
        let committed = ["commit", "dns-flip", "confirm"].contains(&step);
        let rolled_back = topology.run_ok(&topology.cutover_args(&["cutover", "rollback"]));
        let kind = if committed { "after the commit point" } else { "before the commit point" };
        assert!(rolled_back.contains(kind), "{step}: {rolled_back}");

        // Where each server writes now: every one on the source, serving; the new
        // fleet, if it never moved, on the target again as a replica.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let on_source = presence(&source).await;
        assert!(on_source.iter().all(|(_, database, state)| (database.as_str(), state.as_str()) == ("vps", "serving")));
        let on_target = presence(&target).await;
        if committed {
            assert!(on_target.is_empty(), "{step}: every server came back: {on_target:?}");
            assert_eq!(on_source.len(), 3, "{step}: {on_source:?}");
        } else {
            assert_eq!((on_source.len(), on_target.len()), (1, 2), "{step}");
            assert!(on_target.iter().all(|(_, _, state)| state == "replica"), "{step}: {on_target:?}");
        }
        assert_eq!(record(&source).await, State::Serving, "{step}");
        assert_generations_on(&source, &load.attempts()).await;
        println!(
            "fault after {step}: rolled back {kind}; {} servers on the source, {} on the target as replicas",
            on_source.len(),
            on_target.len()
        );
    }
    let attempts = load.stop().await;
    assert_trainings_exactly_once(&versions_before, &model_versions(&source).await, &attempts);
    let failed = failures(&attempts, f64::MAX);
    assert!(failed.is_empty(), "every request succeeded: {failed:#?}");
    // And the whole cutover still goes through.
    let report = topology.run_ok(&topology.cutover_args(&["cutover"]));
    assert!(report.contains("cutover: complete"), "{report}");
}

/// The benchmark (bench/cutover.sh): rounds of a cutover (one fleet instance
/// replaced during it) and a rollback after its commit point, under load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: bench/cutover.sh runs it"]
async fn ten_cutovers_and_rollbacks_under_load() {
    let rounds: usize = std::env::var("CUTOVER_ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(10);
    let Some(topology) = Topology::start().await else { panic!("the benchmark needs network namespaces (root)") };
    let load = Load::start(&topology, 3);
    let mut measured = Vec::new();
    // Two fleet instances at a time: each round replaces one by a new one on the free host.
    let mut live = ["app1", "app2"];
    let mut free = "app3";
    for round in 1..=rounds {
        let old = live[round % 2];
        let this = cutover_and_rollback(&topology, &load, old, free).await;
        println!(
            "round {round}: replaced {old} by {free}; writes paused {:.3} s (cutover), {:.3} s (rollback); {} failed, \
             {} lost",
            this.cutover_pause, this.rollback_pause, this.failed, this.lost
        );
        live[round % 2] = free;
        free = old;
        measured.push(this);
    }
    let attempts = load.stop().await;
    let quantiles = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        let at = |q: f64| values.get(((values.len().max(1) - 1) as f64 * q).round() as usize).copied().unwrap_or(0.0);
        format!("p50 {:.3} s, p99 {:.3} s, max {:.3} s ({} values)", at(0.5), at(0.99), at(1.0), values.len())
    };
    let pauses = |pick: fn(&Round) -> f64| quantiles(measured.iter().map(pick).collect());
    let added =
        |pick: fn(&Round) -> &Vec<f64>| quantiles(measured.iter().flat_map(|round| pick(round).clone()).collect());
    println!("cutover: write pause seen by clients {}", pauses(|round| round.cutover_pause));
    println!("cutover: latency added to held writes {}", added(|round| &round.cutover_added));
    println!("rollback after the commit point: write pause {}", pauses(|round| round.rollback_pause));
    println!("rollback after the commit point: latency added to held writes {}", added(|round| &round.rollback_added));
    let failed: usize = measured.iter().map(|round| round.failed).sum();
    let lost: usize = measured.iter().map(|round| round.lost).sum();
    println!("requests: {}; failed: {failed}; acknowledged writes lost: {lost}", attempts.len());
}
