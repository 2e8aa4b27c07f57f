"""``qmpfast watch``: print the events of running VMs as they arrive.

Every monitor (socket paths, glob patterns of sockets, ``HOST:PORT``) is
followed by one task in one asyncio loop, so a single process watches many
VMs.  ``--format json`` prints each event as QEMU sent it, one per line (a
``pretty=on`` event loses its line breaks and indentation), adding a
``"source"`` member last when several monitors (or a pattern) are watched,
so QEMU's members keep their order; ``--format text`` prints aligned,
readable lines, with control characters from the peer escaped.  ``--state``
prints the VM status changes instead, seeded by ``query-status``.

Notices (connected, closed) and errors go to stderr, one line each.  What a
peer sends never ends the watch: an event that cannot be printed is
reported on a line naming its monitor and skipped.  Without
``--reconnect`` the named monitors must all answer at the start, and an
error ends that monitor and makes the exit status 1.  With ``--reconnect``
a monitor is never given up: each failure is retried with a growing delay
and noted once per kind.  A glob pattern follows a fleet: it is expanded
again every ``GLOB_INTERVAL`` seconds, new sockets are followed and
sockets that do not answer are noted once and skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import glob
import json
import os
import re
import signal
import stat
import sys
from typing import (TYPE_CHECKING, Any, Callable, Coroutine, Dict, Iterable,
                    Iterator, List, Optional, Set, Tuple)

from .. import aio
from ..client import parse_address
from ..errors import QMPError
from ..model.catalogue import EVENTS
from .errors import CLIError
from .parse import one_line

if TYPE_CHECKING:
    from ..aio import Client
    from ..model.messages import Event

NAME_WIDTH = 16  # VNC_DISCONNECTED, the longest of the common events
REPLY_TIMEOUT = 10.0  # wait for the greeting and each reply
FIRST_DELAY = 0.1  # --reconnect: first wait before trying again...
MAX_DELAY = 2.0  # ...doubled after each failure up to this
# A connection up this long (or that printed a line) was a success: the
# delay and the notes start afresh after it.
HEALTHY = MAX_DELAY
# How often a glob pattern is expanded again.  A VM's socket appears when
# it starts; a second is soon enough for a person watching, and one
# directory listing a second costs nothing even for large fleets.
GLOB_INTERVAL = 1.0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "watch", help="print the events of running VMs as they arrive",
        description="Connect to QMP monitors and print their events as "
        "they arrive, until --count, --timeout, Ctrl-C or every monitor "
        "closes.")
    p.add_argument("addresses", nargs="+", metavar="ADDRESS",
                   help="QMP unix socket, glob pattern of sockets (expanded "
                   f"again every {GLOB_INTERVAL:g} s), or HOST:PORT")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--event", action="append", metavar="NAME",
                      help="print only these events (repeatable)")
    what.add_argument("--state", action="store_true",
                      help="print VM status changes instead of events")
    p.add_argument("--count", type=_positive_int, metavar="N",
                   help="stop after printing N lines")
    p.add_argument("--timeout", type=_positive_seconds, metavar="S",
                   help="stop after S seconds")
    p.add_argument("--format", choices=("json", "text"), default="json",
                   help="one JSON object per line (default) or aligned "
                   "text")
    p.add_argument("--metrics", metavar="HOST:PORT",
                   help="also serve Prometheus metrics of the events and "
                   "run status at http://HOST:PORT/metrics (needs "
                   "prometheus_client)")
    p.add_argument("--reconnect", action="store_true",
                   help="never give up on a monitor: wait until it is "
                   "there, retry its failures, reconnect when it closes")
    p.set_defaults(func=cmd_watch)


def _positive_seconds(text: str) -> float:
    """A --timeout: a finite number of seconds above zero (-1 or 0 would
    end the watch at once; nan or inf never)."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(
            f"not a positive number of seconds: {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a positive integer: {text!r}")
    return value


