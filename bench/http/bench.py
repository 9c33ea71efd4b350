#!/usr/bin/env python3
"""HTTP generation benchmark: POST /api/generate_tweet under wrk, warm and cold, against
the old service's request path (markovify from_json + make_sentence(tries=100)).

Run through `bench/http.sh`, which installs wrk, MeCab and the venv, builds the release
server and the PostgreSQL harness, and runs this script under `tweetgen-pg run` (so
DATABASE_URL points at a cluster of the benchmark's own, kept in
target/bench-http/pg-<users>u-<lines>t).

1. Seeds N users (BENCH_USERS, default 1,000; Japanese and English alternately), each
   with BENCH_TWEETS (3,200) lines sampled from ../shared/corpus, through the real API:
   sign-in at the built-in stand-in for X, then POST /api/train_model. A cluster seeded
   with the same users and inputs is reused; only what differs is trained again.
2. Warm: the server with a cache that holds every model, a pass over every user, then wrk
   (bench/http/generate.lua: a random user per request) over a sweep of connection counts
   and a longer run at the count that gave the most requests/s within the p99 target.
3. The same at the default cache size (256 MiB), for information.
4. Cold: the server with TWEETGEN__MARKOV__CACHE_MAX_BYTES=0: every request reads the
   model from PostgreSQL and decodes it. Same sweep, same headline connection count.
5. The old service's path on a sample of the same users, trained on the same lines:
   per-request time in one process, and throughput of two processes (2 cores).

Standard library plus markovify. Timings are never asserted: a missed target prints MISS
and the exit status stays 0. Only real errors stop it: a failed step of the set-up (a
sign-in, a training, a generation of the pass over every user that is not 200 with text).
Non-2xx answers under load are counted and printed (the summary wants 0).
"""

import argparse
import concurrent.futures
import ctypes
import hashlib
import importlib.util
import json
import os
import platform
import random
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from http.client import HTTPConnection
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

# The engine benchmark's table and formatting helpers, shared rather than copied (no
# __pycache__ left in the source tree).
sys.dont_write_bytecode = True
_spec = importlib.util.spec_from_file_location("engine_bench", ROOT / "bench/engine/bench.py")
eb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(eb)
table, fmt_ms, fmt_ratio, verdict, progress = eb.table, eb.fmt_ms, eb.fmt_ratio, eb.verdict, eb.progress
cpu_busy_seconds = eb.cpu_busy_seconds

WORK = Path("target/bench-http")  # relative to the repo root
# tweetgen-pg --data-dir (the cluster is in PG_DIR/data): one per (users, tweets), set by http.sh
PG_DIR = Path(os.environ.get("BENCH_PG_DIR", WORK / "pg"))
SEED_FILE = PG_DIR / "seed.json"
SERVER = Path("target/release/tweetgen-server")
LUA = HERE / "generate.lua"
CORPORA = {"ja": Path("../shared/corpus/ja_sentences.txt"), "en": Path("../shared/corpus/en_fortunes.txt")}
MECAB_UTF8_DIC = Path("/var/lib/mecab/dic/ipadic-utf8")
HOST = "127.0.0.1"
SESSION_COOKIE = "__Host-tweetgen-session"

SAMPLE_SEED = 20261125  # which lines each user gets
TARGET_WARM_RPS = 3000
TARGET_WARM_P99_MS = 20.0
TARGET_COLD_P99_MS = 30.0
TRIES = 100
DEFAULT_CACHE = 256 << 20  # the server's default markov.cache_max_bytes
STATS_IDLE_S = 11  # PostgreSQL backends flush table statistics within 10 s of going idle


def env_int(name, default):
    return int(os.environ.get(name, default))


# ------------------------------------------------------------------ users


def user_names(n):
    """Alternately Japanese and English: ja00000, en00001, ja00002, ..."""
    return [f"{'ja' if i % 2 == 0 else 'en'}{i:05d}" for i in range(n)]


def user_lines(name, corpora, tweets):
    """The lines a user teaches: `tweets` distinct lines of their language's corpus,
    the same for the same name on every run."""
    lines = corpora[name[:2]]
    rng = random.Random(f"{SAMPLE_SEED}:{name}")
    return rng.sample(lines, min(tweets, len(lines)))


def seed_signature(tweets):
    """What the seeded models depend on: inputs, engine and schema (committed trees)."""
    def tree(path):
        return subprocess.run(["git", "rev-parse", f"HEAD:{path}"], capture_output=True, text=True,
                              check=False).stdout.strip() or "?"
    corpora = {lang: hashlib.sha256(path.read_bytes()).hexdigest()[:16] for lang, path in CORPORA.items()}
    return {"format": 1, "tweets": tweets, "sample_seed": SAMPLE_SEED, "corpora": corpora,
            "markov_tree": tree("markov"), "migrations_tree": tree("migrations")}


# ------------------------------------------------------------- processes


def die_with_parent():
    """preexec_fn: the kernel sends SIGTERM to the child if this script dies."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def psql(sql):
    done = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", os.environ["DATABASE_URL"],
                           "-c", sql], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"psql failed: {done.stderr.strip()}\n  {sql}")
    return done.stdout.strip()


def proc_stat_cpu(pid):
    """(utime+stime, cutime+cstime) of a process in seconds: its own CPU and that of its
    children it has waited for; None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


def proc_cpu(pid):
    """All CPU of a process and its waited-for children, in seconds (0 if it is gone)."""
    return sum(proc_stat_cpu(pid) or (0.0, 0.0))


def ppid_of(pid):
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return None


def postmaster_pid():
    try:
        return int((PG_DIR / "data" / "postmaster.pid").read_text().split("\n", 1)[0])
    except (FileNotFoundError, ValueError):
        return None


