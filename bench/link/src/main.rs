//! The "real link" migration benchmark's driver, run by `bench/link.sh` (which installs
//! what it needs, builds this and the release tweetgen-infra, and makes sure the dataset
//! exists). Two hosts in network namespaces, as in production: `vps` runs the source
//! cluster (bench/migrate.sh's kept dataset) and the migration tool; `rds` runs the target
//! cluster and admits its port from `vps` only. The `vps` link is capped with `tc tbf` at
//! each rate under test; for each rate and tool it times the copy, reads the link's
//! counters every 0.5 s, checks every table's row count, and prints wall time, link
//! utilisation and a projection to the old service's size. Exits 1 only when a tool
//! fails or a target differs from the source; the numbers are information.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tweetgen_pgharness::netns::{Allow, Firewall, Host, Network};
use tweetgen_pgharness::{postgres_bin_dir, ClusterOptions, PgCluster};

const DATABASE: &str = "oldservice";
const PASSWORD: &str = "link-bench-Password";
const SAMPLE: Duration = Duration::from_millis(500);
/// A sample at this share of the rate or more: the link was busy.
const BUSY: f64 = 0.9;
/// Below this share of the rate: the link was (nearly) idle.
const IDLE: f64 = 0.1;

#[derive(Clone, Copy, PartialEq)]
enum Method {
    Pgcopydb,
    Ours,
    /// Ours with every index built after the last row (`--indexes after-data`).
    OursAfterData,
    /// Ours with `markov_transitions` whole, in its unique key's order (`--in-index-order`).
    OursIndexOrder,
}

impl Method {
    fn parse(name: &str) -> Result<Method> {
        match name {
            "pgcopydb" => Ok(Method::Pgcopydb),
            "ours" => Ok(Method::Ours),
            "ours-after-data" => Ok(Method::OursAfterData),
            "ours-index-order" => Ok(Method::OursIndexOrder),
            _ => bail!("BENCH_METHODS: unknown method {name:?} (pgcopydb, ours, ours-after-data, ours-index-order)"),
        }
    }

    fn key(self) -> &'static str {
        match self {
            Method::Pgcopydb => "pgcopydb",
            Method::Ours => "ours",
            Method::OursAfterData => "ours-after-data",
            Method::OursIndexOrder => "ours-index-order",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Method::Pgcopydb => "pgcopydb clone",
            Method::Ours => "tweetgen-infra migrate copy",
            Method::OursAfterData => "migrate copy --indexes after-data",
            Method::OursIndexOrder => "migrate copy --in-index-order markov",
        }
    }
}

/// Everything from the environment (bench/link.sh documents it).
struct Settings {
    source_dir: PathBuf,
    rates: Vec<u32>,
    methods: Vec<Method>,
    jobs: u32,
    split: u64,
    settle: f64,
    project_bytes: f64,
    rtt_ms: f64,
    infra: PathBuf,
    pg_settings: Vec<(String, String)>,
    work: PathBuf,
    command: String,
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| default.to_string())
}

/// `256MB`, `1GB`, `65536`: units of 1024, as bench/migrate.sh reads BENCH_SPLIT.
fn parse_size(text: &str) -> Result<u64> {
    let text = text.trim();
    let digits = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let number: u64 = text[..digits].parse().with_context(|| format!("not a size: {text:?}"))?;
    let power = match text[digits..].trim() {
        "" | "B" => 0,
        "kB" => 1,
        "MB" => 2,
        "GB" => 3,
        "TB" => 4,
        unit => bail!("not a size unit: {unit:?} (B, kB, MB, GB, TB)"),
    };
    Ok(number * 1024u64.pow(power))
}

