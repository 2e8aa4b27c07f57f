"""``qmpfast bench``: the peer comparison on a small stream, in seconds.

The runner and its peers ship in ``qmpfast.cli.benchmark``, so this works
from an installed package as from a source tree (``python -m
benchmarks.run`` is the same runner with full-size defaults).  One fresh
process per peer and job, the same generated stream for all; peers whose
library is not installed (orjson, msgspec, qemu.qmp, a ``pypy3``) are
left out with a note.  ``--plot`` draws the tables (needs matplotlib).
"""

from __future__ import annotations

import argparse

from .benchmark import options
from .errors import CLIError


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "bench", help="compare qmpfast with json, orjson, msgspec, qemu.qmp",
        description="Run the benchmark comparison on a generated stream "
        "(2 MiB and 3 repeats by default: about 15 s) and print ns/event, "
        "MB/s and ratios per job.  Peers not installed are skipped.")
    options.add_arguments(p, small=True)
    p.add_argument("--plot", metavar="FILE.png",
                   help="draw a bar chart per job (needs matplotlib)")
    p.set_defaults(func=cmd_bench, parser=p)


def cmd_bench(args: argparse.Namespace) -> int:
    from .benchmark import plot, runner  # the runner only when it runs
    options.check_args(args.parser, args)
    status, report = runner.run(args)
    if args.plot:
        try:
            print(f"chart written to {plot.plot(report, args.plot)}")
        except plot.PlotError as exc:
            raise CLIError(f"--plot: {exc}") from exc
    return status
