"""The runner's command-line options, shared by ``qmpfast bench`` and
``python -m benchmarks.run`` (which differ only in their defaults).

Why a module of their own: the two commands take the same options, and
``qmpfast --help`` (which builds every subcommand's parser) should not
import the runner (subprocess, tempfile, the stream generator) for it.
"""

from __future__ import annotations

import argparse

from . import peers

JOBS = ("full", "route", "typed", "filter", "scan", "parquet")


def add_arguments(ap: argparse.ArgumentParser,
                  small: bool = False) -> None:
    """The runner's options, on ``ap``; ``small``: the defaults of
    ``qmpfast bench`` (a 2 MiB stream, 3 repeats: about 15 s) rather than
    those of a full run (20 MiB, 5 repeats)."""
    ap.add_argument("--jobs", nargs="+", default=None,
                    help=f"jobs to run (default: all of {', '.join(JOBS)})")
    ap.add_argument("--peers", nargs="+", default=None,
                    help="variants or libraries (e.g. orjson msgspec qmpfast); "
                         f"known: {', '.join(peers.VARIANT_NAMES)}")
    ap.add_argument("--size-mb", type=float, default=2 if small else None,
                    help="stream size in MiB (default 2)" if small else
                    "stream size in MiB (default 20, --quick 2)")
    ap.add_argument("--chunk", type=int, default=65536, help="chunk size in bytes")
    ap.add_argument("--repeat", type=int, default=3 if small else None,
                    help="timed runs per measurement (default 3)" if small
                    else "timed runs per measurement (default 5, --quick 3)")
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


def check_args(ap: argparse.ArgumentParser,
               args: argparse.Namespace) -> argparse.Namespace:
    """Expand and check what ``add_arguments`` parsed: jobs and peers
    (comma lists allowed), the sizes; errors go through ``ap.error``."""
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
