"""Compare QMP parsers on the same seeded event stream.

    python -m benchmarks.run                       # everything, ~20 MB stream
    python -m benchmarks.run --quick               # 2 MB, 3 repeats
    python -m benchmarks.run --jobs route filter --peers orjson msgspec qmpfast
    python -m benchmarks.run --busy-heap --json results.json
    python -m benchmarks.run --values unique       # no member value repeats

Jobs (see ``benchmarks.peers``): ``full`` (name, timestamp and data dict of
every event), ``route`` (name and timestamp only), ``typed`` (the documented
events' data members as attributes), ``filter`` (keep BLOCK_IO_ERROR only,
read its data).  full/route/typed run on the default mix; filter runs on
the "filter" mix, where BLOCK_IO_ERROR is about 1 % of events.  ``scan``
(the C scanner alone, messages counted) and ``parquet`` (Arrow batches
with typed columns written as Parquet) are qmpfast.columns' only: the
scanner's throughput next to the conversion's.

Method: every (peer, job) runs in a fresh interpreter (``benchmarks._worker``)
so imports and GC state do not leak between peers.  Each reads the same
stream file, splits it into fixed-size chunks (mid-line, like socket
reads), runs the job once as a warm-up, then ``--repeat`` timed runs
(``time.perf_counter``); the median is reported.  The GC stays enabled.
Every peer's checksum is compared with a reference computed with the
standard library, so a fast but wrong peer shows up as "WRONG".

Columns: ns/event (all events in the stream, including those a filter
drops), MB/s (10**6 bytes), "vs orjson" = orjson time / this time and
"vs msgspec" = best msgspec variant time / this time (above 1 = faster).

Cross-interpreter rows: when ``pypy3`` is installed (or ``--pypy PATH``
names a PyPy), the ``pypy-*`` variants run the same peer modules under
PyPy, in the same run and on the same stream: PyPy's own ``json.loads``
and qmpfast on both backends (the C one needs the module built for PyPy
in this tree: ``pypy3 -m pip install -e .`` or ``pypy3 setup.py
build_ext --inplace``).  Their "vs" columns compare with orjson and msgspec
on CPython, and a last table compares qmpfast on PyPy with PyPy's
``json.loads`` (typed against json's full job: the dicts it builds are
what typed attributes replace).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import peers
from .peers import _common
from .streams import MIXES, make_stream

JOBS = ("full", "route", "typed", "filter", "scan", "parquet")
STREAM_MIX = {"full": "default", "route": "default", "typed": "default",
              "filter": "filter", "scan": "default", "parquet": "default"}
ROOT = Path(__file__).resolve().parent.parent


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict:
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
    }


def interpreters(pypy) -> dict:
    """{interpreter name: executable} for the variants that need one other
    than this process's; ``pypy`` is the --pypy option (None: look for
    ``pypy3`` on PATH, "none": no PyPy rows)."""
    if pypy is None:
        pypy = os.environ.get("QMPFAST_BENCH_PYPY") or shutil.which("pypy3")
    found = {platform.python_implementation().lower(): sys.executable}
    if pypy and pypy != "none" and "pypy" not in found:
        found["pypy"] = pypy
    return found


def _worker(args: list, variant: str, timeout: float = 900,
            python: str = sys.executable) -> dict:
    """Run ``benchmarks._worker`` in a fresh interpreter for ``variant``."""
    env = dict(os.environ)
    for key, value in dict(peers.REGISTRY_ENV[variant]).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.setdefault("PYTHONHASHSEED", "0")
    proc = subprocess.run(
        [python, "-m", "benchmarks._worker", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        return {"error": " | ".join(tail) or f"exit {proc.returncode}"}
    return json.loads(proc.stdout)


def make_streams(jobs, size_mb, seed, order, sep, directory,
                 values="repeat") -> dict:
    """Write one stream file per mix the jobs need; {mix: (path, bytes)}."""
    out = {}
    for mix in sorted({STREAM_MIX[j] for j in jobs}):
        data = make_stream(size=int(size_mb * 2**20), seed=seed, order=order,
                           mix=MIXES[mix], sep=sep, values=values)
        path = Path(directory) / f"qmp-{mix}.jsonl"
        path.write_bytes(data)
        out[mix] = (str(path), data)
    return out


def ratio(base, this):
    return base / this if base and this else None


def fmt_ratio(r) -> str:
    return f"{r:.2f}x" if r is not None else "-"


def print_table(job: str, rows: list, out=sys.stdout) -> None:
    print(f"\n## {job}  ({rows[0]['events'] if rows else 0} events, "
          f"{rows[0]['bytes'] / 1e6 if rows else 0:.1f} MB, "
          f"mix {STREAM_MIX[job]})", file=out)
    head = f"{'peer':<19} {'ns/event':>10} {'MB/s':>8} {'vs orjson':>10} " \
           f"{'vs msgspec':>11} {'spread':>7}  check"
    print(head, file=out)
    print("-" * len(head), file=out)
    for r in rows:
        print(f"{r['variant']:<19} {r['ns_per_event']:>10.0f} {r['mb_s']:>8.1f} "
              f"{fmt_ratio(r['vs_orjson']):>10} {fmt_ratio(r['vs_msgspec']):>11} "
              f"{r['spread'] * 100:>6.1f}%  {'ok' if r['ok'] else 'WRONG'}",
              file=out)


def print_pypy_summary(results: dict, out=sys.stdout) -> None:
    """qmpfast on PyPy against PyPy's own json.loads, per job (typed
    against json's full job, which has no typed variant)."""
    def ns(job, variant):
        rows = results.get(job, {}).get("rows", [])
        return next((r["ns_per_event"] for r in rows
                     if r["variant"] == variant and r["ok"]), None)
    mine = ("pypy-qmpfast-c", "pypy-qmpfast-python")
    if not any(ns(job, "pypy-json") and ns(job, v)
               for job in results for v in mine):
        return
    print("\n## PyPy: qmpfast against PyPy's json.loads (ns/event; ratio = "
          "json time / this time)", file=out)
    head = f"{'job':<8} {'json':>8} " + " ".join(
        f"{v[5:]:>22}" for v in mine)
    print(head, file=out)
    print("-" * len(head), file=out)
    for job in results:
        base = ns("full" if job == "typed" else job, "pypy-json")
        cells = []
        for v in mine:
            t = ns(job, v)
            cells.append(f"{t:>12.0f} ({fmt_ratio(ratio(base, t)):>7})"
                         if t else f"{'-':>22}")
        base_text = f"{base:.0f}" if base else "-"
        print(f"{job:<8} {base_text:>8} " + " ".join(cells), file=out)


