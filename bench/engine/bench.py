#!/usr/bin/env python3
"""Engine benchmark: tweetgen-markov against markovify 0.9.4 on the same corpus.

Run through `bench/engine.sh`, which prepares MeCab, the venv, the release CLI and
the dictionary. Standard library plus markovify only. Prints the machine, the
versions, then one table per measure (ours, markovify, ratio, target, PASS/MISS),
the order sweep, and ours alone generating from mixes (a blend of k models)
against one model of the same lines. Timings are never asserted: a missed target
is printed as MISS and the exit status stays 0.

markovify is driven the way the old service used it: `mecab -Owakati` over the
file, then `markovify.NewlineText(wakati_text, state_size=order)`; models go
through `to_json()` / `markovify.Text.from_json()`. Its work runs in child
processes of this script (`_mk_train`, `_mk_generate`) so that each has its own
peak RSS under /usr/bin/time.
"""

import argparse
import json
import os
import platform
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path("../shared/corpus/ja_sentences.txt")  # relative to the repo root
REFERENCE = Path("../shared/corpus/ja_sentences.mecab-wakati.txt")
WORK = Path("target/bench-engine")
BIN = Path("target/release/tweetgen-markov")
MECAB_UTF8_DIC = Path("/var/lib/mecab/dic/ipadic-utf8")

SIZES = (3200, 45000)
ORDERS = (2, 3)
SWEEP_ORDERS = (1, 2, 3, 4)
TRAIN_REPS = 3  # training runs per side and (size, order); the median is reported
LOAD_REPS = {3200: 7, 45000: 3}  # markovify from_json runs (the large ones take seconds)
TRIES = 100
GEN_SEGMENTS = 3  # each side's generation time is split in this many runs; the median rate is reported
NO_CHAR_LIMIT = 100_000
SEED = 1
SWEEP_DRAWS = 2000
SWEEP_SEED = 7
SAMPLES = 3
SAMPLE_CHARS = 90

TARGET_TRAIN = 5.0  # markovify / ours, training time including segmentation
TARGET_BYTES = 20.0  # markovify / ours, model bytes
TARGET_GENERATE = 50.0  # ours / markovify, sentences per second per core
TARGET_LOAD_MS = 1.0  # ours, the 3,200-line model
MIX_PARTS = (2, 5, 10)  # mixes of this many equal slices of the 45,000 lines (the app allows 10 members)
# Also with unequal weights (the app's are whole numbers 1-99): the weighted draw's cost.
MIX_WEIGHTED = ((2, (1, 99)), (10, tuple(range(1, 11))))
TARGET_MIX = 1.5  # a mix's time per sentence / one model's of the same lines


# ---------------------------------------------------------------- helpers


def run(cmd, **kwargs):
    """Runs a command (list), failing loudly on a non-zero status."""
    kwargs.setdefault("check", True)
    return subprocess.run([str(c) for c in cmd], **kwargs)


def timed(cmd, *, stdin=None, stdout=subprocess.PIPE, check=True):
    """Runs `cmd` under /usr/bin/time; returns (completed process, peak RSS KB, wall s)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time", dir=WORK) as rss_file:
        started = time.perf_counter()
        done = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", rss_file.name] + [str(c) for c in cmd],
            stdin=stdin,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
        )
        wall = time.perf_counter() - started
        lines = [l for l in rss_file.read().splitlines() if l.strip()]
    if check and done.returncode != 0:
        sys.exit(f"command failed ({done.returncode}): {' '.join(map(str, cmd))}\n{done.stderr}")
    rss = int(lines[-1]) if lines and lines[-1].strip().isdigit() else None
    return done, rss, wall


def last_json(text):
    """The last line of `text` that is a JSON object (the CLI's --timings line)."""
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError(f"no JSON line in:\n{text}")


def ours(*args):
    return [BIN, *args]


def size_label(size):
    return f"{size:,}"


def fmt_ms(ms):
    if ms is None:
        return "-"
    if ms >= 10_000:
        return f"{ms / 1000:.1f} s"
    if ms >= 100:
        return f"{ms:.0f} ms"
    if ms >= 10:
        return f"{ms:.1f} ms"
    return f"{ms:.2f} ms"


def fmt_bytes(n):
    if n >= 1 << 20:
        return f"{n / (1 << 20):.2f} MiB"
    if n >= 1 << 10:
        return f"{n / (1 << 10):.1f} KiB"
    return f"{n} B"


def fmt_ratio(x):
    return f"{x:.1f}x" if x < 100 else f"{x:.0f}x"


def verdict(ok):
    return "PASS" if ok else "MISS"


def table(title, headers, rows, notes=()):
    print(f"\n## {title}\n")
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    print(line(headers).rstrip())
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r).rstrip())
    for note in notes:
        print(f"  note: {note}")
    sys.stdout.flush()