def cluster_pids():
    """The benchmark cluster's postmaster and its children (not other clusters on the machine)."""
    postmaster = postmaster_pid()
    if postmaster is None:
        return []
    pids = [postmaster]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and ppid_of(int(entry.name)) == postmaster:
            pids.append(int(entry.name))
    return pids


def cluster_snapshot():
    """Own CPU of every process of the cluster, and the postmaster's waited-for children's."""
    own, reaped = {}, 0.0
    postmaster = postmaster_pid()
    for pid in cluster_pids():
        cpu = proc_stat_cpu(pid)
        if cpu is not None:
            own[pid] = cpu[0]
            if pid == postmaster:
                reaped = cpu[1]
    return {"own": own, "reaped": reaped}


def cluster_cpu_between(a, b):
    """CPU seconds the cluster used between two snapshots. A backend that ended in between
    is in the postmaster's reaped total with its whole life: its part before `a` comes off."""
    used = sum(cpu - a["own"].get(pid, 0.0) for pid, cpu in b["own"].items())
    used += b["reaped"] - a["reaped"]
    used -= sum(cpu for pid, cpu in a["own"].items() if pid not in b["own"])
    return used


def rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class CpuMeter:
    """CPU seconds spent between start() and stop(): the whole machine, the server,
    our PostgreSQL cluster, wrk (a finished child of this process) and this script."""

    def __init__(self, server_pid):
        self.server_pid = server_pid

    def _snapshot(self):
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        own = resource.getrusage(resource.RUSAGE_SELF)
        return {"total": cpu_busy_seconds(), "server": proc_cpu(self.server_pid),
                "pg": cluster_snapshot(),
                "children": children.ru_utime + children.ru_stime, "self": own.ru_utime + own.ru_stime,
                "wall": time.perf_counter()}

    def start(self):
        self.before = self._snapshot()
        return self

    def stop(self):
        a, b = self.before, self._snapshot()
        pg = cluster_cpu_between(a["pg"], b["pg"])
        used = {"server": b["server"] - a["server"], "pg": pg, "wrk": b["children"] - a["children"],
                "self": b["self"] - a["self"]}
        wall = b["wall"] - a["wall"]
        used["other"] = max(0.0, (b["total"] - a["total"]) - sum(used.values()))
        return {key: value / wall for key, value in used.items()}  # cores busy on average


class Server:
    """tweetgen-server, started by this script, with the given cache size."""

    def __init__(self, label, cache_bytes, pool=None):
        self.label, self.cache_bytes = label, cache_bytes
        self.port = free_port()
        env = dict(os.environ)
        env.update({
            "TWEETGEN__SERVER__PORT": str(self.port),
            "TWEETGEN__MARKOV__CACHE_MAX_BYTES": str(cache_bytes),
            "TWEETGEN__LEARNING__RETRAIN_INTERVAL_SECS": "0",
            "TWEETGEN__AUTH__STANDIN": "true",
            "RUST_LOG": "warn",
        })
        if pool:
            env["TWEETGEN__DATABASE__MAX_CONNECTIONS"] = str(pool)
        self.log_path = WORK / f"server-{label}.log"
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen([str(SERVER)], env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, preexec_fn=die_with_parent)
        deadline = time.monotonic() + 120
        while True:
            if self.process.poll() is not None:
                sys.exit(f"tweetgen-server ({label}) exited with {self.process.returncode}:\n"
                         + self.log_path.read_text()[-3000:])
            try:
                status, _, _ = request(self.port, "GET", "/healthz")
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                sys.exit(f"tweetgen-server ({label}) did not answer /healthz within 120 s")
            time.sleep(0.1)
        self.url = f"http://{HOST}:{self.port}"

    @property
    def pid(self):
        return self.process.pid

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


# --------------------------------------------------------------- HTTP client


def request(port, method, path, body=None, headers=None, connection=None):
    """One request; returns (status, headers, body bytes). Reuses `connection` if given."""
    conn = connection or HTTPConnection(HOST, port, timeout=120)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, response.headers, data
    finally:
        if connection is None:
            conn.close()


def sign_in(port, name):
    """The browser's sign-in through the stand-in for X; returns the session cookie header."""
    status, headers, body = request(port, "GET", "/auth/login?return_to=/")
    if status != 303:
        raise RuntimeError(f"GET /auth/login: {status} {body[:200]!r}")
    authorize = urllib.parse.urlsplit(headers["Location"])
    fields = urllib.parse.parse_qsl(authorize.query, keep_blank_values=True)
    fields += [("decision", "allow"), ("username", name)]
    status, headers, body = request(port, "POST", f"{authorize.path}?{authorize.query}",
                                     body=urllib.parse.urlencode(fields),
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    if status != 303:
        raise RuntimeError(f"POST to the stand-in's authorization page: {status} {body[:200]!r}")
    callback = urllib.parse.urlsplit(headers["Location"])
    status, headers, body = request(port, "GET", f"{callback.path}?{callback.query}")
    cookies = [c.split(";", 1)[0] for c in headers.get_all("Set-Cookie") or [] if c.startswith(SESSION_COOKIE + "=")]
    if status != 303 or not cookies:
        raise RuntimeError(f"GET /auth/callback: {status}, no session cookie {body[:200]!r}")
    return cookies[0]  # `__Host-...` is Secure: sent back by hand over plain HTTP


def train(port, name, lines):
    cookie = sign_in(port, name)
    status, _, body = request(port, "POST", "/api/train_model",
                              body=urllib.parse.urlencode({"tweets": "\n".join(lines)}),
                              headers={"Accept": "application/json", "Cookie": cookie,
                                       "Content-Type": "application/x-www-form-urlencoded"})
    if not 200 <= status < 400:
        raise RuntimeError(f"POST /api/train_model as {name}: {status} {body[:300]!r}")


def generate(port, name, connection):
    status, _, body = request(port, "POST", "/api/generate_tweet", body=f"screen_name={name}",
                              headers={"Accept": "application/json",
                                       "Content-Type": "application/x-www-form-urlencoded"},
                              connection=connection)
    if status != 200:
        raise RuntimeError(f"POST /api/generate_tweet for {name}: {status} {body[:300]!r}")
    answer = json.loads(body)
    if not answer.get("text") or answer.get("screen_name") != name:
        raise RuntimeError(f"unexpected answer for {name}: {answer}")
    return answer


def touch_every_user(server, names, workers=4):
    """One generation per user (fills the cache); checks every answer."""
    samples = {}

    def work(part):
        connection = HTTPConnection(HOST, server.port, timeout=120)
        try:
            for name in part:
                answer = generate(server.port, name, connection)
                samples.setdefault(name[:2], answer["text"])
        finally:
            connection.close()

    parts = [names[i::workers] for i in range(workers)]
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(work, part) for part in parts]:
            future.result()
    return time.perf_counter() - started, samples