def cmd_watch(args: argparse.Namespace) -> int:
    _warn_unknown_events(args.event or ())
    args.observer = None
    if args.metrics:
        if args.event or args.state:
            raise CLIError("--metrics counts every event: it goes without "
                           "--event and --state")
        from .metrics import start_exporter
        args.observer = start_exporter(args.metrics)
    named, patterns = split(args.addresses)
    first = list(named)
    for pattern in patterns:
        found = [p for p in matches(pattern) if p not in first]
        if not found:
            if not args.reconnect:
                raise CLIError(f"{pattern}: no socket matches")
            notice(f"{pattern}: no socket matches yet; waiting for one")
        first += found
    source = len(first) > 1 or bool(patterns)
    width = max((len(clean(a)) for a in first), default=0)
    fmt: Format
    if args.format == "json":
        fmt = JsonFormat(source)
    else:
        fmt = TextFormat(width if source else 0)
    return asyncio.run(Watch(args, named, patterns, fmt).run())


def _warn_unknown_events(names: Iterable[str]) -> None:
    """Say which --event names QEMU's catalogue does not know: names are
    case-sensitive (STOP, not stop), so a typo would silently match
    nothing."""
    for name in names:
        if name not in EVENTS:
            hint = f" (did you mean {name.upper()}?)" if \
                name.upper() in EVENTS else ""
            notice(f"warning: --event {name}: not an event of QEMU's "
                   f"catalogue{hint}")


def split(addresses: Iterable[str]) -> Tuple[List[str], List[str]]:
    """The addresses that name one monitor, and the glob patterns."""
    named: List[str] = []
    patterns: List[str] = []
    for address in dict.fromkeys(addresses):
        if parse_address(address)[0] == "tcp" or not any(
                c in address for c in "*?["):  # [::1]:4444 is no pattern
            named.append(address)
        else:
            patterns.append(address)
    return named, patterns


def matches(pattern: str) -> List[str]:
    """The sockets a glob pattern matches now, sorted."""
    return [p for p in sorted(glob.glob(pattern)) if _identity(p)]


