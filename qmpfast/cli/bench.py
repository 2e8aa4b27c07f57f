"""``qmpfast bench``: the peer comparison of benchmarks/, in under a minute.

It runs ``benchmarks.run`` (one fresh process per peer and job, same
generated stream) on a smaller stream than the full run, prints the tables
and, with ``--plot``, draws them.  The comparison lives in the source tree's
``benchmarks/`` folder, next to the peers it needs (``pip install
".[bench]"``); from an installed wheel without it, the command says so.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from typing import Optional

from .errors import CLIError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "bench", help="compare qmpfast with json, orjson, msgspec, qemu.qmp",
        description="Run the benchmark comparison on a generated stream "
        "and print ns/event, MB/s and ratios per job.")
    p.add_argument("--size-mb", type=float, default=4.0,
                   help="stream size (default 4 MB: well under a minute)")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--jobs", nargs="+", metavar="JOB",
                   help="full, route, typed, filter (default: all)")
    p.add_argument("--peers", nargs="+", metavar="PEER",
                   help="default: every installed peer")
    p.add_argument("--json", metavar="FILE", help="write the results")
    p.add_argument("--plot", metavar="FILE.png",
                   help="draw a bar chart per job (needs matplotlib)")
    p.set_defaults(func=cmd_bench)


def _checkout() -> Optional[str]:
    """The source tree whose ``benchmarks/`` folder to run: the one qmpfast
    runs from, or the current directory (a checkout with qmpfast installed
    from it).  The comparison runs in a child process there, so this
    process's ``sys.path`` is never touched."""
    here = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    for root in (here, os.getcwd()):
        if os.path.isfile(os.path.join(root, "benchmarks", "run.py")):
            return root
    return None


def cmd_bench(args: argparse.Namespace) -> int:
    root = _checkout()
    if root is None:
        raise CLIError("bench needs the benchmarks/ folder of the qmpfast "
                       "source tree (run it from a checkout's top folder)")
    argv = ["--size-mb", str(args.size_mb), "--repeat", str(args.repeat)]
    if args.jobs:
        argv += ["--jobs", *args.jobs]
    if args.peers:
        argv += ["--peers", *args.peers]
    out = args.json
    tmp = None
    if args.plot and not out:
        tmp = tempfile.NamedTemporaryFile(suffix=".json", delete=False)
        tmp.close()
        out = tmp.name
    if out:
        argv += ["--json", out]
    try:
        status = subprocess.call(
            [sys.executable, "-m", "benchmarks.run", *argv], cwd=root)
        if status == 0 and args.plot:
            status = subprocess.call(
                [sys.executable, "-m", "benchmarks.plot", out, args.plot],
                cwd=root)
            if status != 0:
                raise CLIError("--plot failed (it needs matplotlib)")
        return status
    finally:
        if tmp is not None:
            os.unlink(tmp.name)
