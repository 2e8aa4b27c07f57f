"""``qmpfast mux SOCKET --listen PATH``: share one VM monitor.

A thin command line over ``qmpfast.mux.Mux``; notices (attached, clients
coming and going, drops, the monitor gone) go to stderr, one line each.
Exit status 0 when the monitor closes, 1 when it cannot be reached at the
start (without ``--reconnect``), 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from ..errors import QMPConnectionError
from .errors import CLIError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "mux", help="share one VM monitor among many QMP clients",
        description="Hold the QMP monitor at SOCKET and serve any number "
        "of QMP clients at --listen: each gets its own greeting and "
        "negotiation and only its own replies; every event goes to all.")
    p.add_argument("address", metavar="SOCKET",
                   help="the VM's QMP unix socket or HOST:PORT")
    p.add_argument("--listen", required=True, metavar="PATH",
                   help="unix socket (or HOST:PORT) to serve clients on")
    p.add_argument("--reconnect", action="store_true",
                   help="when the monitor closes, keep serving PATH and "
                   "attach again once the VM is back")
    p.add_argument("--max-queue", type=int, default=1000, metavar="N",
                   help="messages queued per client before its oldest "
                   "events are dropped (default 1000)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="S",
                   help="wait for QEMU's greeting and for each reply "
                   "(default 30)")
    p.set_defaults(func=cmd_mux)


def notice(text: str) -> None:
    sys.stderr.write(f"qmpfast mux: {text}\n")
    sys.stderr.flush()


def cmd_mux(args: argparse.Namespace) -> int:
    from ..mux import Mux

    if args.max_queue < 1:
        raise CLIError("--max-queue must be at least 1")
    mux = Mux(args.address, args.listen, reconnect=args.reconnect,
              max_queue=args.max_queue, timeout=args.timeout, log=notice)

    async def run() -> None:
        await mux.start()
        notice(f"serving {args.listen}")
        await mux.serve()

    try:
        asyncio.run(run())
    except QMPConnectionError as exc:
        raise CLIError(str(exc)) from None
    return 0