def _identity(path: str) -> Optional[Tuple[int, int]]:
    """(device, inode) of a socket file; None when it is not one.  A VM
    started again makes a new socket file, with a new identity."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino) if stat.S_ISSOCK(st.st_mode) else None


# ---- what reaches a terminal ----------------------------------------------

# Characters a terminal acts on or that forge what a line shows: C0 and C1
# controls, DEL, line and paragraph separators, bidirectional overrides and
# lone surrogates (which UTF-8 cannot encode).
_CONTROLS = ("\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e"
             "\u2066-\u2069\ud800-\udfff")
_UNSAFE = re.compile(f"[{_CONTROLS}\\\\]")
_UNSAFE_IN_JSON = re.compile(f"[{_CONTROLS}]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _escape(match: "re.Match[str]") -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def clean(text: str) -> str:
    """``text`` with control characters (and backslashes, so that an
    escape is never ambiguous) written as escapes: a peer's ``\\n`` must not
    start a line of its own, nor its ESC reach the terminal."""
    return _UNSAFE.sub(_escape, text)


def notice(text: str) -> None:
    """One line on stderr."""
    sys.stderr.write(f"qmpfast: {clean(text)}\n")
    sys.stderr.flush()


def describe(address: str, exc: BaseException) -> str:
    """An error as one line that names its monitor."""
    if isinstance(exc, (QMPError, OSError)) and str(exc):
        text = str(exc)
    else:  # not an error of the connection: say what it was
        text = f"{type(exc).__name__}: {exc}" if str(exc) else \
            type(exc).__name__
    return text if text.startswith(address) else f"{address}: {text}"


class Notes:
    """The notices of one monitor since its last success: each kind of
    notice is written once (a monitor failing the same way every second
    must not flood stderr), and the retry delay grows."""

    def __init__(self) -> None:
        self.seen: Set[str] = set()
        self.delay = FIRST_DELAY

    def note(self, text: str) -> None:
        kind = re.sub(r"\d+", "#", text)  # "id 3" and "id 4" are one kind
        if kind not in self.seen:
            self.seen.add(kind)
            notice(text)

    async def pause(self) -> None:
        """Wait before the next try, longer each time."""
        await asyncio.sleep(self.delay)
        self.delay = min(self.delay * 2, MAX_DELAY)

    def reset(self) -> None:
        self.seen.clear()
        self.delay = FIRST_DELAY


class _Member:
    """A socket matched by a pattern: the file it was when last tried,
    whether it is done with (without --reconnect: watched, or refused),
    and when it may be tried again (with --reconnect)."""

    def __init__(self, identity: Optional[Tuple[int, int]]) -> None:
        self.identity = identity
        self.done = False
        self.retry_at = 0.0
        self.notes = Notes()


class Watch:
    """The running watch: one follower task per monitor, and one that
    follows the glob patterns."""

    def __init__(self, args: argparse.Namespace, named: List[str],
                 patterns: List[str], fmt: "Format") -> None:
        self.args = args
        self.named = named
        self.patterns = patterns
        self.fmt = fmt
        self.printed = 0
        self.failed = False
        self.watched = 0  # connections negotiated
        self.out = sys.stdout.buffer
        self.tasks: Set["asyncio.Task[None]"] = set()
        self.clients: Set["Client"] = set()
        self.closing: Dict["Client", "asyncio.Task[None]"] = {}
        self.following: Set[str] = set()
        self.members: Dict[str, _Member] = {}
        self.interrupted = False
        self.crashed: Optional[BaseException] = None
        # set when the watch is to end; made by run(), in the loop: before
        # Python 3.10 an Event belongs to the loop current when it is made
        self.finish: asyncio.Event

    # -- the whole run -------------------------------------------------------

    async def run(self) -> int:
        """Watch until --count, --timeout, SIGINT or nothing is left to
        follow; then stop every task and close every connection before
        returning, so that no task is left to fail at interpreter exit."""
        loop = asyncio.get_running_loop()
        self.finish = asyncio.Event()
        try:
            loop.add_signal_handler(signal.SIGINT, self._interrupt)
            handler = True
        except (NotImplementedError, RuntimeError, ValueError):
            handler = False  # not the main thread: KeyboardInterrupt it is
        try:
            status = await self._watch()
        finally:
            await self._stop()
            if handler:
                loop.remove_signal_handler(signal.SIGINT)
        if self.crashed is not None:
            raise self.crashed  # broken pipe (the cli ends quietly), or a bug
        if self.interrupted:
            return 130
        return status

    def _interrupt(self) -> None:
        self.interrupted = True
        self.finish.set()

    async def _watch(self) -> int:
        args = self.args
        if args.reconnect:  # each follower waits for its monitor
            for address in self.named:
                self._start(self.follow(address, None))
        elif self.named:  # all there, or fail at once
            opened = await asyncio.gather(
                *(self.connect(a) for a in self.named),
                return_exceptions=True)
            errors = [(a, r) for a, r in zip(self.named, opened)
                      if isinstance(r, BaseException)]
            if errors:
                for address, exc in errors:
                    if not isinstance(exc, Exception):
                        raise exc
                    notice(describe(address, exc))
                return 1
            for address, client in zip(self.named, opened):
                assert not isinstance(client, BaseException)
                self._start(self.follow(address, client))
        if self.patterns:
            self._start(self.follow_patterns())
        if not self.tasks:
            return 0
        try:
            await asyncio.wait_for(self.finish.wait(), args.timeout)
        except asyncio.TimeoutError:
            pass
        if not args.reconnect and self.patterns and self.watched == 0 and \
                not self.finish_early():
            notice(f"{', '.join(self.patterns)}: no QMP monitor answered")
            return 1
        return 1 if self.failed else 0

    def finish_early(self) -> bool:
        """Whether the watch was ended before its monitors were done."""
        return self.interrupted or self.printed_enough()

    def _start(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: "asyncio.Task[None]") -> None:
        self.tasks.discard(task)
        if not task.cancelled():
            exc = task.exception()
            if exc is not None and self.crashed is None:
                self.crashed = exc
                self.finish.set()
        if not self.tasks:
            self.finish.set()

    async def _stop(self) -> None:
        """Cancel the followers, then close what they left open.  Closing
        runs in tasks of its own that are never cancelled: a close cut
        short would leave the stream's close waiter cancelled, and the
        next close would raise CancelledError."""
        tasks = list(self.tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        for client in list(self.clients):
            self._closing(client)
        if self.closing:
            await asyncio.wait(list(self.closing.values()))

    def _closing(self, client: "Client") -> "asyncio.Task[None]":
        task = self.closing.get(client)
        if task is None:
            task = self.closing[client] = asyncio.ensure_future(
                self._close(client))
        return task

    async def _close(self, client: "Client") -> None:
        try:
            await client.close()
        except Exception:  # closing a broken connection must not end watch
            pass
        self.clients.discard(client)

    async def close(self, client: "Client") -> None:
        await asyncio.shield(self._closing(client))

    # -- one monitor ---------------------------------------------------------

    async def connect(self, address: str) -> "Client":
        """Connect and negotiate once; the client is closed at the end."""
        events = None if self.args.state else self.args.event
        client: Client = await aio.connect(
            address, events=events, connect_timeout=0,
            timeout=REPLY_TIMEOUT)
        self.clients.add(client)
        return client

    async def follow(self, address: str, client: Optional["Client"]) -> None:
        """Follow a named monitor: print its lines until it closes; with
        --reconnect connect again, after any failure, for ever."""
        notes = Notes()
        loop = asyncio.get_running_loop()
        while True:
            if client is None:
                client = await self.connect_retrying(address, notes)
            started = loop.time()
            printed = self.printed
            reason, error = await self.print_and_close(address, client,
                                                       notes)
            if self.printed_enough():
                return
            if not self.args.reconnect:
                notice(reason)
                self.failed = self.failed or error
                return
            healthy = self.printed > printed or \
                loop.time() - started >= HEALTHY
            if healthy:
                notes.reset()
            notes.note(f"{reason}; reconnecting")
            if not healthy:
                await notes.pause()
            client = None

    async def connect_retrying(self, address: str,
                               notes: Notes) -> "Client":
        """Connect until it works: a monitor still starting, a QEMU
        exiting (it may accept and close without a greeting), no answer,
        an error answer: each is retried, each kind noted once."""
        while True:
            try:
                return await self.connect(address)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if isinstance(exc.__cause__, FileNotFoundError):
                    notes.note(f"{address}: no such socket yet; waiting "
                               "for it")
                else:
                    notes.note(f"{describe(address, exc)}; retrying")
            await notes.pause()

    async def print_and_close(self, address: str, client: "Client",
                              notes: Notes) -> Tuple[str, bool]:
        """Print the monitor's lines until it ends (or --count); close it.
        Returns why it ended, and whether that was an error (not the
        peer closing).  Whatever the peer sent, only a broken stdout
        escapes from here."""
        self.watched += 1
        try:
            await self.print_events(address, client, notes)
        except BrokenPipeError:
            raise
        except Exception as exc:
            return describe(address, exc), True
        finally:
            if self.args.observer is not None:
                self.args.observer.detached(address, client.decode_errors)
            await self.close(client)
        closed = client.closed_reason
        return describe(address, closed or QMPError("closed")), False

    async def print_events(self, address: str, client: "Client",
                           notes: Notes) -> None:
        fmt = self.fmt
        watching = f"watching {address} ({_qemu(client.greeting)})"
        if self.args.state:
            from ..state import VMState
            state = VMState()
            change = state.seed(await client.execute("query-status"))
            if not self.emit(self.line(
                    address, "the status", lambda: fmt.change(address,
                                                              change))):
                return
            notes.note(watching)
            async for event in client.events():
                try:
                    change = state.apply(event)
                except Exception as exc:
                    notice(f"{address}: cannot follow the status through "
                           f"{event.name}: {describe(address, exc)}")
                    continue
                if change is not None and not self.emit(self.line(
                        address, "the status",
                        lambda: fmt.change(address, change))):
                    return
        else:
            observer = self.args.observer
            if observer is not None:
                observer.attached(address,
                                  await client.execute("query-status"))
            notes.note(watching)
            async for event in client.events():
                if observer is not None:
                    observer.event(address, event, client.decode_errors)
                if not self.emit(self.line(
                        address, f"event {event.name}",
                        lambda: fmt.event(address, event))):
                    return

    def line(self, address: str, what: str,
             make: Callable[[], bytes]) -> Optional[bytes]:
        """The formatted line, or None (and a notice naming the monitor)
        when it cannot be made."""
        try:
            return make()
        except Exception as exc:
            notice(f"{address}: cannot print {what}: "
                   f"{type(exc).__name__}: {exc}")
            return None

    def emit(self, line: Optional[bytes]) -> bool:
        """Print a line; False once --count lines have been printed."""
        if self.printed_enough():
            return False
        if line is None:
            return True
        self.out.write(line + b"\n")
        self.out.flush()
        self.printed += 1
        if self.printed_enough():
            self.finish.set()
            return False
        return True

    def printed_enough(self) -> bool:
        count: Optional[int] = self.args.count
        return count is not None and self.printed >= count

    # -- a fleet -------------------------------------------------------------

    async def follow_patterns(self) -> None:
        """Expand the patterns every GLOB_INTERVAL seconds and follow the
        sockets they match.  Without --reconnect this ends once nothing
        is followed (the watch then ends); with it, never."""
        loop = asyncio.get_running_loop()
        while True:
            self.expand_patterns(loop.time())
            await asyncio.sleep(0)  # let new followers register
            if not self.args.reconnect and self.tasks == {
                    asyncio.current_task()}:
                return
            await asyncio.sleep(GLOB_INTERVAL)

    def expand_patterns(self, now: float) -> None:
        seen: Set[str] = set()
        for pattern in self.patterns:
            for path in matches(pattern):
                if path in seen or path in self.named:
                    continue
                seen.add(path)
                identity = _identity(path)
                member = self.members.get(path)
                if member is None or member.identity != identity:
                    member = self.members[path] = _Member(identity)
                if path in self.following or member.done or \
                        now < member.retry_at:
                    continue
                self.following.add(path)
                self._start(self.follow_member(path, member))
        for path in list(self.members):  # gone: forget it
            if path not in seen and path not in self.following:
                del self.members[path]

    async def follow_member(self, path: str, member: _Member) -> None:
        """One try at a socket a pattern matched: follow it until it
        closes.  A socket that refuses (a stale file nobody listens on) or
        is no QMP monitor is noted once and skipped; with --reconnect it
        is tried again later, else only once it is a new file."""
        loop = asyncio.get_running_loop()
        notes = member.notes
        try:
            try:
                client = await self.connect(path)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.args.reconnect:
                    notes.note(f"{describe(path, exc)}; retrying")
                    member.retry_at = loop.time() + notes.delay
                    notes.delay = min(notes.delay * 2, MAX_DELAY)
                else:
                    notes.note(f"{describe(path, exc)}; skipped")
                    member.done = True
                return
            started = loop.time()
            printed = self.printed
            reason, _ = await self.print_and_close(path, client, notes)
            if self.printed_enough():
                return
            if not self.args.reconnect:
                notice(reason)
                member.done = True
                return
            if self.printed > printed or loop.time() - started >= HEALTHY:
                notes.reset()
            notes.note(f"{reason}; reconnecting")
            member.retry_at = loop.time() + notes.delay
        finally:
            self.following.discard(path)


def _qemu(greeting: Any) -> str:
    try:
        qemu = greeting.version["qemu"]
        return clean(f"QEMU {qemu['major']}.{qemu['minor']}.{qemu['micro']}")
    except Exception:  # whatever the peer called its version
        return "QMP"


# ---- formats ---------------------------------------------------------------

class Format:
    """How a line is printed: an event, or a change of ``--state``."""

    def event(self, address: str, event: "Event") -> bytes:
        raise NotImplementedError

    def change(self, address: str, change: Any) -> bytes:
        raise NotImplementedError


class JsonFormat(Format):
    """Events as QEMU sent them, one per line, ``source`` appended."""

    def __init__(self, source: bool) -> None:
        self.source = source

    def event(self, address: str, event: "Event") -> bytes:
        raw: bytes = event.raw
        if b"\n" in raw or b"\r" in raw:  # pretty=on
            raw = one_line(raw)
        return self._tag(raw, address)

    def change(self, address: str, change: Any) -> bytes:
        reason = change.reason
        return self._tag(_dumps({
            "timestamp": _stamp(change), "status": change.status,
            "previous": change.previous,
            "event": change.event.name if change.event else None,
            "reason": None if reason is None else reason.to_dict()}),
            address)

    def _tag(self, raw: bytes, address: str) -> bytes:
        if not self.source:
            return raw
        return raw[:-1].rstrip() + b', "source": ' + _dumps(address) + b"}"


def _dumps(value: Any) -> bytes:
    text = json.dumps(value, ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: the \\u escape then
        return json.dumps(value).encode("ascii")


def _stamp(change: Any) -> Dict[str, int]:
    """The QMP timestamp of the change's event; now for a ``seed``."""
    event = change.event
    if event is not None:
        return {"seconds": event.seconds,
                "microseconds": event.microseconds}
    now = _dt.datetime.now(_dt.timezone.utc)
    return {"seconds": int(now.timestamp()), "microseconds": now.microsecond}


