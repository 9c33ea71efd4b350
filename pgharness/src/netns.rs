//! Test hosts on one machine: each host a network namespace, all joined to one
//! router namespace by veth pairs (host `10.77.N.2`, router `10.77.N.1`), so
//! that a test runs its processes where they would run in production and only
//! the paths the firewall admits exist. A host's `Firewall` (nftables in its
//! namespace) works like a security group: stateful, inbound rules by port and
//! source, optionally outbound ones; a host's link can be capped with `tc tbf`
//! on both ends.
//!
//! Needs root, `ip` (iproute2) and `nft` (nftables); `Network::create` says why
//! it cannot when it cannot. Everything made is removed when the `Network` is
//! dropped, also while a test panics; namespaces left by a killed test run are
//! swept at the next `create`.

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

const NETNS_DIR: &str = "/var/run/netns";
const PREFIX: &str = "tgnet";

/// One host of the network.
#[derive(Clone, Debug)]
pub struct Host {
    /// What the test calls it (`vps`, `app1`…).
    pub name: String,
    /// The namespace's name (`ip netns`).
    pub netns: String,
    pub address: Ipv4Addr,
}

pub struct Network {
    /// Namespaces are named `tgnet<pid>x<sequence>-…`, so a later run can tell
    /// whose they were.
    tag: String,
    router: String,
    hosts: Vec<Host>,
}

/// TCP traffic a firewall lets through: to `port`, from (or to) these addresses,
/// or any address when there are none.
#[derive(Clone, Debug)]
pub struct Allow {
    pub port: u16,
    pub peers: Vec<Ipv4Addr>,
}

impl Allow {
    pub fn from_anyone(port: u16) -> Self {
        Allow { port, peers: Vec::new() }
    }

    pub fn only(port: u16, peers: impl IntoIterator<Item = Ipv4Addr>) -> Self {
        Allow { port, peers: peers.into_iter().collect() }
    }

    fn nft(&self, direction: &str) -> String {
        let peers = if self.peers.is_empty() {
            String::new()
        } else {
            let list: Vec<String> = self.peers.iter().map(Ipv4Addr::to_string).collect();
            format!("ip {direction} {{ {} }} ", list.join(", "))
        };
        format!("        {peers}tcp dport {} accept\n", self.port)
    }
}

/// A host's rules: what may connect to it (the rest is dropped), and — when
/// `outbound` is set — the only connections it may open (the rest refused).
#[derive(Clone, Debug, Default)]
pub struct Firewall {
    pub inbound: Vec<Allow>,
    pub outbound: Option<Vec<Allow>>,
}

impl Firewall {
    fn nft(&self) -> String {
        let inbound: String = self.inbound.iter().map(|allow| allow.nft("saddr")).collect();
        let mut ruleset = format!(
            "table inet firewall {{\n    chain input {{\n        type filter hook input priority 0; policy drop;\n\
             \x20       ct state established,related accept\n        iif lo accept\n{inbound}    }}\n"
        );
        if let Some(outbound) = &self.outbound {
            // Refused at once rather than dropped: a program finds out without
            // waiting for its timeouts (a resolver it cannot reach, say).
            let outbound: String = outbound.iter().map(|allow| allow.nft("daddr")).collect();
            ruleset.push_str(&format!(
                "    chain output {{\n        type filter hook output priority 0; policy accept;\n\
                 \x20       ct state established,related accept\n        oif lo accept\n{outbound}\
                 \x20       reject\n    }}\n"
            ));
        }
        ruleset + "}\n"
    }
}

