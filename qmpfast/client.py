"""A synchronous QMP client built for event collectors.

``connect()`` opens a unix socket or ``HOST:PORT``, reads the greeting and
negotiates capabilities; ``Client.execute()`` sends commands with automatic
ids and returns their result; ``Client.events()`` iterates the events.

Everything QEMU sends goes through one ``Decoder`` and one dispatcher, so
an event is queued whenever it arrives (before the greeting, between a
command and its reply, between replies) and a reply is matched by id even
while nobody reads events.  The event queue is bounded: when it is full the
oldest event is dropped and counted in ``dropped``, so a slow reader costs
events, never memory or a stuck command.

The client may be shared by threads: whichever thread waits reads the
socket and dispatches for all of them.
"""

from __future__ import annotations

import os
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .decoder import DEFAULT_MAX_MESSAGE_SIZE
from .errors import CommandError, NotQMPError, QMPConnectionError
from .model.messages import Event
from .protocol import (DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_QUEUE,
                       DEFAULT_TIMEOUT, RETRIED, Backoff, ConnectionInfo,
                       Inbox, Listener, ListenerView, Outcome, Traffic,
                       capabilities_arguments, command_bytes, connect_error,
                       oob_unavailable, parse_address, reply_timeout, result,
                       send_timeout)

_RECV = 65536


def _open_socket(address: str | os.PathLike[str], timeout: float,
                 connect_timeout: float | None) -> socket.socket:
    kind, target = parse_address(address)
    name = os.fspath(address)
    backoff = Backoff(connect_timeout, time.monotonic())
    while True:
        try:
            if kind == "tcp":
                return socket.create_connection(target, timeout)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(timeout)
                sock.connect(target)
            except BaseException:
                sock.close()
                raise
            return sock
        except RETRIED as exc:
            error = exc
        except OSError as exc:
            raise connect_error(name, exc) from exc
        delay = backoff.next_delay(time.monotonic())
        if delay is None:
            raise connect_error(name, error) from error
        time.sleep(delay)


