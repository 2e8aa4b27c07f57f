"""The ``qmpfast`` command line (also ``python -m qmpfast``).

Each subcommand lives in its own module with a ``register(subparsers)``;
``watch`` and ``bench`` are imported only when the command line runs, so
``import qmpfast`` never pays for asyncio or the benchmark harness.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from typing import Optional, Sequence

from .. import __version__
from ..scan import BACKEND
from .errors import CLIError

SUBCOMMANDS = ("parse", "watch", "bench", "convert", "exec", "mux", "shell")


def build_parser() -> argparse.ArgumentParser:
    """The parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="qmpfast",
        description="Fast, robust reader of the QEMU Machine Protocol.")
    parser.add_argument("--version", action="version",
                        version=f"qmpfast {__version__} (backend {BACKEND})")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit status.  ``args.started`` is
    when it began, so that ``parse --stats`` can report its set-up."""
    started = argparse.Namespace(started=time.perf_counter())
    args = build_parser().parse_args(argv, namespace=started)
    try:
        status: int = args.func(args)
        return status
    except CLIError as exc:
        sys.stderr.write(f"qmpfast: {exc}\n")
        return 1
    except BrokenPipeError:
        try:
            sys.stdout = None
        finally:
            return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