impl Settings {
    fn from_env() -> Result<Settings> {
        let source_dir = std::path::absolute(env_or("BENCH_LINK_SOURCE_DIR", "")).context("BENCH_LINK_SOURCE_DIR")?;
        let rates = env_or("BENCH_LINK_RATES", "100,1000")
            .split(',')
            .map(|r| r.trim().parse::<u32>().with_context(|| format!("BENCH_LINK_RATES: not a rate in Mbit/s: {r:?}")))
            .collect::<Result<Vec<_>>>()?;
        let methods = env_or("BENCH_METHODS", "pgcopydb,ours-after-data,ours")
            .split(',')
            .filter(|m| !m.trim().is_empty())
            .map(|m| Method::parse(m.trim()))
            .collect::<Result<Vec<_>>>()?;
        anyhow::ensure!(!rates.is_empty() && rates.iter().all(|&r| r > 0), "BENCH_LINK_RATES: give rates above 0");
        anyhow::ensure!(!methods.is_empty(), "BENCH_METHODS: give at least one of pgcopydb, ours");
        let mut pg_settings = Vec::new();
        if env_or("BENCH_DURABLE", "1") == "1" {
            for name in ["fsync", "synchronous_commit", "full_page_writes"] {
                pg_settings.push((name.to_string(), "on".to_string()));
            }
        }
        for (name, value) in [("shared_buffers", "1GB"), ("maintenance_work_mem", "512MB"), ("max_wal_size", "8GB")] {
            pg_settings.push((name.to_string(), value.to_string()));
        }
        for setting in env_or("BENCH_PG_SETTINGS", "").split_whitespace() {
            let (name, value) = setting.split_once('=').with_context(|| format!("BENCH_PG_SETTINGS: {setting:?}"))?;
            pg_settings.push((name.to_string(), value.to_string()));
        }
        Ok(Settings {
            source_dir,
            rates,
            methods,
            jobs: env_or("BENCH_JOBS", "2").parse().context("BENCH_JOBS")?,
            split: parse_size(&env_or("BENCH_SPLIT", "256MB")).context("BENCH_SPLIT")?,
            settle: env_or("BENCH_SETTLE", "5").parse().context("BENCH_SETTLE")?,
            rtt_ms: env_or("BENCH_RTT_MS", "0").parse().context("BENCH_RTT_MS")?,
            project_bytes: env_or("BENCH_PROJECT_GB", "294").parse::<f64>().context("BENCH_PROJECT_GB")? * 1e9,
            infra: std::path::absolute(env_or("BENCH_INFRA", "target/release/tweetgen-infra"))?,
            pg_settings,
            work: std::path::absolute("target/bench-link")?,
            command: env_or("BENCH_COMMAND", "bench/link.sh"),
        })
    }
}

/// A line on stderr, with the time of day (UTC).
fn progress(message: &str) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs() % 86400;
    eprintln!("[{:02}:{:02}:{:02}] {message}", now / 3600, now / 60 % 60, now % 60);
}

fn fmt_s(seconds: f64) -> String {
    if seconds >= 3600.0 {
        format!("{}h{:02}m", (seconds / 3600.0) as u64, ((seconds % 3600.0) / 60.0) as u64)
    } else if seconds >= 60.0 {
        format!("{}m{:04.1}s", (seconds / 60.0) as u64, seconds % 60.0)
    } else if seconds >= 10.0 {
        format!("{seconds:.1} s")
    } else {
        format!("{seconds:.2} s")
    }
}

/// 1234567 -> "1,234,567", as the other benchmarks print counts.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Bytes in MB (10^6), or kB below one MB.
fn fmt_mb(bytes: f64) -> String {
    let mb = bytes / 1e6;
    if mb >= 10.0 {
        format!("{} MB", thousands(mb.round() as u64))
    } else if mb >= 1.0 {
        format!("{mb:.1} MB")
    } else {
        format!("{:.0} kB", bytes / 1e3)
    }
}

/// A table as the other benchmarks print theirs: first column left, the rest right.
fn table(title: &str, headers: &[&str], rows: &[Vec<String>], notes: &[String]) {
    println!("\n## {title}\n");
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).chain([headers[i].len()]).max().unwrap_or(0))
        .collect();
    let line = |cells: &[String]| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, &w))| if i == 0 { format!("{c:<w$}") } else { format!("{c:>w$}") })
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    println!("{}", line(&headers.iter().map(|h| h.to_string()).collect::<Vec<_>>()));
    println!("{}", widths.iter().map(|&w| "-".repeat(w)).collect::<Vec<_>>().join("  "));
    for row in rows {
        println!("{}", line(row));
    }
    for note in notes {
        println!("  note: {note}");
    }
    let _ = std::io::stdout().flush();
}

/// `vps`'s link counters (eth0: bytes sent, received), from a thread inside its namespace.
fn link_bytes() -> Result<(u64, u64)> {
    let dev = std::fs::read_to_string("/proc/thread-self/net/dev")?;
    let line = dev.lines().find(|l| l.trim_start().starts_with("eth0:")).context("no eth0 in /proc/net/dev")?;
    let fields: Vec<u64> = line.split_once(':').unwrap().1.split_whitespace().filter_map(|f| f.parse().ok()).collect();
    // Receive: bytes packets errs drop fifo frame compressed multicast; then transmit.
    Ok((fields[8], fields[0]))
}

