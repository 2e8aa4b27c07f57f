"""``qmpfast shell SOCKET``: an interactive QMP shell.

A line is ``COMMAND``, ``COMMAND key=value ...`` or ``COMMAND {json}``
(see ``shell_input``); the reply prints as one line of JSON, an error as
``ErrorClass: description``.  Tab completes command names, then the
argument names of the command, both from the monitor's own
``query-qmp-schema``, so they are those of the QEMU at the other end.
Events print as they arrive, one line each as ``qmpfast watch --format
text`` prints them, above the prompt: the line being typed stays as it is.
History is kept in a file across sessions.

prompt_toolkit rather than readline: it draws completion menus, keeps
the history, prints above a prompt that is being edited (``patch_stdout``)
from an asyncio task, and behaves the same wherever Python runs, while
readline differs between GNU readline and libedit and cannot print while
a line is read without redrawing it by hand.

``.exit`` or Ctrl-D leaves (status 0).  QMP's own ``quit`` is sent like
any command and ends QEMU itself; the shell then ends with status 1, as
for any monitor that goes away.  Ctrl-C drops the line being typed, or
stops waiting for a reply.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from .. import aio
from ..errors import CommandError, QMPConnectionError, QMPError
from .errors import CLIError
from .watch import _UNSAFE_IN_JSON, TextFormat, _qemu, clean

if TYPE_CHECKING:
    from prompt_toolkit import PromptSession

    from ..aio import EventListener

DEFAULT_HISTORY = "~/.qmpfast_history"
# exit statuses
OK, CONNECTION_ENDED, NOT_CONNECTED = 0, 1, 2


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "shell", help="an interactive QMP shell with completion and history",
        description="Type QMP commands (COMMAND, COMMAND key=value ..., or "
        "COMMAND {json}); replies print as JSON and events as they arrive. "
        "Tab completes command and argument names; .exit or Ctrl-D leaves.")
    p.add_argument("address", metavar="SOCKET",
                   help="QMP unix socket or HOST:PORT")
    p.add_argument("--history", metavar="PATH", default=DEFAULT_HISTORY,
                   help=f"history file (default {DEFAULT_HISTORY})")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="wait this long to connect and for each reply "
                   "(default 10)")
    p.set_defaults(func=cmd_shell)


def cmd_shell(args: argparse.Namespace) -> int:
    try:
        import prompt_toolkit  # noqa: F401
    except ImportError:
        raise CLIError("shell needs prompt_toolkit: pip install "
                       "'qmpfast[shell]'") from None
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise CLIError("shell needs a terminal; for scripts use "
                       "'qmpfast exec SOCKET COMMAND [ARGS]'")
    return asyncio.run(_shell(args))


def reply_text(value: Any) -> str:
    """A reply as one line of JSON, with what a terminal would act on
    (C1 controls, bidirectional overrides) escaped inside its strings."""
    text = json.dumps(value, ensure_ascii=False)
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


async def _shell(args: argparse.Namespace) -> int:
    from prompt_toolkit.patch_stdout import patch_stdout

    try:
        client = await aio.connect(args.address, timeout=args.timeout,
                                   connect_timeout=args.timeout)
    except (QMPError, TimeoutError) as exc:
        sys.stderr.write(f"qmpfast shell: {clean(str(exc))}\n")
        return NOT_CONNECTED
    async with client:
        commands = await _commands(client)
        session = _session(args.history, commands)
        # printed before stdout is patched: the patched stdout flushes
        # from another thread, so the prompt could be drawn first
        print(f"{_qemu(client.greeting)} at {clean(args.address)}: "
              f"{len(commands)} commands; Tab completes, .exit or "
              "Ctrl-D leaves", flush=True)
        with patch_stdout():
            listener = client.listen()
            events = asyncio.create_task(_print_events(listener))
            typing = asyncio.create_task(_read_commands(session, client))
            await asyncio.wait({events, typing},
                               return_when=asyncio.FIRST_COMPLETED)
            for task in (events, typing):
                task.cancel()
            await asyncio.wait({events, typing})
            if typing.cancelled() or typing.exception() is not None:
                print(f"qmpfast shell: {clean(_ended(client, typing))}")
                return CONNECTION_ENDED
            status: int = typing.result()
            return status


def _ended(client: aio.Client, typing: asyncio.Task[int]) -> str:
    """Why the connection is over, for the last line."""
    error = None if typing.cancelled() else typing.exception()
    if error is None:
        error = client._closed
    return str(error) if error is not None else "connection closed"


def _session(history: str, commands: dict[str, list[str]]
             ) -> PromptSession[str]:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory

    from .shell_input import QMPCompleter

    return PromptSession(
        "(qmp) ", history=FileHistory(os.path.expanduser(history)),
        completer=QMPCompleter(commands), complete_while_typing=False)


async def _commands(client: aio.Client) -> dict[str, list[str]]:
    """Each command's argument names, from ``query-qmp-schema``; the names
    alone from ``query-commands`` for a QEMU without it."""
    from .shell_input import schema_arguments

    try:
        return schema_arguments(await client.execute("query-qmp-schema"))
    except CommandError:
        listed = await client.execute("query-commands")
        return {c["name"]: [] for c in listed
                if isinstance(c, dict) and isinstance(c.get("name"), str)}


async def _print_events(listener: EventListener) -> None:
    """Print every event as it comes, until the connection ends."""
    text = TextFormat(0)
    async for event in listener:
        print(text.event("", event).decode("utf-8"), flush=True)


async def _read_commands(session: PromptSession[str],
                         client: aio.Client) -> int:
    """Read, run and print until ``.exit`` or Ctrl-D; QMPConnectionError
    when the monitor goes away."""
    from .shell_input import EXIT, parse_line

    while True:
        try:
            line = await session.prompt_async()
        except KeyboardInterrupt:
            continue
        except EOFError:
            return OK
        try:
            parsed = parse_line(line)
        except ValueError as exc:
            print(f"error: {exc}")
            continue
        if parsed is None:
            continue
        command, arguments = parsed
        if command == EXIT:
            return OK
        try:
            value = await _interruptible(client.execute(command, arguments))
        except Interrupted:
            print("(interrupted: the reply will be ignored)")
            continue
        except CommandError as exc:
            print(clean(f"{exc.error_class}: {exc.desc}"))
            continue
        print(reply_text(value))


class Interrupted(Exception):
    """Ctrl-C while a command was waiting for its reply."""


async def _interruptible(work: Coroutine[Any, Any, Any]) -> Any:
    """Await ``work``, given up on Ctrl-C (SIGINT) while it runs: no
    prompt is reading keys then, so Ctrl-C arrives as a signal."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    pressed: list[bool] = []

    def interrupt() -> None:
        pressed.append(True)
        task.cancel()

    previous = signal.getsignal(signal.SIGINT)
    try:
        loop.add_signal_handler(signal.SIGINT, interrupt)
    except (NotImplementedError, RuntimeError):  # no signals here
        return await task
    try:
        return await task
    except asyncio.CancelledError:
        if pressed:
            raise Interrupted() from None
        raise
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        signal.signal(signal.SIGINT, previous)