def cpu_busy_seconds():
    """Busy CPU time of the whole machine so far, in seconds (from /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds():
    """CPU time of this process and its finished children."""
    import resource

    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def progress(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------- markovify children


def mk_train(args):
    """Child: builds NewlineText from a wakati file `reps` times, writes the last model's JSON."""
    import markovify

    text = Path(args.wakati).read_text(encoding="utf-8")
    build_s = []
    model = None
    for _ in range(args.reps):
        model = None  # the previous model is freed before the next is built
        started = time.perf_counter()
        model = markovify.NewlineText(text, state_size=args.order, well_formed=args.well_formed)
        build_s.append(time.perf_counter() - started)
    started = time.perf_counter()
    encoded = model.to_json().encode("utf-8")
    to_json_s = time.perf_counter() - started
    Path(args.json_out).write_bytes(encoded)
    print(json.dumps({
        "build_s": build_s,
        "to_json_s": to_json_s,
        "sentences": len(model.parsed_sentences),
        "json_bytes": len(encoded),
    }))


def mk_generate(args):
    """Child: times Text.from_json, then make_sentence(tries=100) for a bounded time,
    then single tries (the acceptance rate, to compare with ours)."""
    import markovify

    text = Path(args.json).read_text(encoding="utf-8")
    load_s = []
    model = None
    for _ in range(args.loads):
        model = None
        started = time.perf_counter()
        model = markovify.Text.from_json(text)
        load_s.append(time.perf_counter() - started)

    random.seed(args.seed)
    segments = []  # (calls, failed, seconds)
    for _ in range(args.segments):
        calls = failed = 0
        started = time.perf_counter()
        deadline = started + args.seconds / args.segments
        while True:
            if model.make_sentence(tries=args.tries) is None:
                failed += 1
            calls += 1
            if calls >= args.max_calls or time.perf_counter() >= deadline:
                break
        segments.append((calls, failed, time.perf_counter() - started))

    draws = accepted = 0
    started = time.perf_counter()
    deadline = started + args.draw_seconds
    while draws < args.draws and (draws < 100 or time.perf_counter() < deadline):
        if model.make_sentence(tries=1) is not None:
            accepted += 1
        draws += 1
    print(json.dumps({
        "load_s": load_s,
        "segments": segments,
        "draws": draws,
        "accepted": accepted,
    }))


# ------------------------------------------------------------ main measure


def machine_and_versions(dictionary):
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = next(int(l.split()[1]) for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal"))
    import importlib.metadata

    mecab_version = run(["mecab", "-v"], capture_output=True, text=True).stdout.strip()
    ipadic = run(["dpkg-query", "-W", "-f", "${Version}", "mecab-ipadic-utf8"], capture_output=True, text=True,
                 check=False).stdout.strip() or "?"
    commit = run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True, check=False).stdout.strip()
    engine_dirty = run(["git", "status", "--porcelain", "--", "markov/src", "markov/Cargo.toml", "Cargo.toml",
                        "Cargo.lock"],
                       capture_output=True, text=True, check=False).stdout.splitlines()
    ours_version = run(ours("--version"), capture_output=True, text=True).stdout.strip()
    rustc = run(["rustc", "--version"], capture_output=True, text=True, check=False).stdout.strip() or "?"

    print("# Engine vs markovify\n")
    print(f"date:      {time.strftime('%Y-%m-%d %H:%M:%S %Z')}")
    print(f"machine:   nproc {os.cpu_count()} ({len(os.sched_getaffinity(0))} usable), CPU {cpu}, "
          f"RAM {mem_kb / 1024 / 1024:.1f} GiB, {platform.system()} {platform.release()}")
    print(f"load avg:  {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1/5/15 min, at start)")
    print(f"ours:      {ours_version}, git {commit}"
          + (f" ({len(engine_dirty)} uncommitted engine files: numbers are for the working tree)"
             if engine_dirty else "")
          + f"; {rustc}")
    print(f"markovify: {importlib.metadata.version('markovify')} on Python {platform.python_version()}")
    print(f"mecab:     {mecab_version}, mecab-ipadic-utf8 {ipadic}")
    print(f"corpus:    {CORPUS} ({CORPUS.stat().st_size:,} bytes); dictionary {dictionary}")


