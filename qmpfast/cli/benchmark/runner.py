"""Compare QMP parsers on the same seeded event stream.

``qmpfast bench`` runs it on a small stream; in a source tree,
``python -m benchmarks.run`` is the same runner with the full-size
defaults:

    python -m benchmarks.run                       # everything, ~20 MB stream
    python -m benchmarks.run --quick               # 2 MB, 3 repeats
    python -m benchmarks.run --jobs route filter --peers orjson msgspec qmpfast
    python -m benchmarks.run --busy-heap --json results.json
    python -m benchmarks.run --values unique       # no member value repeats

Jobs (see ``peers``): ``full`` (name, timestamp and data dict of
every event), ``route`` (name and timestamp only), ``typed`` (the documented
events' data members as attributes), ``filter`` (keep BLOCK_IO_ERROR only,
read its data).  full/route/typed run on the default mix; filter runs on
the "filter" mix, where BLOCK_IO_ERROR is about 1 % of events.  ``scan``
(the C scanner alone, messages counted) and ``parquet`` (Arrow batches
with typed columns written as Parquet) are qmpfast.columns' only: the
scanner's throughput next to the conversion's.

Method: every (peer, job) runs in a fresh interpreter (``worker``), so
imports and GC state do not leak between peers: it loads this folder on
its own and imports only its peer's library (qmpfast only for qmpfast's
rows).  Each reads the same stream file, splits it into fixed-size chunks
(mid-line, like socket reads), runs the job once as a warm-up (three
times on PyPy, whose JIT needs longer: see ``worker.WARMUPS``), then
``--repeat`` timed runs (``time.perf_counter``); the median is reported.  The GC stays enabled.
Every peer's checksum is compared with a reference computed with the
standard library, so a fast but wrong peer shows up as "WRONG".

Columns: ns/event (all events in the stream, including those a filter
drops), MB/s (10**6 bytes), "vs orjson" = orjson time / this time and
"vs msgspec" = best msgspec variant time / this time (above 1 = faster).

Cross-interpreter rows: when ``pypy3`` is installed (or ``--pypy PATH``
names a PyPy), the ``pypy-*`` variants run the same peer modules under
PyPy, in the same run and on the same stream: PyPy's own ``json.loads``
and qmpfast on both backends (the source tree the runner's qmpfast comes
from is on PyPy's path; elsewhere PyPy's own install of qmpfast is used.
The C one needs the module built for PyPy: ``pypy3 -m pip install -e .``
or ``pypy3 setup.py build_ext --inplace`` in the tree).  Their "vs" columns compare with orjson and msgspec
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
import site
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any, Dict, List, Optional, Sequence, Tuple, Union

from . import peers
from .options import JOBS, add_arguments, check_args
from .peers import common
from .streams import MIXES, make_stream

STREAM_MIX = {"full": "default", "route": "default", "typed": "default",
              "filter": "filter", "scan": "default", "parquet": "default"}
#: This folder: what a worker loads.
HERE = Path(__file__).resolve().parent
Row = Dict[str, Any]

# Loads the folder named by argv[1] as a package of its own and runs its
# worker.  Why not ``-m qmpfast.cli.benchmark.worker``: that imports
# qmpfast (its __init__) in every worker, also those of the other peers,
# and needs qmpfast installed for the interpreter running the worker,
# which a PyPy found on PATH may not have.
_BOOT = """\
import importlib.util, os, sys
here = sys.argv.pop(1)
spec = importlib.util.spec_from_file_location(
    "qmpfast_benchmark", os.path.join(here, "__init__.py"),
    submodule_search_locations=[here])
package = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = package
spec.loader.exec_module(package)
from qmpfast_benchmark.worker import main
sys.exit(main(sys.argv[1:]))
"""


def worker_command(python: str = sys.executable) -> List[str]:
    """The command line starting a worker under ``python``; its own
    arguments follow."""
    return [python, "-c", _BOOT, str(HERE)]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> Dict[str, Any]:
    return {
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
    }


def interpreters(pypy: Optional[str]) -> Dict[str, str]:
    """{interpreter name: executable} for the variants that need one other
    than this process's; ``pypy`` is the --pypy option (None: look for
    ``pypy3`` on PATH, "none": no PyPy rows)."""
    if pypy is None:
        pypy = os.environ.get("QMPFAST_BENCH_PYPY") or shutil.which("pypy3")
    found = {platform.python_implementation().lower(): sys.executable}
    if pypy and pypy != "none" and "pypy" not in found:
        found["pypy"] = pypy
    return found


def source_tree() -> Optional[str]:
    """The folder holding the qmpfast package this process runs, when it
    is not an installation's site-packages (a source tree, an editable
    install, PYTHONPATH): the workers need it on their path to import the
    same qmpfast.  An installed qmpfast is found without help, and another
    interpreter must not be handed this one's site-packages."""
    package = HERE.parent.parent              # .../qmpfast
    root = os.path.realpath(package.parent)
    sites = site.getsitepackages() + [site.getusersitepackages()]
    if root in {os.path.realpath(p) for p in sites}:
        return None
    return root


def _worker(args: List[str], variant: str, cwd: str, timeout: float = 900,
            python: str = sys.executable) -> Dict[str, Any]:
    """Run a worker in a fresh interpreter for ``variant``, in ``cwd`` (a
    folder with nothing importable: the interpreter puts it first on the
    path)."""
    env = dict(os.environ)
    for key, value in dict(peers.REGISTRY_ENV[variant]).items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    tree = source_tree()
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            [tree] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.setdefault("PYTHONHASHSEED", "0")
    try:
        proc = subprocess.run(
            [*worker_command(python), *args],
            cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except OSError as exc:              # a --pypy that is not there
        return {"error": f"cannot run {python}: {exc.strerror or exc}"}
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-3:]
        return {"error": " | ".join(tail) or f"exit {proc.returncode}"}
    result: Dict[str, Any] = json.loads(proc.stdout)
    return result


