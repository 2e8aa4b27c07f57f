"""The asyncio QMP client, with the guarantees of ``qmpfast.client``.

    async with qmpfast.aio.connect("/run/vm1.qmp") as client:
        print(await client.execute("query-status"))
        async for event in client.events():
            ...

A reader task owns the socket: it feeds every chunk to the same ``Inbox``
as the sync client, resolves each reply's future by id and queues events
(bounded, oldest dropped and counted).  Commands therefore complete even
while nobody reads events, and concurrent commands may be answered in any
order.
"""

from __future__ import annotations

import asyncio
import collections.abc
import itertools
import os

from .client import (DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_QUEUE,
                     DEFAULT_TIMEOUT, RETRIED, ConnectionInfo, Inbox,
                     NotQMPError,
                     QMPConnectionError, command_bytes, connect_error,
                     parse_address, result)

_READ = 65536


async def _open(address, timeout, connect_timeout):
    """Open the streams, retrying while the socket is not listening."""
    kind, target = parse_address(address)
    name = os.fspath(address)
    loop = asyncio.get_running_loop()
    deadline = None if connect_timeout is None else (
        loop.time() + connect_timeout)
    delay = 0.01
    while True:
        try:
            if kind == "tcp":
                opening = asyncio.open_connection(*target)
            else:
                opening = asyncio.open_unix_connection(target)
            return await asyncio.wait_for(opening, timeout)
        except RETRIED as exc:
            if deadline is not None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise connect_error(name, exc) from exc
                delay = min(delay, remaining)  # the last try at the deadline
        except asyncio.TimeoutError:  # not yet TimeoutError before 3.11
            raise connect_error(name, TimeoutError()) from None
        except OSError as exc:
            raise connect_error(name, exc) from exc
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.25)


