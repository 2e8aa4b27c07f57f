"""``qmpfast exec SOCKET COMMAND [ARGS]``: run one QMP command.

Made for scripts, so the outcome is in the exit status: 0 and the reply's
value as one line of JSON on stdout; 1 and ``ErrorClass: description`` on
stderr when QEMU answers with an error; 2 and one line on stderr when the
command could not be run at all (no monitor, not QMP, no reply, or ARGS
that are not arguments).

ARGS is either one JSON object or ``key=value`` pairs.  A value is read as
JSON when it is JSON (``bus=1``, ``force=true``, ``keys=[...]``) and taken
as a string otherwise (``device=ide0-hd0``), the way people type them;
quote a string that looks like JSON (``name='"true"'``).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..errors import CommandError, QMPError

# exit statuses
OK, COMMAND_FAILED, NOT_RUN = 0, 1, 2


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "exec", help="run one QMP command and print its reply",
        description="Run one QMP command and print its reply as JSON. "
        "Exit status: 0 success, 1 QEMU answered with an error, 2 the "
        "command could not be run (connection, not QMP, no reply, bad "
        "arguments).")
    p.add_argument("address", metavar="SOCKET",
                   help="QMP unix socket or HOST:PORT")
    p.add_argument("command", metavar="COMMAND", help="e.g. query-status")
    p.add_argument("args", nargs="*", metavar="ARGS",
                   help="one JSON object, or key=value pairs (a value is "
                   "JSON if it parses, else a string)")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="wait this long to connect and for the reply "
                   "(default 10)")
    p.add_argument("--pretty", action="store_true",
                   help="indent the reply")
    p.add_argument("--oob", action="store_true",
                   help="run the command out of band (exec-oob); the "
                   "monitor must offer the oob capability")
    p.set_defaults(func=cmd_exec)


def parse_arguments(args: list[str]) -> dict[str, Any] | None:
    """The command's arguments from the words after COMMAND; ValueError
    naming the word that is neither a JSON object nor ``key=value``."""
    if not args:
        return None
    if len(args) == 1 and args[0].lstrip().startswith("{"):
        try:
            value = json.loads(args[0])
        except ValueError as exc:
            raise ValueError(f"ARGS is not a JSON object: {exc}") from None
        if not isinstance(value, dict):
            raise ValueError("ARGS is not a JSON object")
        return value
    out: dict[str, Any] = {}
    for word in args:
        key, sep, text = word.partition("=")
        if not sep or not key:
            raise ValueError(f"{word!r} is not key=value (or ARGS one JSON "
                             "object)")
        if key in out:
            raise ValueError(f"argument {key!r} given twice")
        out[key] = json_or_string(text)
    return out


def json_or_string(text: str) -> Any:
    """``text`` read as JSON, or ``text`` itself when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def cmd_exec(args: argparse.Namespace) -> int:
    from ..client import connect

    try:
        arguments = parse_arguments(args.args)
    except ValueError as exc:
        return _fail(f"qmpfast exec: {exc}")
    try:
        with connect(args.address, timeout=args.timeout,
                     connect_timeout=args.timeout, oob=args.oob) as client:
            if args.oob:
                value = client.execute_oob(args.command, arguments)
            else:
                value = client.execute(args.command, arguments)
    except CommandError as exc:
        sys.stderr.write(f"{exc.error_class}: {exc.desc}\n")
        return COMMAND_FAILED
    except (QMPError, TimeoutError, ValueError, TypeError) as exc:
        return _fail(f"qmpfast exec: {exc}")
    text = json.dumps(value, indent=2 if args.pretty else None,
                      ensure_ascii=False)
    sys.stdout.write(text + "\n")
    return OK


def _fail(line: str) -> int:
    sys.stderr.write(" ".join(line.split("\n")) + "\n")
    return NOT_RUN
