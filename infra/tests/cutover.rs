//! The cutover end to end on this machine: two PostgreSQL clusters (source and
//! target, `migrate follow` running), two app servers (the old host on the
//! source, the new fleet on the target, read-only until the cutover), a moto
//! server holding the hosted zone and the RDS instance, and a load of
//! generations (each writes a ranking row) and trainings throughout.
//!
//! moto neither enforces Route53's rules nor reports real change progress: this
//! test checks what the tool asked of it, not how Route53 would take it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType};
use rand::{Rng, SeedableRng};
use reqwest::{header, redirect::Policy, Client, StatusCode};
use tweetgen_pgharness::PgCluster;

const TOKEN: &str = "cutover-test-token";
const ZONE: &str = "tweetgen.test";
const NAME: &str = "www.tweetgen.test";
const ALB_DNS_NAME: &str = "tweetgen-alb-1234567890.ap-northeast-1.elb.amazonaws.com";
const ALB_ZONE_ID: &str = "Z14GRHDCWA56QT";
const RDS_INSTANCE: &str = "tweetgen-prod";
const TWEETS: &str = "the cat sat on the mat today\nthe dog sat on the log yesterday\na cat ran after the dog\n\
                      my cat likes the warm window\nthe dog likes a long walk";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A child process killed when the test ends, however it ends.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Moto {
    _process: Process,
    url: String,
}

fn start_moto() -> Moto {
    let binary = std::env::var_os("TWEETGEN_MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".venv/moto/bin/moto_server"));
    assert!(binary.exists(), "{} is missing: run scripts/setup.sh test", binary.display());
    let port = free_port();
    let child = Command::new(binary)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Moto { _process: Process(child), url }
}

/// The server binary, built beside this test's tweetgen-infra (same profile).
fn server_binary() -> PathBuf {
    let binary = Path::new(env!("CARGO_BIN_EXE_tweetgen-infra")).with_file_name("tweetgen-server");
    if !binary.exists() {
        let release = binary.parent().is_some_and(|dir| dir.ends_with("release"));
        let mut build = Command::new(env!("CARGO"));
        build.args(["build", "-q", "-p", "tweetgen-server"]);
        if release {
            build.arg("--release");
        }
        assert!(build.status().unwrap().success(), "building tweetgen-server");
    }
    binary
}

struct Server {
    _process: Process,
    url: String,
    /// The error lines of its log.
    errors: Arc<Mutex<Vec<String>>>,
}

/// A tweetgen server on a free port; returns once it listens.
fn start_server(database_url: &str, migrate: bool, read_only: bool) -> Server {
    let mut child = Command::new(server_binary())
        .env("DATABASE_URL", database_url)
        .env("TWEETGEN__SERVER__PORT", "0")
        .env("TWEETGEN__SERVER__READ_ONLY", read_only.to_string())
        .env("TWEETGEN__DATABASE__MIGRATE", migrate.to_string())
        .env("TWEETGEN__ADMIN__TOKEN", TOKEN)
        .env("TWEETGEN__AUTH__STANDIN", "true")
        .env("TWEETGEN__LEARNING__RETRAIN_INTERVAL_SECS", "0")
        .env("TWEETGEN__LOG__FORMAT", "json")
        .env("TWEETGEN__LOG__FILTER", "info")
        .current_dir(workspace())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("the server stopped before listening").unwrap();
        if let Some(at) = line.find("listening on http://") {
            let rest = &line[at + "listening on ".len()..];
            break rest[..rest.find('"').unwrap_or(rest.len())].to_string();
        }
    };
    // Keep reading its log so that it never blocks on a full pipe; keep the errors.
    let errors = Arc::new(Mutex::new(Vec::new()));
    let kept = errors.clone();
    std::thread::spawn(move || {
        for line in lines
            .map_while(Result::ok)
            .filter(|line| (line.contains("\"ERROR\"") || line.contains("\"WARN\"")) && !line.contains("503 Service"))
        {
            kept.lock().unwrap().push(line);
        }
    });
    Server { _process: Process(child), url, errors }
}