class TextFormat(Format):
    """Aligned lines: local time, source, event name, typed fields; what
    came from the peer escaped (``\\n``, ``\\x1b``)."""

    def __init__(self, source_width: int) -> None:
        self.source_width = source_width

    def _line(self, when: str, address: str, name: str, rest: str) -> bytes:
        parts = [when]
        if self.source_width:
            parts.append(clean(address).ljust(self.source_width))
        name = clean(name)
        parts.append(name.ljust(NAME_WIDTH) if rest else name)
        if rest:
            parts.append(rest)
        return "  ".join(parts).encode("utf-8")

    def event(self, address: str, event: "Event") -> bytes:
        try:
            rest = " ".join(fields(event))
        except RecursionError:
            rest = "(data nested too deep to show)"
        return self._line(_local(event.datetime), address, event.name, rest)

    def change(self, address: str, change: Any) -> bytes:
        when = change.time or _dt.datetime.now(_dt.timezone.utc)
        return self._line(_local(when), address, "STATUS",
                          clean(str(change)))


def _local(when: Optional[_dt.datetime]) -> str:
    if when is None:  # QEMU could not read its clock
        return "-".ljust(26)
    try:
        when = when.astimezone()
    except (OverflowError, ValueError, OSError):  # beyond the local clock
        pass
    return when.strftime("%Y-%m-%d %H:%M:%S.%f")


