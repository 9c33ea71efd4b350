#!/usr/bin/env python3
"""Catch-up benchmark: how fast appliers of a logical replication stream keep a second
PostgreSQL cluster current under the app's real write load.

Run through `bench/catchup.sh`, which installs pgcopydb and wal2json, builds the release CLI
and the PostgreSQL harness, and runs this script under two nested `tweetgen-pg run`s: the
source cluster (target/bench-catchup/src, BENCH_SOURCE_URL) and the target cluster
(target/bench-catchup/dst, DATABASE_URL), both with the same server settings.

1. The source database, built anew: the app's migrations (migrations/*.sql, with psql),
   BENCH_USERS stable users each with a model (BENCH_MODEL_KB of random bytes) and 100
   generations, pgbench's tables (`pgbench -i`, REPLICA IDENTITY FULL on pgbench_history),
   and a pool of deletable users (a model, 20 generations and votes each), topped up before
   each applier's set-up so that the deletions never run dry.
2. The load: pgbench running bench/catchup/{generation,training,deletion}.sql (the app's own
   statements, from app/src/ssr/store.rs) and its built-in tpcb-like script, weighted by
   BENCH_MIX, in BENCH_CLIENTS sessions, throttled with -R or not at all.
3. Calibration: the load unthrottled for BENCH_CALIBRATE_SECONDS with no consumer: the
   source's highest rate (transactions/s, WAL MB/s). The rate of every later phase is
   BENCH_RATE, or that rate x BENCH_RATE_SHARE.
4. Sustained: ours (`tweetgen-infra migrate follow`) applies while the load runs at that rate
   for BENCH_SECONDS; every BENCH_SAMPLE s the source's WAL position and the applier's
   applied position are read, and the lag in bytes and in seconds (how long ago the source's
   WAL was at the applied position) derived from them.
5. Catch-up, for each applier (ours, `pgcopydb follow`, a native subscription): set up from
   an emptied target with the load stopped, caught up; stopped; the load runs
   BENCH_BACKLOG_SECONDS; then the applier starts again and is timed, with the load
   continuing (until the lag is under 1 s) and with it stopped (until a marker change written
   after the load's last transaction is on the target). After the last catch-up the two
   databases are compared (row counts, sums, a hash of every model).

Standard library only. Timings are never asserted. Exits 1 only on a real error (a set-up
step or a tool that fails to start); an applier that stalls, times out or leaves a target
that differs is reported as such and the others still run.
"""

import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The engine benchmark's table and CPU helpers, shared rather than copied (no __pycache__
# left in the source tree).
sys.dont_write_bytecode = True
_spec = importlib.util.spec_from_file_location("engine_bench", ROOT / "bench/engine/bench.py")
eb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(eb)
table, cpu_busy_seconds = eb.table, eb.cpu_busy_seconds
WORK = ROOT / "target/bench-catchup"
LOAD_DIR = ROOT / "bench/catchup"
OURS = ROOT / "target/release/tweetgen-infra"
PGCOPYDB_SLOT = "pgcopydb_bench"
NATIVE = "bench_sub"  # the subscription, its slot; the publication is bench_pub


def env_float(name, default):
    value = os.environ.get(name, "")
    return float(value) if value else default


SECONDS_ = env_float("BENCH_SECONDS", 120)
BACKLOG = env_float("BENCH_BACKLOG_SECONDS", 60)
CALIBRATE = env_float("BENCH_CALIBRATE_SECONDS", 20)
RATE = env_float("BENCH_RATE", 0)
RATE_SHARE = env_float("BENCH_RATE_SHARE", 0.5)
CLIENTS = int(env_float("BENCH_CLIENTS", 4))
MIX = dict((k.strip(), int(v)) for k, v in (p.split("=") for p in os.environ.get(
    "BENCH_MIX", "generation=120,training=8,deletion=1,tpcb=71").split(",")))
MODEL_BYTES = int(env_float("BENCH_MODEL_KB", 100) * 1000) // 16 * 16
USERS = int(env_float("BENCH_USERS", 200))
PGBENCH_SCALE = int(env_float("BENCH_PGBENCH_SCALE", 5))
METHODS = os.environ.get("BENCH_METHODS", "ours,pgcopydb,native").split(",")
MODES = os.environ.get("BENCH_CATCHUP_MODES", "continuing,stopped").split(",")
TIMEOUT = env_float("BENCH_CATCHUP_TIMEOUT", max(120.0, 4 * BACKLOG))
STALL = env_float("BENCH_STALL_SECONDS", 60)
SAMPLE = env_float("BENCH_SAMPLE", 0.25)
TITLES = {"ours": "tweetgen-infra migrate follow", "pgcopydb": "pgcopydb follow (0.10, wal2json)",
          "native": "native subscription"}


