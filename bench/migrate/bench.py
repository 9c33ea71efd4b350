#!/usr/bin/env python3
"""Migration benchmark: moving a database like the old service's from one PostgreSQL
cluster to another with `pg_dump | psql`, `pg_dump -Fd -j` + `pg_restore -j`,
`pgcopydb clone` and `tweetgen-infra migrate copy`, in one run on the same two clusters.

Run through `bench/migrate.sh`, which installs pgcopydb, builds the release CLI and the
PostgreSQL harness, and runs this script under two nested `tweetgen-pg run`s: the source
cluster (kept in target/bench-migrate/src-..., BENCH_SOURCE_URL) and the target cluster
(target/bench-migrate/dst, DATABASE_URL), both with the same server settings.

1. The dataset, generated server-side (INSERT ... SELECT generate_series, deterministic)
   when the kept source cluster does not hold this generator's dataset at this scale:
   `users`; `markov_transitions`, a row per Markov transition with text keys (~20M rows
   at scale 1); `models`, one 20-200 KB bytea blob per trained user that does not compress
   (zlib streams and JSON with a base64 payload); `generations`, the generated tweets.
   Foreign keys, a unique text index, two sequences. At scale 1 the database is ~4 GB.
2. A probe of this machine's disk (direct I/O write and read, fsync latency), and the
   source's files read once into the page cache, so that no method reads the source from
   disk when another does not.
3. For each method: the target database dropped and created, the machine settled (both
   clusters CHECKPOINTed, `sync`, BENCH_SETTLE seconds), the method timed while CPU (per
   process group, from /proc), CPU saturation and disk use are sampled; then every table's
   row count, the indexes, constraints and sequences are compared with the source (for ours
   also `tweetgen-infra migrate verify`, not timed), then its leftovers are removed.
4. Tables: the dataset, the disk, the results (wall time, MB/s of the source database,
   time_theirs / time_ours), where the CPU and disk went, and the tools' own summaries.

Standard library only. Timings are never asserted. Exits 1 only on a real error: a method
that fails, or a target that differs from the source; the other methods still run.
"""

import argparse
import concurrent.futures
import hashlib
import importlib.util
import json
import mmap
import os
import platform
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The engine benchmark's table and formatting helpers, shared rather than copied (no
# __pycache__ left in the source tree).
sys.dont_write_bytecode = True
_spec = importlib.util.spec_from_file_location("engine_bench", ROOT / "bench/engine/bench.py")
eb = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(eb)
table, fmt_ratio, progress, cpu_busy_seconds = eb.table, eb.fmt_ratio, eb.progress, eb.cpu_busy_seconds

WORK = Path("target/bench-migrate")  # relative to the repo root
OURS = Path("target/release/tweetgen-infra")
DATABASE = "oldservice"
METHODS = ("dump", "dump-restore", "pgcopydb", "ours-after-data", "ours-index-order", "ours")
TITLES = {"dump": "pg_dump | psql", "dump-restore": "pg_dump -Fd -jN + pg_restore -jN",
          "pgcopydb": "pgcopydb clone", "ours-after-data": "migrate copy --indexes after-data",
          "ours-index-order": "migrate copy --in-index-order markov",
          "ours": "tweetgen-infra migrate copy"}
SAMPLE_S = 0.5  # the sampler's period
SATURATED = 0.95  # a sample with at least this share of every core busy is CPU-saturated
DISK_BUSY = 0.90  # a sample with the disk busy at least this share of the time is disk-bound

# ------------------------------------------------------------------ the dataset
#
# Sizes scale with the number of users; per user everything is the same at every scale.
# Every value comes from hashes of the user's id (bench_gen.r), so a scale always gives the
# same database. Words are made of 64 syllables (2 Latin letters, or 1 hiragana: 3 bytes
# of UTF-8); word(i) is injective for i < 262144, which keeps (user, state, next word)
# unique by construction.

USERS_PER_SCALE = 12_000
TRANSITIONS_MAX = 5_550  # per trained user: 1 + 5550 * r^2, mean ~1,851 (x 10,800 users = ~20M)
GENERATOR_VERSION = 1

FUNCTIONS_SQL = r"""
DROP SCHEMA IF EXISTS bench_gen CASCADE;
CREATE SCHEMA bench_gen;
-- a uniform number in [0, 1) from (a, b)
CREATE FUNCTION bench_gen.r(a bigint, b bigint) RETURNS double precision LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT (hashint8extended(a, b) & 2147483647)::double precision / 2147483648.0 $$;
CREATE FUNCTION bench_gen.syl(s int, ja boolean) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN ja THEN chr(12353 + s)
             ELSE substr('bdfghjklmnprstvw', s / 4 + 1, 1) || substr('aeio', s % 4 + 1, 1) END $$;
CREATE FUNCTION bench_gen.word(i bigint, ja boolean) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT bench_gen.syl((i % 64)::int, ja)
          || CASE WHEN i >= 64 THEN bench_gen.syl(((i / 64) % 64)::int, ja) ELSE '' END
          || CASE WHEN i >= 4096 THEN bench_gen.syl(((i / 4096) % 64)::int, ja) ELSE '' END $$;
-- n bytes that no compressor shrinks: SHA-512 of a counter
CREATE FUNCTION bench_gen.random_bytes(seed bigint, n int) RETURNS bytea LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT substr(string_agg(sha512(int8send(seed * 1000000 + g)), ''::bytea ORDER BY g), 1, n)
      FROM generate_series(0, (n - 1) / 64) g $$;
CREATE FUNCTION bench_gen.trained(id bigint) RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT bench_gen.r(id, 6) >= 0.1 $$;
-- the vocabulary, looked up by index joins (keeps the insertion order: a user's rows together)
CREATE TABLE bench_gen.vocab (i bigint PRIMARY KEY, en text NOT NULL, ja text NOT NULL);
INSERT INTO bench_gen.vocab SELECT i, bench_gen.word(i, false), bench_gen.word(i, true)
FROM generate_series(0, 262143) i;
ANALYZE bench_gen.vocab;
"""

# Tables without their indexes and constraints (added after the rows, as a restore does).
SCHEMA_SQL = {
    "serial": """
CREATE TABLE users (
    id bigint NOT NULL,
    screen_name text NOT NULL,
    display_name text NOT NULL,
    lang text NOT NULL,
    protected boolean NOT NULL DEFAULT false,
    tweet_count integer NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE markov_transitions (
    id bigserial NOT NULL,
    user_id bigint NOT NULL,
    state text NOT NULL,
    next_word text NOT NULL,
    count integer NOT NULL
);
CREATE TABLE models (
    user_id bigint NOT NULL,
    format text NOT NULL,
    data bytea NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE TABLE generations (
    id bigserial NOT NULL,
    user_id bigint NOT NULL,
    text text NOT NULL,
    created_at timestamptz NOT NULL
);
""",
}
SCHEMA_SQL["natural"] = SCHEMA_SQL["serial"].replace("    id bigserial NOT NULL,\n    user_id bigint NOT NULL,\n    state",
                                                     "    user_id bigint NOT NULL,\n    state")

USERS_SQL = """
INSERT INTO users
SELECT 1000000000 + i * 1009 + (i * 7) % 1000,
       bench_gen.word((i * 40503) % 262144, i % 2 = 0) || '_' || i,
       initcap(bench_gen.word((i * 69069 + 7) % 262144, false)) || ' '
           || bench_gen.word((i * 1103515245 + 3) % 4096, i % 2 = 0),
       CASE WHEN i % 2 = 0 THEN 'ja' ELSE 'en' END,
       bench_gen.r(i, 1) < 0.05,
       (200 + 3000 * bench_gen.r(i, 2))::int,
       timestamptz '2012-01-01 00:00+00' + (bench_gen.r(i, 3) * 3000) * interval '1 day',
       timestamptz '2021-01-01 00:00+00' + (bench_gen.r(i, 4) * 700) * interval '1 day'
FROM generate_series(0::bigint, {users} - 1) i;
"""

