//! Throwaway PostgreSQL clusters.
//!
//! `PgCluster::start()` runs `initdb` (once per machine: later clusters copy a cached
//! template) and a `postgres` server on a free loopback port, in a temporary
//! directory, with `wal_level=logical` so that replication work can use it. Several
//! clusters can run at once. The cluster is stopped and its files removed when the
//! value is dropped, including while a test panics; if the owning process dies
//! outright, the kernel sends the server SIGINT (fast shutdown) so none outlives it.
//!
//! PostgreSQL refuses to run as root, so when the process is root the server runs as
//! the user named by `TWEETGEN_PG_USER` (default `postgres`, created by Debian's
//! PostgreSQL package).
//!
//! A cluster can run on a test host of a `netns::Network` (`ClusterOptions::host`):
//! it then listens on that host's address too, and the harness itself reaches it
//! through its Unix socket, which no network rule stands between.

pub mod netns;

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::unistd::{Gid, Uid, User};

const TEMP_PREFIX: &str = "tweetgen-pg-";

/// The superuser every cluster is created with (trust authentication on loopback).
pub const SUPERUSER: &str = "tweetgen";

/// Where and how to run a cluster.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// Keep the data in this directory across runs (initialised when empty).
    /// `None`: a fresh temporary directory, removed on drop.
    pub data_dir: Option<PathBuf>,
    /// Listen on this port; `None` picks a free one.
    pub port: Option<u16>,
    /// Extra `postgresql.conf` settings, e.g. `("max_connections", "300")`; given to the server
    /// after the harness's own, so they override them (`("fsync", "on")`).
    pub settings: Vec<(String, String)>,
    /// Run on this test host, listening on its address as well as loopback.
    pub host: Option<netns::Host>,
    /// The superuser's password; with it, clients from other hosts sign in with
    /// it (scram-sha-256), as on a real server. Loopback and the socket stay trusted.
    pub password: Option<String>,
    /// Serve TLS with this certificate chain and key (PEM), as RDS does.
    pub tls: Option<Tls>,
}

/// A server certificate (with any intermediates) and its private key, PEM.
#[derive(Debug, Clone)]
pub struct Tls {
    pub certificate_pem: String,
    pub key_pem: String,
}

/// A running PostgreSQL server.
pub struct PgCluster {
    port: u16,
    host: Option<netns::Host>,
    password: Option<String>,
    data_dir: PathBuf,
    log_path: PathBuf,
    bin_dir: PathBuf,
    server: Option<Child>,
    run_as: Option<(Uid, Gid)>,
    /// Held so that a temporary cluster's directory lives exactly as long as it.
    temp_dir: Option<tempfile::TempDir>,
}

impl PgCluster {
    /// A fresh temporary cluster on a free port.
    pub fn start() -> Result<Self> {
        Self::start_with(ClusterOptions::default())
    }

    pub fn start_with(options: ClusterOptions) -> Result<Self> {
        let bin_dir = postgres_bin_dir()?;
        let run_as = server_user()?;
        let (temp, data_dir) = match &options.data_dir {
            Some(dir) => {
                check_reachable(dir, run_as)?;
                (None, dir.clone())
            }
            None => {
                remove_abandoned_clusters();
                let temp = tempfile::Builder::new().prefix(TEMP_PREFIX).tempdir()?;
                give_to(temp.path(), run_as)?;
                let data = temp.path().join("data");
                (Some(temp), data)
            }
        };
        if !data_dir.join("PG_VERSION").exists() {
            initialise(&bin_dir, &data_dir, run_as)?;
        }
        let mut settings = options.settings.clone();
        if let Some(tls) = &options.tls {
            settings.extend(install_tls(&data_dir, tls, run_as)?);
        }
        let log_path = data_dir.with_extension("log");
        // A picked port can be taken between the check and the server's bind; retry.
        let mut attempts = if options.port.is_some() { 1 } else { 5 };
        loop {
            let port = match options.port {
                Some(port) => port,
                None => free_port()?,
            };
            let mut cluster = PgCluster {
                port,
                host: options.host.clone(),
                password: options.password.clone(),
                data_dir: data_dir.clone(),
                log_path: log_path.clone(),
                bin_dir: bin_dir.clone(),
                server: None,
                run_as,
                temp_dir: None,
            };
            match cluster.launch(&settings) {
                Ok(()) => {
                    cluster.temp_dir = temp;
                    if let Some(password) = &options.password {
                        let password = password.replace('\'', "''");
                        cluster.psql("postgres", &format!("ALTER ROLE {SUPERUSER} PASSWORD '{password}'"))?;
                    }
                    return Ok(cluster);
                }
                Err(error) => {
                    attempts -= 1;
                    if attempts == 0 {
                        return Err(error);
                    }
                }
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Connection URL for `database` on this cluster, over loopback (from the
    /// host it runs on).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{database}", self.port)
    }

    /// Connection URL from another host: its address, and the password if any.
    pub fn remote_url(&self, database: &str) -> String {
        let address = self.host.as_ref().map_or("127.0.0.1".to_string(), |host| host.address.to_string());
        let password = self.password.as_deref().map(|password| format!(":{password}")).unwrap_or_default();
        format!("postgres://{SUPERUSER}{password}@{address}:{}/{database}", self.port)
    }

    /// Connection URL through the Unix socket: the test's own view, from any namespace.
    pub fn socket_url(&self, database: &str) -> String {
        format!("postgres://{SUPERUSER}@localhost:{}/{database}?host={}", self.port, self.data_dir.display())
    }

    /// Creates `name` unless it exists; returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String> {
        let exists = self
            .psql("postgres", &format!("SELECT 1 FROM pg_database WHERE datname = '{}'", name.replace('\'', "''")))?;
        if exists.trim().is_empty() {
            self.psql("postgres", &format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\"")))?;
        }
        Ok(self.url(name))
    }