def mecab_cmd():
    cmd = ["mecab", "-Owakati"]
    if MECAB_UTF8_DIC.is_dir():
        cmd += ["-d", MECAB_UTF8_DIC]
    return cmd


def same_modulo_trailing_spaces(a_path, b_path):
    a = a_path.read_text(encoding="utf-8").rstrip("\n").split("\n")
    b = b_path.read_text(encoding="utf-8").rstrip("\n").split("\n")
    same = sum(1 for x, y in zip(a, b) if x.rstrip() == y.rstrip())
    return same, len(a), len(b)


def main(args):
    os.chdir(ROOT)
    WORK.mkdir(parents=True, exist_ok=True)
    dictionary = Path(args.dictionary)
    began = time.perf_counter()
    busy_at_start, own_at_start = cpu_busy_seconds(), own_cpu_seconds()
    machine_and_versions(dictionary)

    lines = CORPUS.read_text(encoding="utf-8").rstrip("\n").split("\n")
    if len(lines) != 45000:
        print(f"warning: {CORPUS} has {len(lines)} lines, expected 45,000")
    inputs = {}
    for size in SIZES:
        path = WORK / f"ja_{size}.txt"
        path.write_text("\n".join(lines[:size]) + "\n", encoding="utf-8")
        inputs[size] = path

    # --- segmentation checks
    progress("segmentation checks")
    checks = WORK / "check.wakati.txt"
    with open(CORPUS, "rb") as src, open(checks, "wb") as out:
        run(mecab_cmd(), stdin=src, stdout=out)
    same, n_ours, n_ref = same_modulo_trailing_spaces(checks, REFERENCE)
    print(f"check:     `mecab -Owakati` on {CORPUS.name} equals {REFERENCE.name} modulo trailing spaces "
          f"on {same:,} of {n_ref:,} lines ({n_ours:,} lines out){'' if same == n_ref == n_ours else '  <-- DIFFERS'}")
    seg_agree = {}
    for mode, flags in (("training tokenizer", []), ("--words-only", ["--words-only"])):
        out = WORK / f"check.ours{'.words' if flags else ''}.txt"
        with open(CORPUS, "rb") as src, open(out, "wb") as dst:
            run(ours("segment", *flags, "--dictionary", dictionary), stdin=src, stdout=dst)
        seg_agree[mode] = same_modulo_trailing_spaces(out, REFERENCE)[0]
    print("check:     our segmenter equals that MeCab output on "
          + ", ".join(f"{n:,} of {n_ref:,} lines ({mode})" for mode, n in seg_agree.items())
          + "; the training tokenizer keeps numbers such as 2.6.4 whole")

    # --- 1, 2, 4: training
    train = {}
    wakati = {}
    mecab_ms = {}
    for size in SIZES:
        wakati[size] = WORK / f"ja_{size}.wakati.txt"
        walls = []
        for _ in range(TRAIN_REPS):
            with open(inputs[size], "rb") as src, open(wakati[size], "wb") as dst:
                started = time.perf_counter()
                run(mecab_cmd(), stdin=src, stdout=dst)
                walls.append((time.perf_counter() - started) * 1e3)
        mecab_ms[size] = statistics.median(walls)
        for order in ORDERS:
            progress(f"training {size} lines, order {order}")
            model = WORK / f"ours_{size}_o{order}.tgm"
            runs = []
            for _ in range(TRAIN_REPS):
                done, rss, _ = timed(ours("train", "--input", inputs[size], "--out", model, "--order", order, "--raw",
                                          "--dictionary", dictionary, "--timings"))
                runs.append((last_json(done.stderr), rss))
            t_ours = {key: statistics.median(r[0][key] for r in runs) for key in ("train_ms", "dictionary_ms", "encode_ms")}
            t_ours.update({key: runs[-1][0][key] for key in ("sentences", "vocabulary", "model_bytes")})
            t_ours["rss"] = max(r[1] for r in runs)
            t_ours["model"] = model

            mk = markovify_train(args, wakati[size], size, order, well_formed=True)
            train[size, order] = (t_ours, mk)

    segment_ms = {}
    for size in SIZES:
        walls = []
        for _ in range(TRAIN_REPS):
            with open(inputs[size], "rb") as src:
                started = time.perf_counter()
                run(ours("segment", "--dictionary", dictionary), stdin=src, stdout=subprocess.DEVNULL)
                walls.append((time.perf_counter() - started) * 1e3)
        segment_ms[size] = statistics.median(walls)

    rows = []
    for (size, order), (o, m) in train.items():
        ours_ms = o["train_ms"]
        mk_ms = mecab_ms[size] + m["build_ms"]
        ratio = mk_ms / ours_ms
        rows.append([size_label(size), order, fmt_ms(ours_ms), fmt_ms(ours_ms + o["dictionary_ms"]),
                     fmt_ms(o["encode_ms"]), fmt_ms(mk_ms), f"{fmt_ms(mecab_ms[size])} + {fmt_ms(m['build_ms'])}",
                     fmt_ratio(ratio), f">={TARGET_TRAIN:.0f}x", verdict(ratio >= TARGET_TRAIN)])
    table("1. Training time, segmentation included (median of %d)" % TRAIN_REPS,
          ["lines", "order", "ours", "ours+dict load", "ours encode", "markovify", "= mecab + NewlineText", "markovify/ours", "target",
           "result"], rows,
          notes=["ours = train_ms (segmentation + chain, no file read, no dictionary load; no JSON/model write)",
                 "markovify = wall time of the `mecab -Owakati` process (its dictionary load included) + "
                 "NewlineText(...) in Python",
                 "ratio uses `ours` without the dictionary load, as the brief defines train_ms; "
                 "`ours+dict load` shows the one-off load (the server keeps the dictionary loaded)",
                 "ours encode = compressing the model for storage (encode_ms), outside train_ms and outside the ratio; "
                 "markovify's to_json() is likewise outside its time",
                 "segmentation alone, wall time of one process over the file (median): "
                 + "; ".join(f"{size_label(size)} lines: mecab {fmt_ms(mecab_ms[size])}, ours `segment` "
                             f"{fmt_ms(segment_ms[size])} (its dictionary load included)" for size in SIZES)])

    rows = []
    for (size, order), (o, m) in train.items():
        ratio = m["json_bytes"] / o["model_bytes"]
        rows.append([size_label(size), order, f"{o['model_bytes']:,}", f"{m['json_bytes']:,}", f"{m['json_gzip']:,}",
                     fmt_ratio(ratio), f">={TARGET_BYTES:.0f}x", verdict(ratio >= TARGET_BYTES),
                     f"{o['sentences']:,} / {m['sentences']:,}"])
    table("2. Model size, bytes",
          ["lines", "order", "ours", "markovify JSON", "(JSON deflated)", "markovify/ours", "target", "result",
           "sentences ours/markovify"], rows,
          notes=["ours is the compressed token-id corpus (the chain is rebuilt on load), hence (nearly) the same bytes at every order",
                 "markovify's to_json() escapes non-ASCII (\\uXXXX) and nests the chain as a JSON string; "
                 "`JSON deflated` (zlib level 6) is for reference only",
                 "markovify's default well_formed=True drops sentences containing ( ) [ ] \" or edge quotes after "
                 "unidecode (which turns 「」 into [ ]): it learns fewer sentences than ours (see the last table)"])

    # --- 3, 4, 5: loading and generation
    gen = {}
    for size in SIZES:
        for order in ORDERS:
            o, m = train[size, order]
            progress(f"loading and generating: {size} lines, order {order}")
            info = json.loads(run(ours("info", "--model", o["model"]), capture_output=True, text=True).stdout)
            og = ours_generate(["--model", o["model"]], args.seconds)
            mg = markovify_generate(args, m["json"], size)
            gen[size, order] = (info, og, mg)

    rows = []
    for (size, order), (info, og, mg) in gen.items():
        ratio = og["rate"] / mg["rate"]
        spread = lambda g: f"{g['rates'][0]:,.0f}-{g['rates'][-1]:,.0f}"
        rows.append([size_label(size), order, f"{og['rate']:,.0f}/s", spread(og), f"{og['calls']:,} ({og['failed']} failed)",
                     f"{mg['rate']:,.0f}/s", spread(mg), f"{mg['calls']:,} ({mg['failed']} failed)", fmt_ratio(ratio),
                     f">={TARGET_GENERATE:.0f}x", verdict(ratio >= TARGET_GENERATE)])
    table("3. Generation, sentences per second on one core (overlap test on, tries=%d, no char limit)" % TRIES,
          ["lines", "order", "ours", "(min-max)", "ours calls", "markovify", "(min-max)", "markovify calls",
           "ours/markovify", "target", "result"],
          rows,
          notes=[f"each side runs ~{args.seconds:g} s in {GEN_SEGMENTS} parts (ours: {GEN_SEGMENTS} processes sized "
                 "from a 200-call calibration, seeds 1-3; markovify: one process, seed 1); the median part's rate is "
                 "shown, min-max beside it; a call that fails all its tries counts as a call",
                 f"ours: `generate --tries {TRIES} --max-chars {NO_CHAR_LIMIT}` (generate_ms, model load excluded, "
                 "output to /dev/null); markovify: make_sentence(tries=100) on a model from Text.from_json",
                 "both are single-threaded: per second = per core"])

    rows = []
    for (size, order), (info, og, mg) in gen.items():
        o, m = train[size, order]
        rows.append([size_label(size), order, f"{o['rss']:,}", f"{og['rss']:,}", f"{m['rss']:,}", f"{mg['rss']:,}",
                     f"{info['memory_bytes'] / 1024:,.0f}"])
    table("4. Peak RSS, KB (/usr/bin/time %M)",
          ["lines", "order", "ours train", "ours generate", "markovify train", "markovify load+generate",
           "ours model in memory"], rows,
          notes=[f"ours train includes the segmentation dictionary: a process that only loads it peaks at "
                 f"{dictionary_rss(dictionary):,} KB",
                 "markovify train = one Python process: read wakati text, %d x NewlineText, to_json, write" % TRAIN_REPS,
                 "markovify load+generate = one Python process: read JSON, Text.from_json (repeated, previous "
                 "model freed), generation; the JSON string stays in memory",
                 "ours generate = load model + generation; `model in memory` is info's memory_bytes"])

    rows = []
    for (size, order), (info, og, mg) in gen.items():
        mk_ms = statistics.median(mg["load_s"]) * 1e3
        ours_ms = info["load_ms_median"]
        target = size == 3200
        rows.append([size_label(size), order, fmt_ms(ours_ms), fmt_ms(info["load_ms_max"]), fmt_ms(mk_ms),
                     f"{len(mg['load_s'])}", fmt_ratio(mk_ms / ours_ms),
                     f"ours<={TARGET_LOAD_MS:g} ms" if target else "-",
                     verdict(ours_ms <= TARGET_LOAD_MS) if target else "-"])
    table("5. Load time (bytes in memory -> usable model), median",
          ["lines", "order", "ours", "ours max", "markovify", "markovify runs", "markovify/ours", "target", "result"],
          rows,
          notes=["ours = `info` load_ms_median over 100 decodes (checksum, inflate, rebuild of the chain index)",
                 "markovify = markovify.Text.from_json(json_string), as the old service did per request"])

    # --- 6: order sweep (ours)
    sweep(args, dictionary, inputs, lines, gen)

    # --- markovify on the very same sentences (well_formed=False)
    same_sentences(args, wakati, mecab_ms, train, gen)

    # --- 8: mixes (ours)
    mixes(args, dictionary, lines)

    wall = time.perf_counter() - began
    others = (cpu_busy_seconds() - busy_at_start) - (own_cpu_seconds() - own_at_start)
    print(f"\nbenchmark wall time {wall:.0f} s; load avg at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
          f"other processes kept {max(others, 0) / wall:.2f} of {os.cpu_count()} cores busy on average during the run"
          + ("  <-- a busy machine: timings are pessimistic and noisy" if others / wall > 0.25 else ""))