/// Reads the link's counters every `SAMPLE` until stopped: (when, sent, received).
struct Sampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Result<Vec<(Instant, u64, u64)>>>,
}

impl Sampler {
    fn start(host: &Host) -> Result<Sampler> {
        let stop = Arc::new(AtomicBool::new(false));
        let (host, stopped) = (host.clone(), stop.clone());
        let (ready, started) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            host.enter()?;
            let mut samples = Vec::new();
            let first = Instant::now();
            let (tx, rx) = link_bytes()?;
            samples.push((first, tx, rx));
            let _ = ready.send(());
            for tick in 1u32.. {
                let finish = stopped.load(Ordering::Relaxed);
                let next = first + SAMPLE * tick;
                if !finish {
                    // Short sleeps, so that the last sample follows the stop at once.
                    while Instant::now() < next && !stopped.load(Ordering::Relaxed) {
                        std::thread::sleep(
                            Duration::from_millis(10).min(next.saturating_duration_since(Instant::now())),
                        );
                    }
                }
                let (tx, rx) = link_bytes()?;
                samples.push((Instant::now(), tx, rx));
                if finish || stopped.load(Ordering::Relaxed) {
                    break;
                }
            }
            Ok(samples)
        });
        started.recv().context("the link sampler did not start")?;
        Ok(Sampler { stop, thread })
    }

    fn finish(self) -> Result<Vec<(Instant, u64, u64)>> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().map_err(|_| anyhow::anyhow!("the link sampler panicked"))?
    }
}

/// One tool at one rate.
struct Outcome {
    rate: u32,
    method: Method,
    wall: f64,
    sent: u64,
    received: u64,
    /// Mbit/s sent over each sample interval, with the interval's start and end (s from the tool's start).
    intervals: Vec<(f64, f64, f64)>,
    errors: Vec<String>,
}

impl Outcome {
    /// The share of the time (by sample interval) the link carried `BUSY` of the rate or more.
    fn busy_share(&self) -> f64 {
        let length = |i: &(f64, f64, f64)| (i.1 - i.0).max(0.0);
        // fold from +0.0: an empty f64 sum is -0.0, which prints as "-0%".
        let busy = self.intervals.iter().filter(|i| i.2 >= BUSY * self.rate as f64).map(length).fold(0.0, |a, b| a + b);
        busy / self.intervals.iter().map(length).fold(0.0, |a, b| a + b).max(1e-9)
    }

    /// Seconds from the start until the link first carried `IDLE` of the rate, and
    /// from the end of the last interval that did to the end of the run.
    fn idle_head_tail(&self) -> (f64, f64) {
        let active = |i: &&(f64, f64, f64)| i.2 >= IDLE * self.rate as f64;
        let head = self.intervals.iter().find(active).map_or(self.wall, |i| i.0.max(0.0));
        let tail = self.intervals.iter().rev().find(active).map_or(self.wall, |i| (self.wall - i.1).max(0.0));
        (head, tail)
    }

    fn peak(&self) -> f64 {
        self.intervals.iter().map(|i| i.2).fold(0.0, f64::max)
    }

    /// What the link alone needs for these bytes, in seconds.
    fn link_bound(&self) -> f64 {
        self.sent as f64 * 8.0 / (self.rate as f64 * 1e6)
    }
}

/// Fields drop in this order: the clusters, then the network they ran on.
struct Bench {
    source: PgCluster,
    target: PgCluster,
    settings: Settings,
    vps: Host,
    rds: Host,
    /// The target as the tools reach it: its own port, or the delaying proxy's (BENCH_RTT_MS).
    target_url: String,
    tables: Vec<String>,
    counts: Vec<u64>,
    source_bytes: f64,
    logs: PathBuf,
    network: Network,
}

fn psql_lines(cluster: &PgCluster, database: &str, sql: &str) -> Result<Vec<String>> {
    Ok(cluster.psql(database, sql)?.lines().map(str::to_string).filter(|l| !l.is_empty()).collect())
}

fn row_counts(cluster: &PgCluster, tables: &[String]) -> Result<Vec<u64>> {
    tables
        .iter()
        .map(|t| Ok(cluster.psql(DATABASE, &format!("SELECT count(*) FROM public.\"{t}\""))?.trim().parse()?))
        .collect()
}