def make_streams(jobs: Sequence[str], size_mb: float, seed: int, order: str,
                 sep: str, directory: Union[str, "os.PathLike[str]"],
                 values: str = "repeat") -> Dict[str, Tuple[str, bytes]]:
    """Write one stream file per mix the jobs need; {mix: (path, bytes)}."""
    out = {}
    for mix in sorted({STREAM_MIX[j] for j in jobs}):
        data = make_stream(size=int(size_mb * 2**20), seed=seed, order=order,
                           mix=MIXES[mix], sep=sep, values=values)
        path = Path(directory) / f"qmp-{mix}.jsonl"
        path.write_bytes(data)
        out[mix] = (str(path), data)
    return out


def ratio(base: Optional[float], this: Optional[float]) -> Optional[float]:
    return base / this if base and this else None


def fmt_ratio(r: Optional[float]) -> str:
    return f"{r:.2f}x" if r is not None else "-"


def print_table(job: str, rows: List[Row], out: Optional[IO[str]] = None) -> None:
    if not rows:
        print(f"\n## {job}  (not measured here)", file=out)
        return
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


def print_pypy_summary(results: Dict[str, Any],
                       out: Optional[IO[str]] = None) -> None:
    """qmpfast on PyPy against PyPy's own json.loads, per job (typed
    against json's full job, which has no typed variant)."""
    def ns(job: str, variant: str) -> Optional[float]:
        rows: List[Row] = results.get(job, {}).get("rows", [])
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


def summarise(job: str, raw: List[Dict[str, Any]],
              expected: common.Checksum) -> List[Row]:
    """Turn worker outputs for one job into table rows, fastest first."""
    rows: List[Row] = []
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


def parse_args(argv: Optional[Sequence[str]] = None,
               prog: str = "python -m benchmarks.run") -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog=prog,
        description="Compare QMP parsers on the same seeded event stream.")
    add_arguments(ap)
    return check_args(ap, ap.parse_args(argv))


def main(argv: Optional[Sequence[str]] = None,
         prog: str = "python -m benchmarks.run") -> int:
    status, _report = run(parse_args(argv, prog))
    return status


def run(args: argparse.Namespace) -> Tuple[int, Dict[str, Any]]:
    """Measure and print; returns (exit status, the report ``--json``
    writes).  The status is 1 when a peer's checksum is wrong."""
    sep = "\r\n" if args.sep == "crlf" else "\n"
    info = machine_info()
    config = {k: getattr(args, k) for k in
              ("jobs", "variants", "size_mb", "chunk", "repeat", "seed",
               "order", "sep", "values", "busy_heap")}

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    pythons = interpreters(args.pypy)
    here = platform.python_implementation().lower()

    def python_of(v: str) -> Optional[str]:
        return pythons.get(peers.INTERPRETER.get(v, here))

    with tempfile.TemporaryDirectory(prefix="qmpfast-bench-") as tmp:
        probes: Dict[str, Dict[str, Any]] = {}
        for v in args.variants:
            python = python_of(v)
            if python is None:
                where = peers.INTERPRETER[v]
                probes[v] = {"variant": v, "available": False, "jobs": [],
                             "note": f"{where} not found (--pypy PATH)",
                             "version": ""}
                continue
            probes[v] = _worker(["probe", v], v, tmp, timeout=120,
                                python=python)
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
              f"after 1 warm-up (3 on PyPy); GC on"
              + (f"; busy heap of {args.busy_heap} dicts" if args.busy_heap else ""))

        results: Dict[str, Any] = {}
        streams = make_streams(args.jobs, args.size_mb, args.seed, args.order,
                               sep, tmp, args.values)
        for job in args.jobs:
            path, data = streams[STREAM_MIX[job]]
            expected = common.reference(job, data)
            raw: List[Dict[str, Any]] = []
            errors: Dict[str, str] = {}
            skipped = {v: probes[v]["missing"][job] for v in args.variants
                       if job in probes[v].get("missing", {})}
            for v in args.variants:
                python = python_of(v)
                if (python is None or not probes[v]["available"]
                        or job not in probes[v]["jobs"]):
                    continue
                log(f"[{job}] {v} ...")
                w = _worker(["run", v, job, path, "--chunk", str(args.chunk),
                             "--repeat", str(args.repeat),
                             "--busy-heap", str(args.busy_heap)], v, tmp,
                            python=python)
                if "error" in w:
                    errors[v] = w["error"]
                    log(f"[{job}] {v} failed: {w['error']}")
                elif "skipped" in w:
                    errors[v] = w["skipped"]
                else:
                    raw.append(w)
            rows = summarise(job, raw, expected)
            results[job] = {"rows": rows, "errors": errors,
                            "skipped": skipped, "expected": list(expected)}
            print_table(job, rows)
            for v, e in errors.items():
                print(f"{v:<16} failed: {e}")
            for v, why in skipped.items():
                print(f"{v:<16} skipped: {why}")

    print_pypy_summary(results)
    missing = [v for v, p in probes.items() if not p["available"]]
    if missing:
        print("\nnot measured: " + "; ".join(
            f"{v} ({probes[v]['note']})" for v in missing))
    report = {"machine": info, "config": config, "peers": probes,
              "results": results}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
        print(f"\nresults written to {args.json}")
    wrong = [(j, r["variant"]) for j, res in results.items()
             for r in res["rows"] if not r["ok"]]
    return (1 if wrong else 0), report


if __name__ == "__main__":
    sys.exit(main(prog="python -m qmpfast.cli.benchmark.runner"))