def markovify_train(args, wakati_path, size, order, well_formed):
    json_path = WORK / f"markovify_{size}_o{order}{'' if well_formed else '_all'}.json"
    cmd = [sys.executable, __file__, "_mk_train", "--wakati", wakati_path, "--order", order, "--reps", TRAIN_REPS,
           "--json-out", json_path]
    if not well_formed:
        cmd.append("--all-sentences")
    done, rss, _ = timed(cmd)
    m = json.loads(done.stdout)
    m["build_ms"] = statistics.median(m["build_s"]) * 1e3
    m["rss"] = rss
    m["json"] = json_path
    m["json_gzip"] = len(zlib.compress(json_path.read_bytes(), 6))
    return m


def markovify_generate(args, json_path, size, draws=SWEEP_DRAWS):
    done, rss, _ = timed([sys.executable, __file__, "_mk_generate", "--json", json_path, "--loads", LOAD_REPS[size],
                          "--seconds", args.seconds, "--tries", TRIES, "--seed", SEED, "--draws", draws,
                          "--draw-seconds", min(args.seconds, 3.0)])
    m = json.loads(done.stdout)
    m["rss"] = rss
    m["rates"] = sorted(calls / seconds for calls, _, seconds in m["segments"])
    m["rate"] = statistics.median(m["rates"])
    m["calls"] = sum(s[0] for s in m["segments"])
    m["failed"] = sum(s[1] for s in m["segments"])
    return m