/// The version line a program prints (pgcopydb's comes after a log line).
fn version(program: &Path, arg: &str) -> String {
    Command::new(program)
        .arg(arg)
        .stderr(Stdio::null())
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find(|l| l.contains("version") || l.contains(' '))
                .map(str::to_string)
        })
        .unwrap_or_else(|| "?".into())
}

impl Bench {
    /// Replication slots and publications left on the source (by a killed run, or a tool).
    fn leftovers_on_source(&self) -> Result<Vec<String>> {
        let mut removed = Vec::new();
        for slot in psql_lines(&self.source, "postgres", "SELECT slot_name FROM pg_replication_slots WHERE NOT active")?
        {
            self.source.psql("postgres", &format!("SELECT pg_drop_replication_slot('{slot}')"))?;
            removed.push(format!("slot {slot}"));
        }
        for publication in psql_lines(&self.source, DATABASE, "SELECT pubname FROM pg_publication")? {
            self.source.psql(DATABASE, &format!("DROP PUBLICATION \"{publication}\""))?;
            removed.push(format!("publication {publication}"));
        }
        Ok(removed)
    }

    fn settle(&self) -> Result<()> {
        for cluster in [&self.source, &self.target] {
            cluster.psql("postgres", "CHECKPOINT")?;
        }
        let _ = Command::new("sync").status();
        std::thread::sleep(Duration::from_secs_f64(self.settings.settle));
        Ok(())
    }

    /// The tool's command on `vps`: the source on its loopback, the target at `rds`'s address.
    fn tool(&self, method: Method, dir: &Path) -> Command {
        let source_url = self.source.url(DATABASE);
        let target_url = self.target_url.clone();
        let split = self.settings.split.to_string();
        let jobs = self.settings.jobs.to_string();
        let mut command = match method {
            Method::Pgcopydb => {
                let mut c = self.vps.command("pgcopydb");
                c.args(["clone", "--source", &source_url, "--target", &target_url, "--dir"]).arg(dir);
                c.args(["--table-jobs", &jobs, "--index-jobs", &jobs, "--split-tables-larger-than", &split]);
                c
            }
            Method::Ours | Method::OursAfterData | Method::OursIndexOrder => {
                let mut c = self.vps.command(&self.settings.infra);
                c.args(["migrate", "copy", "--jobs", &jobs, "--split-tables-larger-than", &split]);
                match method {
                    Method::OursAfterData => c.args(["--indexes", "after-data"]),
                    Method::OursIndexOrder => c.args(["--in-index-order", "public.markov_transitions"]),
                    Method::Ours | Method::Pgcopydb => &mut c,
                };
                c.env("TWEETGEN_MIGRATE_SOURCE", &source_url).env("TWEETGEN_MIGRATE_TARGET", &target_url);
                c.env("TWEETGEN_MIGRATE_DIR", dir);
                c
            }
        };
        command.args(["--no-owner", "--no-acl"]);
        self.client_env(&mut command);
        command
    }

    /// pg_dump, pg_restore and psql of the clusters' PostgreSQL first on PATH, no DATABASE_URL.
    fn client_env(&self, command: &mut Command) {
        let bin = postgres_bin_dir().map(|b| b.display().to_string()).unwrap_or_default();
        command.env("PATH", format!("{bin}:{}", std::env::var("PATH").unwrap_or_default()));
        command.env_remove("DATABASE_URL").stdin(Stdio::null());
    }