def fields(event: "Event") -> Iterator[str]:
    """``name=value`` for each member of an event, structs flattened
    (``server.family=unix``), absent optional members left out.  ``data``
    that is no object (no event of QEMU's has one) is ``data=VALUE``."""
    data = event.data
    members = getattr(type(event), "members", None)
    items: List[Tuple[str, Any]]
    if not isinstance(data, dict):
        items = [("data", data)]
    elif members is None:  # not in the catalogue: whatever data holds
        items = [(str(k).replace("-", "_"), v) for k, v in data.items()]
    else:
        items = [(attr, getattr(event, attr)) for attr in members]
    for name, value in items:
        yield from _flat(name, value)


def _flat(name: str, value: Any) -> Iterator[str]:
    """The ``name=value`` of a value, objects flattened depth first
    (without recursion: a peer may nest a thousand levels)."""
    stack = [(name, value)]
    while stack:
        name, value = stack.pop()
        if value is None:
            continue
        if hasattr(value, "to_dict"):  # VncInfo, Struct
            value = value.to_dict()
        if isinstance(value, dict):
            stack += reversed([(f"{name}.{str(key).replace('-', '_')}",
                                item) for key, item in value.items()])
        else:
            yield f"{clean(name)}={_scalar(value)}"


def _scalar(value: Any) -> str:
    if isinstance(value, str) and value and not any(
            c.isspace() or c in "\"'=" for c in value) and \
            not _UNSAFE.search(value):
        return value
    text = json.dumps(value, ensure_ascii=False)
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