def ours_generate(sources, seconds):
    """`generate` from `sources` (`--model PATH`, or `--mix PATH:WEIGHT` repeated) for about `seconds`."""
    count = ours_segment_calls(sources, seconds)
    return ours_generate_summary([ours_generate_run(sources, SEED + segment, count)
                                  for segment in range(GEN_SEGMENTS)])


def ours_generate_run(sources, seed, count):
    """One `generate` process: its --timings JSON and peak RSS."""
    done, peak, _ = timed(ours("generate", *sources, "--seed", seed, "--tries", TRIES, "--max-chars", NO_CHAR_LIMIT,
                               "--timings", "--count", count), stdout=subprocess.DEVNULL)
    return last_json(done.stderr), peak


def ours_segment_calls(sources, seconds):
    """Calls for one of GEN_SEGMENTS runs taking `seconds` in all, from a 200-call calibration."""
    calibration, _ = ours_generate_run(sources, SEED, 200)
    per_second = calibration["count"] / max(calibration["generate_ms"], 0.001) * 1e3
    return int(min(max(per_second * seconds / GEN_SEGMENTS, 1000), 20_000_000))


def ours_generate_summary(runs):
    rates = sorted(r["count"] / (r["generate_ms"] / 1e3) for r, _ in runs)
    return {"rates": rates, "rate": statistics.median(rates), "calls": sum(r["count"] for r, _ in runs),
            "failed": sum(r["failed"] for r, _ in runs), "rss": max(rss for _, rss in runs),
            "timings": [r for r, _ in runs]}