# ------------------------------------------------------------------ seeding


def seed(names, corpora, tweets):
    """Makes the database hold exactly these users, each with the model of their lines."""
    signature = seed_signature(tweets)
    previous = json.loads(SEED_FILE.read_text()) if SEED_FILE.exists() else {}
    if previous.get("signature") != signature and previous:
        progress("seed inputs changed (tweets, corpus, engine or schema): starting from an empty schema")
        psql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        previous = {}
    server = Server("seed", DEFAULT_CACHE)  # applies the migrations
    try:
        seeded = set(previous.get("users", []))
        in_db = set(psql("SELECT u.screen_name FROM users u JOIN models m ON m.user_id = u.id").split())
        wanted = set(names)
        extra = sorted(set(psql("SELECT screen_name FROM users").split()) - wanted)
        if extra:
            progress(f"removing {len(extra):,} users beyond BENCH_USERS")
            for i in range(0, len(extra), 1000):
                psql("DELETE FROM users WHERE screen_name IN (" + ",".join(f"'{n}'" for n in extra[i:i + 1000]) + ")")
        missing = [n for n in names if n not in seeded or n not in in_db]
        started = time.perf_counter()
        if missing:
            progress(f"training {len(missing):,} users through /api/train_model ({len(names) - len(missing):,} kept)")
            done = 0
            lock = threading.Lock()

            def one(name):
                nonlocal done
                train(server.port, name, user_lines(name, corpora, tweets))
                with lock:
                    done += 1
                    if done % 100 == 0 or done == len(missing):
                        progress(f"  trained {done:,} of {len(missing):,}")

            # Three at once: the server trains on both cores while this script encodes the next form.
            with concurrent.futures.ThreadPoolExecutor(3) as pool:
                for future in [pool.submit(one, name) for name in missing]:
                    future.result()
        elapsed = time.perf_counter() - started
        count = int(psql("SELECT count(*) FROM models"))
        if count != len(names):
            sys.exit(f"expected {len(names)} models in the database, found {count}")
        SEED_FILE.write_text(json.dumps({"signature": signature, "users": names}))
    finally:
        server.stop()
    return len(missing), elapsed


# --------------------------------------------------------------------- wrk


def run_wrk(server, names_file, connections, seconds, seed_value, threads):
    threads = max(1, min(threads, connections))
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s", "-s", str(LUA),
           server.url, "--", str(names_file), str(seed_value)]
    rows_before = int(psql("SELECT count(*) FROM generations"))
    meter = CpuMeter(server.pid).start()
    done = subprocess.run(cmd, capture_output=True, text=True)
    cpu = meter.stop()
    if done.returncode != 0:
        sys.exit(f"wrk failed ({done.returncode}): {' '.join(cmd)}\n{done.stdout}\n{done.stderr}")
    line = next((l for l in done.stdout.splitlines() if l.startswith("WRKJSON ")), None)
    if line is None:
        sys.exit(f"no WRKJSON line from wrk:\n{done.stdout}\n{done.stderr}")
    result = json.loads(line[len("WRKJSON "):])
    result.update(connections=connections, threads=threads, seconds=seconds, cpu=cpu,
                  rps=result["requests"] / (result["duration_us"] / 1e6),
                  rows=int(psql("SELECT count(*) FROM generations")) - rows_before,
                  socket_errors=sum(result["errors"][k] for k in ("connect", "read", "write", "timeout")))
    result["server_us_per_request"] = cpu["server"] * 1e6 / result["rps"] if result["rps"] else float("nan")
    progress(f"  c={connections:<3} {result['rps']:8,.0f} req/s  p50 {result['latency_us']['p50'] / 1e3:6.2f} ms  "
             f"p99 {result['latency_us']['p99'] / 1e3:6.2f} ms  non-2xx {result['non2xx']}")
    return result


def ms(result, key):
    return result["latency_us"][key] / 1e3


def pick_headline(sweep, p99_target_ms):
    """The connection count with the most requests/s within the p99 target (else the lowest p99)."""
    within = [r for r in sweep if ms(r, "p99") <= p99_target_ms]
    if within:
        return max(within, key=lambda r: r["rps"])["connections"], True
    return min(sweep, key=lambda r: ms(r, "p99"))["connections"], False


def toast_blocks():
    """Blocks of the models' TOAST table touched so far (the encoded models live there)."""
    return int(psql("SELECT coalesce(toast_blks_read, 0) + coalesce(toast_blks_hit, 0) FROM pg_statio_user_tables "
                    "WHERE relname = 'models'") or 0)