class Client(ConnectionInfo):
    """A negotiated QMP connection; make one with ``connect()``.

    ``greeting`` is QEMU's greeting (a ``qmpfast.Greeting``), ``dropped``
    the number of events dropped because the queue was full,
    ``decode_errors`` the number of undecodable messages skipped.
    """

    def __init__(self, sock: socket.socket, name: str, *,
                 timeout: float = DEFAULT_TIMEOUT,
                 events: Iterable[str] | None = None,
                 max_queue: int = DEFAULT_MAX_QUEUE,
                 backend: str | None = None,
                 max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
                 traffic: Traffic | None = None) -> None:
        self.address = name
        self._traffic = traffic
        self._oob = False
        self.timeout = timeout
        self._inbox = Inbox(name, events, max_queue, backend,
                            max_message_size)
        self._sock = sock
        # non-blocking: reads wait in the selector, sends in _send, both
        # bounded by the caller's deadline
        sock.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._selector.register(sock, selectors.EVENT_READ)
        self._cond = threading.Condition(threading.Lock())
        self._send_lock = threading.Lock()
        self._reading = False
        self._replies: dict[int, Outcome] = {}
        self._closed: QMPConnectionError | None = None
        self._shut = False  # close() was called

    def _handshake(self, oob: bool = False) -> None:
        with self._cond:
            if not self._wait(lambda: self._inbox.greeting is not None,
                              time.monotonic() + self.timeout):
                raise self._inbox.no_greeting(self.timeout)
        greeting = self._inbox.greeting
        assert greeting is not None
        arguments = capabilities_arguments(greeting, oob)
        self.execute("qmp_capabilities", arguments)
        self._oob = arguments is not None

    # -- reading -----------------------------------------------------------

    def _wait(self, ready: Callable[[], object],
              deadline: float | None) -> bool:
        """Read and dispatch until ``ready()``; False at ``deadline``.

        Called with ``_cond`` held.  One waiting thread reads at a time
        (outside the lock); the others sleep until it has dispatched.
        Raises the closing error once the stream has ended.
        """
        while not ready():
            if self._closed is not None:
                raise self._closed
            remaining = None if deadline is None else (
                deadline - time.monotonic())
            if remaining is not None and remaining <= 0:
                return False
            if self._reading:
                self._cond.wait(remaining)
                continue
            self._reading = True
            self._cond.release()
            try:
                data = self._recv(remaining)
            finally:
                self._cond.acquire()
                self._reading = False
                self._cond.notify_all()
                if self._shut:
                    self._release()
            if data is not None:
                self._dispatch(data)
        return True

    def _recv(self, timeout: float | None) -> bytes | str | None:
        """Bytes read, None if none yet, or why the stream ended (a str)."""
        try:
            if not self._selector.select(timeout):
                return None
            data = self._sock.recv(_RECV)
        except BlockingIOError:
            return None
        except ConnectionResetError:
            # QEMU reads commands a byte at a time; when it exits (quit)
            # with input unread, Linux reports ECONNRESET instead of EOF,
            # after everything QEMU sent has been read.
            return "connection closed by peer"
        except (OSError, ValueError) as exc:  # ValueError: closed by us
            return f"connection lost: {getattr(exc, 'strerror', None) or exc}"
        return data or "connection closed by peer"

    def _dispatch(self, data: bytes | str) -> None:
        inbox = self._inbox
        if isinstance(data, str):
            if self._closed is None:
                self._closed = inbox.closed(data)
            return
        if self._traffic is not None:
            self._traffic("<", data)
        try:
            settled = inbox.feed(data)
        except NotQMPError as exc:
            self._closed = exc
            raise
        self._replies.update(settled)

    # -- sending -----------------------------------------------------------

    def _send(self, data: bytes, command: str, msg_id: int,
              deadline: float, timeout: float) -> None:
        """Write ``data`` by ``deadline``, or close the connection.

        Called with ``_send_lock`` held.  A command cut short cannot be
        taken back (what came next would be read as part of it), so a
        peer that stops reading costs the connection.
        """
        view = memoryview(data)
        sent = 0
        while sent < len(view):
            try:
                sent += self._sock.send(view[sent:])
                continue
            except BlockingIOError:
                pass
            except (OSError, ValueError) as exc:
                if self._closed is not None:
                    raise self._closed from exc
                raise QMPConnectionError(
                    f"{self.address}: cannot send {command}: "
                    f"{getattr(exc, 'strerror', None) or exc}") from exc
            remaining = deadline - time.monotonic()
            if remaining > 0:
                with selectors.DefaultSelector() as writable:
                    try:
                        writable.register(self._sock, selectors.EVENT_WRITE)
                    except (OSError, ValueError):  # closed meanwhile
                        continue  # send() says how
                    if writable.select(remaining):
                        continue
            error = send_timeout(self.address, command, msg_id, timeout)
            self._close(QMPConnectionError(str(error)))
            raise error

    # -- public ------------------------------------------------------------

    def execute(self, command: str, arguments: dict[str, Any] | None = None,
                timeout: float | None = None) -> Any:
        """Run ``command`` and return its result (a JSON value).

        Raises CommandError on an error reply, ValueError (naming the
        argument) for arguments QEMU could not parse, TimeoutError when
        the command is not answered within ``timeout`` seconds (default:
        the client's), and QMPConnectionError when the connection ends
        first.  The timeout covers sending too: if it expires while the
        command is being written (the peer has stopped reading), the
        connection is closed; otherwise it stays open and a late reply
        is dropped.
        """
        return self._run(command, arguments, timeout, False)

    def execute_oob(self, command: str,
                    arguments: dict[str, Any] | None = None,
                    timeout: float | None = None) -> Any:
        """Run ``command`` out of band (``exec-oob``): QEMU runs it at
        once, even while an in-band command is still running (e.g.
        ``migrate-pause``).  Needs ``connect(oob=True)`` to a monitor that
        offers the capability (``oob`` says whether it was negotiated);
        QMPError otherwise.  Errors are those of ``execute``."""
        if not self._oob:
            raise oob_unavailable(self.address, command)
        return self._run(command, arguments, timeout, True)

    def _run(self, command: str, arguments: dict[str, Any] | None,
             timeout: float | None, oob: bool) -> Any:
        limit = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        msg_id = self._inbox.next_id()
        data = command_bytes(command, arguments, msg_id, oob)
        if not self._send_lock.acquire(timeout=max(limit, 0)):
            # the command sent before this one is stuck: it will close
            # the connection at its own deadline
            raise TimeoutError(f"{self.address}: {command} (id {msg_id}) "
                               f"not sent within {limit:g} s: another "
                               "command is still being sent")
        try:
            with self._cond:
                if self._closed is not None:
                    raise self._closed
                # registered in the order sent: replies without an id
                # answer the oldest
                self._inbox.expect(msg_id, command)
            if self._traffic is not None:
                self._traffic(">", data)
            self._send(data, command, msg_id, deadline, limit)
        except BaseException:
            with self._cond:
                self._inbox.forget(msg_id)
            raise
        finally:
            self._send_lock.release()
        replies = self._replies
        with self._cond:
            try:
                if not self._wait(lambda: msg_id in replies, deadline):
                    raise reply_timeout(self.address, command, msg_id)
                outcome = replies.pop(msg_id)
            finally:
                self._inbox.forget(msg_id)
                replies.pop(msg_id, None)
        return result(outcome)

    def get_event(self, timeout: float | None = None) -> Event | None:
        """The next event; None when none comes within ``timeout`` seconds
        (``None``: wait forever).  Raises QMPConnectionError once the
        connection has ended and every queued event has been read."""
        events = self._inbox.events
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if not self._wait(lambda: events, deadline):
                return None
            return events.popleft()

    def listen(self, names: Iterable[str] | None = None,
               max_queue: int = DEFAULT_MAX_QUEUE) -> EventListener:
        """A new queue of the events called ``names`` (all: ``None``)
        from now on, bounded by ``max_queue`` (oldest dropped and
        counted), read apart from ``get_event`` and other listeners."""
        listener = EventListener(self, Listener(names, max_queue))
        with self._cond:
            self._inbox.listeners.append(listener._queue)
        return listener

    def _get(self, events: Any, timeout: float | None) -> Event | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if not self._wait(lambda: events, deadline):
                return None
            event: Event = events.popleft()
            return event

    def _unlisten(self, queue: Listener) -> None:
        with self._cond:
            if queue in self._inbox.listeners:
                self._inbox.listeners.remove(queue)

    def events(self, timeout: float | None = None) -> Iterator[Event]:
        """Iterate the events until the connection ends, or until none
        has come for ``timeout`` seconds."""
        while True:
            try:
                event = self.get_event(timeout)
            except QMPConnectionError:
                return
            if event is None:
                return
            yield event

    def close(self) -> None:
        """Close the connection; waiting calls raise QMPConnectionError."""
        self._close(QMPConnectionError(f"{self.address}: connection closed"))

    def _close(self, reason: QMPConnectionError) -> None:
        with self._cond:
            if self._closed is None:
                self._closed = reason
            if self._shut:
                return
            self._shut = True
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            if not self._reading:  # else the reader releases it on waking
                self._release()

    def _release(self) -> None:
        self._selector.close()
        self._sock.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed is not None else "open"
        return f"<qmpfast.Client {self.address} {state}>"