# Per trained user: states k/3, up to 3 next words each. Nested loops over the vocabulary's
# primary key keep the scan's order (users by id, then k): a user's rows are inserted together,
# as the old service's training did. The first word of a state is a
# bijection of the state number, the next word differs within a state: no duplicate keys.
TRANSITIONS_SQL = """
SET enable_hashjoin = off;
SET enable_mergejoin = off;
INSERT INTO markov_transitions (user_id, state, next_word, count)
SELECT t.user_id,
       CASE WHEN t.ja THEN a.ja || b.ja ELSE a.en || ' ' || b.en END,
       CASE WHEN t.ja THEN c.ja ELSE c.en END,
       t.count
FROM (SELECT u.id AS user_id, u.lang = 'ja' AS ja,
             ((k / 3) * 40503 + u.id) % 262144 AS ia,
             (262144 * bench_gen.r(u.id, k / 3) ^ 3)::bigint % 262144 AS ib,
             ((262144 * bench_gen.r(u.id, -1 - k / 3) ^ 4)::bigint + (k % 3) * 7919) % 262144 AS ic,
             1 + (20 * bench_gen.r(u.id, -1000000 - k) ^ 6)::int AS count
      FROM users u CROSS JOIN LATERAL generate_series(0, ({transitions_max} * bench_gen.r(u.id, 5) ^ 2)::int) k
      WHERE bench_gen.trained(u.id) AND u.id BETWEEN {lo} AND {hi}) t
JOIN bench_gen.vocab a ON a.i = t.ia
JOIN bench_gen.vocab b ON b.i = t.ib
JOIN bench_gen.vocab c ON c.i = t.ic;
"""

# 20-200 KB, log-uniform; 70% a zlib stream (the model's JSON, deflated), 30% JSON with the
# deflated chain in base64: neither compresses (pglz keeps them as they are).
MODELS_SQL = """
INSERT INTO models
SELECT u.id,
       CASE WHEN bench_gen.r(u.id, 7) < 0.7 THEN 'json+zlib' ELSE 'json' END,
       CASE WHEN bench_gen.r(u.id, 7) < 0.7
            THEN '\\x789c'::bytea || bench_gen.random_bytes(u.id, (20480 * 10 ^ bench_gen.r(u.id, 8))::int - 2)
            ELSE convert_to('{{"state_size": 2, "format": "markovify-0.9", "chain_zlib_b64": "'
                 || translate(encode(bench_gen.random_bytes(u.id, ((20480 * 10 ^ bench_gen.r(u.id, 8))::int - 100) * 3 / 4),
                                     'base64'), E'\\n', '')
                 || '", "parsed_sentences": null}}', 'UTF8') END,
       u.updated_at
FROM users u
WHERE bench_gen.trained(u.id) AND u.id BETWEEN {lo} AND {hi};
"""

GENERATIONS_SQL = """
SET enable_hashjoin = off;
SET enable_mergejoin = off;
INSERT INTO generations (user_id, text, created_at)
SELECT t.user_id,
       left(CASE WHEN t.ja THEN a.ja || b.ja || c.ja || d.ja || e.ja || f.ja || a.ja || c.ja
                 ELSE concat_ws(' ', initcap(a.en), b.en, c.en, d.en, e.en, f.en, b.en, d.en, c.en) END, t.len),
       t.created_at
FROM (SELECT u.id AS user_id, u.lang = 'ja' AS ja, 12 + (50 * bench_gen.r(u.id * 1000 + g, 0))::int AS len,
             u.updated_at + (bench_gen.r(u.id, -g) * 300) * interval '1 day' AS created_at,
             (262144 * bench_gen.r(u.id * 1000 + g, 1) ^ 3)::bigint AS ia,
             (262144 * bench_gen.r(u.id * 1000 + g, 2) ^ 3)::bigint AS ib,
             (262144 * bench_gen.r(u.id * 1000 + g, 3) ^ 3)::bigint AS ic,
             (262144 * bench_gen.r(u.id * 1000 + g, 4) ^ 3)::bigint AS id,
             (262144 * bench_gen.r(u.id * 1000 + g, 5) ^ 3)::bigint AS ie,
             (262144 * bench_gen.r(u.id * 1000 + g, 6) ^ 3)::bigint AS if_
      FROM users u CROSS JOIN LATERAL generate_series(1, (200 * bench_gen.r(u.id, 9) ^ 2)::int) g
      WHERE bench_gen.trained(u.id) AND u.id BETWEEN {lo} AND {hi}) t
JOIN bench_gen.vocab a ON a.i = t.ia JOIN bench_gen.vocab b ON b.i = t.ib JOIN bench_gen.vocab c ON c.i = t.ic
JOIN bench_gen.vocab d ON d.i = t.id JOIN bench_gen.vocab e ON e.i = t.ie JOIN bench_gen.vocab f ON f.i = t.if_;
"""

# Built in parallel (largest first), then the foreign keys.
INDEX_SQL = {
    "serial": [
        "ALTER TABLE markov_transitions ADD CONSTRAINT markov_transitions_user_id_state_next_word_key "
        "UNIQUE (user_id, state, next_word)",
        "ALTER TABLE markov_transitions ADD CONSTRAINT markov_transitions_pkey PRIMARY KEY (id)",
        "ALTER TABLE generations ADD CONSTRAINT generations_pkey PRIMARY KEY (id)",
        "CREATE INDEX generations_user_id_created_at_idx ON generations (user_id, created_at)",
        "ALTER TABLE models ADD CONSTRAINT models_pkey PRIMARY KEY (user_id)",
        "ALTER TABLE users ADD CONSTRAINT users_pkey PRIMARY KEY (id)",
        "ALTER TABLE users ADD CONSTRAINT users_screen_name_key UNIQUE (screen_name)",
    ],
    "natural": [
        "ALTER TABLE markov_transitions ADD CONSTRAINT markov_transitions_pkey PRIMARY KEY (user_id, state, next_word)",
        "ALTER TABLE generations ADD CONSTRAINT generations_pkey PRIMARY KEY (id)",
        "CREATE INDEX generations_user_id_created_at_idx ON generations (user_id, created_at)",
        "ALTER TABLE models ADD CONSTRAINT models_pkey PRIMARY KEY (user_id)",
        "ALTER TABLE users ADD CONSTRAINT users_pkey PRIMARY KEY (id)",
        "ALTER TABLE users ADD CONSTRAINT users_screen_name_key UNIQUE (screen_name)",
    ],
}
FOREIGN_KEYS_SQL = """
ALTER TABLE markov_transitions ADD CONSTRAINT markov_transitions_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE models ADD CONSTRAINT models_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE generations ADD CONSTRAINT generations_user_id_fkey
    FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
"""
SESSION_SQL = "SET maintenance_work_mem = '1GB'; SET max_parallel_maintenance_workers = 0; SET work_mem = '256MB';\n"


def dataset_signature(scale, key):
    """What the generated database depends on: this generator's SQL, the scale, the key."""
    text = "\n".join([FUNCTIONS_SQL, SCHEMA_SQL[key], USERS_SQL, TRANSITIONS_SQL, MODELS_SQL, GENERATIONS_SQL,
                      *INDEX_SQL[key], FOREIGN_KEYS_SQL, str(USERS_PER_SCALE), str(TRANSITIONS_MAX)])
    return {"version": GENERATOR_VERSION, "scale": scale, "markov_key": key,
            "sql": hashlib.sha256(text.encode()).hexdigest()[:16]}


# ------------------------------------------------------------------ PostgreSQL


def pg_bin_dir():
    if os.environ.get("PG_BIN_DIR"):
        return Path(os.environ["PG_BIN_DIR"])
    found = sorted((int(p.name), p / "bin") for p in Path("/usr/lib/postgresql").iterdir()
                   if p.name.isdigit() and (p / "bin/postgres").exists())
    if not found:
        sys.exit("no PostgreSQL under /usr/lib/postgresql/*/bin")
    return found[-1][1]


BIN = pg_bin_dir()