def dictionary_rss(dictionary):
    _, rss, _ = timed(ours("segment", "--dictionary", dictionary), stdin=subprocess.DEVNULL)
    return rss


def sweep(args, dictionary, inputs, lines, gen):
    progress("order sweep")
    rows = []
    samples = []
    for size in SIZES:
        corpus_lines = set("".join(l.split()) for l in lines[:size])  # whitespace ignored
        base = WORK / f"ours_{size}_o2.tgm"
        for order in SWEEP_ORDERS:
            done, _, _ = timed(ours("generate", "--model", base, "--order", order, "--tries", 1, "--count", SWEEP_DRAWS,
                                    "--seed", SWEEP_SEED, "--max-chars", NO_CHAR_LIMIT, "--timings"), check=False)
            timings = last_json(done.stderr)  # printed even when every draw failed (status 1)
            accepted = [l for l in done.stdout.split("\n") if l]
            count, failed = timings["count"], timings["failed"]
            if accepted:
                segmented = run(ours("segment", "--dictionary", dictionary), input="\n".join(accepted) + "\n",
                                capture_output=True, text=True).stdout.rstrip("\n").split("\n")
                tokens = statistics.mean(len(s.split()) for s in segmented)
                chars = statistics.mean(len(s) for s in accepted)
                copies = sum(1 for s in accepted if "".join(s.split()) in corpus_lines)
            else:
                tokens = chars = float("nan")
                copies = 0
            mk = gen.get((size, order))
            mk_accept = f"{mk[2]['accepted'] / mk[2]['draws']:.1%} of {mk[2]['draws']:,}" if mk else "-"
            rows.append([size_label(size), order, f"{1 - failed / count:.1%}", f"{len(accepted):,}", f"{tokens:.1f}",
                         f"{chars:.1f}", copies, mk_accept])
            samples.append((size, order, accepted[:SAMPLES]))
    table(f"6. Order sweep (ours): single tries (--tries 1 --count {SWEEP_DRAWS} --seed {SWEEP_SEED}, no char limit)",
          ["lines", "order", "acceptance", "accepted", "mean tokens", "mean chars", "exact corpus copies",
           "markovify acceptance (tries=1)"], rows,
          notes=["acceptance = 1 - failed/count: how often a draw is not a near-copy of the corpus (overlap test)",
                 "tokens: accepted sentences re-segmented with our tokenizer; chars: Unicode characters; "
                 "copies: accepted sentences equal to a training line, whitespace ignored",
                 "orders are the same stored corpus re-indexed (`generate --order N`)",
                 "markovify column (orders 2-3 only; its own well-formed corpus; make_sentence(tries=1) after the timed run): "
                 "a cross-check that both overlap tests reject about as often"])
    print(f"\nsamples (first {SAMPLES} accepted draws of each run above, cut at {SAMPLE_CHARS} characters):")
    for size, order, texts in samples:
        for i, text in enumerate(texts):
            head = f"  {size_label(size):>6} o{order}" if i == 0 else " " * 11
            cut = text if len(text) <= SAMPLE_CHARS else text[:SAMPLE_CHARS] + "…"
            print(f"{head}  {cut}")
        if not texts:
            print(f"  {size_label(size):>6} o{order}  (none accepted)")
    sys.stdout.flush()