    /// Runs SQL with `psql` and returns its unaligned, tuples-only output. It
    /// connects through the socket as the superuser, and may write even where the
    /// database is read-only for new sessions (it stands for the operator).
    pub fn psql(&self, database: &str, sql: &str) -> Result<String> {
        let output = Command::new(self.bin_dir.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", &self.socket_url(database), "-c", sql])
            .env("PGOPTIONS", "-c default_transaction_read_only=off")
            .output()
            .context("running psql")?;
        if !output.status.success() {
            bail!("psql failed: {}", String::from_utf8_lossy(&output.stderr).trim());
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// The server's log so far (shown when something fails).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Stops the server (fast shutdown) and waits for it.
    pub fn stop(mut self) -> Result<()> {
        self.shutdown()
    }

    fn launch(&mut self, settings: &[(String, String)]) -> Result<()> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .with_context(|| format!("opening {}", self.log_path.display()))?;
        let log_start = log.metadata()?.len();
        let socket_dir = self.data_dir.to_string_lossy().into_owned();
        let listen = match &self.host {
            Some(host) => format!("127.0.0.1,{}", host.address),
            None => "127.0.0.1".to_string(),
        };
        if self.password.is_some() {
            self.accept_passwords_from_other_hosts()?;
        }
        let mut command = Command::new(self.bin_dir.join("postgres"));
        command
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-p", &self.port.to_string()])
            .args(["-c", &format!("listen_addresses={listen}")])
            .args(["-c", &format!("unix_socket_directories={socket_dir}")])
            .args(["-c", "wal_level=logical", "-c", "max_wal_senders=20", "-c", "max_replication_slots=20"])
            .args(["-c", "max_connections=200"])
            // A fast shutdown waits for sessions still signing in (a password's
            // round trips) up to this; the default, a minute, is a test's whole budget.
            .args(["-c", "authentication_timeout=5s"])
            // Throwaway data: durability buys nothing and costs test time.
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]);
        for (name, value) in settings {
            command.args(["-c", &format!("{name}={value}")]);
        }
        // Own process group: a Ctrl-C meant for the app must not stop the database under it.
        command.process_group(0).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
        self.enter_host_as_server_user(&mut command)?;
        die_with_parent(&mut command, libc::SIGINT);
        self.server = Some(command.spawn().context("starting postgres")?);
        self.wait_until_ready(log_start)
    }

    /// The child joins the test host's namespace (as root), then becomes the
    /// server's user: the other order would leave it without the right to join.
    fn enter_host_as_server_user(&self, command: &mut Command) -> Result<()> {
        let namespace = self.host.as_ref().map(netns::Host::namespace_file).transpose()?;
        let run_as = self.run_as;
        // SAFETY: setns, setgroups, setgid and setuid are async-signal-safe system calls.
        unsafe {
            command.pre_exec(move || {
                if let Some(namespace) = &namespace {
                    nix::sched::setns(namespace, nix::sched::CloneFlags::CLONE_NEWNET)?;
                }
                if let Some((uid, gid)) = run_as {
                    nix::unistd::setgroups(&[])?;
                    nix::unistd::setgid(gid)?;
                    nix::unistd::setuid(uid)?;
                }
                Ok(())
            });
        }
        Ok(())
    }

