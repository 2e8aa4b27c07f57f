"""The ``qmpfast`` command line (also ``python -m qmpfast``).

Each subcommand lives in its own module with a ``register(subparsers)``.
Only the module of the command being run is imported (the others are
listed by name and help line alone): ``qmpfast parse`` or ``qmpfast exec``
run from a script do not pay for asyncio, prompt_toolkit or the benchmark
harness, and ``import qmpfast`` pays for none of them.
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

# Each subcommand and its help line (each module's register() gives the
# same line; tests/test_cli.py holds them equal).
SUBCOMMANDS = {
    "parse": "decode QMP captures",
    "watch": "print the events of running VMs as they arrive",
    "bench": "compare qmpfast with json, orjson, msgspec, qemu.qmp",
    "convert": "convert QMP logs to a Parquet file",
    "exec": "run one QMP command and print its reply",
    "mux": "share one VM monitor among many QMP clients",
    "shell": "an interactive QMP shell with completion and history",
}


def build_parser(only: Optional[str] = None) -> argparse.ArgumentParser:
    """The parser with every subcommand registered, or with only the
    subcommand ``only`` registered in full (its module imported) and the
    others by name and help line."""
    parser = argparse.ArgumentParser(
        prog="qmpfast",
        description="Fast, robust reader of the QEMU Machine Protocol.")
    parser.add_argument("--version", action="version",
                        version=f"qmpfast {__version__} (backend {BACKEND})")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, line in SUBCOMMANDS.items():
        if only is None or name == only:
            importlib.import_module(f"{__name__}.{name}").register(sub)
        else:
            sub.add_parser(name, help=line)
    return parser


def command_of(argv: Sequence[str]) -> Optional[str]:
    """The subcommand ``argv`` runs (its first word not an option), or None
    (``--help``, ``--version``, a typo: the full parser answers)."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in SUBCOMMANDS else None
    return None


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit status.  ``args.started`` is
    when it began, so that ``parse --stats`` can report its set-up."""
    started = argparse.Namespace(started=time.perf_counter())
    if argv is None:
        argv = sys.argv[1:]
    args = build_parser(command_of(argv)).parse_args(argv, namespace=started)
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