class Client(ConnectionInfo):
    """A negotiated asyncio QMP connection; make one with ``connect()``.

    ``greeting``, ``dropped`` and ``decode_errors`` are as on
    ``qmpfast.Client``.
    """

    def __init__(self, reader, writer, name, *, timeout=DEFAULT_TIMEOUT,
                 events=None, max_queue=DEFAULT_MAX_QUEUE, backend=None):
        loop = asyncio.get_running_loop()
        self.address = name
        self.timeout = timeout
        self._inbox = Inbox(name, events, max_queue, backend)
        self._reader = reader
        self._writer = writer
        self._ids = itertools.count(1)
        self._pending = {}  # id -> future of the reply
        self._greeted = loop.create_future()
        self._more = asyncio.Event()  # set when events are queued
        self._write_lock = asyncio.Lock()
        self._closed = None  # the error to raise once the stream has ended
        self._task = loop.create_task(self._read_loop())

    async def _handshake(self):
        try:
            await asyncio.wait_for(self._greeted, self.timeout)
        except asyncio.TimeoutError:
            raise self._inbox.no_greeting(self.timeout) from None
        await self.execute("qmp_capabilities")

    async def _read_loop(self):
        inbox = self._inbox
        pending = self._pending
        try:
            while True:
                try:
                    data = await self._reader.read(_READ)
                except ConnectionResetError:
                    data = b""  # QEMU exiting with input unread: see client
                if not data:
                    self._finish(inbox.closed("connection closed by peer"))
                    return
                replies = inbox.feed(data)
                if inbox.greeting is not None and not self._greeted.done():
                    self._greeted.set_result(None)
                for reply in replies:
                    msg_id = reply.id
                    future = pending.pop(msg_id, None) if (
                        type(msg_id) is int) else None
                    if future is not None and not future.done():
                        future.set_result(reply)
                if inbox.events:
                    self._more.set()
        except NotQMPError as exc:
            self._finish(exc)
        except OSError as exc:
            self._finish(inbox.closed(
                f"connection lost: {exc.strerror or exc}"))
        except Exception as exc:  # a bug must not leave commands hanging
            error = QMPConnectionError(f"{self.address}: reader failed: "
                                       f"{exc!r}")
            error.__cause__ = exc
            self._finish(error)

    def _finish(self, error):
        """The stream has ended: fail every waiter with ``error``."""
        if self._closed is None:
            self._closed = error
        if not self._greeted.done():
            self._greeted.set_exception(self._closed)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(self._closed)
        self._pending.clear()
        self._more.set()

    async def execute(self, command, arguments=None, timeout=None):
        """Run ``command`` and return its result (see ``Client.execute``
        of ``qmpfast.client``)."""
        if self._closed is not None:
            raise self._closed
        msg_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = future
        try:
            try:
                async with self._write_lock:
                    self._writer.write(command_bytes(command, arguments,
                                                     msg_id))
                    await self._writer.drain()
            except OSError as exc:
                raise QMPConnectionError(
                    f"{self.address}: cannot send {command}: "
                    f"{exc.strerror or exc}") from exc
            try:
                reply = await asyncio.wait_for(
                    future, self.timeout if timeout is None else timeout)
            except asyncio.TimeoutError:
                raise TimeoutError(f"{self.address}: no reply to {command} "
                                   f"(id {msg_id})") from None
        finally:
            self._pending.pop(msg_id, None)
        return result(reply, command)

    async def get_event(self, timeout=None):
        """The next event; None when none comes within ``timeout`` seconds
        (``None``: wait forever).  Raises QMPConnectionError once the
        connection has ended and every queued event has been read."""
        events = self._inbox.events
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not events:
            if self._closed is not None:
                raise self._closed
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return None
            self._more.clear()
            try:
                await asyncio.wait_for(self._more.wait(), remaining)
            except asyncio.TimeoutError:
                pass
        return events.popleft()

    async def events(self, timeout=None):
        """Iterate the events until the connection ends, or until none
        has come for ``timeout`` seconds."""
        while True:
            try:
                event = await self.get_event(timeout)
            except QMPConnectionError:
                return
            if event is None:
                return
            yield event

    async def close(self):
        """Close the connection; waiting calls raise QMPConnectionError."""
        if self._closed is None:
            self._closed = QMPConnectionError(
                f"{self.address}: connection closed")
        self._task.cancel()
        await asyncio.wait([self._task])
        self._finish(self._closed)
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except OSError:
            pass

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    def __repr__(self):
        state = "closed" if self._closed is not None else "open"
        return f"<qmpfast.aio.Client {self.address} {state}>"


def connect(address, *, timeout=DEFAULT_TIMEOUT,
            connect_timeout=DEFAULT_CONNECT_TIMEOUT, events=None,
            max_queue=DEFAULT_MAX_QUEUE, backend=None):
    """Connect to a QMP monitor and negotiate capabilities; the arguments
    are those of ``qmpfast.connect``.  Await the result for a Client, or
    use it directly in ``async with``."""
    return _Connecting(_connect(address, timeout, connect_timeout, events,
                                max_queue, backend))


async def _connect(address, timeout, connect_timeout, events, max_queue,
                   backend):
    name = os.fspath(address)
    reader, writer = await _open(address, timeout, connect_timeout)
    try:
        client = Client(reader, writer, name, timeout=timeout,
                        events=events, max_queue=max_queue, backend=backend)
    except BaseException:
        writer.close()
        raise
    try:
        await client._handshake()
    except BaseException:
        await client.close()
        raise
    return client


class _Connecting(collections.abc.Coroutine):
    """``connect()``'s result: a coroutine giving the Client (so await it,
    or hand it to ``create_task``, ``wait_for``, ``gather``), and an async
    context manager that closes the client on exit."""

    def __init__(self, coro):
        self._coro = coro
        self._client = None

    def send(self, value):
        return self._coro.send(value)

    def throw(self, *args):
        return self._coro.throw(*args)

    def close(self):
        return self._coro.close()

    def __await__(self):
        return self._coro.__await__()

    async def __aenter__(self):
        self._client = await self._coro
        return self._client

    async def __aexit__(self, *exc):
        await self._client.close()


__all__ = ["connect", "Client"]
