"""``qmpfast watch``: print the events of running VMs as they arrive.

Every monitor (socket paths, glob patterns of sockets, ``HOST:PORT``) is
followed by one task in one asyncio loop, so a single process watches many
VMs.  ``--format json`` prints each event exactly as QEMU sent it, one per
line (a ``pretty=on`` event is re-serialized to one line), adding a
``"source"`` member last when several monitors (or a pattern) are watched,
so QEMU's members keep their order; ``--format text`` prints aligned,
readable lines.  ``--state`` prints the VM status changes instead, seeded
by ``query-status``.  Notices (connected, closed) and errors go to stderr;
errors are one line each and make the exit status 1, except that with
``--reconnect`` a monitor is never given up: its errors are noted and
retried.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import glob
import json
import os
import stat
import sys

from .. import aio
from ..model.catalogue import EVENTS
from .errors import CLIError
from ..client import QMPConnectionError, parse_address
from ..errors import QMPError

NAME_WIDTH = 16  # VNC_DISCONNECTED, the longest of the common events


def register(subparsers):
    p = subparsers.add_parser(
        "watch", help="print the events of running VMs as they arrive",
        description="Connect to QMP monitors and print their events as "
        "they arrive, until --count, --timeout or every monitor closes.")
    p.add_argument("addresses", nargs="+", metavar="ADDRESS",
                   help="QMP unix socket, glob pattern of sockets, or "
                   "HOST:PORT")
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
    p.add_argument("--reconnect", action="store_true",
                   help="never give up on a monitor: wait until it is "
                   "there, reconnect when it closes")
    p.set_defaults(func=cmd_watch)


def _positive_seconds(text):
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


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a positive integer: {text!r}")
    return value


def cmd_watch(args):
    _warn_unknown_events(args.event or ())
    addresses, patterns = expand(args.addresses)
    source = len(addresses) > 1 or patterns
    width = max(len(a) for a in addresses)
    if args.format == "json":
        fmt = JsonFormat(source)
    else:
        fmt = TextFormat(width if source else 0)
    return asyncio.run(Watch(args, addresses, fmt).run())


def _warn_unknown_events(names):
    """Say which --event names QEMU's catalogue does not know: names are
    case-sensitive (STOP, not stop), so a typo would silently match
    nothing."""
    for name in names:
        if name not in EVENTS:
            hint = f" (did you mean {name.upper()}?)" if \
                name.upper() in EVENTS else ""
            notice(f"warning: --event {name}: not an event of QEMU's "
                   f"catalogue{hint}")


def expand(addresses):
    """The addresses with glob patterns replaced by the sockets they match,
    and whether there was a pattern."""
    out = []
    patterns = False
    for address in addresses:
        if parse_address(address)[0] == "tcp" or not any(
                c in address for c in "*?["):  # [::1]:4444 is no pattern
            out.append(address)
            continue
        patterns = True
        matches = [p for p in sorted(glob.glob(address)) if _is_socket(p)]
        if not matches:
            raise CLIError(f"{address}: no socket matches")
        out += matches
    return list(dict.fromkeys(out)), patterns


def _is_socket(path):
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def notice(text):
    sys.stderr.write(f"qmpfast: {text}\n")
    sys.stderr.flush()


class Watch:
    """The running watch: one follower task per address."""

    def __init__(self, args, addresses, fmt):
        self.args = args
        self.addresses = addresses
        self.fmt = fmt
        self.printed = 0
        self.failed = False
        self.clients = set()
        self.out = sys.stdout.buffer
        self.enough = None  # asyncio.Event, set at --count

    async def run(self):
        self.enough = asyncio.Event()
        if self.args.reconnect:  # each follower waits for its monitor
            opened = [None] * len(self.addresses)
        else:  # all there, or fail at once
            opened = await asyncio.gather(
                *(self.connect(a) for a in self.addresses),
                return_exceptions=True)
            errors = [r for r in opened if isinstance(r, BaseException)]
            if errors:
                for exc in errors:
                    if not isinstance(exc, (QMPError, OSError)):
                        raise exc
                    notice(str(exc))
                await self.close_all()
                return 1
        followers = asyncio.gather(*(
            self.follow(a, c) for a, c in zip(self.addresses, opened)))
        enough = asyncio.ensure_future(self.enough.wait())
        await asyncio.wait([followers, enough], timeout=self.args.timeout,
                           return_when=asyncio.FIRST_COMPLETED)
        enough.cancel()
        if followers.done():
            followers.result()  # a bug shows as a traceback
        else:  # --count or --timeout
            followers.cancel()
            try:
                await followers
            except asyncio.CancelledError:
                pass
        await self.close_all()
        return 1 if self.failed else 0

    async def close_all(self):
        for client in list(self.clients):
            await client.close()

    async def connect(self, address):
        """Connect once, or with --reconnect until it works: a monitor
        still starting, a QEMU exiting (it may accept and close without a
        greeting) or anything else is retried, each new error noted once."""
        events = None if self.args.state else self.args.event
        last, delay = None, 0.1
        while True:
            try:
                client = await aio.connect(
                    address, events=events,
                    connect_timeout=None if self.args.reconnect else 0)
                break
            except QMPConnectionError as exc:
                if not self.args.reconnect:
                    raise
                if str(exc) != last:
                    last = str(exc)
                    notice(f"{exc}; retrying")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
        self.clients.add(client)
        return client

    async def follow(self, address, client):
        """Print one monitor's lines; reconnect when asked to.  An error
        ends this monitor only, with its line on stderr."""
        try:
            while True:
                if client is None:
                    client = await self.connect(address)
                try:
                    await self.print_events(address, client)
                finally:
                    await client.close()
                    self.clients.discard(client)
                if self.printed_enough():
                    return
                if not self.args.reconnect:
                    notice(str(client.closed_reason))
                    return
                notice(f"{client.closed_reason}; reconnecting")
                client = None
        except BrokenPipeError:
            raise  # whoever reads our output is gone: the cli ends quietly
        except (QMPError, OSError) as exc:
            notice(str(exc))
            self.failed = True

    async def print_events(self, address, client):
        fmt = self.fmt
        if self.args.state:
            from ..state import VMState
            state = VMState()
            change = state.seed(await client.execute("query-status"))
            if not self.emit(fmt.change(address, change)):
                return
            notice(f"watching {address} ({_qemu(client.greeting)})")
            async for event in client.events():
                change = state.apply(event)
                if change is not None and not self.emit(
                        fmt.change(address, change)):
                    return
        else:
            notice(f"watching {address} ({_qemu(client.greeting)})")
            async for event in client.events():
                if not self.emit(fmt.event(address, event)):
                    return

    def emit(self, line):
        """Print a line; False once --count lines have been printed."""
        if self.printed_enough():
            return False
        self.out.write(line + b"\n")
        self.out.flush()
        self.printed += 1
        if self.printed_enough():
            self.enough.set()
            return False
        return True

    def printed_enough(self):
        count = self.args.count
        return count is not None and self.printed >= count


def _qemu(greeting):
    try:
        qemu = greeting.version["qemu"]
        return f"QEMU {qemu['major']}.{qemu['minor']}.{qemu['micro']}"
    except (TypeError, KeyError):
        return "QMP"


# ---- formats ---------------------------------------------------------------

class JsonFormat:
    """Events as QEMU sent them, one per line, ``source`` appended."""

    def __init__(self, source):
        self.source = source

    def event(self, address, event):
        raw = event.raw
        if b"\n" in raw or b"\r" in raw:  # pretty=on
            raw = _dumps(event.to_dict())
        return self._tag(raw, address)

    def change(self, address, change):
        reason = change.reason
        return self._tag(_dumps({
            "timestamp": _stamp(change), "status": change.status,
            "previous": change.previous,
            "event": change.event.name if change.event else None,
            "reason": None if reason is None else reason.to_dict()}),
            address)

    def _tag(self, raw, address):
        if not self.source:
            return raw
        return raw[:-1].rstrip() + b', "source": ' + _dumps(address) + b"}"


def _dumps(value):
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def _stamp(change):
    """The QMP timestamp of the change's event; now for a ``seed``."""
    event = change.event
    if event is not None:
        return {"seconds": event.seconds,
                "microseconds": event.microseconds}
    now = _dt.datetime.now(_dt.timezone.utc)
    return {"seconds": int(now.timestamp()), "microseconds": now.microsecond}