def progress(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def processes():
    """{pid: (ppid, session, CPU seconds)} of every process now."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            found[int(entry.name)] = (int(fields[1]), int(fields[3]), (int(fields[11]) + int(fields[12])) / tick)
    return found


def postmaster(pg_dir):
    try:
        return int((Path(pg_dir) / "data/postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None


def cpu_by_group(before, after, seconds, applier_session=None, load_pid=None):
    """Cores used between two `processes()` snapshots by the source cluster, the target cluster,
    the applier's own processes (its session) and pgbench; processes that ended between the
    two are not counted."""
    groups = {"source": postmaster(os.environ.get("BENCH_SOURCE_PG_DIR", "")),
              "target": postmaster(os.environ.get("BENCH_TARGET_PG_DIR", ""))}
    used = dict.fromkeys(["source", "target", "applier", "pgbench"], 0.0)
    for pid, (ppid, session, cpu) in after.items():
        delta = cpu - (before[pid][2] if pid in before else 0.0)
        if pid in (groups["source"], ) or ppid == groups["source"]:
            used["source"] += delta
        elif pid == groups["target"] or ppid == groups["target"]:
            used["target"] += delta
        elif applier_session and session == applier_session:
            used["applier"] += delta
        elif pid == load_pid:
            used["pgbench"] += delta
    return {name: value / max(seconds, 1e-9) for name, value in used.items()}


class Failed(Exception):
    """A real error: a set-up step or a tool that failed."""


# ------------------------------------------------------------------ PostgreSQL

BIN = Path(os.environ.get("PG_BIN_DIR") or sorted(
    p / "bin" for p in Path("/usr/lib/postgresql").iterdir() if (p / "bin/postgres").exists())[-1])


def with_database(url, name):
    return urllib.parse.urlunsplit(urllib.parse.urlsplit(url)._replace(path="/" + name))


def psql(url, sql, check=True):
    """Runs SQL with psql; the unaligned, tuples-only output ('|' between columns)."""
    done = subprocess.run([str(BIN / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                          capture_output=True, text=True)
    if done.returncode != 0:
        if check:
            raise Failed(f"psql failed: {done.stderr.strip()}\n  {sql[:300]}")
        return None
    return done.stdout.strip()


def psql_file(url, path):
    done = subprocess.run([str(BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", str(path)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise Failed(f"psql -f {path} failed: {done.stderr.strip()}")


class Session:
    """A long-lived psql session for the sampler's small queries (no process per query)."""

    def __init__(self, url):
        self.proc = subprocess.Popen([str(BIN / "psql"), "-X", "-A", "-t", "-q", "-d", url], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)

    def value(self, sql):
        """The first column of the first row, or None (no row, or an error)."""
        try:
            self.proc.stdin.write(sql.rstrip().rstrip(";") + ";\n\\echo __done__\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            return None
        out = []
        for line in self.proc.stdout:
            line = line.rstrip("\n")
            if line == "__done__":
                break
            out.append(line)
        if not out or any(l.startswith(("ERROR", "psql:", "FATAL")) for l in out):
            return None
        return out[0].split("|")[0] or None

    def close(self):
        try:
            self.proc.stdin.close()
        except (BrokenPipeError, ValueError):
            pass
        self.proc.wait()


def lsn(text):
    if not text or "/" not in text:
        return None
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def mb(n):
    return n / 1e6


# ------------------------------------------------------------------ the source database

SEED_SQL = """
INSERT INTO users (screen_name, protected) SELECT 'user' || g, g % 10 = 0 FROM generate_series(1, {users}) g;
INSERT INTO models (user_id, data, sentences)
    SELECT u.id, (SELECT string_agg(uuid_send(gen_random_uuid()), ''::bytea) FROM generate_series(1, {chunks}) g
                  WHERE u.id > 0), 100
    FROM users u;
INSERT INTO generations (user_id, text, generated_by)
    SELECT 1 + g % {users}, 'generated ' || g || ' ' || md5(g::text) || ' 猫が好き', CASE WHEN g % 3 = 0 THEN 1 + g % 7 END
    FROM generate_series(1, {users} * 100) g;
INSERT INTO ranking_salts (day) VALUES (current_date);
"""

# Users above the stable ones are the deletion script's pool: each with a model, generations
# (as a voice) and votes, so that deleting one cascades like deleting a real account.
POOL_SQL = """
WITH new AS (
    INSERT INTO users (id, screen_name)
    SELECT i, 'pool' || i FROM (SELECT nextval(pg_get_serial_sequence('users', 'id')) AS i
                                FROM generate_series(1, {count})) s
    RETURNING id
), model AS (
    INSERT INTO models (user_id, data, sentences)
    SELECT id, (SELECT string_agg(uuid_send(gen_random_uuid()), ''::bytea) FROM generate_series(1, {chunks}) g
                WHERE new.id > 0), 100 FROM new
), generation AS (
    INSERT INTO generations (user_id, text) SELECT id, 'pool tweet ' || g || ' ' || md5(id::text || g)
    FROM new, generate_series(1, 20) g
)
INSERT INTO ranking_votes (voice_id, day, viewer)
SELECT id, current_date, sha256(convert_to(id::text || ':' || g, 'UTF8')) FROM new, generate_series(1, 3) g;
"""

# What both sides must agree on once everything is applied.
FINGERPRINT_SQL = """
SELECT (SELECT count(*) FROM users) || ' users, ' || (SELECT count(*) FROM models) || ' models (version sum '
    || (SELECT sum(version) FROM models) || ', ' || (SELECT sum(length(data)) FROM models) || ' bytes, md5 '
    || (SELECT left(md5(string_agg(md5(data), ',' ORDER BY user_id)), 8) FROM models) || '), '
    || (SELECT count(*) FROM generations) || ' generations, ' || (SELECT count(*) FROM ranking_votes) || ' votes, '
    || (SELECT count(*) FROM owner_addresses) || ' addresses, pgbench balance ' || (SELECT sum(abalance) FROM pgbench_accounts)
    || ', ' || (SELECT count(*) FROM pgbench_history) || ' history rows'
"""


def differing_tables(source, target):
    """The tables whose rows differ (a hash of every row), with the first models that differ."""
    tables = psql(source, "SELECT string_agg(relname, ' ') FROM pg_stat_user_tables WHERE schemaname = 'public'").split()
    found = []
    for name in tables:
        sql = f"SELECT count(*) || ' ' || coalesce(md5(string_agg(md5(t::text), '' ORDER BY md5(t::text))), '') FROM {name} t"
        if psql(source, sql, check=False) != psql(target, sql, check=False):
            found.append(name)
    if "models" in found:
        sql = "SELECT user_id, version, left(md5(data), 8), trained_at FROM models ORDER BY user_id"
        a = set(psql(source, sql).splitlines())
        b = set((psql(target, sql, check=False) or "").splitlines())
        found += [f"source has {row}" for row in sorted(a - b)[:3]] + [f"target has {row}" for row in sorted(b - a)[:3]]
    return found


def build_source(source):
    progress("building the source database (migrations, users, models, pgbench tables)")
    admin = with_database(source, "postgres")
    psql(admin, "DROP DATABASE IF EXISTS app WITH (FORCE)")
    psql(admin, "CREATE DATABASE app")
    for path in sorted((ROOT / "migrations").glob("*.sql")):
        psql_file(source, path)
    psql(source, SEED_SQL.format(users=USERS, chunks=MODEL_BYTES // 16))
    done = subprocess.run([str(BIN / "pgbench"), "-i", "-q", "-s", str(PGBENCH_SCALE), "-d", source],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise Failed(f"pgbench -i failed: {done.stderr[-500:]}")
    # pgbench_history has no key: the whole row identifies it (as infra/tests/migrate.rs does).
    psql(source, "ALTER TABLE pgbench_history REPLICA IDENTITY FULL")
    psql(source, "VACUUM ANALYZE")
    psql(source, "CHECKPOINT")


def pool_size(source):
    return int(psql(source, f"SELECT count(*) FROM users WHERE id > {USERS}"))


def top_up_pool(source, wanted):
    have = pool_size(source)
    if have < wanted:
        psql(source, POOL_SQL.format(count=wanted - have, chunks=MODEL_BYTES // 16))
    return max(have, wanted)


def drop_leftovers(source, target):
    """Slots, publications, subscriptions, origins of a killed run (these clusters are the benchmark's)."""
    for sub in (psql(target, "SELECT subname FROM pg_subscription", check=False) or "").split():
        for sql in (f"ALTER SUBSCRIPTION {sub} DISABLE", f"ALTER SUBSCRIPTION {sub} SET (slot_name = NONE)",
                    f"DROP SUBSCRIPTION {sub}"):
            psql(target, sql, check=False)
    for url in (source, target):
        admin = with_database(url, "postgres")
        psql(admin, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE NOT active",
             check=False)
        psql(admin, "SELECT pg_replication_origin_drop(roname) FROM pg_replication_origin", check=False)


def reset_target(target):
    admin = with_database(target, "postgres")
    psql(admin, "DROP DATABASE IF EXISTS app WITH (FORCE)")
    psql(admin, "CREATE DATABASE app")


# ------------------------------------------------------------------ the load


class Load:
    """pgbench running the app's writes and tpcb-like, at `rate` transactions/s (None: unthrottled).
    `points` holds (time, transactions so far) from its per-second progress lines."""

    PROGRESS = re.compile(r"progress: ([\d.]+) s, ([\d.]+) tps")

    def __init__(self, source, rate, seconds, log):
        scripts = []
        for name, weight in MIX.items():
            if weight > 0:
                scripts += ["-b", f"tpcb-like@{weight}"] if name == "tpcb" else ["-f", f"{LOAD_DIR / name}.sql@{weight}"]
        cmd = [str(BIN / "pgbench"), "-n", "-c", str(CLIENTS), "-j", str(min(CLIENTS, 2)), "-T", str(int(seconds)),
               "-P", "1", "--max-tries", "5", "-D", f"stable={USERS}", "-D", f"chunks={MODEL_BYTES // 16}",
               *(["-R", str(rate)] if rate else []), *scripts, "-d", source]
        self.log = open(log, "a")
        self.log.write(f"\n$ {' '.join(cmd[:-2])}\n")
        self.log.flush()
        self.started = time.time()
        self.stopped = None
        self.points = [(self.started, 0.0)]
        self.summary = ""
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.out_reader = threading.Thread(target=self._read_summary, daemon=True)
        self.out_reader.start()

    def _read(self):
        last = 0.0
        for line in self.proc.stderr:
            self.log.write(line)
            match = self.PROGRESS.search(line)
            if match:
                at, tps = float(match.group(1)), float(match.group(2))
                self.points.append((self.started + at, self.points[-1][1] + tps * (at - last)))
                last = at

    def _read_summary(self):
        self.summary = self.proc.stdout.read()
        self.log.write(self.summary)

    def transactions_at(self, when):
        """Transactions committed by then (interpolated between progress lines)."""
        if self.stopped is not None:
            when = min(when, self.stopped)
        points = self.points
        if when <= points[0][0]:
            return 0.0
        for (t0, n0), (t1, n1) in zip(points, points[1:]):
            if t0 <= when <= t1:
                return n0 + (n1 - n0) * (when - t0) / max(t1 - t0, 1e-9)
        # Past the last line (pgbench reports each second): extrapolate with the last second's rate.
        if len(points) >= 2:
            (t0, n0), (t1, n1) = points[-2], points[-1]
            return n1 + (n1 - n0) / max(t1 - t0, 1e-9) * min(when - t1, 1.0)
        return points[-1][1]

    def stop(self):
        """Stops pgbench (SIGINT: it exits at once); returns when its output is read."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        self.wait()
        self.stopped = time.time()

    def wait(self):
        self.proc.wait()
        self.reader.join()
        self.out_reader.join()
        self.log.flush()
        self.stopped = time.time()
        return self

    def tps(self):
        """pgbench's own rate, when it ran to its end; else from the progress lines."""
        match = re.search(r"^tps = ([\d.]+)", self.summary, re.M)
        if match:
            return float(match.group(1))
        (t0, n0), (t1, n1) = self.points[0], self.points[-1]
        return (n1 - n0) / max(t1 - t0, 1e-9)

    def failed(self):
        match = re.search(r"^number of failed transactions: (\d+)", self.summary, re.M)
        return int(match.group(1)) if match else 0


# ------------------------------------------------------------------ sampling


class Sampler(threading.Thread):
    """Every SAMPLE s: the source's WAL insert position and the applier's applied position
    (a query on the target, or none), and the machine's busy CPU time."""

    def __init__(self, source, target, applied_sql):
        super().__init__(daemon=True)
        self.source, self.target = Session(source), Session(target)
        self.applied_sql = applied_sql
        self.samples = []  # (time, source LSN, applied LSN or None, busy CPU seconds)
        self.halt = threading.Event()
        self.start()

    def run(self):
        while not self.halt.is_set():
            at = time.time()
            src = lsn(self.source.value("SELECT pg_current_wal_insert_lsn()"))
            applied = lsn(self.target.value(self.applied_sql)) if self.applied_sql else None
            if src is not None:
                self.samples.append((at, src, applied, cpu_busy_seconds()))
            self.halt.wait(max(0.0, SAMPLE - (time.time() - at)))

    def stop(self):
        self.halt.set()
        self.join()
        self.source.close()
        self.target.close()
        return self

    def source_time_of(self, position):
        """When the source's WAL reached `position` (interpolated between samples)."""
        samples = self.samples
        for (t0, l0, _, _), (t1, l1, _, _) in zip(samples, samples[1:]):
            if l1 >= position:
                if l0 >= position:
                    return t0
                return t0 + (t1 - t0) * (position - l0) / max(l1 - l0, 1)
        return samples[-1][0] if samples and samples[-1][1] >= position else None

    def lag(self, sample):
        """(lag bytes, lag seconds) at a sample; None when nothing is known of the applier."""
        at, src, applied, _ = sample
        if applied is None:
            return None
        reached = self.source_time_of(applied)
        if reached is None:
            reached = self.samples[0][0]
        return max(0, src - applied), max(0.0, at - reached)

    def latest(self):
        return self.samples[-1] if self.samples else None


def percentile(values, q):
    values = sorted(values)
    if not values:
        return None
    return values[min(len(values) - 1, int(q * (len(values) - 1) + 0.5))]


# ------------------------------------------------------------------ the appliers


def run_logged(cmd, log, env=None, label=None, timeout=None):
    with open(log, "a") as out:
        out.write(f"\n$ {' '.join(str(c) for c in cmd)}\n")
        out.flush()
        done = subprocess.run([str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT, env=env, timeout=timeout)
    if done.returncode != 0:
        tail = Path(log).read_text(errors="replace").splitlines()[-15:]
        raise Failed(f"{label or cmd[0]} failed (exit {done.returncode}); end of {log}:\n  " + "\n  ".join(tail))


def start_logged(cmd, log, env=None):
    out = open(log, "a")
    out.write(f"\n$ {' '.join(str(c) for c in cmd)}\n")
    out.flush()
    # A session of its own, so that stopping it stops every process it started (pgcopydb forks).
    return subprocess.Popen([str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)


def stop_process(proc, grace=15):
    if proc is None or proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, grace), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            pass


class Ours:
    name = "ours"

    def __init__(self, source, target):
        self.source, self.target = source, target
        self.work = WORK / "work/ours"
        self.log = WORK / "logs/ours.log"
        self.env = dict(os.environ, TWEETGEN_MIGRATE_SOURCE=source, TWEETGEN_MIGRATE_TARGET=target,
                        TWEETGEN_MIGRATE_DIR=str(self.work))
        self.proc = None
        self.applied_sql = None

    def setup(self):
        if self.work.exists():
            subprocess.run([OURS, "migrate", "clean"], env=self.env, capture_output=True)
            shutil.rmtree(self.work)
        reset_target(self.target)
        run_logged([OURS, "migrate", "sync", "--until-caught-up", "--jobs", "2"], self.log, self.env,
                   "tweetgen-infra migrate sync --until-caught-up")
        status = subprocess.run([OURS, "migrate", "status", "--json"], env=self.env, capture_output=True, text=True)
        slot = json.loads(status.stdout)["slot"]
        self.applied_sql = f"SELECT lsn::text FROM tweetgen_migrate.applied WHERE slot = '{slot}'"

    def start(self):
        self.proc = start_logged([OURS, "migrate", "follow"], self.log, self.env)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        stop_process(self.proc)

    def cleanup(self):
        self.stop()
        subprocess.run([OURS, "migrate", "clean"], env=self.env, capture_output=True)


class Pgcopydb:
    """pgcopydb 0.10: `clone --follow` for the set-up (its slot, wal2json, is created before
    the copy), stopped once the copy is done; `follow --resume --not-consistent` to apply
    again (without --not-consistent it tries the copy's long-gone snapshot and exits)."""

    name = "pgcopydb"

    def __init__(self, source, target):
        self.source, self.target = source, target
        self.work = WORK / "work/pgcopydb"
        self.log = WORK / "logs/pgcopydb.log"
        self.proc = None
        self.applied_sql = (f"SELECT remote_lsn::text FROM pg_replication_origin_status "
                            f"WHERE external_id = '{PGCOPYDB_SLOT}'")
        self.common = ["--source", source, "--target", target, "--dir", self.work,
                       "--slot-name", PGCOPYDB_SLOT, "--origin", PGCOPYDB_SLOT]

    def setup(self):
        self.drop()
        reset_target(self.target)
        self.proc = start_logged(["pgcopydb", "clone", "--follow", "--no-owner", "--no-acl", "--table-jobs", "2",
                                  "--index-jobs", "2", *self.common], self.log)
        # With the load stopped the copy is all there is: once the sentinel says "apply", the
        # target holds everything (changes after the copy's snapshot: none).
        deadline = time.time() + 600
        while psql(self.source, "SELECT apply FROM pgcopydb.sentinel", check=False) != "t":
            if self.proc.poll() is not None or time.time() > deadline:
                raise Failed(f"pgcopydb clone --follow ended before its copy was done; see {self.log}")
            time.sleep(0.5)
        time.sleep(2)
        self.stop()

    def start(self):
        self.proc = start_logged(["pgcopydb", "follow", "--resume", "--not-consistent", *self.common], self.log)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        stop_process(self.proc)

    def drop(self):
        self.stop()
        psql(self.source, f"SELECT pg_drop_replication_slot('{PGCOPYDB_SLOT}') FROM pg_replication_slots "
                          f"WHERE slot_name = '{PGCOPYDB_SLOT}'", check=False)
        psql(self.source, "DROP SCHEMA IF EXISTS pgcopydb CASCADE", check=False)
        psql(self.target, f"SELECT pg_replication_origin_drop('{PGCOPYDB_SLOT}') FROM pg_replication_origin "
                          f"WHERE roname = '{PGCOPYDB_SLOT}'", check=False)
        shutil.rmtree(self.work, ignore_errors=True)

    cleanup = drop


class Native:
    """A publication FOR ALL TABLES and a subscription (copy_data = true); stopped and
    started with ALTER SUBSCRIPTION ... DISABLE / ENABLE."""

    name = "native"

    def __init__(self, source, target):
        self.source, self.target = source, target
        self.log = WORK / "logs/native.log"
        self.applied_sql = (f"SELECT remote_lsn::text FROM pg_replication_origin_status WHERE external_id = "
                            f"(SELECT 'pg_' || oid FROM pg_subscription WHERE subname = '{NATIVE}')")
        self.enabled = False

    def setup(self):
        self.drop()
        reset_target(self.target)
        dump = subprocess.run([str(BIN / "pg_dump"), "--schema-only", "--no-owner", "--no-acl", "-d", self.source],
                              capture_output=True, text=True)
        if dump.returncode != 0:
            raise Failed(f"pg_dump --schema-only failed: {dump.stderr[-500:]}")
        restore = subprocess.run([str(BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.target],
                                 input=dump.stdout, capture_output=True, text=True)
        if restore.returncode != 0:
            raise Failed(f"restoring the schema on the target failed: {restore.stderr[-500:]}")
        psql(self.source, "CREATE PUBLICATION bench_pub FOR ALL TABLES")
        psql(self.target, f"CREATE SUBSCRIPTION {NATIVE} CONNECTION '{conninfo(self.source)}' "
                          f"PUBLICATION bench_pub WITH (copy_data = true)")
        self.enabled = True
        deadline = time.time() + 600
        while psql(self.target, "SELECT count(*) FROM pg_subscription_rel WHERE srsubstate <> 'r'") != "0":
            if time.time() > deadline:
                raise Failed("the subscription's tables were not synchronised within 600 s")
            time.sleep(0.5)
        wait_for_marker(self.source, self.target, 600)
        self.stop()

    def start(self):
        psql(self.target, f"ALTER SUBSCRIPTION {NATIVE} ENABLE")
        self.enabled = True

    def alive(self):
        return True

    def stop(self):
        if self.enabled:
            psql(self.target, f"ALTER SUBSCRIPTION {NATIVE} DISABLE")
            self.enabled = False
            # The apply worker and the source's walsender let go of the slot.
            deadline = time.time() + 30
            while psql(self.source, f"SELECT active FROM pg_replication_slots WHERE slot_name = '{NATIVE}'") == "t":
                if time.time() > deadline:
                    break
                time.sleep(0.2)

    def drop(self):
        if psql(self.target, f"SELECT 1 FROM pg_subscription WHERE subname = '{NATIVE}'", check=False) == "1":
            psql(self.target, f"ALTER SUBSCRIPTION {NATIVE} DISABLE", check=False)
            psql(self.target, f"ALTER SUBSCRIPTION {NATIVE} SET (slot_name = NONE)", check=False)
            psql(self.target, f"DROP SUBSCRIPTION {NATIVE}", check=False)
        psql(self.source, f"SELECT pg_drop_replication_slot('{NATIVE}') FROM pg_replication_slots "
                          f"WHERE slot_name = '{NATIVE}' AND NOT active", check=False)
        psql(self.source, "DROP PUBLICATION IF EXISTS bench_pub", check=False)
        self.enabled = False

    cleanup = drop


def conninfo(url):
    parts = urllib.parse.urlsplit(url)
    return (f"host={parts.hostname} port={parts.port} dbname={parts.path.lstrip('/')} "
            f"user={urllib.parse.unquote(parts.username or 'postgres')}"
            + (f" password={urllib.parse.unquote(parts.password)}" if parts.password else ""))


MARKER = 0


def write_marker(source):
    """A change written after everything else (the filler of pgbench branch 1, which the load
    never writes, found by its key); returns it. The WAL segment is switched after it:
    pgcopydb 0.10 applies whole segment files only."""
    global MARKER
    MARKER += 1
    filler = f"marker-{os.getpid()}-{MARKER}"
    psql(source, f"UPDATE pgbench_branches SET filler = '{filler}' WHERE bid = 1")
    psql(source, "SELECT pg_switch_wal()")
    return filler


MARKER_SQL = "SELECT rtrim(filler) FROM pgbench_branches WHERE bid = 1"


def marker_applied(target, filler):
    if isinstance(target, Session):
        return target.value(MARKER_SQL) == filler
    return psql(target, MARKER_SQL, check=False) == filler


def wait_for_marker(source, target, timeout, filler=None):
    filler = filler or write_marker(source)
    deadline = time.time() + timeout
    while not marker_applied(target, filler):
        if time.time() > deadline:
            return False
        time.sleep(0.25)
    return True


# ------------------------------------------------------------------ phases


def calibrate(source, target):
    progress(f"calibration: the load unthrottled for {CALIBRATE:.0f} s, {CLIENTS} clients, no consumer")
    sampler = Sampler(source, target, None)
    busy0 = cpu_busy_seconds()
    load = Load(source, None, CALIBRATE, WORK / "logs/load.log").wait()
    busy1 = cpu_busy_seconds()
    sampler.stop()
    s = sampler.samples
    wal = (s[-1][1] - s[0][1]) / max(s[-1][0] - s[0][0], 1e-9)
    duration = load.stopped - load.started
    tps = load.tps()
    return {"tps": tps, "wal_bytes_per_s": wal, "wal_per_tx": wal / max(tps, 1e-9),
            "cores": (busy1 - busy0) / duration, "failed": load.failed(), "scripts": script_rates(load.summary)}


def script_rates(summary):
    found = re.findall(r"SQL script \d+: (\S+).*?\n.*?\n - (\d+) transactions \(([\d.]+)% of total, tps = ([\d.]+)\)",
                       summary, re.S)
    return [(Path(name).stem if name != "<builtin:" else "tpcb-like", int(n), float(share), float(tps))
            for name, n, share, tps in found]


def sustained(applier, source, target, rate):
    """Ours following while the load runs at `rate` for SECONDS_."""
    progress(f"sustained: {TITLES[applier.name]} following, the load at {rate} tx/s for {SECONDS_:.0f} s")
    applier.start()
    sampler = Sampler(source, target, applier.applied_sql)
    time.sleep(2)
    busy0 = cpu_busy_seconds()
    load = Load(source, rate, SECONDS_, WORK / "logs/load.log").wait()
    busy1 = cpu_busy_seconds()
    drained = wait_for_marker(source, target, TIMEOUT)
    sampler.stop()
    alive = applier.alive()
    applier.stop()
    window = [x for x in sampler.samples if load.started <= x[0] <= load.stopped]
    result = {"rate": rate, "tps": load.tps(), "failed": load.failed(), "alive": alive, "drained": drained,
              "cores": (busy1 - busy0) / (load.stopped - load.started), "rows": [], "lags": []}
    if len(window) < 2:
        return result
    first, last = window[0], window[-1]
    span = last[0] - first[0]
    result["wal_bytes_per_s"] = (last[1] - first[1]) / span
    applied = [x for x in window if x[2] is not None]
    if applied:
        result["apply_bytes_per_s"] = (applied[-1][2] - applied[0][2]) / max(applied[-1][0] - applied[0][0], 1e-9)
    lags = [(x[0], sampler.lag(x)) for x in window]
    lags = [(at, lag) for at, lag in lags if lag is not None]
    result["lags"] = [lag for _, lag in lags]
    bucket = 10.0
    t = load.started
    while t < load.stopped - 1:
        part = [x for x in window if t <= x[0] < t + bucket]
        part_lags = [lag for at, lag in lags if t <= at < t + bucket]
        if len(part) >= 2:
            a, b = part[0], part[-1]
            d = max(b[0] - a[0], 1e-9)
            tx = (load.transactions_at(b[0]) - load.transactions_at(a[0])) / d
            applied_rate = applied_tx = None
            if a[2] is not None and b[2] is not None:
                applied_rate = (b[2] - a[2]) / d
                ta, tb = sampler.source_time_of(a[2]), sampler.source_time_of(b[2])
                if ta is not None and tb is not None:
                    applied_tx = (load.transactions_at(tb) - load.transactions_at(ta)) / d
            result["rows"].append((f"{t - load.started:.0f}-{min(t + bucket, load.stopped) - load.started:.0f} s",
                                   f"{tx:.0f}", f"{mb((b[1] - a[1]) / d):.2f}",
                                   f"{applied_tx:.0f}" if applied_tx is not None else "?",
                                   f"{mb(applied_rate):.2f}" if applied_rate is not None else "?",
                                   fmt_lag_bytes([l[0] for l in part_lags], 0.5),
                                   fmt_lag_bytes([l[0] for l in part_lags], 1.0),
                                   fmt_lag_s([l[1] for l in part_lags], 0.5), fmt_lag_s([l[1] for l in part_lags], 1.0)))
        t += bucket
    return result


def bounded_text(lags):
    """Bounded: the second half's largest lag is at most max(5 s, twice the first half's)."""
    if len(lags) < 4:
        return "too few samples to tell whether the lag stayed bounded"
    first = max(l[1] for l in lags[: len(lags) // 2])
    second = max(l[1] for l in lags[len(lags) // 2:])
    verdict = "bounded" if second <= max(5.0, 2 * first) else "NOT bounded: the lag grew over the phase"
    return f"lag {verdict} (largest {first:.1f} s in the first half, {second:.1f} s in the second)"


def fmt_lag_bytes(values, q):
    v = percentile(values, q)
    return "?" if v is None else (f"{v / 1e6:.1f} MB" if v >= 1e6 else f"{v / 1e3:.0f} kB")


def fmt_lag_s(values, q):
    v = percentile(values, q)
    return "?" if v is None else f"{v:.1f}"


def catchup(applier, source, target, rate, mode):
    """The applier stopped, BACKLOG s of load, then started again and timed."""
    progress(f"catch-up ({mode}): {TITLES[applier.name]} stopped, {BACKLOG:.0f} s of load at {rate} tx/s")
    sampler = Sampler(source, target, applier.applied_sql)
    time.sleep(1)
    start_position = lsn(psql(target, applier.applied_sql, check=False))
    # Where the source's WAL is when the load starts: the backlog's start for every applier
    # (a position an applier recorded before the last pg_switch_wal may lie before it).
    load_start = lsn(psql(source, "SELECT pg_current_wal_insert_lsn()"))
    start_position = max(start_position or 0, load_start)
    load = Load(source, rate, BACKLOG + (TIMEOUT + 30 if mode == "continuing" else 0), WORK / "logs/load.log")
    result = {"method": applier.name, "mode": mode, "rate": rate}
    time.sleep(BACKLOG)
    filler = None
    if mode == "stopped":
        load.stop()
    backlog_end = lsn(psql(source, "SELECT pg_current_wal_insert_lsn()"))
    if mode == "stopped":
        filler = write_marker(source)
    began = time.time()
    backlog_tx = load.transactions_at(began)
    result["backlog_bytes"] = backlog_end - start_position
    result["backlog_tx"] = backlog_tx
    progress(f"  backlog {mb(result['backlog_bytes']):.0f} MB of WAL, {backlog_tx:.0f} transactions; "
             f"starting {TITLES[applier.name]}")
    busy0 = cpu_busy_seconds()
    procs0 = processes()
    applier.start()
    done_at, outcome = None, None
    best = None
    last_progress = (began, start_position)
    marker_session = Session(target)
    while done_at is None:
        time.sleep(0.1)
        now = time.time()
        sample = sampler.latest()
        if sample and sample[2] is not None and sample[2] != last_progress[1]:
            last_progress = (now, sample[2])
        if mode == "stopped":
            if marker_applied(marker_session, filler):
                done_at, outcome = time.time(), "caught up"
        elif sample and sample[0] > began:
            lag = sampler.lag(sample)
            if lag is not None:
                best = lag[1] if best is None else min(best, lag[1])
                if lag[1] < 1.0 and sample[2] is not None and sample[2] > start_position:
                    done_at, outcome = sample[0], "caught up"
        if done_at is None:
            if not applier.alive():
                outcome = "applier exited"
            elif now - last_progress[0] > STALL:
                outcome = f"stalled ({STALL:.0f} s without progress)"
            elif now - began > TIMEOUT:
                outcome = f"timed out ({TIMEOUT:.0f} s)"
            if outcome:
                done_at = now
                break
    busy1 = cpu_busy_seconds()
    marker_session.close()
    session = getattr(getattr(applier, "proc", None), "pid", None)
    result["cpu"] = cpu_by_group(procs0, processes(), time.time() - began, session, load.proc.pid)
    result["outcome"] = outcome
    result["seconds"] = done_at - began
    result["cores"] = (busy1 - busy0) / max(done_at - began, 1e-9)
    end_position = next((x[2] for x in reversed(sampler.samples) if x[0] <= done_at + SAMPLE and x[2] is not None),
                        start_position)
    if mode == "stopped" and outcome == "caught up":
        end_position = max(end_position or 0, backlog_end)
    applied_bytes = max(0, (end_position or 0) - start_position)
    result["applied_bytes"] = applied_bytes
    reached = sampler.source_time_of(end_position) if end_position else None
    applied_tx = load.transactions_at(reached) if reached else 0
    if mode == "stopped" and outcome == "caught up":
        applied_tx = backlog_tx
    result["applied_tx"] = applied_tx
    result["best_lag"] = best
    if mode == "continuing":
        last = sampler.latest()
        lag = sampler.lag(last) if last else None
        result["end_lag"] = lag[1] if lag else None
        load.stop()
    result["load_tps"] = (load.transactions_at(began) / max(began - load.started, 1e-9))
    # Whatever the outcome, the rest is drained so that the next catch-up starts equal.
    if outcome == "caught up":
        result["drained"] = wait_for_marker(source, target, TIMEOUT)
    else:
        result["drained"] = False
    sampler.stop()
    applier.stop()
    progress(f"  {outcome} after {result['seconds']:.1f} s")
    return result


# ------------------------------------------------------------------ report


def machine_and_versions(source, target):
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), "unknown")
    mem_kb = next(int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines()
                  if l.startswith("MemTotal"))
    run = lambda cmd: subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT).stdout.strip()
    commit = run(["git", "describe", "--always", "--dirty"])
    dirty = run(["git", "status", "--porcelain", "--", "infra", "Cargo.toml", "Cargo.lock"]).splitlines()
    pgcopydb = run(["pgcopydb", "--version"]).splitlines()
    settings_sql = ("SELECT string_agg(name || '=' || current_setting(name), ' ' ORDER BY name) FROM pg_settings "
                    "WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers', 'max_wal_size', "
                    "'wal_level', 'max_wal_senders', 'max_replication_slots', 'max_worker_processes', "
                    "'max_logical_replication_workers', 'logical_decoding_work_mem', 'checkpoint_timeout')")
    settings, target_settings = psql(source, settings_sql), psql(target, settings_sql)
    print("# Catch-up benchmark\n")
    print(f"date:      {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(f"machine:   nproc {os.cpu_count()} ({len(os.sched_getaffinity(0))} usable), CPU {cpu}, "
          f"RAM {mem_kb / 1024 / 1024:.1f} GiB, {platform.system()} {platform.release()}")
    print(f"load avg:  {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1/5/15 min, at start)")
    print(f"command:   {os.environ.get('BENCH_COMMAND', 'bench/catchup.sh')}")
    print(f"ours:      {run([str(OURS), '--version'])} (release build), git {commit}"
          + (f" ({len(dirty)} uncommitted files under infra/: numbers are for the working tree)" if dirty else "")
          + f"; {run(['rustc', '--version']) or '?'}")
    print(f"pgcopydb:  {pgcopydb[0] if pgcopydb else '?'} (Debian package "
          f"{run(['dpkg-query', '-W', '-f', '${Version}', 'pgcopydb']) or '?'}), wal2json "
          f"{run(['dpkg-query', '-W', '-f', '${Version}', 'postgresql-15-wal2json']) or '?'}")
    print(f"postgres:  source {psql(source, 'SHOW server_version')}, target {psql(target, 'SHOW server_version')}; "
          f"pgbench and psql from {BIN}")
    print(f"clusters:  two tweetgen-pg clusters on 127.0.0.1 (loopback TCP), data in "
          f"{os.environ.get('BENCH_SOURCE_PG_DIR')}/data and {os.environ.get('BENCH_TARGET_PG_DIR')}/data")
    print(f"settings:  source: {settings}")
    print("           target: the same" if target_settings == settings else f"           target: {target_settings}")
    total = sum(MIX.values())
    print(f"load:      pgbench -c {CLIENTS}: " + ", ".join(
        f"{name} {100 * w / total:g}%" for name, w in MIX.items())
        + f"; model {MODEL_BYTES / 1000:g} kB; {USERS} stable users; pgbench scale {PGBENCH_SCALE}")
    print(f"phases:    calibration {CALIBRATE:g} s, sustained {SECONDS_:g} s, backlog {BACKLOG:g} s, catch-up timeout "
          f"{TIMEOUT:g} s (stall {STALL:g} s), sampling every {SAMPLE:g} s; methods {','.join(METHODS)}; "
          f"modes {','.join(MODES)}")
    sys.stdout.flush()


def fmt_s(x):
    return "?" if x is None else f"{x:.1f}"


def main():
    source, target = os.environ["BENCH_SOURCE_URL"], os.environ["DATABASE_URL"]
    (WORK / "logs").mkdir(parents=True, exist_ok=True)
    for log in (WORK / "logs").glob("*.log"):
        log.unlink()
    began = time.time()
    drop_leftovers(source, target)
    machine_and_versions(source, target)
    errors = []

    build_source(source)
    sizes = psql(source, "SELECT string_agg(relname || ' ' || n_live_tup || ' rows ' || "
                         "pg_size_pretty(pg_total_relation_size(relid)), ', ' ORDER BY pg_total_relation_size(relid) DESC) "
                         "FROM pg_stat_user_tables")
    print(f"\nsource:    {psql(source, 'SELECT pg_size_pretty(pg_database_size(current_database()))')}: {sizes}")

    deletion_share = MIX.get("deletion", 0) / sum(MIX.values())
    top_up_pool(source, 50)
    cal = calibrate(source, target)
    table("1. Calibration: the source alone, unthrottled", ["measure", "value"], [
        ("transactions/s (pgbench)", f"{cal['tps']:.0f}"),
        ("WAL MB/s", f"{mb(cal['wal_bytes_per_s']):.2f}"),
        ("WAL kB per transaction", f"{cal['wal_per_tx'] / 1000:.1f}"),
        ("cores busy (of 2)", f"{cal['cores']:.2f}"),
        ("failed transactions", cal["failed"]),
        *[(f"  {name}", f"{tps:.0f} tx/s ({share:g}%)") for name, _, share, tps in cal["scripts"]],
    ], [f"{CLIENTS} clients, durable commits: the rate is bounded by commit latency (fsync) and CPU"])
    rate = int(RATE) if RATE else max(1, int(cal["tps"] * RATE_SHARE))
    why = ("BENCH_RATE" if RATE else
           f"{RATE_SHARE:g} x the calibrated rate: both clusters, the load and the applier share this machine's cores")
    print(f"\nrate:      {rate} transactions/s from here on ({why})")

    results, sustained_result = [], None
    expected_wal = cal["wal_per_tx"] * rate
    for name in METHODS:
        applier = {"ours": Ours, "pgcopydb": Pgcopydb, "native": Native}[name](source, target)
        phase_s = len(MODES) * (BACKLOG + TIMEOUT / 2) + (SECONDS_ if name == "ours" else 0) + 30
        pool = top_up_pool(source, int(deletion_share * rate * phase_s * 1.2) + 20)
        progress(f"{TITLES[name]}: set-up (target emptied, pool of {pool} deletable users)")
        try:
            applier.setup()
            if name == "ours":
                sustained_result = sustained(applier, source, target, rate)
            for mode in MODES:
                previous = results[-1] if results and results[-1]["method"] == name else None
                if previous and not previous.get("drained"):
                    # The target is behind and the applier stuck: a second backlog measures nothing.
                    results.append({"method": name, "mode": mode, "outcome": "skipped (the previous did not finish)"})
                    continue
                results.append(catchup(applier, source, target, rate, mode))
            equal_source = psql(source, FINGERPRINT_SQL)
            equal_target = psql(target, FINGERPRINT_SQL, check=False)
            results[-1]["equal"] = equal_source == equal_target
            if equal_source != equal_target:
                results[-1]["difference"] = (equal_source, equal_target)
                # pgcopydb 0.10 with wal2json writes bytea values as text (hex digits without \x).
                results[-1]["bad_models"] = psql(target, f"SELECT count(*) FROM models WHERE length(data) <> {MODEL_BYTES}",
                                                 check=False)
                results[-1]["differing"] = differing_tables(source, target)
            results[-1]["pool_left"] = pool_size(source)
        except Failed as error:
            errors.append(f"{name}: {error}")
            progress(f"{name} FAILED: {error}")
        finally:
            applier.cleanup()

    if sustained_result:
        s = sustained_result
        lags = s["lags"]
        table(f"2. Sustained: {TITLES['ours']} at {rate} tx/s for {SECONDS_:g} s (every 10 s)",
              ["window", "write tx/s", "WAL MB/s", "applied tx/s", "applied MB/s", "lag p50", "lag max", "lag s p50",
               "lag s max"],
              s["rows"] or [("?",) * 9],
              [f"load achieved {s['tps']:.0f} tx/s of the {rate} asked ({s['failed']} failed), "
               f"WAL {mb(s.get('wal_bytes_per_s', 0)):.2f} MB/s; applied {mb(s.get('apply_bytes_per_s', 0)):.2f} MB/s; "
               f"cores busy {s['cores']:.2f} of 2",
               f"lag over the whole phase: p50 {fmt_lag_s([l[1] for l in lags], 0.5)} s, p99 "
               f"{fmt_lag_s([l[1] for l in lags], 0.99)} s, max {fmt_lag_s([l[1] for l in lags], 1.0)} s; "
               f"max {fmt_lag_bytes([l[0] for l in lags], 1.0)}",
               bounded_text(lags),
               *([] if s["alive"] else ["the follower EXITED during the phase: see target/bench-catchup/logs/ours.log"])])

    ours = {r["mode"]: r for r in results if r["method"] == "ours"}
    rows = []
    for r in results:
        if "seconds" not in r:
            rows.append((TITLES[r["method"]], r["mode"], "", "", "", r["outcome"], "", "", "", "", "", "", ""))
            continue
        t = r["seconds"]
        base = ours.get(r["mode"])
        ratio = (f"{t / base['seconds']:.2f}" if base and r["outcome"] == "caught up" == base.get("outcome") else "-")
        rows.append((TITLES[r["method"]], r["mode"], f"{r['load_tps']:.0f}", f"{mb(r['backlog_bytes']):.0f} MB",
                     f"{r['backlog_tx']:.0f}",
                     r["outcome"], fmt_s(t), f"{mb(r['applied_bytes']) / max(t, 1e-9):.2f}",
                     f"{r['applied_tx'] / max(t, 1e-9):.0f}", f"{r['cores']:.2f}",
                     " ".join(f"{r['cpu'][g]:.2f}" for g in ("source", "target", "applier", "pgbench")), ratio,
                     {True: "yes", False: "NO"}.get(r.get("equal"), "")))
    notes = [f"backlog: {BACKLOG:g} s of load at {rate} tx/s with the applier stopped (WAL bytes from the source's "
             f"position when the load started; transactions from pgbench); load tx/s: what pgbench achieved then",
             "continuing: the load goes on at the same rate; time until the lag (now minus when the source's WAL was at "
             "the applied position) is under 1 s. stopped: the load stops with the backlog; time until a marker change "
             "written after it is on the target",
             "applied MB/s, tx/s: WAL and transactions applied from the applier's start to its catch-up, per second "
             "(with the load continuing this includes what the load added meanwhile)",
             "cores: the machine's busy cores (of 2) during the catch-up; src dst appl load: cores used by the source "
             "cluster (walsender or decoding backend included), the target cluster (the native apply worker "
             "included), the applier's own processes (tweetgen-infra; pgcopydb's receive, transform and apply), "
             "pgbench",
             "ratio: time / ours' time in the same mode (> 1: ours is faster)",
             "native: the subscription's apply worker commits with synchronous_commit = off (CREATE SUBSCRIPTION's "
             "default); ours and pgcopydb commit with the target's setting (on)",
             "pgcopydb 0.10 applies whole WAL segment files (16 MB): the source's segment is switched after each "
             "marker (pg_switch_wal) so that it can apply the last one; with the load continuing its lag cannot fall "
             "below the time one segment takes to fill",
             "equal: after the last catch-up, both databases' row counts, sums and a hash of every model"]
    for r in results:
        if r["mode"] == "continuing" and r["outcome"] != "caught up":
            notes.append(f"{r['method']} (continuing): lowest lag {fmt_s(r.get('best_lag'))} s, lag at the end "
                         f"{fmt_s(r.get('end_lag'))} s")
        if r.get("difference"):
            notes.append(f"{r['method']}: source {r['difference'][0]}")
            notes.append(f"{' ' * len(r['method'])}  target {r['difference'][1]}")
            if r.get("differing"):
                notes.append(f"{r['method']}: differing: " + "; ".join(r["differing"]))
            if r.get("bad_models") not in (None, "0"):
                notes.append(f"{r['method']}: {r['bad_models']} models on the target are not {MODEL_BYTES} bytes long "
                             "(a bytea value applied wrongly)")
        if r.get("pool_left") == 0:
            notes.append(f"{r['method']}: the pool of deletable users ran out (later deletions deleted nothing)")
    table(f"3. Catch-up after a {BACKLOG:g} s backlog", ["applier", "load", "load tx/s", "backlog", "backlog tx",
                                                          "outcome", "time s",
                                                          "applied MB/s", "applied tx/s", "cores",
                                                          "src dst appl load", "ratio", "equal"],
          rows or [("?",) * 13], notes)

    s = sustained_result or {}
    write = s.get("wal_bytes_per_s") or expected_wal
    margins = []
    for mode in MODES:
        r = ours.get(mode)
        if r and r.get("outcome") == "caught up" and write:
            capacity = r["applied_bytes"] / max(r["seconds"], 1e-9)
            margins.append((f"apply rate in the catch-up, load {mode}", f"{mb(capacity):.2f} MB/s",
                            f"{capacity / write:.2f}x"))
    table("4. Margin of ours: apply capacity / write rate", ["capacity from", "apply", "margin"],
          margins or [("?", "?", "?")],
          [f"write rate: {mb(write):.2f} MB/s of WAL at {rate} tx/s (sustained phase); the source alone "
           f"reached {mb(cal['wal_bytes_per_s']):.2f} MB/s at {cal['tps']:.0f} tx/s",
           "with the load continuing the applier and the load share the 2 cores, as in the sustained phase; with it "
           "stopped the applier has the machine to itself"])
    (WORK / "results.json").write_text(json.dumps({"calibration": cal, "rate": rate, "sustained": sustained_result,
                                                   "catchup": results, "errors": errors}, indent=1, default=str))
    print(f"\nwall time: {time.time() - began:.0f} s; logs in {WORK / 'logs'}, numbers in {WORK / 'results.json'}")
    print(f"load avg:  {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1/5/15 min, at the end)")
    drop_leftovers(source, target)
    if errors:
        print("\nERRORS:\n" + "\n".join(errors))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
