"""One QEMU monitor shared by many QMP clients.

QEMU serves one client per ``-qmp`` monitor.  ``Mux`` holds that one
connection (an ``aio.Client``) and serves any number of clients on its own
socket, each as if it were QEMU: a greeting, its own capabilities
negotiation, its commands forwarded under the upstream client's ids (so two
clients using the same id cannot collide) and the replies sent back with
the client's own id to that client alone, and every event sent to every
negotiated client.

Each client has a bounded queue of what is to be written to it, drained
by its own task: a client that stops reading loses its oldest events
(counted, and noted on the log) and never holds up QEMU or the others.
Its commands are run one at a time, as QEMU runs them, and the next is not
read while its queue is full.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import os
import socket
import stat
from collections import deque
from typing import Any, Callable

from . import aio
from .errors import CommandError, QMPConnectionError
from .model.messages import Event
from .protocol import Backoff, Listener, parse_address

DEFAULT_MAX_QUEUE = 1000
# a client's command may not be longer than this (QEMU's own limit on a
# QMP input message is of the same order)
MAX_INPUT = 1 << 20
# bytes the transport holds for a client before its queue is used: keeps
# what a client that stops reading costs to its queue
WRITE_HIGH = 64 * 1024


def _error(error_class: str, desc: str) -> dict[str, Any]:
    return {"error": {"class": error_class, "desc": desc}}


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


class Downstream:
    """One client of the mux: its queue, its writer task, its counts."""

    def __init__(self, number: int, writer: asyncio.StreamWriter,
                 max_queue: int, log: Callable[[str], None]) -> None:
        self.number = number
        self.writer = writer
        self.max_queue = max_queue
        self.queue: deque[tuple[bool, bytes]] = deque()  # (event?, bytes)
        self.dropped = 0
        self.negotiated = False
        self.busy = False  # a command of this client is running
        self.closing = False  # close once its last reply is written
        self._log = log
        self._more = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self.task = asyncio.get_running_loop().create_task(self._drain())

    def push_event(self, data: bytes) -> None:
        """Queue an event; when the queue is full drop its oldest event."""
        queue = self.queue
        if len(queue) >= self.max_queue:
            for index, (is_event, _) in enumerate(queue):
                if is_event:
                    del queue[index]
                    break
            else:
                index = -1
            if not self.dropped:
                self._log(f"client {self.number}: not reading; its queue "
                          f"is full ({self.max_queue}), dropping its oldest "
                          "events")
            self.dropped += 1
            if index < 0:
                return
        queue.append((True, data))
        self._changed()

    def push_reply(self, reply: dict[str, Any]) -> None:
        self.queue.append((False, json.dumps(reply).encode() + b"\r\n"))
        self._changed()

    def _changed(self) -> None:
        self._more.set()
        if len(self.queue) >= self.max_queue:
            self._room.clear()

    def close_when_done(self) -> None:
        """Close once the command running (if any) is answered and the
        queue written: a client sees the reply to ``quit`` before the
        connection closes."""
        self.closing = True
        self._more.set()

    def done(self) -> None:
        """The command running is answered (its reply queued)."""
        self.busy = False
        if self.closing:
            self._more.set()

    async def room(self) -> None:
        """Wait until the queue has room (the client reads again)."""
        await self._room.wait()

    async def _drain(self) -> None:
        queue, writer = self.queue, self.writer
        try:
            while True:
                await self._more.wait()
                self._more.clear()
                while queue:
                    writer.write(queue.popleft()[1])
                    if len(queue) < self.max_queue:
                        self._room.set()
                    await writer.drain()
                if self.closing and not self.busy:
                    writer.close()
                    return
        except (OSError, RuntimeError):
            self._room.set()  # gone: nothing waits for it any more


class _FanOut(Listener):
    """The upstream listener that copies each event, as it is decoded,
    to every negotiated client (before the reply decoded after it)."""

    def __init__(self, mux: Mux) -> None:
        super().__init__(None, 1)
        self._mux = mux

    def push(self, event: Event) -> None:
        data = bytes(event.raw).rstrip() + b"\r\n"
        self._mux.events += 1
        for down in list(self._mux.clients):
            if down.negotiated:
                down.push_event(data)


class Mux:
    """Serve the monitor at ``upstream`` to clients at ``listen``.

    ``serve()`` returns when QEMU closes the monitor (clients see their
    connections close), or, with ``reconnect``, never: the listening
    socket stays, clients that connect meanwhile wait for their greeting,
    and the mux attaches again when the monitor answers.
    """

    def __init__(self, upstream: str, listen: str, *,
                 reconnect: bool = False,
                 max_queue: int = DEFAULT_MAX_QUEUE,
                 timeout: float = 30.0, backend: str | None = None,
                 log: Callable[[str], None] = lambda text: None) -> None:
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        self.upstream = upstream
        self.listen = listen
        self.reconnect = reconnect
        self.max_queue = max_queue
        self.timeout = timeout
        self.backend = backend
        self.log = log
        self.clients: set[Downstream] = set()
        self.events = 0  # events fanned out
        self.served = 0  # clients accepted
        self._client: aio.Client | None = None
        self._attached: asyncio.Event | None = None
        self._server: asyncio.AbstractServer | None = None
        self._handlers: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        """Attach to the monitor (retrying while it is not there with
        ``reconnect``), then open the listening socket."""
        self._attached = asyncio.Event()
        await self._attach()
        kind, target = parse_address(self.listen)
        if kind == "tcp":
            self._server = await asyncio.start_server(
                self._serve_client, target[0], target[1])
        else:
            _remove_stale(target)
            self._server = await asyncio.start_unix_server(
                self._serve_client, target)

    async def serve(self) -> None:
        """``start()`` if not done, then relay until the monitor closes
        (for good: with ``reconnect``, until cancelled)."""
        if self._server is None:
            await self.start()
        try:
            while True:
                client = self._client
                assert client is not None
                while True:  # the main queue only tells when it ends
                    try:
                        await client.get_event()
                    except QMPConnectionError as exc:
                        reason = exc
                        break
                self._detach(f"{reason}")
                if not self.reconnect:
                    return
                await self._attach()
        finally:
            await self.close()

    async def _attach(self) -> None:
        assert self._attached is not None
        loop = asyncio.get_running_loop()
        backoff = Backoff(None, loop.time())
        noted = False
        while True:
            try:
                client = await aio.connect(
                    self.upstream, timeout=self.timeout,
                    connect_timeout=None if self.reconnect else 0,
                    max_queue=1, backend=self.backend)
                break
            except QMPConnectionError as exc:
                if not self.reconnect:
                    raise
                if not noted:
                    self.log(f"{exc}; retrying")
                    noted = True
            await asyncio.sleep(max(backoff.next_delay(loop.time()) or 0,
                                    0.1))
        client._inbox.listeners.append(_FanOut(self))
        self._client = client
        self._attached.set()
        version = (client.greeting.version or {}).get("qemu", {})
        self.log(f"attached to {self.upstream} (QEMU {version.get('major')}"
                 f".{version.get('minor')}.{version.get('micro')})")

    def _detach(self, reason: str) -> None:
        assert self._attached is not None
        self._attached.clear()
        self.log(f"monitor gone: {reason}; closing {len(self.clients)} "
                 "client(s)")
        for down in list(self.clients):
            down.close_when_done()
        self._client = None

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            kind, target = parse_address(self.listen)
            if kind == "unix":
                try:
                    os.unlink(target)
                except OSError:
                    pass
        # the last replies (to quit) are written first, a while at most
        for down in list(self.clients):
            down.close_when_done()
        if self._handlers:
            await asyncio.wait(list(self._handlers), timeout=self.timeout)
        for down in list(self.clients):
            down.writer.close()
            down.task.cancel()
        if self._handlers:  # each ends on its closed connection
            await asyncio.wait(list(self._handlers))
        if self._client is not None:
            await self._client.close()
            self._client = None

    # -- one client --------------------------------------------------------

    async def _serve_client(self, reader: asyncio.StreamReader,
                            writer: asyncio.StreamWriter) -> None:
        assert self._attached is not None
        self.served += 1
        number = self.served
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
        transport = writer.transport
        if isinstance(transport, asyncio.WriteTransport):
            transport.set_write_buffer_limits(WRITE_HIGH)
        down = Downstream(number, writer, self.max_queue, self.log)
        self.clients.add(down)
        try:
            await self._attached.wait()
            upstream = self._client
            assert upstream is not None
            down.push_reply({"QMP": {
                "version": upstream.greeting.version, "capabilities": []}})
            await self._read_commands(down, reader, upstream)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            self.clients.discard(down)
            if handler is not None:
                self._handlers.discard(handler)
            # let the last replies out (a while at most: the client may
            # not read them)
            down.close_when_done()
            await asyncio.wait([down.task], timeout=self.timeout)
            down.task.cancel()
            writer.close()
            dropped = (f", {down.dropped} event(s) dropped"
                       if down.dropped else "")
            self.log(f"client {number}: disconnected{dropped}")

    async def _read_commands(self, down: Downstream,
                             reader: asyncio.StreamReader,
                             upstream: aio.Client) -> None:
        text = ""
        utf8 = codecs.getincrementaldecoder("utf-8")("replace")
        scan = json.JSONDecoder(parse_constant=_no_constant).raw_decode
        while True:
            data = await reader.read(65536)
            if not data:
                return
            text += utf8.decode(data)
            while True:
                text = text.lstrip()
                if not text:
                    break
                try:
                    obj, end = scan(text)
                except ValueError:
                    if len(text) > MAX_INPUT or "\n" in text:
                        # not JSON (or too long): skip the line, as QEMU
                        # skips what it cannot parse
                        down.push_reply(_error("GenericError",
                                               "JSON parse error"))
                        cut = text.find("\n")
                        text = "" if cut < 0 else text[cut + 1:]
                        continue
                    break
                text = text[end:]
                await down.room()
                if down.closing:
                    return
                down.busy = True
                try:
                    reply = await self._run(down, obj, upstream)
                    down.push_reply(reply)
                finally:
                    down.done()

    async def _run(self, down: Downstream, obj: Any,
                   upstream: aio.Client) -> dict[str, Any]:
        """The reply to one message of a client (with its id, if any)."""
        reply = await self._answer(down, obj, upstream)
        if isinstance(obj, dict) and "id" in obj:
            reply["id"] = obj["id"]
        return reply

    async def _answer(self, down: Downstream, obj: Any,
                      upstream: aio.Client) -> dict[str, Any]:
        if not isinstance(obj, dict):
            return _error("GenericError", "QMP input must be a JSON object")
        if "exec-oob" in obj:
            return _error("GenericError", "QMP input member 'exec-oob' is "
                          "unexpected: out-of-band execution is not offered "
                          "by this monitor")
        command = obj.get("execute")
        if command is None:
            return _error("GenericError",
                          "QMP input lacks member 'execute'")
        if not isinstance(command, str):
            return _error("GenericError",
                          "QMP input member 'execute' must be a string")
        arguments = obj.get("arguments")
        if arguments is not None and not isinstance(arguments, dict):
            return _error("GenericError",
                          "QMP input member 'arguments' must be an object")
        if command == "qmp_capabilities":
            if down.negotiated:
                return _error("CommandNotFound", "Capabilities negotiation "
                              "is already complete, command ignored")
            enable = (arguments or {}).get("enable") or []
            if enable:
                return _error("GenericError",
                              f"Capability '{enable[0]}' not available")
            down.negotiated = True
            return {"return": {}}
        if not down.negotiated:
            return _error("CommandNotFound", "Expecting capabilities "
                          "negotiation with 'qmp_capabilities'")
        try:
            value = await upstream.execute(command, arguments)
        except QMPConnectionError as exc:
            return _error("GenericError", f"the VM's monitor is gone: {exc}")
        except CommandError as exc:
            return _error(exc.error_class or "GenericError", exc.desc or "")
        except TimeoutError as exc:
            return _error("GenericError", str(exc))
        except (ValueError, TypeError) as exc:
            return _error("GenericError", str(exc))
        return {"return": value}


def _remove_stale(path: str) -> None:
    """Remove a socket left at ``path`` by a mux that died, refusing to
    take the place of one that still answers (or of a file)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise QMPConnectionError(f"{path}: exists and is not a socket")
    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(path)
        except OSError:
            os.unlink(path)
            return
    raise QMPConnectionError(f"{path}: another process serves this socket")


__all__ = ["Mux", "Downstream", "DEFAULT_MAX_QUEUE"]
