"""``qmpfast bench``: the peer comparison of benchmarks/, in under a minute.

It runs ``benchmarks.run`` (one fresh process per peer and job, same
generated stream) on a smaller stream than the full run, prints the tables
and, with ``--plot``, draws them.  The comparison lives in the source tree's
``benchmarks/`` folder, next to the peers it needs (``pip install
".[bench]"``); from an installed wheel without it, the command says so.
"""

from __future__ import annotations

import os
import sys
import tempfile


def register(subparsers):
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


def _import_benchmarks():
    """benchmarks/ of the checkout qmpfast runs from, or of the current
    directory (a checkout with qmpfast installed from it)."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for root in (here, os.getcwd()):
        if os.path.isdir(os.path.join(root, "benchmarks")) and \
                root not in sys.path:
            sys.path.insert(0, root)
            break
    try:
        from benchmarks import plot, run
    except ImportError:
        return None, None
    return run, plot


def cmd_bench(args):
    from .cli import CLIError
    run, plot = _import_benchmarks()
    if run is None:
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
        status = run.main(argv)
        if status == 0 and args.plot:
            try:
                plot.plot(out, args.plot)
            except ImportError as exc:
                raise CLIError(f"--plot needs matplotlib ({exc})") from exc
            sys.stdout.write(f"plot written to {args.plot}\n")
        return status
    finally:
        if tmp is not None:
            os.unlink(tmp.name)