def same_sentences(args, wakati, mecab_ms, train, gen):
    """markovify with well_formed=False learns every line, like ours: the fairer variant."""
    rows = []
    for size in SIZES:
        order = 2
        progress(f"markovify on all sentences: {size} lines, order {order}")
        o, _ = train[size, order]
        info, og, _ = gen[size, order]
        m = markovify_train(args, wakati[size], size, order, well_formed=False)
        mg = markovify_generate(args, m["json"], size, draws=0)
        train_ratio = (mecab_ms[size] + m["build_ms"]) / o["train_ms"]
        bytes_ratio = m["json_bytes"] / o["model_bytes"]
        gen_ratio = og["rate"] / mg["rate"]
        load_ratio = statistics.median(mg["load_s"]) * 1e3 / info["load_ms_median"]
        rows.append([size_label(size), order, f"{o['sentences']:,} / {m['sentences']:,}",
                     f"{fmt_ratio(train_ratio)} {verdict(train_ratio >= TARGET_TRAIN)}",
                     f"{fmt_ratio(bytes_ratio)} {verdict(bytes_ratio >= TARGET_BYTES)}",
                     f"{fmt_ratio(gen_ratio)} {verdict(gen_ratio >= TARGET_GENERATE)}",
                     fmt_ratio(load_ratio), f"{m['rss']:,} / {mg['rss']:,}"])
    table("7. markovify on the very same sentences (NewlineText(..., well_formed=False)), order 2",
          ["lines", "order", "sentences ours/markovify", "train mk/ours", "bytes mk/ours", "generate ours/mk",
           "load mk/ours", "markovify RSS KB train / load+gen"], rows,
          notes=["tables 1-5 use the old service's call (well_formed=True, fewer sentences); this repeats order 2 "
                 "with every line learned on both sides; ours are the same runs as above"])


