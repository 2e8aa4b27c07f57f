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
import os
from collections.abc import AsyncIterator, Coroutine, Generator, Iterable
from typing import Any

from .decoder import DEFAULT_MAX_MESSAGE_SIZE
from .errors import NotQMPError, QMPConnectionError
from .model.messages import Event
from .protocol import (DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_QUEUE,
                       DEFAULT_TIMEOUT, RETRIED, Backoff, ConnectionInfo,
                       Inbox, Listener, ListenerView, Outcome, Traffic,
                       capabilities_arguments, command_bytes, connect_error,
                       oob_unavailable, parse_address, reply_timeout, result,
                       send_timeout)

_READ = 65536


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Mark a finished future's exception as seen (see Client._reap)."""
    if not task.cancelled():
        task.exception()

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def _open(address: str | os.PathLike[str], timeout: float,
                connect_timeout: float | None) -> Streams:
    """Open the streams, retrying while the socket is not listening."""
    kind, target = parse_address(address)
    name = os.fspath(address)
    loop = asyncio.get_running_loop()
    backoff = Backoff(connect_timeout, loop.time())
    while True:
        try:
            if kind == "tcp":
                opening = asyncio.open_connection(*target)
            else:
                opening = asyncio.open_unix_connection(target)
            return await asyncio.wait_for(opening, timeout)
        except RETRIED as exc:
            delay = backoff.next_delay(loop.time())
            if delay is None:
                raise connect_error(name, exc) from exc
        except asyncio.TimeoutError:  # not yet TimeoutError before 3.11
            raise connect_error(name, TimeoutError()) from None
        except OSError as exc:
            raise connect_error(name, exc) from exc
        await asyncio.sleep(delay)


class Client(ConnectionInfo):
    """A negotiated asyncio QMP connection; make one with ``connect()``.

    ``greeting``, ``dropped`` and ``decode_errors`` are as on
    ``qmpfast.Client``.
    """

    def __init__(self, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter, name: str, *,
                 timeout: float = DEFAULT_TIMEOUT,
                 events: Iterable[str] | None = None,
                 max_queue: int = DEFAULT_MAX_QUEUE,
                 backend: str | None = None,
                 max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
                 traffic: Traffic | None = None) -> None:
        loop = asyncio.get_running_loop()
        self.address = name
        self._traffic = traffic
        self._oob = False
        self.timeout = timeout
        self._inbox = Inbox(name, events, max_queue, backend,
                            max_message_size)
        self._reader = reader
        self._writer = writer
        self._pending: dict[int, asyncio.Future[Outcome]] = {}
        self._greeted: asyncio.Future[None] = loop.create_future()
        self._more = asyncio.Event()  # set when events are queued
        self._closed: QMPConnectionError | None = None
        self._reaper: asyncio.Future[None] | None = None
        self._task = loop.create_task(self._read_loop())

    async def _handshake(self, oob: bool = False) -> None:
        try:
            await asyncio.wait_for(self._greeted, self.timeout)
        except asyncio.TimeoutError:
            raise self._inbox.no_greeting(self.timeout) from None
        arguments = capabilities_arguments(self.greeting, oob)
        await self.execute("qmp_capabilities", arguments)
        self._oob = arguments is not None

    async def _read_loop(self) -> None:
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
                    self._reap()
                    return
                if self._traffic is not None:
                    self._traffic("<", data)
                settled = inbox.feed(data)
                if inbox.greeting is not None and not self._greeted.done():
                    self._greeted.set_result(None)
                for msg_id, outcome in settled:
                    future = pending.pop(msg_id, None)
                    if future is not None and not future.done():
                        future.set_result(outcome)
                if inbox.events:
                    self._more.set()
        except NotQMPError as exc:
            self._finish(exc)
        except OSError as exc:
            self._finish(inbox.closed(
                f"connection lost: {exc.strerror or exc}"))
            self._reap()
        except Exception as exc:  # a bug must not leave commands hanging
            error = QMPConnectionError(f"{self.address}: reader failed: "
                                       f"{exc!r}")
            error.__cause__ = exc
            self._finish(error)

    def _reap(self) -> None:
        """The peer is gone: close our end and collect its outcome.

        asyncio keeps the reset that ended the stream in the writer's
        close waiter too; if nothing awaits that waiter, it reports
        "exception was never retrieved" with a traceback on stderr when
        it is collected, which an operator reads as a crash."""
        self._writer.close()
        reaper = asyncio.ensure_future(self._writer.wait_closed())
        reaper.add_done_callback(_retrieve)
        self._reaper = reaper  # held until done

    def _finish(self, error: QMPConnectionError) -> None:
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

    async def execute(self, command: str,
                      arguments: dict[str, Any] | None = None,
                      timeout: float | None = None) -> Any:
        """Run ``command`` and return its result (a JSON value); errors
        and the timeout are those of ``qmpfast.client.Client.execute``.
        A command the peer has not read by the timeout closes the
        connection, as there."""
        return await self._run(command, arguments, timeout, False)

    async def execute_oob(self, command: str,
                          arguments: dict[str, Any] | None = None,
                          timeout: float | None = None) -> Any:
        """Run ``command`` out of band (``exec-oob``), as
        ``qmpfast.client.Client.execute_oob`` does."""
        if not self._oob:
            raise oob_unavailable(self.address, command)
        return await self._run(command, arguments, timeout, True)

    async def _run(self, command: str, arguments: dict[str, Any] | None,
                   timeout: float | None, oob: bool) -> Any:
        if self._closed is not None:
            raise self._closed
        limit = self.timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        inbox = self._inbox
        msg_id = inbox.next_id()
        data = command_bytes(command, arguments, msg_id, oob)
        future: asyncio.Future[Outcome] = loop.create_future()
        # write() queues the whole line at once, so commands never
        # interleave and are registered in the order they are sent
        inbox.expect(msg_id, command)
        self._pending[msg_id] = future
        try:
            if self._traffic is not None:
                self._traffic(">", data)
            self._writer.write(data)
            try:
                await asyncio.wait_for(self._writer.drain(),
                                       max(deadline - loop.time(), 0))
            except asyncio.TimeoutError:
                error = send_timeout(self.address, command, msg_id, limit)
                self._abort(QMPConnectionError(str(error)))
                raise error from None
            except OSError as exc:
                if self._closed is not None:
                    raise self._closed from exc
                raise QMPConnectionError(
                    f"{self.address}: cannot send {command}: "
                    f"{exc.strerror or exc}") from exc
            try:
                outcome = await asyncio.wait_for(
                    future, max(deadline - loop.time(), 0))
            except asyncio.TimeoutError:
                raise reply_timeout(self.address, command, msg_id) from None
        finally:
            self._pending.pop(msg_id, None)
            inbox.forget(msg_id)
            if future.done() and not future.cancelled():
                future.exception()  # raised here in another form, if any
        return result(outcome)

    def _abort(self, reason: QMPConnectionError) -> None:
        """Drop the connection now, unsent bytes and all."""
        self._finish(reason)
        self._writer.transport.abort()
        self._task.cancel()

    def listen(self, names: Iterable[str] | None = None,
               max_queue: int = DEFAULT_MAX_QUEUE) -> EventListener:
        """A new queue of the events called ``names`` (all: ``None``),
        as ``qmpfast.client.Client.listen``."""
        listener = EventListener(self, Listener(names, max_queue))
        self._inbox.listeners.append(listener._queue)
        return listener

    def _unlisten(self, queue: Listener) -> None:
        if queue in self._inbox.listeners:
            self._inbox.listeners.remove(queue)

    async def get_event(self, timeout: float | None = None) -> Event | None:
        """The next event; None when none comes within ``timeout`` seconds
        (``None``: wait forever).  Raises QMPConnectionError once the
        connection has ended and every queued event has been read."""
        return await self._get(self._inbox.events, timeout)

    async def _get(self, events: Any, timeout: float | None) -> Event | None:
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
        event: Event = events.popleft()
        return event

    async def events(self, timeout: float | None = None
                     ) -> AsyncIterator[Event]:
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

    async def close(self) -> None:
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

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed is not None else "open"
        return f"<qmpfast.aio.Client {self.address} {state}>"