    fn run_one(&self, rate: u32, method: Method) -> Result<Outcome> {
        let label = format!("{rate} Mbit/s, {}", method.title());
        progress(&format!("{label}: emptying the target, settling"));
        self.target.psql("postgres", &format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))?;
        self.target.psql("postgres", &format!("CREATE DATABASE {DATABASE}"))?;
        let dir = self.settings.work.join("work").join(method.key());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.parent().unwrap())?;
        let log_path = self.logs.join(format!("{rate}mbit-{}.log", method.key()));
        let log = std::fs::File::create(&log_path)?;
        self.settle()?;

        progress(&format!("{label}: running (log {})", log_path.display()));
        let mut command = self.tool(method, &dir);
        command.stdout(log.try_clone()?).stderr(log.try_clone()?);
        let sampler = Sampler::start(&self.vps)?;
        let started = Instant::now();
        let status = command.status().with_context(|| format!("starting {}", method.title()));
        let wall = started.elapsed().as_secs_f64();
        let samples = sampler.finish()?;
        let status = status?;

        let mut errors = Vec::new();
        if !status.success() {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            errors.push(format!(
                "{} exited with {status}; the end of {}:\n{}",
                method.title(),
                log_path.display(),
                tail.join("\n")
            ));
        }
        progress(&format!("{label}: {wall:.1} s; checking the target"));
        if method != Method::Pgcopydb {
            let mut clean = self.vps.command(&self.settings.infra);
            clean.args(["migrate", "clean"]);
            clean.env("TWEETGEN_MIGRATE_SOURCE", self.source.url(DATABASE));
            clean.env("TWEETGEN_MIGRATE_TARGET", self.target_url.clone());
            clean.env("TWEETGEN_MIGRATE_DIR", &dir);
            self.client_env(&mut clean);
            let cleaned = clean.stdout(log.try_clone()?).stderr(log).status()?;
            if !cleaned.success() {
                errors.push(format!("tweetgen-infra migrate clean exited with {cleaned} (see {})", log_path.display()));
            }
        }
        if status.success() {
            let found = row_counts(&self.target, &self.tables)?;
            for ((table, expected), found) in self.tables.iter().zip(&self.counts).zip(&found) {
                if expected != found {
                    errors.push(format!("{table}: {found} rows on the target, {expected} on the source"));
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        let removed = self.leftovers_on_source()?;
        if !removed.is_empty() {
            progress(&format!("{label}: left on the source and removed: {}", removed.join(", ")));
        }
        for error in &errors {
            progress(&format!("{label}: ERROR: {error}"));
        }

        let (_, first_tx, first_rx) = samples[0];
        let &(_, last_tx, last_rx) = samples.last().unwrap();
        // Seconds from the tool's start (the first sample comes just before it).
        let at = |t: Instant| {
            if t >= started {
                (t - started).as_secs_f64()
            } else {
                -(started - t).as_secs_f64()
            }
        };
        let intervals = samples
            .windows(2)
            .filter(|w| w[1].0 > w[0].0)
            .map(|w| {
                let seconds = (w[1].0 - w[0].0).as_secs_f64();
                (at(w[0].0), at(w[1].0).min(wall), (w[1].1 - w[0].1) as f64 * 8.0 / seconds / 1e6)
            })
            .collect();
        Ok(Outcome { rate, method, wall, sent: last_tx - first_tx, received: last_rx - first_rx, intervals, errors })
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("tweetgen-link-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<bool> {
    let settings = Settings::from_env()?;
    let data = settings.source_dir.join("data");
    anyhow::ensure!(
        data.join("PG_VERSION").exists() && settings.source_dir.join("dataset.json").exists(),
        "no dataset in {} (bench/link.sh generates it with bench/migrate.sh)",
        settings.source_dir.display()
    );
    let logs = settings.work.join("logs");
    std::fs::create_dir_all(&logs)?;

    // --- the hosts, the clusters, the firewalls
    let mut network = Network::create()?;
    let vps = network.add_host("vps")?;
    let rds = network.add_host("rds")?;
    progress("starting the source cluster on vps and the target cluster on rds");
    let source = PgCluster::start_with(ClusterOptions {
        data_dir: Some(data.clone()),
        host: Some(vps.clone()),
        settings: settings.pg_settings.clone(),
        ..ClusterOptions::default()
    })?;
    let target = PgCluster::start_with(ClusterOptions {
        host: Some(rds.clone()),
        password: Some(PASSWORD.into()),
        settings: settings.pg_settings.clone(),
        ..ClusterOptions::default()
    })?;
    target.create_database(DATABASE)?;
    let mut target_url = target.remote_url(DATABASE);
    let mut ports = vec![target.port()];
    if settings.rtt_ms > 0.0 {
        let port = delay_proxy(&rds, target.port(), Duration::from_secs_f64(settings.rtt_ms / 2000.0))?;
        target_url = target_url.replace(&format!(":{}/", target.port()), &format!(":{port}/"));
        ports.push(port);
    }
    // vps admits nothing from other hosts and may open the target's port only; rds admits its port from vps only.
    let to_rds = ports.iter().map(|&port| Allow::only(port, [rds.address])).collect();
    network.firewall(&vps, &Firewall { inbound: vec![], outbound: Some(to_rds) })?;
    let from_vps = ports.iter().map(|&port| Allow::only(port, [vps.address])).collect();
    network.firewall(&rds, &Firewall { inbound: from_vps, outbound: None })?;
    let firewall_check = {
        let (rds, address) = (rds.clone(), SocketAddr::from((vps.address, source.port())));
        std::thread::spawn(move || -> Result<bool> {
            rds.enter()?;
            Ok(TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_err())
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the firewall check panicked"))??
    };
    anyhow::ensure!(firewall_check, "rds reached the source's port on vps: the firewall is not in place");

    // --- the dataset
    let tables = psql_lines(
        &source,
        DATABASE,
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1",
    )?;
    let counts = row_counts(&source, &tables)?;
    let source_bytes: f64 = source.psql(DATABASE, "SELECT pg_database_size(current_database())")?.trim().parse()?;
    let bench = Bench { source, target, settings, vps, rds, target_url, tables, counts, source_bytes, logs, network };
    let removed = bench.leftovers_on_source()?;
    let warmed = warm(&bench.source)?;

    header(&bench)?;
    let sizes = psql_lines(
        &bench.source,
        DATABASE,
        "SELECT c.relname || '|' || pg_table_size(c.oid) || '|' || pg_indexes_size(c.oid) FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1",
    )?;
    let mut rows: Vec<Vec<String>> = sizes
        .iter()
        .zip(&bench.counts)
        .map(|(line, count)| {
            let f: Vec<&str> = line.split('|').collect();
            let size = |s: &str| fmt_mb(s.parse::<f64>().unwrap_or(0.0));
            vec![f[0].to_string(), thousands(*count), size(f[1]), size(f[2])]
        })
        .collect();
    rows.push(vec![
        "database".into(),
        thousands(bench.counts.iter().sum::<u64>()),
        String::new(),
        fmt_mb(bench.source_bytes),
    ]);
    let mut notes = vec![
        format!(
            "kept by bench/migrate.sh in {} (its generator: the old service's schema)",
            bench.settings.source_dir.display()
        ),
        format!(
            "the last line's size is pg_database_size; the source's files ({}) were read once before the runs, \
             so every run reads them from the page cache",
            fmt_mb(warmed as f64)
        ),
    ];
    if !removed.is_empty() {
        notes.push(format!("removed from the source, left by an earlier run: {}", removed.join(", ")));
    }
    table("1. The dataset", &["table", "rows", "heap+TOAST", "indexes"], &rows, &notes);

    // --- the runs
    let mut outcomes = Vec::new();
    for &rate in &bench.settings.rates.clone() {
        bench.network.cap(&bench.vps, rate)?;
        for &method in &bench.settings.methods.clone() {
            outcomes.push(bench.run_one(rate, method)?);
        }
    }
    bench.target.psql("postgres", &format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))?;
    Ok(report(&bench, &outcomes))
}

/// BENCH_RTT_MS: a TCP proxy on `host` in front of the target's port that holds
/// every chunk `one_way` before passing it on, each way (the round trip grows by
/// twice that). It buffers what arrives meanwhile, so it adds the latency of each
/// request and answer, not TCP's window limits over a long path. Returns its port.
fn delay_proxy(host: &Host, target_port: u16, one_way: Duration) -> Result<u16> {
    let (host, (told, port)) = (host.clone(), std::sync::mpsc::channel());
    std::thread::spawn(move || -> Result<()> {
        // Threads started from here are in the host's namespace too.
        host.enter()?;
        let listener = std::net::TcpListener::bind((host.address, 0))?;
        told.send(listener.local_addr()?.port())?;
        for client in listener.incoming().flatten() {
            // The writes go on as they come (no Nagle): the delay is the only one added.
            let pair = TcpStream::connect(("127.0.0.1", target_port)).and_then(|server| {
                client.set_nodelay(true)?;
                server.set_nodelay(true)?;
                Ok([(client.try_clone()?, server.try_clone()?), (server, client)])
            });
            let Ok(pair) = pair else { continue };
            for (from, to) in pair {
                let (queue, queued) = std::sync::mpsc::sync_channel::<(Instant, Vec<u8>)>(4096);
                std::thread::spawn(move || {
                    let mut from = from;
                    let mut buffer = vec![0; 65536];
                    while let Ok(n) = std::io::Read::read(&mut from, &mut buffer) {
                        // An empty chunk: the end of the stream, passed on when it is due too.
                        if queue.send((Instant::now() + one_way, buffer[..n].to_vec())).is_err() || n == 0 {
                            break;
                        }
                    }
                });
                std::thread::spawn(move || {
                    let mut to = to;
                    for (due, chunk) in queued {
                        std::thread::sleep(due.saturating_duration_since(Instant::now()));
                        if chunk.is_empty() || to.write_all(&chunk).is_err() {
                            break;
                        }
                    }
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            }
        }
        Ok(())
    });
    port.recv().context("the delaying proxy did not start")
}

/// Reads the source database's files once: every run then finds them in memory.
fn warm(source: &PgCluster) -> Result<u64> {
    let oid = source.psql(DATABASE, "SELECT oid FROM pg_database WHERE datname = current_database()")?;
    let mut total = 0;
    for entry in std::fs::read_dir(source.data_dir().join("base").join(oid.trim()))? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            total += std::io::copy(&mut std::fs::File::open(entry.path())?, &mut std::io::sink())?;
        }
    }
    Ok(total)
}

fn header(bench: &Bench) -> Result<()> {
    let s = &bench.settings;
    let run = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let commit = run("git", &["rev-parse", "--short", "HEAD"]);
    let dirty = run("git", &["status", "--porcelain", "--", "infra"]).lines().count();
    let settings = "SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ' ' ORDER BY name) \
                    FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', \
                    'shared_buffers', 'max_wal_size', 'maintenance_work_mem', 'wal_level')";
    let memory = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let ram_kb: f64 = memory.lines().next().and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0.0);
    println!("# Migration benchmark over a capped link\n");
    println!("date:      {}", run("date", &["-u", "+%Y-%m-%d %H:%M:%S UTC"]));
    println!(
        "machine:   nproc {}, RAM {:.1} GiB, Linux {}",
        run("nproc", &[]),
        ram_kb / 1048576.0,
        run("uname", &["-r"])
    );
    println!("load avg:  {} (at start)", load_average());
    println!("command:   {}", s.command);
    println!(
        "ours:      {} (release build), git {commit} ({dirty} uncommitted files under infra/)",
        version(&s.infra, "--version")
    );
    println!("pgcopydb:  {}", version(Path::new("pgcopydb"), "--version"));
    println!("postgres:  {}", bench.source.psql("postgres", "SELECT version()")?.trim());
    println!(
        "hosts:     vps {} (source cluster :{}, the tool; admits nothing from other hosts, may open only rds:{}), \
         rds {} (target cluster :{}, admits it from vps only); one router between them",
        bench.vps.address,
        bench.source.port(),
        bench.target.port(),
        bench.rds.address,
        bench.target.port()
    );
    println!(
        "link:      vps's veth capped with tc tbf both ways (burst 10 ms of the rate, latency 50ms), at {} Mbit/s",
        s.rates.iter().map(u32::to_string).collect::<Vec<_>>().join(" and ")
    );
    if s.rtt_ms > 0.0 {
        println!(
            "rtt:       +{} ms: the tools reach the target through a TCP proxy on rds that holds each chunk {} ms \
             each way (BENCH_RTT_MS)",
            s.rtt_ms,
            s.rtt_ms / 2.0
        );
    }
    println!("settings:  {}", bench.source.psql("postgres", settings)?.trim());
    println!("           target: the same; jobs {}, --split-tables-larger-than {} bytes", s.jobs, s.split);
    Ok(())
}

fn report(bench: &Bench, outcomes: &[Outcome]) -> bool {
    let s = &bench.settings;
    let db = bench.source_bytes;
    let target_gb = s.project_bytes / 1e9;
    // Per rate, the link time of the fewest bytes a tool sent: the best this link allows.
    let floor = |rate: u32| {
        let at = outcomes.iter().filter(|o| o.rate == rate && o.errors.is_empty());
        at.map(Outcome::link_bound).fold(f64::INFINITY, f64::min)
    };
    let mut rows = Vec::new();
    for o in outcomes {
        let ok = o.errors.is_empty();
        let (head, tail) = o.idle_head_tail();
        let dash = || "-".to_string();
        rows.push(vec![
            format!("{} Mbit/s", o.rate),
            o.method.title().to_string(),
            if ok { fmt_s(o.wall) } else { "FAILED".into() },
            fmt_mb(o.sent as f64),
            format!("{:.1}", o.sent as f64 / 1e6 / o.wall),
            format!("{:.0}%", o.sent as f64 * 8.0 / o.wall / (o.rate as f64 * 1e6) * 100.0),
            format!("{:.0}%", o.busy_share() * 100.0),
            format!("{:.0}", o.peak()),
            format!("{} / {}", fmt_s(head), fmt_s(tail)),
            fmt_s(o.link_bound()),
            if ok { format!("{:.0}%", floor(o.rate) / o.wall * 100.0) } else { dash() },
            if ok { fmt_s(o.wall / db * s.project_bytes) } else { dash() },
            if ok { "equal".into() } else { "DIFFERENT/FAILED".into() },
        ]);
    }
    let notes = vec![
        "over the link: bytes vps sent on its veth (Ethernet frames: the data with its TCP/IP headers), from \
         /proc/net/dev inside vps before and after; MB = 10^6 bytes; MB/s = those bytes / wall time"
            .to_string(),
        format!(
            "link use = bits sent / wall time / rate; busy = share of the time (0.5-s samples) at >= {:.0}% of \
             the rate; peak = the fastest sample, Mbit/s",
            BUSY * 100.0
        ),
        format!(
            "idle head / tail: from the start until the link first carried >= {:.0}% of the rate (schema, \
             snapshot), and after it last did (indexes, constraints, ANALYZE on the target)",
            IDLE * 100.0
        ),
        "link bound = what the link alone needs for this tool's bytes (bits / rate), so link bound / wall time \
         = link use; of floor = the smaller link bound of the two tools at this rate / wall time: how close the \
         tool came to the best this link allows (100%: limited by the link alone, sending no more than needed)"
            .to_string(),
        format!(
            "{target_gb:.0} GB: wall time / pg_database_size of the source ({}) x {target_gb:.0} GB, assuming \
             time linear in the database's size: the same bytes on the link per database byte, the same CPU and \
             disk per byte (the fixed costs, part of the idle head, are scaled too: a small overstatement)",
            fmt_mb(db)
        ),
        "check: every table's row count on the target against the source's; ours also ran `migrate clean` \
         (slot, publication) after its copy, not timed"
            .to_string(),
        format!(
            "the other way (rds to vps: ACKs, the target's answers): {}",
            outcomes
                .iter()
                .map(|o| format!("{} at {} Mbit/s {}", o.method.key(), o.rate, fmt_mb(o.received as f64)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    ];
    table(
        &format!("2. Results: {} from vps to rds, {} jobs", fmt_mb(db), s.jobs),
        &[
            "rate",
            "method",
            "wall time",
            "over the link",
            "MB/s",
            "link use",
            "busy",
            "peak",
            "idle head / tail",
            "link bound",
            "of floor",
            &format!("{target_gb:.0} GB"),
            "check",
        ],
        &rows,
        &notes,
    );

    // Per rate: pgcopydb vs ours, and what the link alone would take for the whole database.
    let mut rows = Vec::new();
    for &rate in &s.rates {
        let at: Vec<&Outcome> = outcomes.iter().filter(|o| o.rate == rate && o.errors.is_empty()).collect();
        let find = |m: Method| at.iter().find(|o| o.method == m);
        let ratio = match (find(Method::Pgcopydb), find(Method::Ours)) {
            (Some(p), Some(o)) => format!("{:.2}x", p.wall / o.wall),
            _ => "-".into(),
        };
        let per_byte = at.iter().map(|o| o.sent as f64 / db).fold(f64::INFINITY, f64::min);
        let (per_byte_text, floor) = if per_byte.is_finite() {
            (format!("{per_byte:.2}"), fmt_s(per_byte * s.project_bytes * 8.0 / (rate as f64 * 1e6)))
        } else {
            ("-".into(), "-".into())
        };
        rows.push(vec![format!("{rate} Mbit/s"), ratio, per_byte_text, floor]);
    }
    table(
        "3. pgcopydb vs ours, and the link's floor",
        &["rate", "pgcopydb / ours", "link bytes per db byte", &format!("link floor for {target_gb:.0} GB")],
        &rows,
        &[
            "pgcopydb / ours = time_pgcopydb / time_ours: above 1.00x ours was faster".to_string(),
            "link bytes per db byte: the fewer bytes of the two tools per byte of pg_database_size (indexes are \
             built on the target, not sent; text and binary COPY differ in size)"
                .to_string(),
            format!(
                "link floor: {target_gb:.0} GB x that ratio, at the rate: what the link alone needs for those \
                 bytes (assuming the ratio holds at that size); a tool sending no fewer bytes cannot beat it"
            ),
        ],
    );
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| !o.errors.is_empty()).collect();
    for o in &failed {
        println!("\nERRORS, {} Mbit/s, {}:", o.rate, o.method.title());
        for e in &o.errors {
            println!("  {e}");
        }
    }
    println!("\nlogs: {} (one per rate and tool)", bench.logs.display());
    println!("load avg at the end: {}", load_average());
    failed.is_empty()
}

/// The 1, 5 and 15 minute load averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