    /// Other hosts sign in with the password (loopback stays trusted).
    fn accept_passwords_from_other_hosts(&self) -> Result<()> {
        let hba = self.data_dir.join("pg_hba.conf");
        let mut rules = fs::read_to_string(&hba).with_context(|| format!("reading {}", hba.display()))?;
        const RULE: &str = "host all all 0.0.0.0/0 scram-sha-256";
        if !rules.contains(RULE) {
            rules.push_str(&format!("\n{RULE}\n"));
            fs::write(&hba, rules).with_context(|| format!("writing {}", hba.display()))?;
        }
        Ok(())
    }

    /// `role` signs in with its password from anywhere, loopback included, as on a
    /// managed server: a test then proves that the password it was given works.
    pub fn require_password(&self, role: &str) -> Result<()> {
        let hba = self.data_dir.join("pg_hba.conf");
        let rules = fs::read_to_string(&hba).with_context(|| format!("reading {}", hba.display()))?;
        let rule = format!("host all {role} all scram-sha-256");
        if !rules.lines().any(|line| line == rule) {
            // First: the first matching line decides.
            fs::write(&hba, format!("{rule}\n{rules}")).with_context(|| format!("writing {}", hba.display()))?;
            self.psql("postgres", "SELECT pg_reload_conf()")?;
        }
        Ok(())
    }

    fn wait_until_ready(&mut self, log_start: u64) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.server.as_mut().and_then(|s| s.try_wait().ok().flatten()) {
                self.server = None;
                bail!("postgres exited with {status} on port {}:\n{}", self.port, self.log_since(log_start));
            }
            if self.postmaster_reports_ready() {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.shutdown()?;
                bail!("postgres did not become ready within 60 s:\n{}", self.log_since(log_start));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Our own postmaster says it accepts connections. (Probing the port could be
    /// answered by another server that got there first.)
    fn postmaster_reports_ready(&self) -> bool {
        let Some(pid) = self.server.as_ref().map(Child::id) else { return false };
        let Ok(contents) = fs::read_to_string(self.data_dir.join("postmaster.pid")) else { return false };
        let lines: Vec<&str> = contents.lines().collect();
        lines.first().map(|l| l.trim()) == Some(&pid.to_string()) && lines.get(7).map(|l| l.trim()) == Some("ready")
    }

    fn log_since(&self, offset: u64) -> String {
        let mut text = String::new();
        if let Ok(mut file) = fs::File::open(&self.log_path) {
            let _ = file.seek(SeekFrom::Start(offset)).and_then(|_| file.read_to_string(&mut text));
        }
        text
    }

    fn shutdown(&mut self) -> Result<()> {
        let Some(mut server) = self.server.take() else { return Ok(()) };
        let pid = nix::unistd::Pid::from_raw(server.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(20);
        while server.try_wait()?.is_none() {
            if Instant::now() > deadline {
                // Immediate shutdown: the postmaster still takes its children down.
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGQUIT);
                server.wait()?;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Err(error) = self.shutdown() {
            eprintln!("stopping the PostgreSQL cluster on port {}: {error:#}", self.port);
        }
    }
}

/// Makes the kernel send `signal` to the spawned process when the thread that
/// spawned it exits, however it exits (a SIGKILLed test runner included).
pub fn die_with_parent(command: &mut Command, signal: libc::c_int) {
    // SAFETY: prctl is async-signal-safe; it runs in the child after fork and
    // after any uid switch (which would otherwise clear the setting).
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, signal) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// `PG_BIN_DIR`, else the newest `/usr/lib/postgresql/*/bin` with a server in it.
pub fn postgres_bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PG_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let mut candidates: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .context(
            "PostgreSQL server binaries not found under /usr/lib/postgresql (install postgresql, or set PG_BIN_DIR)",
        )?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("postgres").exists().then_some((version, bin))
        })
        .collect();
    candidates.sort();
    candidates.pop().map(|(_, bin)| bin).context("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
}

/// The user to run the server as when we are root; `None` otherwise.
fn server_user() -> Result<Option<(Uid, Gid)>> {
    if !Uid::effective().is_root() {
        return Ok(None);
    }
    let name = std::env::var("TWEETGEN_PG_USER").unwrap_or_else(|_| "postgres".into());
    let user = User::from_name(&name)?.with_context(|| {
        format!("running as root, PostgreSQL needs a non-root user: no user {name:?} (set TWEETGEN_PG_USER)")
    })?;
    Ok(Some((user.uid, user.gid)))
}

/// Removes temporary clusters left by processes that were killed outright (their
/// destructors never ran; the kernel already stopped the server): no running
/// postmaster, and untouched for ten minutes so that one being set up is spared.
fn remove_abandoned_clusters() {
    let Ok(entries) = fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let is_cluster = entry.file_name().to_str().is_some_and(|name| {
            name.starts_with(TEMP_PREFIX)
                && !name.starts_with("tweetgen-pg-template-")
                && !name.starts_with("tweetgen-pg-initdb-")
        });
        let idle = entry.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
        if is_cluster && idle > Some(Duration::from_secs(600)) && !path.join("data/postmaster.pid").exists() {
            let _ = fs::remove_dir_all(&path);
        }
    }
}

/// When the server runs as another user, it must be able to enter every directory
/// above its data directory; say so plainly instead of failing inside initdb.
fn check_reachable(data_dir: &Path, run_as: Option<(Uid, Gid)>) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let Some((uid, gid)) = run_as else { return Ok(()) };
    let absolute = std::path::absolute(data_dir)?;
    for ancestor in absolute.ancestors().skip(1) {
        // Missing directories are created later, world-searchable.
        let Ok(meta) = fs::metadata(ancestor) else { continue };
        let mode = meta.mode();
        let searchable = mode & 0o001 != 0
            || (meta.uid() == uid.as_raw() && mode & 0o100 != 0)
            || (meta.gid() == gid.as_raw() && mode & 0o010 != 0);
        if !searchable {
            bail!(
                "PostgreSQL runs as uid {uid} here and cannot enter {} (mode {:o}); put the data directory somewhere it can reach",
                ancestor.display(),
                mode & 0o7777
            );
        }
    }
    Ok(())
}