def wrk_rows(results):
    rows = []
    for r in results:
        cpu = r["cpu"]
        rows.append([r.get("label", ""), r["connections"], f"{r['seconds']} s", f"{r['rps']:,.0f}",
                     fmt_ms(ms(r, "p50")), fmt_ms(ms(r, "p90")), fmt_ms(ms(r, "p99")), fmt_ms(ms(r, "max")),
                     f"{r['non2xx']}", f"{r['socket_errors']}", f"{r['rows']:,}",
                     f"{cpu['server']:.2f}", f"{cpu['pg']:.2f}", f"{cpu['wrk']:.2f}", f"{cpu['other']:.2f}",
                     f"{r['server_us_per_request']:.0f}"])
    return rows


WRK_HEADERS = ["run", "conns", "time", "req/s", "p50", "p90", "p99", "max", "non-2xx", "sock err", "rows added",
               "server", "postgres", "wrk", "other", "server us/req"]


def wrk_notes(threads):
    return [f"wrk {wrk_version()}: -t{threads} (one load thread) -cCONNS -dTIME --timeout 10s -s bench/http/generate.lua; "
            "closed loop: each connection sends its next request when the answer arrives (latency is service "
            "time under that concurrency, not corrected for coordinated omission)",
            "server / postgres / wrk / other: cores busy on average during the run (of 2; the load generator "
            "shares them with the server and PostgreSQL); server us/req = server CPU per answered request",
            "rows added: rows INSERTed into generations during the run (every answer is one; in-flight requests "
            "at the end may add up to CONNS more)"]


_wrk_version = None


def wrk_version():
    global _wrk_version
    if _wrk_version is None:
        out = subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout
        _wrk_version = out.split()[1] if len(out.split()) > 1 else "?"
    return _wrk_version


# -------------------------------------------------------------- markovify


def mecab_wakati(text):
    cmd = ["mecab", "-Owakati"]
    if MECAB_UTF8_DIC.is_dir():
        cmd += ["-d", str(MECAB_UTF8_DIC)]
    return subprocess.run(cmd, input=text, capture_output=True, text=True, check=True).stdout


def markovify_models(sample, corpora, tweets, out_dir):
    """The old service's models of the sample users, from the same lines: MeCab -Owakati for
    Japanese, then NewlineText(state_size=2) (its default well_formed=True), to_json()."""
    import markovify

    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.json"):
        old.unlink()
    sizes = {}
    for name in sample:
        text = "\n".join(user_lines(name, corpora, tweets)) + "\n"
        if name.startswith("ja"):
            text = mecab_wakati(text)
        model = markovify.NewlineText(text, state_size=2)
        encoded = model.to_json().encode("utf-8")
        (out_dir / f"{name}.json").write_bytes(encoded)
        sizes[name] = {"json_bytes": len(encoded), "sentences": len(model.parsed_sentences)}
    return sizes


def mk_requests(args):
    """Child: the old request path for `seconds`: a random sample user, Text.from_json of their
    JSON (held in memory: the old service read it from storage first), make_sentence(tries=100)."""
    import markovify

    models = [p.read_text(encoding="utf-8") for p in sorted(Path(args.dir).glob("*.json"))]
    rng = random.Random(args.seed)
    random.seed(args.seed)
    times, failed = [], 0
    started = time.perf_counter()
    deadline = started + args.seconds
    while time.perf_counter() < deadline:
        text = models[rng.randrange(len(models))]
        t0 = time.perf_counter()
        model = markovify.Text.from_json(text)
        sentence = model.make_sentence(tries=TRIES)
        times.append(time.perf_counter() - t0)
        failed += sentence is None
        model = None
    print(json.dumps({"times": times, "failed": failed, "wall": time.perf_counter() - started}))


def markovify_path(mk_dir, seconds, processes):
    cmd = lambda seed: [sys.executable, __file__, "_mk_requests", "--dir", str(mk_dir), "--seconds", str(seconds),
                        "--seed", str(seed)]
    children = [subprocess.Popen(cmd(i + 1), stdout=subprocess.PIPE, text=True) for i in range(processes)]
    results = []
    for child in children:
        out, _ = child.communicate()
        if child.returncode != 0:
            sys.exit(f"markovify child failed ({child.returncode})")
        results.append(json.loads(out))
    times = sorted(t for r in results for t in r["times"])
    return {"requests": len(times), "failed": sum(r["failed"] for r in results),
            "rps": sum(len(r["times"]) / r["wall"] for r in results),
            "p50": percentile(times, 50) * 1e3, "p90": percentile(times, 90) * 1e3,
            "p99": percentile(times, 99) * 1e3, "max": times[-1] * 1e3, "processes": processes}


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


# --------------------------------------------------------------- the run


def machine_and_versions(args, names):
    import importlib.metadata

    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), "unknown")
    mem_kb = next(int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines()
                  if l.startswith("MemTotal"))
    run = lambda cmd: subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    commit = run(["git", "describe", "--always", "--dirty"])
    dirty = run(["git", "status", "--porcelain", "--", "markov", "app", "server", "migrations", "Cargo.toml",
                 "Cargo.lock"]).splitlines()
    pg_version = psql("SHOW server_version")
    pg_settings = psql("SELECT string_agg(name || '=' || setting, ' ' ORDER BY name) FROM pg_settings WHERE name IN "
                       "('fsync', 'synchronous_commit', 'shared_buffers', 'max_connections', 'full_page_writes')")
    print("# HTTP generation benchmark\n")
    print(f"date:      {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(f"machine:   nproc {os.cpu_count()} ({len(os.sched_getaffinity(0))} usable), CPU {cpu}, "
          f"RAM {mem_kb / 1024 / 1024:.1f} GiB, {platform.system()} {platform.release()}")
    print(f"load avg:  {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1/5/15 min, at start)")
    print(f"command:   {args.command}")
    print(f"ours:      {run([str(SERVER), '--version'])} (release build), git {commit}"
          + (f" ({len(dirty)} uncommitted server files: numbers are for the working tree)" if dirty else "")
          + f"; {run(['rustc', '--version']) or '?'}")
    print(f"database:  PostgreSQL {pg_version} from tweetgen-pg (data in {PG_DIR}/data, loopback TCP): {pg_settings}")
    print(f"load:      wrk {wrk_version()} (Debian), bench/http/generate.lua")
    print(f"old path:  markovify {importlib.metadata.version('markovify')} on Python {platform.python_version()}; "
          f"{run(['mecab', '-v'])}")
    print(f"users:     {len(names):,} ({sum(n.startswith('ja') for n in names):,} Japanese from {CORPORA['ja']}, "
          f"{sum(n.startswith('en') for n in names):,} English from {CORPORA['en']}), "
          f"{args.tweets:,} lines each, order 2")
    sys.stdout.flush()


