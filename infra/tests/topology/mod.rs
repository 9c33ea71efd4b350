//! The production topology on one machine, in network namespaces (see
//! `tweetgen_pgharness::netns`), with firewalls that mirror the security groups:
//!
//! | host     | runs                                         | admits                                 | may open              |
//! |----------|----------------------------------------------|----------------------------------------|-----------------------|
//! | `vps`    | the old server (:3000), the source DB, and tweetgen-infra (the runbook runs it there) | :3000 from anyone; the DB from the app hosts (over the VPN, for a rollback) | the target DB, AWS and X only |
//! | `lb`     | haproxy, standing in for the ALB (:80)       | :80 from anyone                        | anything              |
//! | `app1-3` | the new fleet's servers (:3000)              | :3000 from `lb` only                   | anything              |
//! | `rds`    | the target DB                                | the DB from the app hosts and `vps`    | anything              |
//! | `aws`    | the internet's APIs: moto (Route53, RDS, :5000), X's sign-in (the stand-in, :5001) | :5000, :5001 from anyone | anything |
//! | `client` | the test's load                              | nothing                                | anything              |
//!
//! The link between the VPS and the rest is capped (`tc tbf`). No process can
//! reach a fleet server's port but the load balancer: the cutover reaches the
//! servers only through the databases' control records.

pub mod load;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType};
use reqwest::{header, redirect::Policy, Client};
use tweetgen_pgharness::netns::{Allow, Firewall, Host, Network};
use tweetgen_pgharness::{ClusterOptions, PgCluster};

pub const ZONE: &str = "tweetgen.test";
pub const NAME: &str = "www.tweetgen.test";
pub const ALB_DNS_NAME: &str = "tweetgen-alb-1234567890.ap-northeast-1.elb.amazonaws.com";
pub const ALB_ZONE_ID: &str = "Z14GRHDCWA56QT";
pub const RDS_INSTANCE: &str = "tweetgen-prod";
pub const PASSWORD: &str = "not-Sent-0ver-http";
/// The new fleet's own role on RDS (`tweetgen-server migrate` makes it, as on EC2).
const APP_ROLE: &str = "tweetgen_app";
const APP_ROLE_PASSWORD: &str = "the-fleet's-own-password";
pub const TWEETS: &str = "the cat sat on the mat today\nthe dog sat on the log yesterday\na cat ran after the dog\n\
                          my cat likes the warm window\nthe dog likes a long walk";