class TextFormat:
    """Aligned lines: local time, source, event name, typed fields."""

    def __init__(self, source_width):
        self.source_width = source_width

    def _line(self, when, address, name, rest):
        parts = [when]
        if self.source_width:
            parts.append(address.ljust(self.source_width))
        parts.append(name.ljust(NAME_WIDTH) if rest else name)
        if rest:
            parts.append(rest)
        return "  ".join(parts).encode("utf-8")

    def event(self, address, event):
        return self._line(_local(event.datetime), address, event.name,
                          " ".join(fields(event)))

    def change(self, address, change):
        when = change.time or _dt.datetime.now(_dt.timezone.utc)
        return self._line(_local(when), address, "STATUS", str(change))


def _local(when):
    if when is None:  # QEMU could not read its clock
        return "-".ljust(26)
    return when.astimezone().strftime("%Y-%m-%d %H:%M:%S.%f")


def fields(event):
    """``name=value`` for each member of an event, structs flattened
    (``server.family=unix``), absent optional members left out."""
    members = getattr(type(event), "members", None)
    if members is None:  # not in the catalogue: whatever data holds
        items = [(k.replace("-", "_"), v) for k, v in event.data.items()]
    else:
        items = [(attr, getattr(event, attr)) for attr in members]
    for name, value in items:
        yield from _flat(name, value)


def _flat(name, value):
    if value is None:
        return
    if hasattr(value, "to_dict"):  # VncInfo, Struct
        value = value.to_dict()
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flat(f"{name}.{key.replace('-', '_')}", item)
    else:
        yield f"{name}={_scalar(value)}"


def _scalar(value):
    if isinstance(value, str) and value and not any(
            c.isspace() or c in "\"'=" for c in value):
        return value
    return json.dumps(value, ensure_ascii=False)