class EventListener(ListenerView["Client"]):
    """Events of the names asked for, queued for this reader alone; made
    by ``Client.listen``.  Reading waits the way ``get_event`` does (the
    reading thread dispatches for every queue)."""

    def get(self, timeout: float | None = None) -> Event | None:
        """The next event; None after ``timeout`` seconds without one;
        QMPConnectionError once the connection ended and the queue is
        empty."""
        return self._client._get(self._queue.events, timeout)

    def __iter__(self) -> Iterator[Event]:
        """The events until the connection ends."""
        while True:
            try:
                event = self.get()
            except QMPConnectionError:
                return
            if event is not None:
                yield event

    def close(self) -> None:
        """Stop queueing events here."""
        self._client._unlisten(self._queue)

    def __enter__(self) -> EventListener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def connect(address: str | os.PathLike[str], *,
            timeout: float = DEFAULT_TIMEOUT,
            connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
            events: Iterable[str] | None = None,
            max_queue: int = DEFAULT_MAX_QUEUE, backend: str | None = None,
            max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
            oob: bool = False, traffic: Traffic | None = None) -> Client:
    """Connect to a QMP monitor and negotiate capabilities.

    ``address``: a unix socket path or ``HOST:PORT``.  ``timeout``: the
    default wait for the greeting and for each command.
    ``connect_timeout``: how long to keep retrying while the socket does
    not exist or refuses (QEMU still starting); ``None`` retries forever.
    ``events``: only these event names are queued.  ``max_queue``: events
    kept before the oldest is dropped.  ``backend``: the scanner (``"c"``,
    ``"python"``).  ``max_message_size``: a longer message is dropped (a
    reply that long fails its command with MessageTooLargeError).
    ``oob``: enable out-of-band execution when the greeting offers it
    (``Client.execute_oob``).  ``traffic``: called with ``">"`` and every
    line sent, ``"<"`` and every chunk received, as raw bytes (a log of
    the traffic, e.g. for debugging a peer).
    """
    name = os.fspath(address)
    sock = _open_socket(address, timeout, connect_timeout)
    try:
        client = Client(sock, name, timeout=timeout, events=events,
                        max_queue=max_queue, backend=backend,
                        max_message_size=max_message_size, traffic=traffic)
    except BaseException:
        sock.close()
        raise
    try:
        client._handshake(oob)
    except BaseException:
        client.close()
        raise
    return client


__all__ = ["connect", "Client", "EventListener", "CommandError", "QMPConnectionError",
           "NotQMPError", "parse_address"]