def main(args):
    os.chdir(ROOT)
    WORK.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    busy_at_start = cpu_busy_seconds()
    own_at_start = eb.own_cpu_seconds()
    cluster_at_start = cluster_snapshot()
    names = user_names(args.users)
    corpora = {lang: [l for l in path.read_text(encoding="utf-8").split("\n") if l.strip()]
               for lang, path in CORPORA.items()}
    machine_and_versions(args, names)
    names_file = WORK / "names.txt"
    names_file.write_text("\n".join(names) + "\n")
    connections = [int(c) for c in args.connections.split(",")]

    # --- 1. the users' models, through the real API
    trained, seed_s = seed(names, corpora, args.tweets)
    psql("TRUNCATE generations")
    psql("VACUUM ANALYZE")
    model_bytes = [int(x) for x in psql("SELECT octet_length(data) FROM models").split()]
    seeding = (f"{trained:,} users trained through sign-in + POST /api/train_model in {seed_s:.0f} s, "
               f"{len(names) - trained:,} kept" if trained else f"every model kept from an earlier run ({PG_DIR})")
    print(f"seeding:   {seeding}; models in PostgreSQL: {len(model_bytes):,}, {sum(model_bytes) / 2**20:.1f} MiB, "
          f"{statistics.mean(model_bytes) / 1024:.0f} KiB mean; generations truncated")
    sys.stdout.flush()

    warm_cache = args.warm_cache_mib << 20

    # --- 2. warm
    progress(f"warm: cache {args.warm_cache_mib} MiB, one generation per user first")
    server = Server("warm", warm_cache, args.pool)
    try:
        rss_start = rss_kb(server.pid)
        touch_s, samples = touch_every_user(server, names)
        rss_warm = rss_kb(server.pid)
        per_model_kb = (rss_warm - rss_start) / len(names)
        run_wrk(server, names_file, max(connections), 3, 99, args.threads)  # opens the pool's connections
        time.sleep(STATS_IDLE_S)
        toast_before = toast_blocks()
        sweep = []
        for c in connections:
            sweep.append(run_wrk(server, names_file, c, args.sweep_seconds, len(sweep) + 1, args.threads))
        headline_c, within = pick_headline(sweep, TARGET_WARM_P99_MS)
        progress(f"warm headline at {headline_c} connections, {args.seconds} s")
        headline = run_wrk(server, names_file, headline_c, args.seconds, 100, args.threads)
        rss_end = rss_kb(server.pid)
        profiles = [perf_profile(server, names_file, headline_c, args, "warm")] if args.perf else []
        profiled = sum(r["requests"] for _, r in profiles)
    finally:
        server.stop()  # its PostgreSQL sessions end and flush their statistics
    toast_warm = toast_blocks() - toast_before
    warm_requests = sum(r["requests"] for r in sweep) + headline["requests"] + profiled

    # --- 3. the default cache, for information
    default_run = None
    if per_model_kb * len(names) * 1024 > DEFAULT_CACHE * 0.9 and not args.skip_default:
        progress("default cache (256 MiB): one generation per user, then wrk")
        server = Server("default-cache", DEFAULT_CACHE, args.pool)
        try:
            touch_every_user(server, names)
            run_wrk(server, names_file, max(connections), 3, 98, args.threads)
            time.sleep(STATS_IDLE_S)
            toast_before = toast_blocks()
            default_run = run_wrk(server, names_file, headline_c, args.sweep_seconds, 200, args.threads)
        finally:
            server.stop()
        default_run["toast"] = toast_blocks() - toast_before

    # --- 4. cold
    progress("cold: cache 0, every request reads the model from PostgreSQL")
    server = Server("cold", 0, args.pool)
    try:
        run_wrk(server, names_file, max(connections), 3, 97, args.threads)
        time.sleep(STATS_IDLE_S)
        toast_before = toast_blocks()
        cold_sweep = []
        for c in connections:
            cold_sweep.append(run_wrk(server, names_file, c, args.sweep_seconds, 300 + len(cold_sweep), args.threads))
        progress(f"cold headline at {headline_c} connections, {args.seconds} s")
        cold = run_wrk(server, names_file, headline_c, args.seconds, 400, args.threads)
        if args.perf:
            profiles.append(perf_profile(server, names_file, headline_c, args, "cold"))
    finally:
        server.stop()
    toast_cold = toast_blocks() - toast_before
    cold_requests = sum(r["requests"] for r in cold_sweep) + cold["requests"] + sum(
        r["requests"] for _, r in profiles) - profiled
    cold_capacity_c, cold_within = pick_headline(cold_sweep, TARGET_COLD_P99_MS)
    cold_cap = next(r for r in cold_sweep if r["connections"] == cold_capacity_c)

    # --- 5. the old service's path (the server is stopped: both cores are free for it)
    ja = [n for n in names if n.startswith("ja")]
    en = [n for n in names if n.startswith("en")]
    half = max(1, args.mk_users // 2)
    sample = ja[::max(1, len(ja) // half)][:half] + en[::max(1, len(en) // half)][:half]
    progress(f"old path: markovify models of {len(sample)} sample users")
    mk_dir = WORK / "markovify"
    mk_sizes = markovify_models(sample, corpora, args.tweets, mk_dir)
    progress(f"old path: one process, {args.mk_seconds} s")
    mk1 = markovify_path(mk_dir, args.mk_seconds, 1)
    progress(f"old path: two processes, {args.mk_seconds} s")
    mk2 = markovify_path(mk_dir, args.mk_seconds, 2)

    # --- tables
    print(f"\nwarm-up:   {len(names):,} generations (one per user, 4 client threads) in {touch_s:.1f} s, all 200 "
          f"with text; server RSS {rss_start / 1024:.0f} MiB after start, {rss_warm / 1024:.0f} MiB with every "
          f"model decoded ({per_model_kb:.0f} KiB per model), {rss_end / 1024:.0f} MiB after the warm runs")
    for lang, text in sorted(samples.items()):
        print(f"sample:    {lang}: {text[:100]}")

    sweep_rows = wrk_rows([dict(r, label="sweep") for r in sweep] + [dict(headline, label="headline")])
    table(f"1. Warm: every model in the server's cache ({args.warm_cache_mib:,} MiB), {len(names):,} users",
          WRK_HEADERS, sweep_rows,
          notes=[f"headline: the connection count with the most requests/s at p99 <= {TARGET_WARM_P99_MS:g} ms in the "
                 f"sweep ({headline_c}{'' if within else '; none met the p99 target, so the lowest p99'}), "
                 f"run again for {args.seconds} s",
                 f"cache check: the models' TOAST blocks read during these runs: {toast_warm:,} over "
                 f"{warm_requests:,} requests (0 = no model was read from PostgreSQL)",
                 f"each request: SELECT the user's model version, generate (max 140 chars, tries {TRIES}, overlap "
                 "test), INSERT the generation; no session cookie (a visitor)"] + wrk_notes(args.threads))

    if default_run:
        cold_blocks_per_request = toast_cold / cold_requests if cold_requests else 0
        miss = (default_run["toast"] / default_run["requests"]) / cold_blocks_per_request \
            if cold_blocks_per_request else float("nan")
        table("2. The server's default cache (256 MiB) with the same users, for information",
              WRK_HEADERS, wrk_rows([dict(default_run, label="default cache")]),
              notes=[f"{len(names):,} models of ~{per_model_kb:.0f} KiB decoded need ~{per_model_kb * len(names) / 1024:,.0f} "
                     f"MiB: 256 MiB holds ~{DEFAULT_CACHE / 1024 / per_model_kb:,.0f} of them; with a random user per "
                     f"request about {miss:.0%} of these requests read their model from PostgreSQL "
                     f"(TOAST blocks per request against the cold runs)"])

    table(f"3. Cold: cache 0, every request reads its model from PostgreSQL and decodes it, {len(names):,} users",
          WRK_HEADERS, wrk_rows([dict(r, label="sweep") for r in cold_sweep] + [dict(cold, label="headline")]),
          notes=[f"headline: the warm headline's connection count ({headline_c}), run for {args.seconds} s",
                 f"capacity within p99 <= {TARGET_COLD_P99_MS:g} ms in the sweep: "
                 + (f"{cold_cap['rps']:,.0f} req/s at {cold_capacity_c} connections" if cold_within
                    else "none of the sweep's points"),
                 f"cache check: {toast_cold / cold_requests if cold_requests else 0:.1f} TOAST blocks of models read "
                 f"per request ({toast_cold:,} over {cold_requests:,})",
                 "each request: as warm, plus SELECT the model's bytes (TOAST) and decode it on a blocking thread"])

    mk_rows = []
    for label, m in (("1 process", mk1), ("2 processes", mk2)):
        mk_rows.append([label, f"{m['requests']:,}", f"{m['failed']}", f"{m['rps']:,.1f}", fmt_ms(m["p50"]),
                        fmt_ms(m["p90"]), fmt_ms(m["p99"]), fmt_ms(m["max"])])
    table(f"4. The old service's path: markovify.Text.from_json(json) + make_sentence(tries={TRIES}) per request, "
          f"{len(sample)} sample users",
          ["run", "requests", "failed", "req/s", "p50", "p90", "p99", "max"], mk_rows,
          notes=[f"{args.mk_seconds} s each; a random sample user per request; 2 processes = one per core, their "
                 "rates added, their times pooled",
                 "the JSON is already in memory and there is no HTTP or database in this loop: the old service "
                 "also read it from storage and answered over HTTP, so this is its lower bound",
                 "models: the same lines as ours; Japanese through `mecab -Owakati` (UTF-8 IPADIC), English as is; "
                 "NewlineText(text, state_size=2) with markovify's default well_formed=True, to_json()",
                 "failed = make_sentence returned None after 100 tries"])

    ours = {}  # screen name -> (stored bytes, sentences)
    for line in psql("SELECT u.screen_name, octet_length(m.data), m.sentences FROM models m JOIN users u "
                     "ON u.id = m.user_id WHERE u.screen_name IN (" + ",".join(f"'{n}'" for n in sample)
                     + ")").splitlines():
        name, stored, sentences = line.split("|")
        ours[name] = (int(stored), int(sentences))
    size_rows = []
    for lang in ("ja", "en"):
        group = [n for n in sample if n.startswith(lang)]
        if not group:
            continue
        ours_b = [ours[n][0] for n in group]
        ours_s = [ours[n][1] for n in group]
        mk_b = [mk_sizes[n]["json_bytes"] for n in group]
        mk_s = [mk_sizes[n]["sentences"] for n in group]
        size_rows.append([lang, len(group), f"{statistics.mean(ours_b):,.0f}", f"{statistics.mean(mk_b):,.0f}",
                          fmt_ratio(sum(mk_b) / sum(ours_b)), f"{statistics.mean(ours_s):,.0f} / "
                          f"{statistics.mean(mk_s):,.0f}"])
    table("5. Model bytes per user, sample users (mean)",
          ["users", "count", "ours (stored)", "markovify JSON", "markovify/ours", "sentences ours/markovify"],
          size_rows,
          notes=["ours: octet_length(models.data), the encoded model the server reads on a cold request",
                 "markovify learns fewer sentences: well_formed=True drops lines with brackets or quotes"])

    warm_ok = headline["rps"] >= TARGET_WARM_RPS and ms(headline, "p99") <= TARGET_WARM_P99_MS
    non2xx = sum(r["non2xx"] + r["socket_errors"] for r in sweep + cold_sweep + [headline, cold]
                 + ([default_run] if default_run else []))
    light = min(connections)
    warm_light = next(r for r in sweep if r["connections"] == light)
    cold_light = next(r for r in cold_sweep if r["connections"] == light)
    total_bytes = sum(r[0] for r in ours.values())
    json_bytes = sum(m["json_bytes"] for m in mk_sizes.values())

    def p99_row(measure, r, old, old_label, target=None):
        return [measure, f"{fmt_ms(ms(r, 'p99'))} at {r['connections']} conns ({r['rps']:,.0f}/s)",
                f"{fmt_ms(old['p99'])} ({old_label})", f"{fmt_ratio(old['p99'] / ms(r, 'p99'))} old/ours",
                f"<={target:g} ms" if target else "-", verdict(ms(r, "p99") <= target) if target else "-"]

    summary = [
        ["warm throughput", f"{headline['rps']:,.0f}/s at {headline_c} conns", f"{mk2['rps']:,.1f}/s (2 processes)",
         f"{fmt_ratio(headline['rps'] / mk2['rps'])} ours/old",
         f">={TARGET_WARM_RPS:,}/s, p99<={TARGET_WARM_P99_MS:g} ms", verdict(warm_ok)],
        p99_row("warm p99, full load", headline, mk2, "2 processes", TARGET_WARM_P99_MS),
        p99_row("warm p99, light load", warm_light, mk1, "1 process"),
        p99_row("cold p99, full load", cold, mk2, "2 processes", TARGET_COLD_P99_MS),
        p99_row("cold p99, light load", cold_light, mk1, "1 process"),
        ["cold throughput", f"{cold['rps']:,.0f}/s at {headline_c} conns", f"{mk2['rps']:,.1f}/s (2 processes)",
         f"{fmt_ratio(cold['rps'] / mk2['rps'])} ours/old", "-", "-"],
        ["cold capacity", (f"{cold_cap['rps']:,.0f}/s at {cold_capacity_c} conns, p99 {fmt_ms(ms(cold_cap, 'p99'))}"
                           if cold_within else "no sweep point within the target"),
         "-", "-", f"most req/s at p99<={TARGET_COLD_P99_MS:g} ms", "-"],
        ["non-2xx + socket errors", f"{non2xx}", "-", "-", "0", verdict(non2xx == 0)],
        ["model bytes (sample)", f"{total_bytes / len(ours):,.0f}", f"{json_bytes / len(mk_sizes):,.0f} JSON",
         f"{fmt_ratio(json_bytes / total_bytes)} old/ours", "-", "-"],
    ]
    table("6. Summary", ["measure", "ours", "old service's path", "ratio", "target", "result"], summary,
          notes=["ours: through HTTP on loopback with wrk, PostgreSQL and the server on the same 2 cores; "
                 "old: markovify alone on the 2 cores (no HTTP, no database)",
                 f"full load: ours at the warm headline's {headline_c} connections, the old path with both cores "
                 f"busy (2 processes); light load: ours at {light} connections, the old path in one process",
                 f"cold full load: the warm run's load with every model read from PostgreSQL; the cold capacity row "
                 "is the most the cold path carried within its p99 target (tables 1 and 3)",
                 f"the old path at full load has 2 requests in flight, ours {headline_c}: {headline_c} clients of the "
                 f"old path would wait about {headline_c / mk2['rps']:.1f} s each (Little's law at "
                 f"{mk2['rps']:.1f}/s)"])

    if profiles:
        print("\n## 7. perf: where the CPU goes (`perf record -a -F 999` during a separate run; the server's and "
              "the cluster's samples only, by symbol, self time)\n")
        print("\n\n".join(text for text, _ in profiles))
        print("  note: server areas by symbol name: engine = tweetgen_markov and zstd; http = hyper, axum, tower, "
              "leptos, server_fn; kernel = system calls, loopback TCP, scheduling, page faults")
        event = subprocess.run(["perf", "report", "-i", str(WORK / "perf-warm.data"), "--header-only"],
                               capture_output=True, text=True).stdout
        if "cpu-clock" in event:
            print("  note: sampled on cpu-clock (no hardware counters here): kernel samples pile up where interrupts "
                  "are re-enabled (_raw_spin_unlock_irqrestore, finish_task_switch); read them as kernel time, not "
                  "as those functions")

    wall = time.perf_counter() - began
    others = (cpu_busy_seconds() - busy_at_start) - (eb.own_cpu_seconds() - own_at_start) \
        - cluster_cpu_between(cluster_at_start, cluster_snapshot())
    progress(f"CPU accounting: others {others:.1f} s over {wall:.0f} s (negative = counting noise)")
    print(f"\nbenchmark wall time {wall:.0f} s; load avg at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"processes other than this benchmark's (its server, PostgreSQL, wrk and markovify included) kept "
          f"{max(others, 0) / wall:.2f} of {os.cpu_count()} cores busy on average"
          + ("  <-- a busy machine: timings are pessimistic and noisy" if others / wall > 0.25 else ""))


def perf_profile(server, names_file, connections, args, label):
    """A separate profiled run (perf costs throughput, so it is not a measured one): the
    server's and the cluster's processes only, self time by thread name and symbol."""
    data = WORK / f"perf-{label}.data"
    data.unlink(missing_ok=True)
    seconds = args.sweep_seconds
    progress(f"perf: profiling a {seconds} s {label} run at {connections} connections")
    with open(WORK / f"perf-{label}.log", "w") as log:
        # The whole machine (the cluster's backends come and go), reported for our processes only.
        recorder = subprocess.Popen(["perf", "record", "-a", "-F", "999", "-o", str(data), "--", "sleep",
                                     str(seconds)], stdout=log, stderr=log)
        time.sleep(0.3)
        result = run_wrk(server, names_file, connections, seconds, 500, args.threads)
        recorder.wait()
    cluster = set(cluster_pids())
    if recorder.returncode != 0 or not data.exists():
        return f"{label}: perf record failed, see {WORK}/perf-{label}.log", result
    script = subprocess.run(["perf", "script", "-i", str(data), "-F", "comm,pid,tid,ip,sym,dso", "-G"],
                            capture_output=True, text=True).stdout
    sample = re.compile(r"^\s*(.+?)\s+(\d+)/(\d+)\s+[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$")
    counts, areas, processes = {}, {}, {"server": 0, "postgres": 0}
    for line in script.splitlines():
        match = sample.match(line)
        if not match:
            continue
        pid = int(match.group(2))
        who = "server" if pid == server.pid else "postgres" if pid in cluster else None
        if who is None:
            continue
        symbol, dso = match.group(4), Path(match.group(5)).name
        processes[who] += 1
        key = (who, dso, symbol)
        counts[key] = counts.get(key, 0) + 1
        if who == "server":
            area = server_area(symbol, dso)
            areas[area] = areas.get(area, 0) + 1
    total = sum(processes.values()) or 1
    pct = lambda n: f"{100 * n / total:.1f}%"
    text = [f"{label}, {connections} connections, {seconds} s: {result['rps']:,.0f} req/s while profiled "
            f"(p99 {fmt_ms(ms(result, 'p99'))}); {total:,} samples of the server and the cluster: "
            f"server {pct(processes['server'])} ("
            + ", ".join(f"{area} {pct(n)}" for area, n in sorted(areas.items(), key=lambda kv: -kv[1]))
            + f"), postgres {pct(processes['postgres'])}"]
    for (who, dso, symbol), n in sorted(counts.items(), key=lambda kv: -kv[1])[:20]:
        text.append(f"  {pct(n):>6}  {who:<8}  {dso:<18}  {symbol[:110]}")
    return "\n".join(text), result


SERVER_AREAS = [  # (area, substrings of a symbol), first match wins
    ("engine", ("tweetgen_markov", "ZSTD_", "zstd", "HUF_", "FSE_", "crc32")),
    ("sqlx", ("sqlx",)),
    ("http", ("hyper", "axum", "tower", "leptos", "server_fn", "http::", "httparse", "h2::")),
    ("json", ("serde",)),
    ("tokio", ("tokio", "parking_lot", "mio::", "futures")),
    ("malloc/memcpy", ("malloc", "free", "memmove", "memcpy", "memset", "realloc", "_int_", "cfree")),
]


def server_area(symbol, dso):
    if dso.startswith("[kernel"):
        return "kernel"
    for area, needles in SERVER_AREAS:
        if any(needle in symbol for needle in needles):
            return area
    return "other"


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="subcommand")
    p = sub.add_parser("_mk_requests")
    p.add_argument("--dir", required=True)
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--seed", type=int, default=1)

    users = env_int("BENCH_USERS", 1000)  # environment only: bench/http.sh names the cluster after them
    parser.set_defaults(users=users, tweets=env_int("BENCH_TWEETS", 3200))
    parser.add_argument("--seconds", type=int, default=env_int("BENCH_DURATION", 30),
                        help="each headline wrk run (BENCH_DURATION, 30)")
    parser.add_argument("--sweep-seconds", type=int, default=env_int("BENCH_SWEEP_DURATION", 10),
                        help="each sweep wrk run (BENCH_SWEEP_DURATION, 10)")
    parser.add_argument("--connections", default=os.environ.get("BENCH_CONNECTIONS", "2,4,8,16,32,64,128"),
                        help="the sweep's connection counts (BENCH_CONNECTIONS, 2,4,8,16,32,64,128)")
    parser.add_argument("--threads", type=int, default=env_int("BENCH_WRK_THREADS", 1),
                        help="wrk threads (BENCH_WRK_THREADS, 1)")
    parser.add_argument("--pool", type=int, default=env_int("BENCH_DB_POOL", 0) or None,
                        help="server's database.max_connections (BENCH_DB_POOL; default: the server's, 20)")
    parser.add_argument("--warm-cache-mib", type=int, default=env_int("BENCH_WARM_CACHE_MIB", max(256, 4 * users)),
                        help="the warm server's model cache (BENCH_WARM_CACHE_MIB, 4 MiB per user, >= 256)")
    parser.add_argument("--mk-users", type=int, default=env_int("BENCH_MK_USERS", 40),
                        help="sample users for the old path (BENCH_MK_USERS, 40)")
    parser.add_argument("--mk-seconds", type=int, default=env_int("BENCH_MK_SECONDS", 20),
                        help="each old-path run (BENCH_MK_SECONDS, 20)")
    parser.add_argument("--perf", action="store_true", default=os.environ.get("BENCH_PERF", "0") == "1",
                        help="add perf profiles of a warm and a cold run (BENCH_PERF=1)")
    parser.add_argument("--skip-default", action="store_true", help="skip the default-cache run")
    parser.add_argument("--command", default=os.environ.get("BENCH_COMMAND", "bench/http.sh"),
                        help="the command line to print")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args(sys.argv[1:])
    if arguments.subcommand == "_mk_requests":
        mk_requests(arguments)
    else:
        main(arguments)