fn give_to(path: &Path, run_as: Option<(Uid, Gid)>) -> Result<()> {
    if let Some((uid, gid)) = run_as {
        nix::unistd::chown(path, Some(uid), Some(gid)).with_context(|| format!("chown {}", path.display()))?;
    }
    Ok(())
}

/// Writes the certificate and key where the server reads them (the key readable by
/// the server's user alone, as PostgreSQL requires); the settings that turn TLS on.
fn install_tls(data_dir: &Path, tls: &Tls, run_as: Option<(Uid, Gid)>) -> Result<Vec<(String, String)>> {
    use std::os::unix::fs::PermissionsExt;
    let mut settings = vec![("ssl".to_string(), "on".to_string())];
    for (name, pem, setting) in
        [("server.crt", &tls.certificate_pem, "ssl_cert_file"), ("server.key", &tls.key_pem, "ssl_key_file")]
    {
        let path = data_dir.join(name);
        fs::write(&path, pem)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600))?;
        give_to(&path, run_as)?;
        settings.push((setting.to_string(), path.display().to_string()));
    }
    Ok(settings)
}

/// Creates `data_dir` by copying a cached `initdb` result (making it the first time).
fn initialise(bin_dir: &Path, data_dir: &Path, run_as: Option<(Uid, Gid)>) -> Result<()> {
    let template = cached_template(bin_dir, run_as)?;
    let parent = data_dir.parent().context("data directory has no parent")?;
    fs::create_dir_all(parent)?;
    // An empty directory left by an interrupted first run: cp would nest into it.
    if data_dir.exists() {
        fs::remove_dir(data_dir).with_context(|| format!("{} exists but is not a cluster", data_dir.display()))?;
    }
    let status = Command::new("cp").arg("-a").arg(&template).arg(data_dir).status()?;
    if !status.success() {
        bail!("copying the cluster template into {} failed", data_dir.display());
    }
    Ok(())
}

/// One `initdb` per PostgreSQL version and server user, kept in the temp dir and
/// published with an atomic rename so that parallel tests never see half of it.
fn cached_template(bin_dir: &Path, run_as: Option<(Uid, Gid)>) -> Result<PathBuf> {
    let version = bin_dir.parent().and_then(|p| p.file_name()).and_then(|v| v.to_str()).unwrap_or("pg");
    let uid = run_as.map_or(Uid::effective(), |(uid, _)| uid);
    let template = std::env::temp_dir().join(format!("tweetgen-pg-template-{version}-{uid}"));
    if template.join("PG_VERSION").exists() {
        return Ok(template);
    }
    let staging = tempfile::Builder::new().prefix("tweetgen-pg-initdb-").tempdir()?;
    give_to(staging.path(), run_as)?;
    let data = staging.path().join("data");
    let mut command = Command::new(bin_dir.join("initdb"));
    command
        .arg("-D")
        .arg(&data)
        .args(["-U", SUPERUSER, "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"])
        .stdin(Stdio::null());
    if let Some((uid, gid)) = run_as {
        command.uid(uid.as_raw()).gid(gid.as_raw());
    }
    let output = command.output().context("running initdb")?;
    if !output.status.success() {
        bail!("initdb failed:\n{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    }
    match fs::rename(&data, &template) {
        Ok(()) => Ok(template),
        // Another process published it first; theirs is as good as ours.
        Err(_) if template.join("PG_VERSION").exists() => Ok(template),
        Err(error) => Err(error).with_context(|| format!("publishing {}", template.display())),
    }
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