def summarise(job: str, raw: list, expected) -> list:
    """Turn worker outputs for one job into table rows, fastest first."""
    rows = []
    for w in raw:
        med = w["median"]
        rows.append({
            "variant": w["variant"], "median_s": med, "times_s": w["times"],
            "ns_per_event": med / w["events"] * 1e9,
            "mb_s": w["bytes"] / med / 1e6,
            "spread": (max(w["times"]) - min(w["times"])) / med,
            "events": w["events"], "bytes": w["bytes"],
            "checksum": w["checksum"], "ok": w["checksum"] == list(expected),
        })
    by = {r["variant"]: r["median_s"] for r in rows}
    orjson_t = by.get("orjson")
    msgspec_t = min((t for v, t in by.items() if v.startswith("msgspec")),
                    default=None)
    for r in rows:
        r["vs_orjson"] = ratio(orjson_t, r["median_s"])
        r["vs_msgspec"] = ratio(msgspec_t, r["median_s"])
    return sorted(rows, key=lambda r: r["median_s"])


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="Compare QMP parsers on the same seeded event stream.")
    ap.add_argument("--jobs", nargs="+", default=None,
                    help=f"jobs to run (default: all of {', '.join(JOBS)})")
    ap.add_argument("--peers", nargs="+", default=None,
                    help="variants or libraries (e.g. orjson msgspec qmpfast); "
                         f"known: {', '.join(peers.VARIANT_NAMES)}")
    ap.add_argument("--size-mb", type=float, default=None,
                    help="stream size in MiB (default 20, --quick 2)")
    ap.add_argument("--chunk", type=int, default=65536, help="chunk size in bytes")
    ap.add_argument("--repeat", type=int, default=None,
                    help="timed runs per measurement (default 5, --quick 3)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--order", choices=("qemu", "doc"), default="qemu",
                    help="key order of each message")
    ap.add_argument("--sep", choices=("crlf", "lf"), default="crlf",
                    help="message separator (QEMU writes CRLF)")
    ap.add_argument("--values", choices=("repeat", "unique"),
                    default="repeat",
                    help="member values drawn from small sets as in real "
                         "streams (repeat), or every device, host and port "
                         "unique (unique: nothing a parser caches is found "
                         "again)")
    ap.add_argument("--busy-heap", type=int, nargs="?", const=1_000_000,
                    default=0, metavar="N",
                    help="allocate N long-lived dicts before timing "
                         "(default N = 1000000) to show GC effects")
    ap.add_argument("--pypy", metavar="PATH", default=None,
                    help="PyPy interpreter for the pypy-* rows (default: "
                         "$QMPFAST_BENCH_PYPY or pypy3 on PATH; 'none' to "
                         "leave them out)")
    ap.add_argument("--json", metavar="OUT", help="also write results as JSON")
    ap.add_argument("--quick", action="store_true",
                    help="small stream and fewer repeats, for a smoke run")
    args = ap.parse_args(argv)
    args.jobs = [j for spec in (args.jobs or JOBS) for j in spec.split(",") if j]
    bad = [j for j in args.jobs if j not in JOBS]
    if bad:
        ap.error(f"unknown job(s) {bad}; known: {list(JOBS)}")
    wanted = [p for spec in (args.peers or []) for p in spec.split(",") if p]
    try:
        args.variants = peers.select(wanted)
    except ValueError as exc:
        ap.error(str(exc))
    if args.size_mb is None:
        args.size_mb = 2 if args.quick else 20
    if args.repeat is None:
        args.repeat = 3 if args.quick else 5
    if args.chunk <= 0 or args.repeat <= 0 or args.size_mb <= 0:
        ap.error("--chunk, --repeat and --size-mb must be positive")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    sep = "\r\n" if args.sep == "crlf" else "\n"
    info = machine_info()
    config = {k: getattr(args, k) for k in
              ("jobs", "variants", "size_mb", "chunk", "repeat", "seed",
               "order", "sep", "values", "busy_heap")}

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    pythons = interpreters(args.pypy)
    here = platform.python_implementation().lower()

    def python_of(v):
        return pythons.get(peers.INTERPRETER.get(v, here))

    probes = {}
    for v in args.variants:
        if python_of(v) is None:
            where = peers.INTERPRETER[v]
            probes[v] = {"variant": v, "available": False, "jobs": [],
                         "note": f"{where} not found (--pypy PATH)",
                         "version": ""}
            continue
        probes[v] = _worker(["probe", v], v, timeout=120, python=python_of(v))
        if "error" in probes[v]:
            probes[v] = {"variant": v, "available": False, "jobs": [],
                         "note": probes[v]["error"], "version": ""}

    print("# QMP parser benchmark\n")
    print(f"machine : {info['cpu']} ({info['cpus']} CPUs), {info['platform']}")
    print(f"python  : {info['python']}")
    others = sorted({p["python"] for p in probes.values()
                     if p.get("python") and p["python"] != info["python"]})
    for other in others:
        print(f"also    : {other} (the pypy-* rows)")
    for v, p in probes.items():
        state = p["version"] if p["available"] else f"unavailable: {p['note']}"
        print(f"{v:<19}: {state}")
    print(f"stream  : {args.size_mb:g} MiB, seed {args.seed}, order {args.order}, "
          f"sep {args.sep}, values {args.values}, chunks of {args.chunk} B; median of {args.repeat} "
          f"after 1 warm-up; GC on"
          + (f"; busy heap of {args.busy_heap} dicts" if args.busy_heap else ""))

    results = {}
    with tempfile.TemporaryDirectory(prefix="qmpfast-bench-") as tmp:
        streams = make_streams(args.jobs, args.size_mb, args.seed, args.order,
                               sep, tmp, args.values)
        for job in args.jobs:
            path, data = streams[STREAM_MIX[job]]
            expected = _common.reference(job, data)
            raw, errors = [], {}
            for v in args.variants:
                if not probes[v]["available"] or job not in probes[v]["jobs"]:
                    continue
                log(f"[{job}] {v} ...")
                w = _worker(["run", v, job, path, "--chunk", str(args.chunk),
                             "--repeat", str(args.repeat),
                             "--busy-heap", str(args.busy_heap)], v,
                            python=python_of(v))
                if "error" in w:
                    errors[v] = w["error"]
                    log(f"[{job}] {v} failed: {w['error']}")
                elif "skipped" in w:
                    errors[v] = w["skipped"]
                else:
                    raw.append(w)
            rows = summarise(job, raw, expected)
            results[job] = {"rows": rows, "errors": errors,
                            "expected": list(expected)}
            print_table(job, rows)
            for v, e in errors.items():
                print(f"{v:<16} failed: {e}")

    print_pypy_summary(results)
    missing = [v for v, p in probes.items() if not p["available"]]
    if missing:
        print("\nnot measured: " + "; ".join(
            f"{v} ({probes[v]['note']})" for v in missing))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "config": config, "peers": probes,
                       "results": results}, f, indent=2)
        print(f"\nresults written to {args.json}")
    wrong = [(j, r["variant"]) for j, res in results.items()
             for r in res["rows"] if not r["ok"]]
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