def with_database(url, name):
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def psql(url, sql, check=True):
    """Runs SQL with psql; returns the unaligned, tuples-only output ('|' between columns)."""
    done = subprocess.run([str(BIN / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                          capture_output=True, text=True)
    if done.returncode != 0:
        if check:
            sys.exit(f"psql failed: {done.stderr.strip()}\n  {sql[:500]}")
        return None
    return done.stdout.strip()


def psql_script(url, script):
    """Runs a script (several statements) in one psql session, stopping at the first error."""
    done = subprocess.run([str(BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url],
                          input=script, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"psql failed: {done.stderr.strip()}\n{script[:800]}")


def rows(url, sql):
    out = psql(url, sql)
    return [line.split("|") for line in out.splitlines()] if out else []


class Cluster:
    """One of the two clusters: its URL (the benchmark's database), its postmaster, its CPU."""

    def __init__(self, label, url, pg_dir):
        self.label, self.url, self.pg_dir = label, url, Path(pg_dir)
        self.admin = with_database(url, "postgres")

    def postmaster_pid(self):
        try:
            return int((self.pg_dir / "data" / "postmaster.pid").read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return None

    def snapshot(self, procs):
        """Own CPU of the postmaster and its children, and the postmaster's reaped children's."""
        postmaster = self.postmaster_pid()
        own, reaped = {}, 0.0
        for pid, (ppid, cpu, children_cpu) in procs.items():
            if pid == postmaster or ppid == postmaster:
                own[pid] = cpu
                if pid == postmaster:
                    reaped = children_cpu
        return {"own": own, "reaped": reaped}


def cluster_cpu_between(a, b):
    """CPU seconds a cluster used between two snapshots. A backend that ended in between is in
    the postmaster's reaped total with its whole life: its part before `a` comes off."""
    used = sum(cpu - a["own"].get(pid, 0.0) for pid, cpu in b["own"].items())
    used += b["reaped"] - a["reaped"]
    used -= sum(cpu for pid, cpu in a["own"].items() if pid not in b["own"])
    return used


# ------------------------------------------------------------------ /proc


TICK = os.sysconf("SC_CLK_TCK")


def all_processes():
    """pid -> (ppid, own CPU seconds, waited-for children's CPU seconds)."""
    procs = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        procs[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK,
                                  (int(fields[13]) + int(fields[14])) / TICK)
    return procs


def cpu_times():
    """(busy, iowait, all) seconds of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    busy = user + nice + system + irq + softirq + steal
    return busy / TICK, iowait / TICK, (busy + idle + iowait) / TICK


class Disk:
    """The block device holding the benchmark's clusters: /sys/dev/block/MAJ:MIN/stat."""

    def __init__(self, path):
        st = os.stat(path)
        self.stat_file = Path(f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}/stat")
        self.name = "?"
        if self.stat_file.exists():
            uevent = self.stat_file.parent / "uevent"
            names = [l.split("=", 1)[1] for l in uevent.read_text().splitlines() if l.startswith("DEVNAME=")]
            self.name = names[0] if names else self.stat_file.parent.resolve().name

    @property
    def available(self):
        return self.stat_file.exists()

    def read(self):
        """(bytes read, bytes written, busy seconds), or None."""
        if not self.available:
            return None
        f = [int(x) for x in self.stat_file.read_text().split()]
        return f[2] * 512, f[6] * 512, f[9] / 1000


def descendants_of(root, procs):
    """The pids whose parent chain reaches `root`."""
    children = {}
    for pid, (ppid, _, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    found, stack = set(), [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


class Sampler(threading.Thread):
    """Every SAMPLE_S: the machine's busy and iowait share, the disk's busy share, and how
    many processes of each group (source cluster, target cluster, the method's client
    processes) were using at least half a core."""

    def __init__(self, clusters, disk):
        super().__init__(daemon=True)
        self.clusters, self.disk = clusters, disk
        self.samples = []
        self.stopping = threading.Event()

    def groups(self, procs):
        me = os.getpid()
        clients = descendants_of(me, procs)
        groups = {}
        for cluster in self.clusters:
            postmaster = cluster.postmaster_pid()
            for pid, (ppid, _, _) in procs.items():
                if pid == postmaster or ppid == postmaster:
                    groups[pid] = cluster.label
        for pid in clients:
            groups.setdefault(pid, "clients")
        return groups

    def run(self):
        before_cpu, before_disk, before = cpu_times(), self.disk.read(), all_processes()
        started = before_t = time.perf_counter()
        while not self.stopping.wait(SAMPLE_S):
            cpu, disk, procs, now = cpu_times(), self.disk.read(), all_processes(), time.perf_counter()
            dt = now - before_t
            groups = self.groups(procs)
            busy_procs, cores = {}, {}
            for pid, (_, used, _) in procs.items():
                group = groups.get(pid)
                if group is None:
                    continue
                # A process born in this interval: all its CPU is from it (one that ended is lost).
                delta = used - before[pid][1] if pid in before else used
                cores[group] = cores.get(group, 0.0) + delta / dt
                if delta / dt >= 0.5:
                    busy_procs[group] = busy_procs.get(group, 0) + 1
            total = cpu[2] - before_cpu[2]
            sample = {"at": now - started, "t": dt, "busy": (cpu[0] - before_cpu[0]) / total if total else 0.0,
                      "iowait": (cpu[1] - before_cpu[1]) / total if total else 0.0, "procs": busy_procs,
                      "cores": cores}
            if disk and before_disk:
                sample["disk"] = min(1.0, (disk[2] - before_disk[2]) / dt)
            self.samples.append(sample)
            before_cpu, before_disk, before, before_t = cpu, disk, procs, now

    def stop(self):
        self.stopping.set()
        self.join()
        return self.samples


class Meter:
    """CPU seconds per group between start() and stop() (the clusters' from their
    postmasters, the clients' from this process's waited-for children), the machine's,
    the disk's counters, and the sampler's series."""

    def __init__(self, source, target, disk):
        self.source, self.target, self.disk = source, target, disk

    def _snapshot(self):
        procs = all_processes()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        own = resource.getrusage(resource.RUSAGE_SELF)
        busy, iowait, total = cpu_times()
        return {"procs_source": self.source.snapshot(procs), "procs_target": self.target.snapshot(procs),
                "children": children.ru_utime + children.ru_stime, "self": own.ru_utime + own.ru_stime,
                "busy": busy, "iowait": iowait, "total": total, "disk": self.disk.read(),
                "wall": time.perf_counter()}

    def start(self):
        self.sampler = Sampler([self.source, self.target], self.disk)
        self.before = self._snapshot()
        self.sampler.start()
        return self

    def stop(self):
        samples = self.sampler.stop()
        a, b = self.before, self._snapshot()
        wall = b["wall"] - a["wall"]
        used = {"source": cluster_cpu_between(a["procs_source"], b["procs_source"]),
                "target": cluster_cpu_between(a["procs_target"], b["procs_target"]),
                "clients": b["children"] - a["children"], "self": b["self"] - a["self"]}
        busy = b["busy"] - a["busy"]
        used["other"] = max(0.0, busy - sum(used.values()))
        cores = os.cpu_count()
        result = {"wall": wall, "cores": {k: v / wall for k, v in used.items()},
                  "busy": busy / wall, "iowait": (b["iowait"] - a["iowait"]) / wall,
                  "saturated": share(samples, lambda s: s["busy"] >= SATURATED),
                  "samples": len(samples)}
        for group in ("source", "target", "clients"):
            result[f"busy_procs_{group}"] = (sum(s["procs"].get(group, 0) for s in samples) / len(samples)
                                             if samples else 0.0)
            result[f"max_procs_{group}"] = max((s["procs"].get(group, 0) for s in samples), default=0)
        if a["disk"] and b["disk"]:
            result.update(disk_read=b["disk"][0] - a["disk"][0], disk_written=b["disk"][1] - a["disk"][1],
                          disk_busy=(b["disk"][2] - a["disk"][2]) / wall,
                          disk_bound=share([s for s in samples if "disk" in s], lambda s: s["disk"] >= DISK_BUSY))
        result["cpu_seconds"] = used
        result["cores_total"] = cores
        result["series"] = samples
        return result


def share(samples, predicate):
    return sum(1 for s in samples if predicate(s)) / len(samples) if samples else 0.0


# ------------------------------------------------------------------ the disk


def disk_probe(directory, megabytes):
    """Direct-I/O sequential write and read of `megabytes` (incompressible), and the latency
    of 8 kB write + fdatasync, in `directory` (the clusters' file system)."""
    path = directory / "disk-probe.bin"
    chunk = 8 << 20
    buffer = mmap.mmap(-1, chunk)  # page-aligned, as O_DIRECT wants
    buffer.write(os.urandom(chunk))
    count = max(1, megabytes * (1 << 20) // chunk)
    result = {"megabytes": count * chunk >> 20}
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o600)
        try:
            started = time.perf_counter()
            for _ in range(count):
                os.write(fd, buffer)
            os.fsync(fd)
            result["write_mb_s"] = count * chunk / 1e6 / (time.perf_counter() - started)
        finally:
            os.close(fd)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
        try:
            started = time.perf_counter()
            while os.readv(fd, [buffer]) > 0:
                pass
            result["read_mb_s"] = count * chunk / 1e6 / (time.perf_counter() - started)
        finally:
            os.close(fd)
        small = mmap.mmap(-1, 8192)
        small.write(os.urandom(8192))
        fd = os.open(path, os.O_WRONLY | os.O_DIRECT)
        try:
            times = []
            for i in range(200):
                os.pwrite(fd, small, i * 8192)
                started = time.perf_counter()
                os.fdatasync(fd)
                times.append(time.perf_counter() - started)
            times.sort()
            result["fsync_ms_median"] = times[len(times) // 2] * 1e3
            result["fsync_ms_p99"] = times[int(len(times) * 0.99) - 1] * 1e3
        finally:
            os.close(fd)
    except OSError as error:
        result["error"] = str(error)
    finally:
        path.unlink(missing_ok=True)
    return result


# ------------------------------------------------------------------ generation


def source_tables(url):
    return [r[0] for r in rows(url, "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                    "WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY 1")]


def generate(source, scale, key, jobs):
    """Makes the source database hold the dataset (a few minutes at scale 1 on 2 cores)."""
    users = max(50, round(USERS_PER_SCALE * scale))
    url = source.url
    psql(source.admin, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    psql(source.admin, f"CREATE DATABASE {DATABASE}")
    steps = []

    def step(label, started):
        steps.append((label, time.perf_counter() - started))
        progress(f"  {label}: {steps[-1][1]:.1f} s")

    started = time.perf_counter()
    psql_script(url, FUNCTIONS_SQL + SCHEMA_SQL[key] + USERS_SQL.format(users=users))
    step(f"vocabulary, schema, {users:,} users", started)

    # Contiguous user ranges with about the same number of transitions for each job.
    counts = rows(url, f"SELECT id, 1 + ({TRANSITIONS_MAX} * bench_gen.r(id, 5) ^ 2)::int FROM users "
                       f"WHERE bench_gen.trained(id) ORDER BY id")
    total = sum(int(n) for _, n in counts)
    bounds, running, lo = [], 0, int(counts[0][0])
    for i, (uid, n) in enumerate(counts):
        running += int(n)
        if running >= total * (len(bounds) + 1) / jobs or i == len(counts) - 1:
            bounds.append((lo, int(uid)))
            if i + 1 < len(counts):
                lo = int(counts[i + 1][0])
    progress(f"  {len(counts):,} trained users, {total:,} transitions, in {len(bounds)} parallel sessions")
    started = time.perf_counter()
    scripts = [SESSION_SQL + TRANSITIONS_SQL.format(transitions_max=TRANSITIONS_MAX, lo=a, hi=b)
               + MODELS_SQL.format(lo=a, hi=b) + GENERATIONS_SQL.format(lo=a, hi=b) for a, b in bounds]
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        for future in [pool.submit(psql_script, url, s) for s in scripts]:
            future.result()
    step("rows (transitions, models, generations)", started)

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
        for future in [pool.submit(psql_script, url, SESSION_SQL + s + ";") for s in INDEX_SQL[key]]:
            future.result()
    psql_script(url, SESSION_SQL + FOREIGN_KEYS_SQL + "DROP SCHEMA bench_gen CASCADE;")
    step("indexes, constraints, foreign keys", started)
    started = time.perf_counter()
    psql_script(url, SESSION_SQL + "VACUUM (FREEZE, ANALYZE);\nCHECKPOINT;")
    step("VACUUM (FREEZE, ANALYZE), CHECKPOINT", started)
    return steps


def warm_source(source):
    """Reads the source database's files once, so that every method finds them in memory."""
    oid = psql(source.url, "SELECT oid FROM pg_database WHERE datname = current_database()")
    directory = source.pg_dir / "data" / "base" / oid
    total = 0
    for entry in os.scandir(directory):
        if entry.is_file():
            with open(entry.path, "rb", buffering=0) as f:
                while chunk := f.read(4 << 20):
                    total += len(chunk)
    return total


# ------------------------------------------------------------------ checks


def catalog(url):
    """What a migration must reproduce: rows per table, indexes, constraints, sequences."""
    tables = source_tables(url)
    counts = {t: int(psql(url, f'SELECT count(*) FROM public."{t}"')) for t in tables}
    indexes = sorted(r[0] for r in rows(url, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"))
    constraints = sorted(f"{r[0]} {r[1]}" for r in rows(
        url, "SELECT conname, contype FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
             "WHERE n.nspname = 'public'"))
    sequences = {r[0]: int(r[1] or 0) for r in rows(
        url, "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = 'public'")}
    return {"counts": counts, "indexes": indexes, "constraints": constraints, "sequences": sequences}


def compare(expected, found):
    """Differences that make a migration wrong (errors) and ones worth a note."""
    errors, notes = [], []
    for t, n in expected["counts"].items():
        got = found["counts"].get(t)
        if got != n:
            errors.append(f"{t}: {n:,} rows on the source, {'no table' if got is None else f'{got:,}'} on the target")
    extra = sorted(set(found["counts"]) - set(expected["counts"]))
    if extra:
        notes.append(f"extra tables on the target: {', '.join(extra)}")
    for kind in ("indexes", "constraints"):
        missing = sorted(set(expected[kind]) - set(found[kind]))
        if missing:
            errors.append(f"{kind} missing on the target: {', '.join(missing)}")
    for name, value in expected["sequences"].items():
        got = found["sequences"].get(name)
        if got is None:
            errors.append(f"sequence {name} missing on the target")
        elif got < value:
            errors.append(f"sequence {name} at {got:,} on the target, {value:,} on the source")
        elif got != value:
            notes.append(f"sequence {name} at {got:,} on the target, {value:,} on the source")
    return errors, notes


# ------------------------------------------------------------------ methods


class MethodFailed(Exception):
    pass


def run_logged(cmd, log, env, label):
    """Runs a command with its stdout and stderr appended to `log`; raises MethodFailed."""
    with open(log, "a") as out:
        out.write(f"$ {' '.join(map(str, cmd))}\n")
        out.flush()
        started = time.perf_counter()
        done = subprocess.run([str(c) for c in cmd], stdout=out, stderr=subprocess.STDOUT, env=env,
                              stdin=subprocess.DEVNULL)
        out.write(f"[{label}: exit {done.returncode} after {time.perf_counter() - started:.1f} s]\n")
    if done.returncode != 0:
        raise MethodFailed(f"{label} exited with {done.returncode}; the end of {log}:\n"
                           + "\n".join(log.read_text().splitlines()[-25:]))
    return time.perf_counter() - started


def method_dump(ctx):
    """pg_dump (plain SQL) | psql: one stream, one session on each side."""
    log = ctx.log("dump")
    dump = [str(BIN / "pg_dump"), "--no-owner", "--no-acl", "-d", ctx.source.url]
    restore = [str(BIN / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-o", "/dev/null", "-d", ctx.target.url]
    with open(log, "a") as out:
        out.write(f"$ {' '.join(dump)} | {' '.join(restore)}\n")
        out.flush()
        producer = subprocess.Popen(dump, stdout=subprocess.PIPE, stderr=out, env=ctx.env, stdin=subprocess.DEVNULL)
        consumer = subprocess.Popen(restore, stdin=producer.stdout, stdout=out, stderr=out, env=ctx.env)
        producer.stdout.close()
        consumer.wait()
        if consumer.returncode != 0:
            producer.send_signal(signal.SIGTERM)
        producer.wait()
        out.write(f"[pg_dump exit {producer.returncode}, psql exit {consumer.returncode}]\n")
    if producer.returncode != 0 or consumer.returncode != 0:
        raise MethodFailed(f"pg_dump exited with {producer.returncode}, psql with {consumer.returncode}; the end of "
                           f"{log}:\n" + "\n".join(log.read_text().splitlines()[-25:]))
    return {}


def method_dump_restore(ctx):
    """pg_dump -Fd -jN into a directory, then pg_restore -jN from it."""
    log, directory = ctx.log("dump-restore"), ctx.work / "dump"
    shutil.rmtree(directory, ignore_errors=True)
    dump_s = run_logged([BIN / "pg_dump", "-Fd", f"-j{ctx.jobs}", "--no-owner", "--no-acl", "-f", directory,
                         "-d", ctx.source.url], log, ctx.env, "pg_dump -Fd")
    dump_bytes = sum(f.stat().st_size for f in directory.iterdir())
    restore_s = run_logged([BIN / "pg_restore", f"-j{ctx.jobs}", "--no-owner", "--no-acl", "-d", ctx.target.url,
                            directory], log, ctx.env, "pg_restore")
    return {"parts": f"dump {dump_s:.1f} s ({dump_bytes / 1e6:,.0f} MB on disk, default compression) + "
                     f"restore {restore_s:.1f} s"}


def method_pgcopydb(ctx):
    """pgcopydb clone: its table jobs, index jobs and same-table split; no --follow."""
    log, directory = ctx.log("pgcopydb"), ctx.work / "pgcopydb"
    shutil.rmtree(directory, ignore_errors=True)
    run_logged(["pgcopydb", "clone", "--source", ctx.source.url, "--target", ctx.target.url, "--dir", directory,
                "--table-jobs", ctx.jobs, "--index-jobs", ctx.jobs, "--split-tables-larger-than", ctx.split,
                "--no-owner", "--no-acl"], log, ctx.env, "pgcopydb clone")
    text = log.read_text()
    splits = re.findall(r'Table "public"\."(\w+)" is ([\d.]+ \w+) large, (\d+) COPY processes', text)
    unsplit = re.findall(r'Table "public"\."(\w+)" is ([\d.]+ \w+) large, which is larger than', text)
    # Its summary tables go to stdout at the end (the log lines, timestamped, to stderr).
    start = text.find("  OID |")
    summary = "\n".join(l.rstrip() for l in text[start:].splitlines()
                        if l.strip() and not re.match(r"^(\d\d:\d\d:\d\d |\[|\$ )", l)) if start >= 0 else ""
    return {"splits": [f"{t} ({size}) in {n} parts" for t, size, n in splits]
                      + [f"{t} ({size}) NOT split: no single-column integer unique key" for t, size in unsplit],
            "summary": summary}


def method_ours(ctx, *extra, name="ours"):
    """tweetgen-infra migrate copy (the slot, the snapshot, the rows, post-data, sequences, ANALYZE); its default
    overlaps each table's index builds with the other tables' copies. Logs to the method `name`'s log."""
    log, directory = ctx.log(name), ctx.work / "ours"
    shutil.rmtree(directory, ignore_errors=True)
    cmd = [OURS, "migrate", "copy", "--source", ctx.source.url, "--target", ctx.target.url, "--work-dir", directory,
           "--jobs", ctx.jobs, "--split-tables-larger-than", ctx.split, "--no-owner", "--no-acl", *extra]
    with open(log, "a") as out:
        out.write(f"$ {' '.join(map(str, cmd))}\n")
        out.flush()
        done = subprocess.run([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=out, env=ctx.env, text=True,
                              stdin=subprocess.DEVNULL)
        out.write(done.stdout + f"[exit {done.returncode}]\n")
    if done.returncode != 0:
        raise MethodFailed(f"tweetgen-infra migrate copy exited with {done.returncode}; the end of {log}:\n"
                           + "\n".join(log.read_text().splitlines()[-25:]))
    parts = {}
    for table_name, total in re.findall(r"copied public\.(\w+) part \d+/(\d+)", log.read_text()):
        parts[table_name] = int(total)
    return {"summary": done.stdout.rstrip(), "splits": [f"{t} in {n} parts" for t, n in sorted(parts.items())
                                                         if n > 1]}


def ours_step(ctx, method, step, *extra):
    """`tweetgen-infra migrate STEP` on the method's work directory, logged to its log; (seconds, process)."""
    cmd = [str(OURS), "migrate", step, "--source", ctx.source.url, "--target", ctx.target.url,
           "--work-dir", str(ctx.work / "ours"), *map(str, extra)]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=ctx.env, stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - started
    with open(ctx.log(method), "a") as out:
        out.write(f"$ {' '.join(cmd)}\n{done.stdout}{done.stderr}[exit {done.returncode} after {seconds:.1f} s]\n")
    return seconds, done


RUNNERS = {"dump": method_dump, "dump-restore": method_dump_restore, "pgcopydb": method_pgcopydb,
           "ours-after-data": lambda ctx: method_ours(ctx, "--indexes", "after-data", name="ours-after-data"),
           # The largest table in its unique text key's order: the target's build of that index checks sorted
           # rows instead of sorting them.
           "ours-index-order": lambda ctx: method_ours(ctx, "--in-index-order", "public.markov_transitions",
                                                       name="ours-index-order"),
           "ours": method_ours}


class Context:
    """What every method gets: both clusters, the settings, where to write, the disk to watch."""

    def __init__(self, source, target, jobs, split, work, logs, disk):
        self.source, self.target, self.jobs, self.split = source, target, jobs, split
        self.work, self.logs, self.disk = work, logs, disk
        self.env = dict(os.environ, PATH=f"{BIN}:{os.environ.get('PATH', '')}")
        self.env.pop("DATABASE_URL", None)

    def log(self, method):
        return self.logs / f"{method}.log"


def leftovers_on_source(source):
    """Replication slots and publications a killed run may have left on the kept source."""
    removed = []
    for (slot,) in rows(source.admin, "SELECT slot_name FROM pg_replication_slots WHERE NOT active"):
        psql(source.admin, f"SELECT pg_drop_replication_slot('{slot}')")
        removed.append(f"slot {slot}")
    for (publication,) in rows(source.url, "SELECT pubname FROM pg_publication"):
        psql(source.url, f'DROP PUBLICATION "{publication}"')
        removed.append(f"publication {publication}")
    return removed


def settle(ctx, seconds):
    """CHECKPOINT both clusters, sync, wait for dirty pages to drain, then rest."""
    started = time.perf_counter()
    for cluster in (ctx.source, ctx.target):
        psql(cluster.admin, "CHECKPOINT")
    subprocess.run(["sync"], check=False)
    deadline = time.monotonic() + 60
    while dirty_kb() > 64 * 1024 and time.monotonic() < deadline:
        time.sleep(0.5)
    flushed = time.perf_counter() - started
    time.sleep(seconds)
    return flushed


class Profiler:
    """`perf record` of the whole machine (199 Hz, no call graphs) while a method runs; stop() gives the
    functions that took the most samples, by process name."""

    TOP = 25

    def __init__(self, path):
        self.path = path
        self.process = subprocess.Popen(["perf", "record", "-a", "-F", "199", "-o", str(path)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=60)
        report = subprocess.run(["perf", "report", "-i", str(self.path), "--sort", "comm,dso,sym", "--stdio"],
                                capture_output=True, text=True, check=False).stdout
        self.path.unlink(missing_ok=True)
        lines = [line for line in report.splitlines() if line.strip() and not line.startswith("#")]
        return lines[:self.TOP]


def dirty_kb():
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Dirty:"):
            return int(line.split()[1])
    return 0


def run_method(ctx, method, expected, settle_s):
    progress(f"{TITLES[method]}: emptying the target, settling")
    psql(ctx.target.admin, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    psql(ctx.target.admin, f"CREATE DATABASE {DATABASE}")
    ctx.log(method).unlink(missing_ok=True)
    flushed = settle(ctx, settle_s)
    load = os.getloadavg()[0]
    progress(f"{TITLES[method]}: running (log {ctx.log(method)})")
    meter = Meter(ctx.source, ctx.target, ctx.disk).start()
    profiler = Profiler(ctx.work / f"perf-{method}.data") if os.environ.get("BENCH_PERF") == "1" else None
    error = None
    try:
        info = RUNNERS[method](ctx)
    except MethodFailed as failure:
        info, error = {}, str(failure)
    usage = meter.stop()
    if profiler:
        info["profile"] = profiler.stop()
    result = {"method": method, "wall": usage["wall"], "usage": usage, "load_before": load,
              "settle_flush_s": flushed, "errors": [], "notes": []}
    result.update(info)
    if error:
        result["errors"].append(error)
        progress(f"{TITLES[method]}: FAILED\n{error}")
    else:
        progress(f"{TITLES[method]}: {usage['wall']:.1f} s; checking the target")
    after = time.perf_counter()
    subprocess.run(["sync"], check=False)
    result["sync_after_s"] = time.perf_counter() - after
    if method.startswith("ours"):
        if not error:
            # The comparison at a consistent point, every row hashed: not part of the copy's time.
            result["verify_s"], verify = ours_step(ctx, method, "verify", "--jobs", ctx.jobs)
            result["verify"] = verify.stdout.rstrip()
            if verify.returncode != 0:
                result["errors"].append(f"migrate verify exited with {verify.returncode}:\n{verify.stdout}"
                                        f"{verify.stderr}")
        _, clean = ours_step(ctx, method, "clean")
        result["clean"] = clean.stdout.rstrip()
        if clean.returncode != 0:
            result["errors"].append(f"migrate clean exited with {clean.returncode}:\n{clean.stdout}{clean.stderr}")
    if not error:
        found = catalog(ctx.target.url)
        errors, notes = compare(expected, found)
        result["errors"] += errors
        result["notes"] += notes
    for directory in ("dump", "pgcopydb", "ours"):
        shutil.rmtree(ctx.work / directory, ignore_errors=True)
    removed = leftovers_on_source(ctx.source)
    if removed:
        result["notes"].append(f"left on the source and removed: {', '.join(removed)}")
    if result["errors"]:
        progress(f"{TITLES[method]}: ERRORS: " + "; ".join(e.splitlines()[0] for e in result["errors"]))
    return result


# ------------------------------------------------------------------ report


def fmt_s(seconds):
    if seconds >= 60:
        return f"{int(seconds // 60)}m{seconds % 60:04.1f}s"
    return f"{seconds:.1f} s" if seconds >= 10 else f"{seconds:.2f} s"


def fmt_mb(n):
    if n >= 10e6:
        return f"{n / 1e6:,.0f} MB"
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def parse_size(text):
    """`256MB`, `1GB`, `65536` -> bytes (units of 1024, as PostgreSQL and pgcopydb read them)."""
    match = re.fullmatch(r"\s*(\d+)\s*(B|kB|MB|GB|TB)?\s*", text)
    if not match:
        sys.exit(f"BENCH_SPLIT: not a size: {text!r} (e.g. 256MB, 1GB or a number of bytes)")
    return int(match.group(1)) * 1024 ** ["B", "kB", "MB", "GB", "TB"].index(match.group(2) or "B")


SETTINGS_SQL = ("SELECT string_agg(name || '=' || setting || coalesce(unit, ''), ' ' ORDER BY name) FROM pg_settings "
                "WHERE name IN ('fsync', 'synchronous_commit', 'full_page_writes', 'shared_buffers', 'max_wal_size', "
                "'maintenance_work_mem', 'work_mem', 'wal_level', 'max_wal_senders', 'max_replication_slots', "
                "'checkpoint_timeout', 'max_parallel_maintenance_workers', 'max_worker_processes', "
                "'wal_compression')")


def machine_and_versions(args, source, target):
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), "unknown")
    mem_kb = next(int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines()
                  if l.startswith("MemTotal"))
    run = lambda cmd: subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip()
    commit = run(["git", "describe", "--always", "--dirty"])
    dirty = run(["git", "status", "--porcelain", "--", "infra", "Cargo.toml", "Cargo.lock"]).splitlines()
    pgcopydb = run(["pgcopydb", "--version"]).splitlines()
    settings, target_settings = psql(source.admin, SETTINGS_SQL), psql(target.admin, SETTINGS_SQL)
    print("# Migration benchmark\n")
    print(f"date:      {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(f"machine:   nproc {os.cpu_count()} ({len(os.sched_getaffinity(0))} usable), CPU {cpu}, "
          f"RAM {mem_kb / 1024 / 1024:.1f} GiB, {platform.system()} {platform.release()}")
    print(f"load avg:  {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1/5/15 min, at start)")
    print(f"command:   {args.command}")
    print(f"ours:      {run([str(OURS), '--version'])} (release build), git {commit}"
          + (f" ({len(dirty)} uncommitted files under infra/: numbers are for the working tree)" if dirty else "")
          + f"; {run(['rustc', '--version']) or '?'}")
    print(f"pgcopydb:  {pgcopydb[0] if pgcopydb else '?'} (Debian package "
          f"{run(['dpkg-query', '-W', '-f', '${Version}', 'pgcopydb']) or '?'})")
    print(f"postgres:  source {psql(source.admin, 'SHOW server_version')}, target "
          f"{psql(target.admin, 'SHOW server_version')}; clients (pg_dump, pg_restore, psql) from {BIN}")
    print(f"clusters:  two tweetgen-pg clusters on 127.0.0.1 (loopback TCP), data in {source.pg_dir}/data and "
          f"{target.pg_dir}/data (same file system)")
    print(f"settings:  source: {settings}")
    if target_settings != settings:
        print(f"           target: {target_settings}")
    else:
        print("           target: the same")
    sys.stdout.flush()


def step_windows(summary):
    """(step, start, end) in seconds from the start, from our summary's step lines."""
    windows, at = [], 0.0
    for line in summary.splitlines():
        match = re.match(r"^(\S.*?)\s{2,}(?:(\d+)m([\d.]+)s|([\d.]+) s)(?:\s|$)", line)
        if not match or match.group(1) in ("step", "total"):
            continue
        seconds = int(match.group(2)) * 60 + float(match.group(3)) if match.group(2) else float(match.group(4))
        windows.append((match.group(1).strip(), at, at + seconds))
        at += seconds
    return windows


def limit_text(u):
    """What held a method back, from what was measured."""
    cores = u["cores_total"]
    parts = [f"CPU {u['busy']:.2f} of {cores} cores busy, both saturated in {u['saturated']:.0%} of samples"]
    if "disk_busy" in u:
        parts.append(f"disk busy {u['disk_busy']:.0%} (>= {DISK_BUSY:.0%} in {u['disk_bound']:.0%} of samples)")
    if u["iowait"] >= 0.05:
        parts.append(f"iowait {u['iowait']:.2f} cores")
    others = u["cores"]["other"]
    if others >= 0.25:
        parts.append(f"other processes used {others:.2f} cores meanwhile <-- a busy machine: slower than it would be")
    if u["saturated"] >= 0.6:
        verdict = "CPU-bound"
    elif u.get("disk_bound", 0) >= 0.5:
        verdict = "disk-bound"
    elif u["busy"] < cores * 0.75:
        verdict = "neither CPU nor disk saturated: serial work (too few busy processes)"
    else:
        verdict = "mostly CPU"
    return verdict, "; ".join(parts)


def method_cpu(result):
    """Core-seconds of both clusters and the method's clients during the method."""
    cores = result["usage"]["cores"]
    return (cores["source"] + cores["target"] + cores["clients"]) * result["wall"]


def report(args, results, source_bytes, probe, disk, generated, began):
    ours = next((r for r in results if r["method"] == "ours" and not r["errors"]), None)

    rows_out = []
    for r in results:
        ok = not r["errors"]
        ratio = fmt_ratio(r["wall"] / ours["wall"]) if ours and ok else "-"
        rows_out.append([TITLES[r["method"]], fmt_s(r["wall"]) if ok else "FAILED",
                         f"{source_bytes / 1e6 / r['wall']:,.1f}" if ok else "-", ratio,
                         "equal" if ok else "DIFFERENT/FAILED"])
    notes = [f"MB/s = pg_database_size of the source ({fmt_mb(source_bytes)}, indexes included; MB = 10^6 bytes) "
             "/ wall time",
             "ours vs this = time_theirs / time_ours: above 1.0x ours was faster",
             f"--jobs / -j / --table-jobs and --index-jobs: {args.jobs}; --split-tables-larger-than "
             f"{args.split:,} bytes ({args.split / 2**20:,.0f} MiB) for pgcopydb and ours, given as a plain number of "
             "bytes (pgcopydb 0.10 reads `MB` as 2^20, ours as 10^6)",
             "check: every table's row count, the indexes, the constraints and the sequences compared with the source"
             + ("; ours also passed `migrate verify` (every row hashed, not timed)" if ours else "")]
    for r in results:
        if r.get("parts"):
            notes.append(f"{TITLES[r['method']]}: {r['parts']}")
        if r.get("splits"):
            notes.append(f"{TITLES[r['method']]} split: {'; '.join(r['splits'])}")
        for note in r["notes"]:
            notes.append(f"{TITLES[r['method']]}: {note}")
    notes.append("no ANALYZE after pg_dump | psql and pg_restore (neither runs one); pgcopydb runs VACUUM ANALYZE "
                 "per table, ours ANALYZE per table, both inside their time")
    table("3. Results: " + f"{fmt_mb(source_bytes)} from one cluster to the other, {args.jobs} jobs",
          ["method", "wall time", "MB/s", "ours vs this", "check"], rows_out, notes=notes)

    cpu_rows = []
    for r in results:
        u = r["usage"]
        c = u["cores"]
        cpu_rows.append([TITLES[r["method"]], fmt_s(r["wall"]), f"{c['source']:.2f}", f"{c['target']:.2f}",
                         f"{c['clients']:.2f}", f"{c['other'] + c['self']:.2f}", f"{u['busy']:.2f}",
                         f"{u['saturated']:.0%}", f"{u['iowait']:.2f}",
                         f"{u['busy_procs_source']:.1f} / {u['busy_procs_target']:.1f} / {u['busy_procs_clients']:.1f}",
                         f"{method_cpu(r):,.1f}", fmt_s(method_cpu(r) / os.cpu_count()),
                         fmt_mb(u.get("disk_read", 0)), fmt_mb(u.get("disk_written", 0)),
                         f"{u.get('disk_busy', 0):.0%}", f"{u.get('disk_written', 0) / 1e6 / r['wall']:,.0f}",
                         fmt_s(r["sync_after_s"])])
    limits = [f"{TITLES[r['method']]}: {limit_text(r['usage'])[0]} ({limit_text(r['usage'])[1]})" for r in results]
    table(f"4. Where the time went: cores busy on average (of {os.cpu_count()}), the disk ({disk.name})",
          ["method", "wall", "source pg", "target pg", "clients", "other", "all", "saturated", "iowait",
           "busy procs src/dst/cli", "CPU-s", "CPU bound", "disk read", "disk written", "disk busy", "written MB/s",
           "sync after"],
          cpu_rows,
          notes=["source pg / target pg: the cluster's postmaster and every backend and worker (exact, from /proc and "
                 "the postmaster's reaped children); clients: the method's processes (pg_dump, psql, pg_restore, "
                 "pgcopydb and its workers, tweetgen-infra and the pg_dump/pg_restore/psql it runs); other: the rest "
                 "of the machine, this script's sampling included",
                 f"saturated: share of {SAMPLE_S:g}-s samples with >= {SATURATED:.0%} of all cores busy; busy procs: "
                 "processes of each group using >= half a core, averaged over the samples",
                 f"CPU-s: core-seconds the method spent (source pg + target pg + clients, x wall); CPU bound: CPU-s / "
                 f"{os.cpu_count()} cores, the least wall time that work allows here",
                 "disk: /sys/dev/block counters of the device holding both clusters; disk busy = its io_ticks / wall "
                 "time; sync after = `sync` right after the method (writes the kernel still held)"]
          + [f"limit: {line}" for line in limits])

    if ours:
        print("\n## 5. tweetgen-infra migrate copy: its own summary (stdout)\n")
        print(ours["summary"].strip("\n"))
        print(f"\n  note: `migrate verify` (not in the time above) took {fmt_s(ours['verify_s'])}:")
        for line in ours["verify"].splitlines():
            if line.strip():
                print(f"    {line}")
        steps = step_windows(ours["summary"])
        if steps:
            step_rows = []
            for name, start, end in steps:
                inside = [x for x in ours["usage"]["series"] if start <= x["at"] - x["t"] / 2 < end]
                if not inside:
                    step_rows.append([name, fmt_s(end - start)] + ["-"] * 7)
                    continue
                mean = lambda f: sum(f(x) for x in inside) / len(inside)
                groups = [mean(lambda x, g=g: x["cores"].get(g, 0.0)) for g in ("source", "target", "clients")]
                busy = mean(lambda x: x["busy"]) * os.cpu_count()
                step_rows.append([name, fmt_s(end - start), f"{busy:.2f}",
                                  f"{share(inside, lambda x: x['busy'] >= SATURATED):.0%}",
                                  *(f"{g:.2f}" for g in groups), f"{max(0.0, busy - sum(groups)):.2f}",
                                  f"{mean(lambda x: x.get('disk', 0.0)):.0%}"])
            table("5b. Our steps, as sampled (cores busy on average during each step)",
                  ["step", "duration", "all", "saturated", "source pg", "target pg", "clients", "other",
                   "disk busy"],
                  step_rows,
                  notes=[f"from the {SAMPLE_S:g}-s samples that fall inside each step (steps placed by their durations "
                         "in the summary above, from the start of the process); a step shorter than a sample may "
                         "have none (-); processes that ended between two samples are missing from the groups"])
    profiled = [r for r in results if r.get("profile")]
    if profiled:
        print(f"\n## 5c. perf: the {Profiler.TOP} functions with the most samples, whole machine (BENCH_PERF=1)")
        for r in profiled:
            print(f"\n{TITLES[r['method']]}:")
            for line in r["profile"]:
                print(f"  {line.strip()}")
    pgc = next((r for r in results if r["method"] == "pgcopydb" and r.get("summary")), None)
    if pgc:
        print("\n## 6. pgcopydb clone: its own summary (log)\n")
        print(pgc["summary"])

    print("\n## 7. Where each method spends its time, as measured\n")
    for r in results:
        verdict, detail = limit_text(r["usage"])
        print(f"- {TITLES[r['method']]}: {verdict}. {detail}.")
    if probe and "write_mb_s" in probe:
        best = max(r["usage"].get("disk_written", 0) / r["wall"] for r in results) / 1e6
        print(f"- the disk: {probe['write_mb_s']:,.0f} MB/s direct sequential write, {probe['read_mb_s']:,.0f} MB/s "
              f"read, fdatasync {probe['fsync_ms_median']:.2f} ms (table 2); the most any method wrote on average "
              f"was {best:,.0f} MB/s ({best / probe['write_mb_s']:.0%} of the probe's rate)")
    sys.stdout.flush()

    wall = time.perf_counter() - began
    timed = sum(r["wall"] for r in results)
    others = sum(r["usage"]["cores"]["other"] * r["wall"] for r in results) / timed if timed else 0.0
    print(f"\nbenchmark wall time {wall:.0f} s"
          + (f" (dataset generated in {sum(s for _, s in generated):.0f} s)" if generated else "")
          + f"; load avg at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}; processes other than this "
          f"benchmark's (both clusters and the methods' clients included) kept {others:.2f} of {os.cpu_count()} "
          "cores busy on average during the timed runs"
          + ("  <-- a busy machine: timings are pessimistic and noisy" if others > 0.25 else ""))
    failed = [r for r in results if r["errors"]]
    if failed:
        print("\nERRORS:")
        for r in failed:
            for error in r["errors"]:
                print(f"- {TITLES[r['method']]}: {error}")
    return not failed


def main(args):
    os.chdir(ROOT)
    began = time.perf_counter()
    work = WORK / "work"
    logs = WORK / "logs"
    work.mkdir(parents=True, exist_ok=True)
    logs.mkdir(parents=True, exist_ok=True)
    source = Cluster("source", os.environ["BENCH_SOURCE_URL"], os.environ["BENCH_SOURCE_PG_DIR"])
    target = Cluster("target", os.environ["DATABASE_URL"], os.environ["BENCH_TARGET_PG_DIR"])
    machine_and_versions(args, source, target)

    # --- 1. the dataset
    signature = dataset_signature(args.scale, args.markov_key)
    signature_file = source.pg_dir / "dataset.json"
    previous = json.loads(signature_file.read_text()) if signature_file.exists() else None
    generated = []
    if previous != signature or args.regenerate or not psql(source.admin, f"SELECT 1 FROM pg_database WHERE "
                                                                          f"datname = '{DATABASE}'"):
        progress(f"generating the dataset at scale {args.scale:g} ({args.markov_key} key)")
        signature_file.unlink(missing_ok=True)
        generated = generate(source, args.scale, args.markov_key, args.jobs)
        signature_file.write_text(json.dumps(signature))
    removed = leftovers_on_source(source)
    expected = catalog(source.url)
    source_bytes = int(psql(source.url, "SELECT pg_database_size(current_database())"))
    sizes = {r[0]: (int(r[1]), int(r[2])) for r in rows(
        source.url, "SELECT c.relname, pg_table_size(c.oid), pg_indexes_size(c.oid) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'")}
    detail = {
        "users": "id bigint PK (X ids), screen_name text UNIQUE, display name, lang, protected, counts, timestamps",
        "markov_transitions": ("id bigserial PK, " if args.markov_key == "serial" else "")
        + "user_id -> users, state text (two words), next_word text, count int; "
        + ("UNIQUE (user_id, state, next_word)" if args.markov_key == "serial"
           else "PRIMARY KEY (user_id, state, next_word)"),
        "models": "user_id PK -> users, format, data bytea 20-200 KB (zlib stream or JSON with base64; "
                  "incompressible), updated_at",
        "generations": "id bigserial PK, user_id -> users, text, created_at; index (user_id, created_at)",
    }
    data_rows = [[t, f"{expected['counts'][t]:,}", fmt_mb(sizes[t][0]), fmt_mb(sizes[t][1]), detail.get(t, "")]
                 for t in sorted(expected["counts"], key=lambda t: -sum(sizes[t]))]
    data_rows.append(["database", f"{sum(expected['counts'].values()):,}", "", "", f"pg_database_size "
                      f"{fmt_mb(source_bytes)}"])
    blob = rows(source.url, "SELECT count(*), coalesce(avg(octet_length(data)), 0)::bigint, "
                            "coalesce(min(octet_length(data)), 0), coalesce(max(octet_length(data)), 0), "
                            "count(*) FILTER (WHERE pg_column_compression(data) IS NOT NULL) FROM models")[0]
    table(f"1. The dataset: the old service's schema at scale {args.scale:g} (database {DATABASE})",
          ["table", "rows", "heap+TOAST", "indexes", "columns"], data_rows,
          notes=[("generated now: " + ", ".join(f"{label} {fmt_s(s)}" for label, s in generated)) if generated
                 else f"kept from an earlier run in {source.pg_dir} (same generator, scale and key)",
                 f"models.data: {int(blob[0]):,} blobs, mean {int(blob[1]) / 1024:,.0f} KiB "
                 f"({int(blob[2]) / 1024:,.0f}-{int(blob[3]) / 1024:,.0f} KiB), {blob[4]} stored compressed by pglz",
                 f"sequences: {', '.join(f'{k} at {v:,}' for k, v in expected['sequences'].items())}; "
                 f"{len(expected['indexes'])} indexes, {len(expected['constraints'])} constraints "
                 f"({sum(1 for c in expected['constraints'] if c.endswith(' f'))} foreign keys)"]
          + ([f"removed from the source, left by an earlier run: {', '.join(removed)}"] if removed else []))

    if not args.methods:  # BENCH_METHODS= (empty): the dataset only (bench/link.sh uses it)
        return 0

    # --- 2. the disk and the page cache
    disk = Disk(source.pg_dir / "data")
    probe = disk_probe(WORK, args.disk_test_mb) if args.disk_test_mb > 0 else None
    warmed = warm_source(source)
    disk_rows = []
    if probe and "error" not in probe:
        disk_rows.append(["direct sequential write (8 MiB blocks) + fsync", f"{probe['write_mb_s']:,.0f} MB/s",
                          f"{probe['megabytes']:,} MiB"])
        disk_rows.append(["direct sequential read (8 MiB blocks)", f"{probe['read_mb_s']:,.0f} MB/s",
                          f"{probe['megabytes']:,} MiB"])
        disk_rows.append(["8 kB write + fdatasync", f"{probe['fsync_ms_median']:.2f} ms median",
                          f"p99 {probe['fsync_ms_p99']:.2f} ms, 200 writes"])
    elif probe:
        disk_rows.append(["probe failed", probe["error"], ""])
    table(f"2. This machine's disk: {disk.name}, under {WORK}",
          ["measure", "result", "size"], disk_rows or [["probe skipped (BENCH_DISK_TEST_MB=0)", "-", "-"]],
          notes=[f"the source's files ({fmt_mb(warmed)}) were read once before the methods: every method reads the "
                 "source from the page cache",
                 f"RAM {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB: the target's "
                 "writes go to the page cache first; the kernel writes them back (dirty_ratio "
                 f"{Path('/proc/sys/vm/dirty_ratio').read_text().strip()}%), PostgreSQL fsyncs WAL at commit and data "
                 "at checkpoints (when fsync=on)"]
          + ([] if disk.available else ["no block-device counters for this file system: disk columns are empty"]))

    # --- 3. the methods, one after the other on the same clusters
    ctx = Context(source, target, args.jobs, args.split, work, logs, disk)
    results = []
    for method in args.methods:
        results.append(run_method(ctx, method, expected, args.settle))
    psql(target.admin, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    psql(target.admin, f"CREATE DATABASE {DATABASE}")
    (WORK / "results.json").write_text(json.dumps({"signature": signature, "source_bytes": source_bytes,
                                                  "results": results, "probe": probe}, indent=1, default=str))
    ok = report(args, results, source_bytes, probe, disk, generated, began)
    return 0 if ok else 1


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    scale = float(os.environ.get("BENCH_SCALE", "1.0"))
    parser.add_argument("--scale", type=float, default=scale,
                        help="BENCH_SCALE: 1.0 = ~20M transitions, ~4 GB; 0.02 for a quick look")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("BENCH_JOBS", "2")),
                        help="BENCH_JOBS: parallel jobs of every parallel method (2)")
    default_split = os.environ.get("BENCH_SPLIT") or str(max(1 << 20, int(256 * scale) << 20))
    parser.add_argument("--split", type=parse_size, default=parse_size(default_split),
                        help="BENCH_SPLIT: --split-tables-larger-than (256MB x scale, at least 1MB)")
    parser.add_argument("--methods", type=lambda s: [m.strip() for m in s.split(",") if m.strip()],
                        default=[m.strip() for m in os.environ.get("BENCH_METHODS", ",".join(METHODS)).split(",")
                                 if m.strip()],
                        help=f"BENCH_METHODS: which and in what order ({','.join(METHODS)}); "
                             "empty: the dataset only")
    parser.add_argument("--markov-key", choices=["serial", "natural"],
                        default=os.environ.get("BENCH_MARKOV_KEY", "serial"),
                        help="BENCH_MARKOV_KEY: serial (id bigserial PK + UNIQUE text key) or natural "
                             "(PRIMARY KEY (user_id, state, next_word))")
    parser.add_argument("--settle", type=float, default=float(os.environ.get("BENCH_SETTLE", "10")),
                        help="BENCH_SETTLE: seconds of rest before each method, after CHECKPOINT and sync (10)")
    parser.add_argument("--disk-test-mb", type=int, default=int(os.environ.get("BENCH_DISK_TEST_MB", "1024")),
                        help="BENCH_DISK_TEST_MB: size of the disk probe (1024; 0 skips it)")
    parser.add_argument("--regenerate", action="store_true", default=os.environ.get("BENCH_REGENERATE") == "1",
                        help="BENCH_REGENERATE=1: generate the dataset again even if it is kept")
    parser.add_argument("--command", default=os.environ.get("BENCH_COMMAND", "bench/migrate.sh"))
    args = parser.parse_args(argv)
    unknown = [m for m in args.methods if m not in METHODS]
    if unknown:
        parser.error(f"unknown method(s) {unknown}: choose from {', '.join(METHODS)}")
    if args.jobs < 1:
        parser.error("BENCH_JOBS must be at least 1")
    return args


if __name__ == "__main__":
    sys.exit(main(parse_args(sys.argv[1:])))