/// Runs `ip` (or another tool) and fails with its error output.
fn run(program: &str, args: &[&str]) -> Result<()> {
    let output =
        Command::new(program).args(args).stdin(Stdio::null()).output().with_context(|| {
            format!("running {program} (install iproute2 and nftables: scripts/setup.sh test does)")
        })?;
    if !output.status.success() {
        bail!("{program} {} failed: {}", args.join(" "), String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(())
}

impl Network {
    /// An empty network (the router only).
    pub fn create() -> Result<Network> {
        if !nix::unistd::Uid::effective().is_root() {
            bail!("network namespaces need root");
        }
        sweep_abandoned();
        static SEQUENCE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let sequence = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tag = format!("{PREFIX}{}x{sequence}", std::process::id());
        let router = format!("{tag}-router");
        run("ip", &["netns", "add", &router])?;
        let network = Network { tag, router, hosts: Vec::new() };
        run("ip", &["-n", &network.router, "link", "set", "lo", "up"])?;
        run("ip", &["netns", "exec", &network.router, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])?;
        Ok(network)
    }

    /// A new host linked to the router.
    pub fn add_host(&mut self, name: &str) -> Result<Host> {
        anyhow::ensure!(name.len() <= 12, "host names are at most 12 characters (interface names): {name}");
        let index = self.hosts.len() + 1;
        anyhow::ensure!(index < 250, "too many hosts");
        let netns = format!("{}-{name}", self.tag);
        run("ip", &["netns", "add", &netns])?;
        let host =
            Host { name: name.to_string(), netns: netns.clone(), address: Ipv4Addr::new(10, 77, index as u8, 2) };
        self.hosts.push(host.clone());
        let router_side = format!("r-{name}");
        let (host_address, router_address) = (format!("{}/24", host.address), format!("10.77.{index}.1/24"));
        run(
            "ip",
            &[
                "link",
                "add",
                &router_side,
                "netns",
                &self.router,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                &netns,
            ],
        )?;
        run("ip", &["-n", &self.router, "addr", "add", &router_address, "dev", &router_side])?;
        run("ip", &["-n", &self.router, "link", "set", &router_side, "up"])?;
        run("ip", &["-n", &netns, "addr", "add", &host_address, "dev", "eth0"])?;
        run("ip", &["-n", &netns, "link", "set", "eth0", "up"])?;
        run("ip", &["-n", &netns, "link", "set", "lo", "up"])?;
        run("ip", &["-n", &netns, "route", "add", "default", "via", &format!("10.77.{index}.1")])?;
        Ok(host)
    }

    /// Gives the host a firewall like a security group: stateful, everything not
    /// allowed dropped (loopback aside).
    pub fn firewall(&self, host: &Host, rules: &Firewall) -> Result<()> {
        let ruleset = rules.nft();
        let mut nft = host.command("nft");
        nft.args(["-f", "-"]).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = nft.spawn().context("running nft (install nftables: scripts/setup.sh test does)")?;
        std::io::Write::write_all(&mut child.stdin.take().expect("piped"), ruleset.as_bytes())?;
        let output = child.wait_with_output()?;
        if !output.status.success() {
            bail!("nft -f on {} failed: {}\n{ruleset}", host.name, String::from_utf8_lossy(&output.stderr).trim());
        }
        Ok(())
    }

    /// Caps the host's link at `megabits` per second each way (`tc tbf` on both
    /// ends); called again, it changes the rate.
    pub fn cap(&self, host: &Host, megabits: u32) -> Result<()> {
        let rate = format!("{megabits}mbit");
        // At least 10 ms of traffic in the bucket, or tbf cannot reach the rate.
        let burst = format!("{}kb", (megabits as u64 * 1000 / 8 / 100).max(32));
        let tbf = ["root", "tbf", "rate", &rate, "burst", &burst, "latency", "50ms"];
        run(
            "ip",
            &[&["netns", "exec", &self.router, "tc", "qdisc", "replace", "dev", &format!("r-{}", host.name)][..], &tbf]
                .concat(),
        )?;
        run("ip", &[&["netns", "exec", &host.netns, "tc", "qdisc", "replace", "dev", "eth0"][..], &tbf].concat())
    }

    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for netns in self.hosts.iter().map(|host| host.netns.as_str()).chain([self.router.as_str()]) {
            if let Err(error) = run("ip", &["netns", "del", netns]) {
                eprintln!("removing network namespace {netns}: {error:#}");
            }
        }
    }
}

impl Host {
    /// The namespace, to `setns` into.
    pub fn namespace_file(&self) -> Result<File> {
        File::open(format!("{NETNS_DIR}/{}", self.netns)).with_context(|| format!("opening namespace {}", self.netns))
    }

    /// `program`, to be run in this host's namespace; killed when the thread that
    /// starts it ends (a test that panics or is killed leaves nothing running in
    /// a namespace that is gone).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        crate::die_with_parent(&mut command, libc::SIGKILL);
        match self.namespace_file() {
            Ok(namespace) => {
                // SAFETY: setns is async-signal-safe; it runs in the child between fork and exec.
                unsafe {
                    command.pre_exec(move || {
                        nix::sched::setns(&namespace, nix::sched::CloneFlags::CLONE_NEWNET)
                            .map_err(std::io::Error::from)
                    });
                }
            }
            // Spawning then fails with this reason.
            Err(error) => {
                let message = format!("{error:#}");
                unsafe {
                    command.pre_exec(move || Err(std::io::Error::other(message.clone())));
                }
            }
        }
        command
    }

    /// Moves the calling thread into this host's namespace: sockets it opens from
    /// then on are this host's (run a client's runtime on such a thread).
    pub fn enter(&self) -> Result<()> {
        nix::sched::setns(self.namespace_file()?, nix::sched::CloneFlags::CLONE_NEWNET)
            .with_context(|| format!("entering namespace {}", self.netns))
    }
}

/// Namespaces of test runs whose process is gone.
fn sweep_abandoned() {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix(PREFIX).and_then(|rest| rest.split('x').next()?.parse::<i32>().ok()) else {
            continue;
        };
        let alive = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok();
        if !alive {
            let _ = run("ip", &["netns", "del", &name]);
        }
    }
}