class EventListener(ListenerView["Client"]):
    """Events of the names asked for, queued for this reader alone; made
    by ``Client.listen``."""

    async def get(self, timeout: float | None = None) -> Event | None:
        """The next event; None after ``timeout`` seconds without one;
        QMPConnectionError once the connection ended and the queue is
        empty."""
        return await self._client._get(self._queue.events, timeout)

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            try:
                event = await self.get()
            except QMPConnectionError:
                return
            if event is not None:
                yield event

    def close(self) -> None:
        """Stop queueing events here."""
        self._client._unlisten(self._queue)


def connect(address: str | os.PathLike[str], *,
            timeout: float = DEFAULT_TIMEOUT,
            connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
            events: Iterable[str] | None = None,
            max_queue: int = DEFAULT_MAX_QUEUE, backend: str | None = None,
            max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
            oob: bool = False, traffic: Traffic | None = None
            ) -> _Connecting:
    """Connect to a QMP monitor and negotiate capabilities; the arguments
    are those of ``qmpfast.connect``.  Await the result for a Client, or
    use it directly in ``async with``."""
    return _Connecting(_connect(address, timeout, connect_timeout, events,
                                max_queue, backend, max_message_size, oob,
                                traffic))


async def _connect(address: str | os.PathLike[str], timeout: float,
                   connect_timeout: float | None,
                   events: Iterable[str] | None, max_queue: int,
                   backend: str | None, max_message_size: int,
                   oob: bool = False,
                   traffic: Traffic | None = None) -> Client:
    name = os.fspath(address)
    reader, writer = await _open(address, timeout, connect_timeout)
    try:
        client = Client(reader, writer, name, timeout=timeout,
                        events=events, max_queue=max_queue, backend=backend,
                        max_message_size=max_message_size, traffic=traffic)
    except BaseException:
        writer.close()
        raise
    try:
        await client._handshake(oob)
    except BaseException:
        await client.close()
        raise
    return client


class _Connecting(collections.abc.Coroutine[Any, Any, Client]):
    """``connect()``'s result: a coroutine giving the Client (so await it,
    or hand it to ``create_task``, ``wait_for``, ``gather``), and an async
    context manager that closes the client on exit."""

    def __init__(self, coro: Coroutine[Any, Any, Client]) -> None:
        self._coro = coro
        self._client: Client | None = None

    def send(self, value: Any) -> Any:
        return self._coro.send(value)

    def throw(self, *args: Any) -> Any:
        return self._coro.throw(*args)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, None, Client]:
        return self._coro.__await__()

    async def __aenter__(self) -> Client:
        self._client = await self._coro
        return self._client

    async def __aexit__(self, *exc: object) -> None:
        if self._client is not None:
            await self._client.close()


__all__ = ["connect", "Client", "EventListener"]