fn infra(args: &[&str], env: &[(String, String)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tweetgen-infra")).args(args).envs(env.iter().cloned()).output().unwrap()
}

fn explain(output: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn browser() -> Client {
    Client::builder().redirect(Policy::none()).cookie_store(true).timeout(Duration::from_secs(20)).build().unwrap()
}

fn location(response: &reqwest::Response) -> String {
    response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

/// Signs in at the server's stand-in for X, as a browser does.
async fn sign_in(server: &str, screen_name: &str) -> Client {
    let browser = browser();
    let login = browser.get(format!("{server}/auth/login?return_to=/")).send().await.unwrap();
    let authorize = reqwest::Url::parse(&location(&login)).unwrap();
    let mut fields: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    fields.extend([("decision".into(), "allow".into()), ("username".into(), screen_name.into())]);
    let agreed = browser.post(authorize).form(&fields).send().await.unwrap();
    let signed_in = browser.get(location(&agreed)).send().await.unwrap();
    assert_eq!(location(&signed_in), "/", "{screen_name} signed in");
    browser
}

async fn train(browser: &Client, server: &str) -> reqwest::Result<reqwest::Response> {
    browser
        .post(format!("{server}/api/train_model"))
        .header(header::ACCEPT, "application/json")
        .form(&[("tweets", TWEETS)])
        .send()
        .await
}

/// What the load saw: every acknowledged write, and every refusal.
#[derive(Default)]
struct Observed {
    /// (generation id, text).
    generations: Vec<(i64, String)>,
    /// Acknowledged trainings per user.
    trainings: std::collections::HashMap<String, i64>,
    /// (when, succeeded) for every write tried.
    writes: Vec<(Instant, bool)>,
    /// Answers other than 200 or 503-with-Retry-After.
    errors: Vec<String>,
}

#[derive(Default)]
struct Load {
    stop: Arc<AtomicBool>,
    /// Set once the cutover has finished: the load then also reaches the new fleet.
    both: Arc<AtomicBool>,
    observed: Arc<Mutex<Observed>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

const USERS: [&str; 3] = ["alice", "bob", "chiyo"];

async fn start_load(old: &str, new: &str) -> Load {
    let mut users = Vec::new();
    for name in USERS {
        let browser = sign_in(old, name).await;
        assert_eq!(train(&browser, old).await.unwrap().status(), StatusCode::OK, "first training of {name}");
        users.push((name.to_string(), browser));
    }
    let (stop, both, observed): (Arc<AtomicBool>, Arc<AtomicBool>, Arc<Mutex<Observed>>) = Default::default();
    let tasks = (0..4u64)
        .map(|worker| {
            let (stop, both, observed) = (stop.clone(), both.clone(), observed.clone());
            let (old, new, users) = (old.to_string(), new.to_string(), users.clone());
            tokio::spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(worker);
                let anonymous = browser();
                while !stop.load(Ordering::Relaxed) {
                    // Resolvers that still hold the old address keep sending to the old host.
                    let server = if both.load(Ordering::Relaxed) && rng.random_bool(0.5) { &new } else { &old };
                    let (name, signed_in) = &users[rng.random_range(0..users.len())];
                    let training = rng.random_ratio(1, 10);
                    let result = if training {
                        train(signed_in, server).await
                    } else {
                        anonymous
                            .post(format!("{server}/api/generate_tweet"))
                            .header(header::ACCEPT, "application/json")
                            .form(&[("screen_name", name.as_str())])
                            .send()
                            .await
                    };
                    let now = Instant::now();
                    let answer = match result {
                        Ok(response) => {
                            let (status, retry) =
                                (response.status(), response.headers().contains_key(header::RETRY_AFTER));
                            Ok((status, retry, response.text().await.unwrap_or_default()))
                        }
                        Err(error) => Err(error.to_string()),
                    };
                    let mut observed = observed.lock().unwrap();
                    match answer {
                        Ok((StatusCode::OK, _, body)) => {
                            observed.writes.push((now, true));
                            if training {
                                *observed.trainings.entry(name.clone()).or_default() += 1;
                            } else {
                                let generated: serde_json::Value = serde_json::from_str(&body).unwrap();
                                let id = generated["id"].as_i64().unwrap();
                                observed.generations.push((id, generated["text"].as_str().unwrap().to_string()));
                            }
                        }
                        Ok((StatusCode::SERVICE_UNAVAILABLE, true, _)) => observed.writes.push((now, false)),
                        Ok((status, _, body)) => observed.errors.push(format!("{server}: {status} {body}")),
                        Err(error) => observed.errors.push(format!("{server}: {error}")),
                    }
                }
            })
        })
        .collect();
    Load { stop, both, observed, tasks }
}

impl Load {
    async fn stop(self) -> Observed {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await.unwrap();
        }
        Arc::try_unwrap(self.observed).ok().unwrap().into_inner().unwrap()
    }
}

/// How long clients could not write: from the last acknowledged write before
/// the first refusal to the first acknowledged write after the last refusal.
fn unavailable(writes: &[(Instant, bool)]) -> Duration {
    let mut writes = writes.to_vec();
    writes.sort_by_key(|(at, _)| *at);
    let (Some(first_refused), Some(last_refused)) =
        (writes.iter().position(|(_, ok)| !ok), writes.iter().rposition(|(_, ok)| !ok))
    else {
        return Duration::ZERO;
    };
    let before = writes[..first_refused].iter().rev().find(|(_, ok)| *ok).map(|(at, _)| *at);
    let after = writes[last_refused..].iter().find(|(_, ok)| *ok).map(|(at, _)| *at);
    match (before, after) {
        (Some(before), Some(after)) => after - before,
        _ => writes.last().unwrap().0 - writes[0].0,
    }
}

async fn aws_config(moto: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(moto)
        .region(aws_config::Region::new("ap-northeast-1"))
        .credentials_provider(aws_sdk_route53::config::Credentials::new("testing", "testing", None, None, "test"))
        .load()
        .await
}

/// The zone with the name on the old host (TTL 300), and the RDS instance.
async fn provision(moto: &str) -> String {
    let config = aws_config(moto).await;
    let route53 = aws_sdk_route53::Client::new(&config);
    let zone = route53.create_hosted_zone().name(ZONE).caller_reference("cutover-test").send().await.unwrap();
    let zone_id = zone.hosted_zone().unwrap().id().trim_start_matches("/hostedzone/").to_string();
    let old_host = ResourceRecordSet::builder()
        .name(format!("{NAME}."))
        .r#type(RrType::A)
        .ttl(300)
        .resource_records(ResourceRecord::builder().value("203.0.113.10").build().unwrap())
        .build()
        .unwrap();
    let change = Change::builder().action(ChangeAction::Create).resource_record_set(old_host).build().unwrap();
    route53
        .change_resource_record_sets()
        .hosted_zone_id(&zone_id)
        .change_batch(ChangeBatch::builder().changes(change).build().unwrap())
        .send()
        .await
        .unwrap();
    let rds = aws_sdk_rds::Client::new(&config);
    rds.create_db_parameter_group()
        .db_parameter_group_name("tweetgen-pg16")
        .db_parameter_group_family("postgres16")
        .description("tweetgen")
        .send()
        .await
        .unwrap();
    rds.modify_db_parameter_group()
        .db_parameter_group_name("tweetgen-pg16")
        .parameters(
            aws_sdk_rds::types::Parameter::builder()
                .parameter_name("rds.force_ssl")
                .parameter_value("1")
                .apply_method(aws_sdk_rds::types::ApplyMethod::Immediate)
                .build(),
        )
        .send()
        .await
        .unwrap();
    rds.create_db_instance()
        .db_instance_identifier(RDS_INSTANCE)
        .db_instance_class("db.t4g.medium")
        .engine("postgres")
        .engine_version("16.4")
        .allocated_storage(20)
        .max_allocated_storage(100)
        .backup_retention_period(7)
        .storage_encrypted(true)
        .db_parameter_group_name("tweetgen-pg16")
        .master_username("tweetgen")
        .master_user_password("not-used-here")
        .send()
        .await
        .unwrap();
    zone_id
}

async fn record_in_moto(moto: &str, zone_id: &str) -> Vec<ResourceRecordSet> {
    let route53 = aws_sdk_route53::Client::new(&aws_config(moto).await);
    let listed = route53.list_resource_record_sets().hosted_zone_id(zone_id).send().await.unwrap();
    listed.resource_record_sets().iter().filter(|set| set.name() == format!("{NAME}.")).cloned().collect()
}

/// Every generation a client was told of is in `database`, with its text.
async fn assert_generations_stored(database: &sqlx::PgPool, observed: &Observed, which: &str) {
    for (id, text) in &observed.generations {
        let stored: Option<String> = sqlx::query_scalar("SELECT text FROM generations WHERE id = $1")
            .bind(id)
            .fetch_optional(database)
            .await
            .unwrap();
        assert_eq!(stored.as_ref(), Some(text), "generation {id} is on {which}");
    }
}

struct Measured {
    /// Seen by the clients.
    unavailable: Duration,
    /// fence-fleet → open-writes, as the tool timed it.
    paused: String,
    writes: usize,
}

/// Everything up to the cutover: moto with the zone and the RDS instance, two
/// clusters, the old host and the new fleet, the load, a copy, `follow`
/// running, a verify, the TTL lowered and (as if five minutes passed) run out.
struct Rig {
    moto: Moto,
    zone_id: String,
    /// Kept running for the life of the rig.
    _source: PgCluster,
    _target: PgCluster,
    source_url: String,
    target_url: String,
    work: tempfile::TempDir,
    old: Server,
    new: Server,
    load: Load,
    follow: Process,
}

impl Rig {
    async fn start() -> Rig {
        let moto = start_moto();
        let zone_id = provision(&moto.url).await;
        let source = PgCluster::start().unwrap();
        let target = PgCluster::start().unwrap();
        let source_url = source.create_database("tweetgen").unwrap();
        let target_url = target.create_database("tweetgen").unwrap();
        let work = tempfile::tempdir().unwrap();
        let old = start_server(&source_url, true, false);
        // The new fleet waits, read-only, on the target (empty until the copy).
        let new = start_server(&target_url, false, true);
        let load = start_load(&old.url, &new.url).await;
        let mut rig = Rig {
            moto,
            zone_id,
            _source: source,
            _target: target,
            source_url,
            target_url,
            work,
            old,
            new,
            load,
            follow: Process(Command::new("true").spawn().unwrap()),
        };
        rig.run(&["migrate", "copy", "--jobs", "2"]);
        rig.follow = Process(
            Command::new(env!("CARGO_BIN_EXE_tweetgen-infra"))
                .args(["migrate", "follow"])
                .envs(rig.env())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        rig.run(&["migrate", "verify"]);
        let prepared = rig.run(&rig.dns_args(&["dns", "prepare"]));
        assert!(prepared.contains("(TTL 300 s)") && prepared.contains("203.0.113.10 (TTL 60 s)"), "{prepared}");
        let waiting = infra(&rig.dns_args(&["dns", "status"]), &rig.env());
        assert_eq!(waiting.status.code(), Some(1), "the old TTL of 300 s has not run out: {}", explain(&waiting));
        // Five minutes pass (the file says when the TTL was lowered).
        let prepared_file = rig.work.path().join("dns-prepared.json");
        let mut state: serde_json::Value = serde_json::from_slice(&std::fs::read(&prepared_file).unwrap()).unwrap();
        state["lowered_at"] = (state["lowered_at"].as_f64().unwrap() - 301.0).into();
        std::fs::write(&prepared_file, state.to_string()).unwrap();
        rig.run(&rig.dns_args(&["dns", "status"]));
        rig
    }

    fn env(&self) -> Vec<(String, String)> {
        [
            ("TWEETGEN_MIGRATE_SOURCE", self.source_url.as_str()),
            ("TWEETGEN_MIGRATE_TARGET", self.target_url.as_str()),
            ("TWEETGEN_MIGRATE_DIR", self.work.path().to_str().unwrap()),
            ("AWS_ENDPOINT_URL", self.moto.url.as_str()),
            ("AWS_REGION", "ap-northeast-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("TWEETGEN_ADMIN_TOKEN", TOKEN),
            ("TWEETGEN_OLD_FLEET", self.old.url.as_str()),
            ("TWEETGEN_NEW_FLEET", self.new.url.as_str()),
        ]
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect()
    }

    fn dns_args<'a>(&'a self, command: &[&'a str]) -> Vec<&'a str> {
        [command, &["--zone-id", &self.zone_id, "--record-name", NAME, "--ttl", "60"]].concat()
    }

    fn cutover_args<'a>(&'a self, extra: &[&'a str]) -> Vec<&'a str> {
        let alb = ["--alb-dns-name", ALB_DNS_NAME, "--alb-zone-id", ALB_ZONE_ID, "--rds-instance", RDS_INSTANCE];
        [&self.dns_args(&["cutover"])[..], &alb, extra].concat()
    }

    fn run(&self, args: &[&str]) -> String {
        let output = infra(args, &self.env());
        assert!(output.status.success(), "{args:?}\n{}", explain(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn logged_errors(&self) -> Vec<String> {
        [&self.old, &self.new].iter().flat_map(|server| server.errors.lock().unwrap().clone()).collect()
    }
}

/// One whole move under load; every assertion of the cutover on the way.
async fn cutover_under_load() -> Measured {
    let mut rig = Rig::start().await;
    let checked = rig.run(&["rds", "check", "--instance", RDS_INSTANCE]);
    assert!(checked.contains("ok    rds.force_ssl") && checked.contains("rds check: ready"), "{checked}");
    assert!(rig.run(&["rds", "snapshot", "--instance", RDS_INSTANCE]).contains("is available"));
    let plan = rig.run(&rig.cutover_args(&["--dry-run"]));
    assert!(plan.contains("cutover --dry-run: ready") && plan.contains("5. switch-fleets"), "{plan}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let report = rig.run(&rig.cutover_args(&[]));
    rig.load.both.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let logged = rig.logged_errors();
    let Rig { moto, zone_id, source_url, target_url, load, follow, .. } = &mut rig;
    let observed = std::mem::take(load).stop().await;
    drop(std::mem::replace(follow, Process(Command::new("true").spawn().unwrap())));
    println!("{report}");

    // Every acknowledged write is on the target, and nothing else failed.
    assert!(
        observed.errors.is_empty(),
        "only 200 or 503 + Retry-After: {:?}\nserver errors: {logged:#?}",
        observed.errors
    );
    let target_pool = sqlx::PgPool::connect(target_url).await.unwrap();
    assert_generations_stored(&target_pool, &observed, "the target").await;
    for name in USERS {
        let version: i64 = sqlx::query_scalar(
            "SELECT m.version FROM models m JOIN users u ON u.id = m.user_id WHERE u.screen_name = $1",
        )
        .bind(name)
        .fetch_one(&target_pool)
        .await
        .unwrap();
        let acknowledged = observed.trainings.get(name).copied().unwrap_or(0);
        assert_eq!(version, 1 + acknowledged, "{name}: every acknowledged retraining, and only those");
    }
    let ids: Vec<i64> = observed.generations.iter().map(|(id, _)| *id).collect();
    assert!(ids.iter().any(|id| *id > 1000), "writes went on after the cutover, above the sequence gap: {ids:?}");
    // The source took nothing after the fence.
    let source_pool = sqlx::PgPool::connect(source_url).await.unwrap();
    let refused = sqlx::query("INSERT INTO users (screen_name) VALUES ('late')").execute(&source_pool).await;
    assert!(refused.unwrap_err().to_string().contains("read-only"), "the source is fenced");

    // The name points at the ALB, with the short TTL.
    let records = record_in_moto(&moto.url, zone_id).await;
    assert_eq!(records.len(), 1, "the old A record went in the same change: {records:?}");
    assert_eq!(records[0].r#type(), &RrType::Cname);
    assert_eq!(records[0].ttl(), Some(60));
    assert_eq!(records[0].resource_records()[0].value().trim_end_matches('.'), ALB_DNS_NAME);
    assert!(report.contains("authoritative servers"), "{report}");

    // Past the commit point, a rollback says what it would lose and does nothing.
    let rollback = infra(&rig.cutover_args(&["rollback"]), &rig.env());
    assert_eq!(rollback.status.code(), Some(1), "{}", explain(&rollback));
    let said = String::from_utf8_lossy(&rollback.stdout);
    assert!(said.contains("would lose") && said.contains("public.generations"), "{said}");

    let paused = report
        .lines()
        .find(|line| line.contains("writes were paused for"))
        .and_then(|line| line.split("writes were paused for ").nth(1))
        .unwrap_or("?")
        .to_string();
    Measured { unavailable: unavailable(&observed.writes), paused, writes: observed.writes.len() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cutover_under_load_loses_no_acknowledged_write() {
    let measured = cutover_under_load().await;
    println!(
        "write-unavailability window: {:.3} s seen by the clients ({} writes tried); {} as the tool timed it",
        measured.unavailable.as_secs_f64(),
        measured.writes,
        measured.paused
    );
}

/// The benchmark (bench/cutover.sh): the window over ten cutovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: bench/cutover.sh runs it"]
async fn ten_cutovers_under_load() {
    let rounds: usize = std::env::var("CUTOVER_ROUNDS").ok().and_then(|n| n.parse().ok()).unwrap_or(10);
    let mut windows = Vec::new();
    for round in 1..=rounds {
        let measured = cutover_under_load().await;
        println!(
            "round {round}: clients could not write for {:.3} s ({} writes tried); the tool paused writes for {}",
            measured.unavailable.as_secs_f64(),
            measured.writes,
            measured.paused
        );
        windows.push(measured.unavailable.as_secs_f64());
    }
    windows.sort_by(f64::total_cmp);
    let median =
        if rounds % 2 == 1 { windows[rounds / 2] } else { (windows[rounds / 2 - 1] + windows[rounds / 2]) / 2.0 };
    println!(
        "write-unavailability over {rounds} cutovers: median {median:.3} s, max {:.3} s, min {:.3} s",
        windows[rounds - 1],
        windows[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_the_commit_point_a_rollback_puts_everything_back() {
    let mut rig = Rig::start().await;
    let stopped = rig.run(&rig.cutover_args(&["--stop-after", "switch-fleets"]));
    assert!(stopped.contains("cutover: stopped after switch-fleets"), "{stopped}");
    let rolled_back = rig.run(&rig.cutover_args(&["rollback"]));
    assert!(
        rolled_back.contains("source writable again") && rolled_back.contains("old fleet writable"),
        "{rolled_back}"
    );
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let logged = rig.logged_errors();
    let observed = std::mem::take(&mut rig.load).stop().await;
    assert!(
        observed.errors.is_empty(),
        "only 200 or 503 + Retry-After: {:?}\nserver errors: {logged:#?}",
        observed.errors
    );
    let refused = observed.writes.iter().filter(|(_, ok)| !ok).count();
    assert!(refused > 0, "writes were paused between the fence and the rollback");

    // Every acknowledged write is on the source, the old host writes there again,
    // the new fleet is read-only again, and the name was never moved.
    let source_pool = sqlx::PgPool::connect(&rig.source_url).await.unwrap();
    assert_generations_stored(&source_pool, &observed, "the source").await;
    let (first_ok_after_refusals, _) =
        observed.writes.iter().rev().find(|(_, ok)| *ok).expect("writes after the rollback");
    let last_refused = observed.writes.iter().filter(|(_, ok)| !ok).map(|(at, _)| at).max().unwrap();
    assert!(first_ok_after_refusals > last_refused, "writes succeed again after the rollback");
    let admin = |server: &str| reqwest::Client::new().get(format!("{server}/admin/status")).bearer_auth(TOKEN).send();
    let old: serde_json::Value = admin(&rig.old.url).await.unwrap().json().await.unwrap();
    let new: serde_json::Value = admin(&rig.new.url).await.unwrap().json().await.unwrap();
    assert_eq!(old["read_only"], false);
    assert!(
        old["database"]
            .as_str()
            .unwrap()
            .contains(&format!(":{}/", rig.source_url.split(':').nth(2).unwrap().split('/').next().unwrap())),
        "{old}"
    );
    assert_eq!(new["read_only"], true, "{new}");
    let records = record_in_moto(&rig.moto.url, &rig.zone_id).await;
    assert_eq!(records.len(), 1);
    assert_eq!((records[0].r#type(), records[0].ttl()), (&RrType::A, Some(60)), "{records:?}");
}