def mixes(args, dictionary, lines):
    """Ours alone: generation from a blend of k models, each trained on one of k equal slices of the
    45,000 lines (weights 1, then a few unequal), against the one model trained on all of them (table 3's)."""
    size, order = SIZES[-1], 2
    sources = {1: ["--model", WORK / f"ours_{size}_o{order}.tgm"]}
    models = {}
    for parts in MIX_PARTS:
        progress(f"mix: training {parts} models of {size // parts:,} lines")
        per = size // parts
        models[parts] = []
        for i in range(parts):
            text, model = WORK / f"mix_{parts}_{i}.txt", WORK / f"mix_{parts}_{i}.tgm"
            text.write_text("\n".join(lines[i * per:(i + 1) * per]) + "\n", encoding="utf-8")
            run(ours("train", "--input", text, "--out", model, "--order", order, "--raw", "--dictionary", dictionary))
            models[parts].append(model)
    mixed = [(parts, (1,) * parts) for parts in MIX_PARTS] + list(MIX_WEIGHTED)
    for parts, weights in mixed:
        sources[parts, weights] = [a for model, w in zip(models[parts], weights) for a in ("--mix", f"{model}:{w}")]
    progress("mix: generating")
    calls = {key: ours_segment_calls(s, args.seconds) for key, s in sources.items()}
    runs = {key: [] for key in sources}
    # Segments taken in turn, so that a change in the machine's load falls on every side alike.
    for segment in range(GEN_SEGMENTS):
        for key, s in sources.items():
            runs[key].append(ours_generate_run(s, SEED + segment, calls[key]))
    results = {key: ours_generate_summary(r) for key, r in runs.items()}

    one = results[1]
    spread = lambda g: f"{g['rates'][0]:,.0f}-{g['rates'][-1]:,.0f}"
    rows = []
    for parts, weights in mixed:
        mix = results[parts, weights]
        ratio = one["rate"] / mix["rate"]
        shown = "1" if len(set(weights)) == 1 else f"{weights[0]}-{weights[-1]}" if parts > 2 else ":".join(map(str, weights))
        rows.append([parts, shown, f"{size // parts:,}", f"{mix['rate']:,.0f}/s", spread(mix),
                     f"{mix['calls']:,} ({mix['failed']} failed)", f"{one['rate']:,.0f}/s", spread(one),
                     f"{ratio:.2f}x", f"<={TARGET_MIX:g}x", verdict(ratio <= TARGET_MIX),
                     fmt_ms(statistics.median(t["blend_ms"] for t in mix["timings"])),
                     fmt_bytes(mix["timings"][0]["blend_bytes"]), fmt_bytes(mix["timings"][0]["models_bytes"]),
                     f"{mix['rss']:,} / {one['rss']:,}"])
    table(f"8. Mixes (ours): a blend of k models against one model of the same {size_label(size)} lines, order {order}; "
          f"sentences per second on one core (overlap test on, tries={TRIES}, no char limit)",
          ["k", "weights", "lines each", "mix", "(min-max)", "mix calls", "one model", "(min-max)", "mix/one time",
           "target", "result", "blend build", "blend bytes", "parts' models", "peak RSS KB mix / one"], rows,
          notes=[f"mix: `generate --mix mix_k_i.tgm:WEIGHT` x k (equal consecutive slices), the blend built once "
                 f"per process; one model: `generate --model ours_{size}_o{order}.tgm`, as in table 3 but measured "
                 f"again here: {GEN_SEGMENTS} segments of ~{args.seconds:g} s in all per side, taken in turn; the "
                 "median segment's rate is shown, min-max beside it",
                 "weights 1 over a split corpus make the same chain as the one model (transitions weighted by "
                 "count, as markovify's combine; the blend's merged model is that model, id for id, so it draws the "
                 "very same sentences): the ratio is the cost of blending. Unequal weights (1:99; 1-10 in turn) "
                 "make another chain, drawn by rejection (a position kept with its part's weight / the largest)",
                 "blend build = Blend::new (one merged model: shared vocabulary, corpus and index; with unequal weights "
                 "also where each part's positions end), once per mix; blend bytes = Blend::memory_bytes (the blend keeps no part); "
                 "parts' models = the k models' Model::memory_bytes, freed once the blend is built; the one model: "
                 f"{fmt_bytes(one['timings'][0]['models_bytes'])}"])


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("_mk_train")
    p.add_argument("--wakati", required=True)
    p.add_argument("--order", type=int, required=True)
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--json-out", required=True)
    p.add_argument("--all-sentences", dest="well_formed", action="store_false")

    p = sub.add_parser("_mk_generate")
    p.add_argument("--json", required=True)
    p.add_argument("--loads", type=int, default=3)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--segments", type=int, default=GEN_SEGMENTS)
    p.add_argument("--max-calls", type=int, default=10_000_000)
    p.add_argument("--tries", type=int, default=TRIES)
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--draws", type=int, default=SWEEP_DRAWS)
    p.add_argument("--draw-seconds", type=float, default=3.0)

    parser.add_argument("--dictionary", default=os.environ.get("TWEETGEN_DICTIONARY", ".tools/ipadic.vibrato"))
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", "5")),
                        help="wall time of each generation run, per side (default 5, env BENCH_SECONDS)")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse_args(sys.argv[1:])
    if arguments.command == "_mk_train":
        mk_train(arguments)
    elif arguments.command == "_mk_generate":
        mk_generate(arguments)
    else:
        main(arguments)
