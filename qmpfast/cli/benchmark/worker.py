"""One measurement, in its own process (started by ``runner``).

Why a separate process per (peer, job): imported libraries, interned
strings, allocator and GC state would otherwise carry over from one peer
to the next, and qmpfast picks its backend once, at import.  The result is
printed as one JSON object on stdout.  The runner starts it through
``runner.worker_command``, which loads this folder without importing
qmpfast; by hand, ``python -m qmpfast.cli.benchmark.worker`` works too
(qmpfast is then imported first):

    ... probe VARIANT
    ... run VARIANT JOB STREAM_FILE [--chunk N] [--repeat N] [--busy-heap N]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import time
from statistics import median
from typing import Any, Dict, List, Optional, Sequence

from . import peers
from .streams import chunks


def probe(variant: str) -> Dict[str, Any]:
    peer = peers.load(variant)
    return {"variant": variant, "library": peer.library,
            "available": peer.available, "note": peer.note,
            "version": peer.version, "jobs": sorted(peer.jobs),
            "missing": peer.missing,
            "python": interpreter()}


def interpreter() -> str:
    """This interpreter, as the runner's header names it."""
    name = f"{platform.python_implementation()} {platform.python_version()}"
    pypy = getattr(sys, "pypy_version_info", None)
    if pypy is not None:
        name += f" (PyPy {pypy.major}.{pypy.minor}.{pypy.micro})"
    return name


# Runs of each job before the timed ones: PyPy's JIT compiles a loop only
# after it has run a while, and the per-chunk code runs once per 64 KiB,
# so one pass leaves much of it interpreted.  A collector runs for days:
# its steady state is what the PyPy rows measure (json's row as well).
WARMUPS = 3 if hasattr(sys, "pypy_version_info") else 1


def busy_heap(n: int) -> List[Dict[str, Any]]:
    """``n`` long-lived dicts, so that every full GC pass has to walk them
    (what a real application's heap looks like to the collector).  Each
    holds a list: a dict of only ints and strings is not tracked by the GC
    at all, and would not show anything."""
    heap = [{"id": i, "name": "object", "tags": []} for i in range(n)]
    gc.collect()                         # promote them to the oldest generation
    return heap


def run(variant: str, job: str, path: str, chunk: int, repeat: int,
        heap_size: int) -> Dict[str, Any]:
    peer = peers.load(variant)
    if not peer.available or job not in peer.jobs:
        return {"variant": variant, "job": job, "skipped": peer.note or
                f"{variant} has no {job} job"}
    fn = peer.jobs[job]
    with open(path, "rb") as f:
        stream = f.read()
    parts = chunks(stream, chunk)
    heap = busy_heap(heap_size) if heap_size else None
    gc.enable()
    checksum = fn(parts)                 # warm-up, and the value to check
    for _ in range(WARMUPS - 1):
        if fn(parts) != checksum:
            raise AssertionError(f"{variant}/{job}: result changed between runs")
    times: List[float] = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn(parts)
        times.append(time.perf_counter() - t0)
        if result != checksum:
            raise AssertionError(f"{variant}/{job}: result changed between runs")
    del heap
    return {"variant": variant, "job": job, "times": times,
            "median": median(times), "checksum": list(checksum),
            "bytes": len(stream), "events": stream.count(b"\n")}


def main(argv: Optional[Sequence[str]] = None,
         prog: str = "python -m qmpfast.cli.benchmark.worker") -> int:
    ap = argparse.ArgumentParser(prog=prog)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("probe")
    p.add_argument("variant")
    r = sub.add_parser("run")
    r.add_argument("variant")
    r.add_argument("job")
    r.add_argument("stream")
    r.add_argument("--chunk", type=int, default=65536)
    r.add_argument("--repeat", type=int, default=5)
    r.add_argument("--busy-heap", type=int, default=0)
    args = ap.parse_args(argv)
    if args.cmd == "probe":
        out: Dict[str, Any] = probe(args.variant)
    else:
        out = run(args.variant, args.job, args.stream, args.chunk,
                  args.repeat, args.busy_heap)
    json.dump(out, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