pub const USERS: [&str; 3] = ["alice", "bob", "chiyo"];
const SERVER_PORT: u16 = 3000;
const MOTO_PORT: u16 = 5000;
const X_PORT: u16 = 5001;
const X_CLIENT_ID: &str = "tweetgen-topology";
/// The VPS's uplink, each way.
const VPS_LINK_MBIT: u32 = 100;
/// haproxy's runtime API, in the work directory.
const BALANCER_SOCKET: &str = "haproxy.sock";
/// How long a deregistered instance keeps the requests it has before it is
/// stopped (the target group's deregistration delay, shortened).
const DEREGISTRATION_DELAY: Duration = Duration::from_millis(500);

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A child process killed when the value is dropped.
pub struct Process(pub Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Process {
    /// SIGTERM, as an autoscaling group's scale-in or systemd does; the process
    /// drains its requests and exits on its own.
    pub fn terminate(&self) {
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    }
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

/// A tweetgen server on one of the hosts.
pub struct Server {
    pub name: String,
    pub process: Process,
    /// Its log lines at WARN and ERROR.
    pub errors: Arc<Mutex<Vec<String>>>,
}

/// Where a server starts (its database by name and URL) and the other database it knows.
pub struct Databases {
    pub name: &'static str,
    pub url: String,
    pub other: &'static str,
    pub other_url: String,
}

/// Runs `work` on a thread inside `host` with a runtime of its own, so that its
/// sockets are that host's; resolves with its result.
pub async fn in_host<T, F, W>(host: &Host, work: W) -> T
where
    W: FnOnce() -> F + Send + 'static,
    F: std::future::Future<Output = T>,
    T: Send + 'static,
{
    let host = host.clone();
    let thread = std::thread::spawn(move || {
        host.enter().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(work())
    });
    tokio::task::spawn_blocking(move || thread.join().unwrap()).await.unwrap()
}

/// Fields drop in this order: the processes, then the databases they use, then
/// the network they all ran on.
pub struct Topology {
    pub servers: Mutex<Vec<Server>>,
    pub follow: Mutex<Option<Process>>,
    _haproxy: Process,
    _moto: Process,
    /// Stops X's stand-in when dropped.
    _x: tokio::sync::oneshot::Sender<()>,
    pub source: PgCluster,
    pub target: PgCluster,
    pub work: tempfile::TempDir,
    pub hosts: HashMap<&'static str, Host>,
    pub zone_id: String,
    /// When `migrate copy` finished (wall clock).
    copied_at: f64,
    /// Held for its namespaces, removed last.
    _network: Network,
}

impl Topology {
    pub fn host(&self, name: &str) -> &Host {
        &self.hosts[name]
    }

    pub fn url(&self, host: &str) -> String {
        let port = if host == "lb" { 80 } else { SERVER_PORT };
        format!("http://{}:{port}", self.host(host).address)
    }

    /// The databases as the servers and the operator reach them.
    pub fn source_url(&self) -> String {
        self.source.remote_url("tweetgen")
    }

    pub fn target_url(&self) -> String {
        self.target.remote_url("tweetgen")
    }

    /// The test's own view of each database, through its socket.
    pub async fn source_pool(&self) -> sqlx::PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&self.source.socket_url("tweetgen"))
            .await
            .unwrap()
    }

    pub async fn target_pool(&self) -> sqlx::PgPool {
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&self.target.socket_url("tweetgen"))
            .await
            .unwrap()
    }

    /// Everything up to the cutover: the hosts and their firewalls, both
    /// databases, moto with the zone and the RDS instance, the old host's server
    /// with its users trained, the new fleet (two servers behind the load
    /// balancer, replicas), a copy, `follow` running, a verify, the TTL lowered
    /// and (as if five minutes passed) run out.
    pub async fn start() -> Option<Topology> {
        let started = Instant::now();
        let note = |what: &str| eprintln!("topology: {what} after {:.1} s", started.elapsed().as_secs_f64());
        let mut network = match Network::create() {
            Ok(network) => network,
            Err(error) => {
                eprintln!(
                    "\n\n*** SKIPPED: network namespaces cannot be made here ({error:#}); the cutover is tested on \
                     the real topology only where they can (as root). ***\n"
                );
                return None;
            }
        };
        let mut hosts = HashMap::new();
        for name in ["vps", "lb", "app1", "app2", "app3", "rds", "aws", "client"] {
            hosts.insert(name, network.add_host(name).unwrap());
        }
        let address = |name: &str| hosts[name].address;
        let apps = [address("app1"), address("app2"), address("app3")];
        let cluster = |host: &str| {
            PgCluster::start_with(ClusterOptions {
                host: Some(hosts[host].clone()),
                password: Some(PASSWORD.into()),
                // To tell, afterwards, when and by whom each row was written.
                settings: vec![("track_commit_timestamp".into(), "on".into())],
                ..ClusterOptions::default()
            })
            .unwrap()
        };
        let (source, target) = (cluster("vps"), cluster("rds"));
        source.create_database("tweetgen").unwrap();
        target.create_database("tweetgen").unwrap();

        let firewall = |host: &str, rules: Firewall| network.firewall(&hosts[host], &rules).unwrap();
        // The old host runs the operator's tool too: it reaches the two databases
        // (its own over its address, which stays on the host) and AWS, nothing else.
        firewall(
            "vps",
            Firewall {
                inbound: vec![Allow::from_anyone(SERVER_PORT), Allow::only(source.port(), apps)],
                outbound: Some(vec![
                    Allow::only(target.port(), [address("rds")]),
                    Allow::only(MOTO_PORT, [address("aws")]),
                    Allow::only(X_PORT, [address("aws")]),
                ]),
            },
        );
        firewall("lb", Firewall { inbound: vec![Allow::from_anyone(80)], outbound: None });
        for app in ["app1", "app2", "app3"] {
            firewall(app, Firewall { inbound: vec![Allow::only(SERVER_PORT, [address("lb")])], outbound: None });
        }
        let to_rds = apps.into_iter().chain([address("vps")]);
        firewall("rds", Firewall { inbound: vec![Allow::only(target.port(), to_rds)], outbound: None });
        firewall(
            "aws",
            Firewall { inbound: vec![Allow::from_anyone(MOTO_PORT), Allow::from_anyone(X_PORT)], outbound: None },
        );
        firewall("client", Firewall::default());
        network.cap(&hosts["vps"], VPS_LINK_MBIT).unwrap();

        note("hosts, firewalls and databases");
        let moto = start_moto(&hosts["aws"]);
        let x = start_x(&hosts["aws"], format!("http://{}:{SERVER_PORT}/auth/callback", address("vps")));
        note("moto, X");
        let work = tempfile::tempdir().unwrap();
        let haproxy = start_haproxy(&hosts["lb"], &apps, work.path());
        let mut topology = Topology {
            _network: network,
            hosts,
            source,
            target,
            work,
            servers: Mutex::new(Vec::new()),
            zone_id: String::new(),
            _moto: moto,
            _x: x,
            _haproxy: haproxy,
            follow: Mutex::new(None),
            copied_at: 0.0,
        };
        topology.zone_id = topology.aws(provision).await;
        note("zone and RDS instance");
        topology.start_server("vps", topology.old_host_config());
        topology.train_users().await;
        note("the old host's server, its users trained");
        topology.run_ok(&["migrate", "copy", "--jobs", "2"]);
        topology.copied_at = wall_clock();
        note("copy");
        for app in ["app1", "app2"] {
            topology.start_server(app, topology.fleet_config());
        }
        topology.start_follow();
        note("the new fleet, follow");
        topology.run_ok(&["migrate", "verify"]);
        note("verify");
        topology.run_ok(&topology.dns_args(&["dns", "prepare"]));
        // Five minutes pass: the file says when the TTL was lowered.
        let prepared = topology.work.path().join("dns-prepared.json");
        let mut state: serde_json::Value = serde_json::from_slice(&std::fs::read(&prepared).unwrap()).unwrap();
        state["lowered_at"] = (state["lowered_at"].as_f64().unwrap() - 301.0).into();
        std::fs::write(&prepared, state.to_string()).unwrap();
        topology.run_ok(&topology.dns_args(&["dns", "status"]));
        note("dns prepared");
        Some(topology)
    }

    /// The old host's server: on the source, which it calls `vps`; it knows `rds`.
    pub fn old_host_config(&self) -> Databases {
        Databases { name: "vps", url: self.source_url(), other: "rds", other_url: self.target_url() }
    }

    /// The new fleet's: on the target (`rds`), a replica until the cutover; it
    /// knows `vps` (for a rollback).
    pub fn fleet_config(&self) -> Databases {
        Databases { name: "rds", url: self.target_url(), other: "vps", other_url: self.source_url() }
    }

    /// Starts a server on `host`; returns once it listens (and, on an app
    /// host, once the load balancer has it as a target again).
    pub fn start_server(&self, host: &str, databases: Databases) {
        self.start_server_as(host, host, SERVER_PORT, databases);
        if host.starts_with("app") {
            self.balancer(&format!("set server fleet/{host} state ready"));
        }
    }

    /// Takes the instance on `host` out as an autoscaling group does: the load
    /// balancer stops sending it requests, the ones it has finish, then SIGTERM.
    pub async fn retire(&self, host: &str) {
        self.balancer(&format!("set server fleet/{host} state drain"));
        tokio::time::sleep(DEREGISTRATION_DELAY).await;
        self.stop_server(host).await;
    }

    /// One command of haproxy's runtime API; its answer.
    fn balancer(&self, command: &str) -> String {
        use std::io::{Read, Write};
        let mut socket = std::os::unix::net::UnixStream::connect(self.work.path().join(BALANCER_SOCKET)).unwrap();
        socket.write_all(format!("{command}\n").as_bytes()).unwrap();
        let mut answer = String::new();
        socket.read_to_string(&mut answer).unwrap();
        answer
    }

    /// Starts a server known to `stop_server` as `key`, on `host` and `port`.
    /// On an app host, as the EC2 unit does: `tweetgen-server migrate` as the
    /// owner, then the server as the fleet's own role.
    pub fn start_server_as(&self, key: &str, host: &str, port: u16, databases: Databases) {
        let Databases { name, mut url, other, other_url } = databases;
        let on_vps = host == "vps";
        if !on_vps {
            let prepared = self
                .host(host)
                .command(server_binary())
                .arg("migrate")
                .env("DATABASE_URL", &url)
                .env("TWEETGEN__CONTROL__INITIAL_STATE", "replica")
                .env("TWEETGEN_APP_ROLE", APP_ROLE)
                .env("TWEETGEN_APP_ROLE_PASSWORD", APP_ROLE_PASSWORD)
                .current_dir(workspace())
                .output()
                .unwrap();
            assert!(prepared.status.success(), "migrate on {host}: {}", String::from_utf8_lossy(&prepared.stderr));
            url = url.replacen(&format!("tweetgen:{PASSWORD}@"), &format!("{APP_ROLE}:{APP_ROLE_PASSWORD}@"), 1);
            assert!(url.contains(APP_ROLE), "{url}");
        }
        let mut command = self.host(host).command(server_binary());
        command
            .env("DATABASE_URL", &url)
            .env("TWEETGEN__DATABASE__NAME", name)
            .env(format!("TWEETGEN__DATABASE__OTHERS__{}", other.to_uppercase()), &other_url)
            .env("TWEETGEN__CONTROL__INITIAL_STATE", if on_vps { "serving" } else { "replica" })
            .env("TWEETGEN__DATABASE__MIGRATE", on_vps.to_string())
            .env("TWEETGEN__SERVER__HOST", "0.0.0.0")
            .env("TWEETGEN__SERVER__PORT", port.to_string())
            .env("TWEETGEN__SERVER__PUBLIC_URL", self.url(if on_vps { "vps" } else { "lb" }))
            .envs(self.sign_in_with_x(on_vps))
            .env("TWEETGEN__LEARNING__RETRAIN_INTERVAL_SECS", "0")
            // Behind the balancer, the client is the address it appends; the
            // VPS is reached directly.
            .env("TWEETGEN__SERVER__PROXY_HOPS", if on_vps { "0" } else { "1" })
            // Every load client is one address here: a load test, not an abuse test.
            .envs(UNLIMITED_RATES.iter().flat_map(|action| {
                ["PER_MINUTE", "BURST"].map(|key| (format!("TWEETGEN__RATE_LIMITS__{action}__{key}"), "1000000"))
            }))
            .env("TWEETGEN__LOG__FORMAT", "json")
            .env("TWEETGEN__LOG__FILTER", "info")
            .current_dir(workspace())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            let line = lines.next().unwrap_or_else(|| panic!("the server on {host} stopped before listening")).unwrap();
            if line.contains("listening on http://") {
                break;
            }
        }
        let errors = Arc::new(Mutex::new(Vec::new()));
        let kept = errors.clone();
        // Keep reading its log so that it never blocks on a full pipe; keep the warnings.
        std::thread::spawn(move || {
            for line in
                lines.map_while(Result::ok).filter(|line| line.contains("\"ERROR\"") || line.contains("\"WARN\""))
            {
                kept.lock().unwrap().push(line);
            }
        });
        self.servers.lock().unwrap().push(Server { name: key.to_string(), process: Process(child), errors });
    }

    /// The old host's server signs people in with X (the stand-in on `aws`); the
    /// new fleet's, in this test, signs nobody in.
    fn sign_in_with_x(&self, on_vps: bool) -> Vec<(&'static str, String)> {
        if !on_vps {
            return Vec::new();
        }
        let x = format!("http://{}:{X_PORT}", self.host("aws").address);
        vec![
            ("TWEETGEN__AUTH__CLIENT_ID", X_CLIENT_ID.to_string()),
            ("TWEETGEN__AUTH__AUTHORIZE_URL", format!("{x}/i/oauth2/authorize")),
            ("TWEETGEN__AUTH__TOKEN_URL", format!("{x}/2/oauth2/token")),
            ("TWEETGEN__AUTH__USER_URL", format!("{x}/2/users/me?user.fields=protected")),
        ]
    }

    /// SIGTERMs the server started as `key` and waits until it has exited.
    pub async fn stop_server(&self, key: &str) {
        let server = {
            let mut servers = self.servers.lock().unwrap();
            let index = servers.iter().position(|server| server.name == key).expect("a server there");
            servers.remove(index)
        };
        server.process.terminate();
        let mut process = server.process;
        tokio::task::spawn_blocking(move || {
            let _ = process.0.wait();
        })
        .await
        .unwrap();
    }

    /// ERROR lines the servers logged (503s aside: the clients' account says
    /// which of those were expected).
    pub fn server_errors(&self) -> Vec<String> {
        self.servers
            .lock()
            .unwrap()
            .iter()
            .flat_map(|server| server.errors.lock().unwrap().clone())
            .filter(|line| line.contains("\"ERROR\"") && !line.contains("503 Service Unavailable"))
            .collect()
    }

    /// Waits until `count` (an SQL query of one number) reads the same on the
    /// target as on the source: the follower has carried it over.
    pub fn wait_until_target_has(&self, count: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.source.psql("tweetgen", count).unwrap() != self.target.psql("tweetgen", count).unwrap() {
            assert!(Instant::now() < deadline, "the follower did not carry over {count:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn start_follow(&self) {
        let child =
            self.op_command(&["migrate", "follow"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        *self.follow.lock().unwrap() = Some(Process(child));
    }

    /// Whether `migrate follow` still runs (it stops on any error, a duplicate key among them).
    pub fn follow_alive(&self) -> bool {
        self.follow.lock().unwrap().as_mut().is_some_and(|process| process.0.try_wait().unwrap().is_none())
    }

    /// The operator's environment on its host.
    pub fn env(&self) -> Vec<(String, String)> {
        let moto = format!("http://{}:{MOTO_PORT}", self.host("aws").address);
        [
            ("TWEETGEN_MIGRATE_SOURCE", self.source_url()),
            ("TWEETGEN_MIGRATE_TARGET", self.target_url()),
            ("TWEETGEN_MIGRATE_DIR", self.work.path().display().to_string()),
            ("TWEETGEN_SOURCE_NAME", "vps".into()),
            ("TWEETGEN_TARGET_NAME", "rds".into()),
            ("AWS_ENDPOINT_URL", moto),
            ("AWS_REGION", "ap-northeast-1".into()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_string(), value))
        .collect()
    }

    pub fn op_command(&self, args: &[&str]) -> Command {
        // Where the runbook runs it: on the old host.
        let mut command = self.host("vps").command(env!("CARGO_BIN_EXE_tweetgen-infra"));
        command.args(args).envs(self.env());
        command
    }

    /// Runs tweetgen-infra on the operator's host.
    pub fn run(&self, args: &[&str], extra_env: &[(&str, &str)]) -> Output {
        let mut command = self.op_command(args);
        command.envs(extra_env.iter().copied());
        command.output().unwrap()
    }

    pub fn run_ok(&self, args: &[&str]) -> String {
        let output = self.run(args, &[]);
        assert!(output.status.success(), "{args:?}\n{}", explain(&output));
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    pub fn dns_args<'a>(&'a self, command: &[&'a str]) -> Vec<&'a str> {
        [command, &["--zone-id", &self.zone_id, "--record-name", NAME, "--ttl", "60"]].concat()
    }

    pub fn cutover_args<'a>(&'a self, command: &[&'a str]) -> Vec<&'a str> {
        let alb = ["--alb-dns-name", ALB_DNS_NAME, "--alb-zone-id", ALB_ZONE_ID, "--rds-instance", RDS_INSTANCE];
        [&self.dns_args(command)[..], &alb].concat()
    }

    /// Runs `work` with an AWS configuration for moto, from the internet (the client host).
    pub async fn aws<T: Send + 'static, F: std::future::Future<Output = T>>(
        &self,
        work: impl FnOnce(aws_config::SdkConfig) -> F + Send + 'static,
    ) -> T {
        let moto = format!("http://{}:{MOTO_PORT}", self.host("aws").address);
        in_host(self.host("client"), move || async move {
            let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .endpoint_url(moto)
                .region(aws_config::Region::new("ap-northeast-1"))
                .credentials_provider(aws_sdk_route53::config::Credentials::new(
                    "testing", "testing", None, None, "test",
                ))
                .load()
                .await;
            work(config).await
        })
        .await
    }

    /// The record sets at the service's name, as Route53 (moto) holds them.
    pub async fn records(&self) -> Vec<ResourceRecordSet> {
        let zone_id = self.zone_id.clone();
        self.aws(|config| async move {
            let route53 = aws_sdk_route53::Client::new(&config);
            let listed = route53.list_resource_record_sets().hosted_zone_id(zone_id).send().await.unwrap();
            listed.resource_record_sets().iter().filter(|set| set.name() == format!("{NAME}.")).cloned().collect()
        })
        .await
    }

    pub fn copied_at(&self) -> f64 {
        self.copied_at
    }

    /// Signs the users in on the old host (its stand-in for X) and trains them.
    async fn train_users(&self) {
        let vps = self.url("vps");
        in_host(self.host("client"), move || async move {
            for name in USERS {
                let browser = sign_in(&vps, name).await;
                let trained = train(&browser, &vps).await.unwrap();
                assert_eq!(trained.status(), 200, "first training of {name}");
            }
        })
        .await
    }
}

/// X's sign-in as the old host meets it on the internet: the stand-in on the
/// `aws` host, sending codes only to the old host's callback.
fn start_x(host: &Host, callback: String) -> tokio::sync::oneshot::Sender<()> {
    use tweetgen_server::x_standin;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let inside = host.clone();
    std::thread::spawn(move || {
        inside.enter().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind(("0.0.0.0", X_PORT)).await.unwrap();
            let router = x_standin::router(X_CLIENT_ID, x_standin::RedirectUris::Exactly(vec![callback]));
            let stopped = async {
                let _ = stopped.await;
            };
            axum::serve(listener, router).with_graceful_shutdown(stopped).await.unwrap();
        });
    });
    wait_for_port(host, X_PORT, "X's stand-in");
    stop
}

fn start_moto(host: &Host) -> Process {
    let binary = std::env::var_os("TWEETGEN_MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join(".venv/moto/bin/moto_server"));
    assert!(binary.exists(), "{} is missing: run scripts/setup.sh test", binary.display());
    let child = host
        .command(binary)
        .args(["-H", "0.0.0.0", "-p", &MOTO_PORT.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(host, MOTO_PORT, "moto");
    Process(child)
}

/// The rate-limited actions (`[rate_limits]`), lifted for the load.
const UNLIMITED_RATES: [&str; 4] = ["GENERATE", "SIGN_IN", "TRAIN", "RENDER_CARD"];

/// The ALB's part: health checks on /readyz, round robin over the healthy ones,
/// the client's address appended to X-Forwarded-For,
/// targets registered and deregistered (its runtime API on `BALANCER_SOCKET`),
/// and a request whose connection is refused tried on another; nothing else retried.
fn start_haproxy(host: &Host, apps: &[std::net::Ipv4Addr], dir: &Path) -> Process {
    let servers: String = apps
        .iter()
        .enumerate()
        .map(|(i, address)| format!("    server app{} {address}:{SERVER_PORT} check\n", i + 1))
        .collect();
    let config = format!(
        "global\n    maxconn 2000\n    stats socket {} mode 600 level admin\n\
         defaults\n    mode http\n    option forwardfor\n    timeout connect 2s\n    timeout client 60s\n    timeout server 60s\n\
         \x20   retries 3\n    option redispatch\n    retry-on conn-failure\n\
         frontend www\n    bind {}:80\n    default_backend fleet\n\
         backend fleet\n    balance roundrobin\n    option httpchk GET /readyz\n    http-check expect status 200\n\
         \x20   default-server inter 250ms fall 2 rise 1\n{servers}",
        dir.join(BALANCER_SOCKET).display(),
        host.address
    );
    let path = dir.join("haproxy.cfg");
    std::fs::write(&path, config).unwrap();
    let child = host
        .command("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("haproxy (scripts/setup.sh test installs it)");
    wait_for_port(host, 80, "haproxy");
    Process(child)
}

fn wait_for_port(host: &Host, port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let address = format!("{}:{port}", host.address);
    let probe = host.clone();
    let up = std::thread::spawn(move || {
        probe.enter().unwrap();
        while std::net::TcpStream::connect(&address).is_err() {
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    });
    assert!(up.join().unwrap(), "{what} did not start");
}

/// The zone with the name on the old host (TTL 300), and the RDS instance with
/// its parameter group.
async fn provision(config: aws_config::SdkConfig) -> String {
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
    let parameter = |name: &str, apply: aws_sdk_rds::types::ApplyMethod| {
        aws_sdk_rds::types::Parameter::builder().parameter_name(name).parameter_value("1").apply_method(apply).build()
    };
    rds.modify_db_parameter_group()
        .db_parameter_group_name("tweetgen-pg16")
        .parameters(parameter("rds.force_ssl", aws_sdk_rds::types::ApplyMethod::Immediate))
        .parameters(parameter("rds.logical_replication", aws_sdk_rds::types::ApplyMethod::PendingReboot))
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

pub fn explain(output: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

pub fn browser() -> Client {
    Client::builder().redirect(Policy::none()).timeout(Duration::from_secs(30)).build().unwrap()
}

/// `name=value` of the cookie a response sets.
fn cookie(response: &reqwest::Response, name: &str) -> String {
    let mut set = response.headers().get_all(header::SET_COOKIE).iter().filter_map(|value| value.to_str().ok());
    let found = set.find(|cookie| cookie.starts_with(name)).unwrap_or_else(|| panic!("no {name} cookie"));
    found.split(';').next().unwrap().to_string()
}

fn location(response: &reqwest::Response) -> String {
    response.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_string()
}

/// Signs in at the server's stand-in for X, as a browser does; returns a browser
/// that sends the session cookie. (The cookie is `Secure`: browsers, and
/// reqwest's cookie store, keep it for HTTPS and loopback only, and the test's
/// hosts speak plain HTTP on their own addresses.)
pub async fn sign_in(server: &str, screen_name: &str) -> Client {
    let browser = browser();
    let login = browser.get(format!("{server}/auth/login?return_to=/")).send().await.unwrap();
    let authorize = reqwest::Url::parse(&location(&login)).unwrap();
    let mut fields: Vec<(String, String)> = authorize.query_pairs().into_owned().collect();
    fields.extend([("decision".into(), "allow".into()), ("username".into(), screen_name.into())]);
    let agreed = browser.post(authorize).form(&fields).send().await.unwrap();
    // By hand: a client library keeps `Secure` cookies from plain-HTTP hosts other than loopback.
    let began = cookie(&login, "__Host-tweetgen-signin=");
    let signed_in = browser.get(location(&agreed)).header(header::COOKIE, began).send().await.unwrap();
    assert_eq!(location(&signed_in), "/", "{screen_name} signed in");
    let session = cookie(&signed_in, "__Host-tweetgen-session=");
    let headers = header::HeaderMap::from_iter([(header::COOKIE, header::HeaderValue::from_str(&session).unwrap())]);
    Client::builder()
        .redirect(Policy::none())
        .default_headers(headers)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

pub async fn train(browser: &Client, server: &str) -> reqwest::Result<reqwest::Response> {
    browser
        .post(format!("{server}/api/train_model"))
        .header(header::ACCEPT, "application/json")
        .form(&[("tweets", TWEETS)])
        .send()
        .await
}

pub fn wall_clock() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs_f64()
}
