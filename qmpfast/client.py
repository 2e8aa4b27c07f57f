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

import itertools
import json
import os
import selectors
import socket
import threading
import time
from collections import deque

from .decoder import Decoder
from .errors import QMPError

DEFAULT_TIMEOUT = 10.0
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_MAX_QUEUE = 10000
_RECV = 65536


class CommandError(QMPError):
    """QEMU answered a command with an error reply."""

    def __init__(self, error_class, desc, id=None, command=None):
        super().__init__(f"{command}: {error_class}: {desc}")
        self.error_class = error_class
        self.desc = desc
        self.id = id
        self.command = command


class QMPConnectionError(QMPError, ConnectionError):
    """The peer could not be reached, or the connection is closed."""


class NotQMPError(QMPConnectionError):
    """The peer does not speak QMP (no greeting, or not JSON at all)."""


def parse_address(address):
    """``("unix", path)`` or ``("tcp", (host, port))`` for an address.

    ``HOST:PORT`` (``[::1]:4444`` for IPv6) is TCP; anything else, and
    anything with a ``/``, is a unix socket path.
    """
    text = os.fspath(address)
    host, sep, port = text.rpartition(":")
    if sep and host and port.isdigit() and "/" not in text:
        return "tcp", (host[1:-1] if host.startswith("[") else host,
                       int(port))
    return "unix", text


def _retrying(connect_timeout):
    """Yield once per connection attempt, sleeping between attempts.

    Stops (the caller then raises) once ``connect_timeout`` seconds have
    passed; ``None`` retries forever.
    """
    deadline = None if connect_timeout is None else (
        time.monotonic() + connect_timeout)
    delay = 0.01
    while True:
        yield
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            delay = min(delay, remaining)  # the last attempt at the deadline
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


# errors that mean "not listening yet": retried up to connect_timeout
RETRIED = (FileNotFoundError, ConnectionRefusedError)


def connect_error(name, exc):
    """The QMPConnectionError for a failed connection attempt."""
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return QMPConnectionError(f"{name}: connection timed out")
    errno = getattr(exc, "errno", None)
    if errno and errno > 0:
        reason = os.strerror(errno)
    else:  # e.g. a name that does not resolve
        reason = getattr(exc, "strerror", None) or str(exc)
    return QMPConnectionError(f"{name}: cannot connect: {reason}")


def _open_socket(address, timeout, connect_timeout):
    kind, target = parse_address(address)
    name = os.fspath(address)
    error = None
    for _ in _retrying(connect_timeout):
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
    raise connect_error(name, error) from error


class Inbox:
    """Decoded messages sorted out: events queued, replies handed back.

    Shared by the sync and asyncio clients.  Before the greeting, a decode
    error or a message that is neither an event nor a greeting means the
    peer is not QMP; after it, a bad message is skipped and counted in
    ``decode_errors`` so that one stray byte cannot end a collector.
    """

    def __init__(self, name, events, max_queue, backend):
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        self.name = name
        self.max_queue = max_queue
        self.events = deque()
        self.dropped = 0
        self.decode_errors = 0
        self.greeting = None
        self._decoder = Decoder(events=events, backend=backend,
                                source=name, on_error="skip")

    def feed(self, data):
        """Decode ``data``; queue its events, return its replies."""
        messages = self._decoder.feed(data)
        replies = []
        for msg in messages:
            kind = msg.kind
            if kind == "event":
                self.push(msg)
            elif self.greeting is None:
                if kind != "greeting":
                    raise NotQMPError(
                        f"{self.name}: not a QMP peer: it sent "
                        f"{_excerpt(msg.raw)} instead of a greeting")
                self.greeting = msg
            elif kind == "return" or kind == "error":
                replies.append(msg)
        errors = self._decoder.errors
        if errors:
            if self.greeting is None:
                raise NotQMPError(f"{self.name}: not a QMP peer: "
                                  f"{errors[0].msg}")
            self.decode_errors += len(errors)
            errors.clear()
        return replies

    def push(self, event):
        events = self.events
        if len(events) >= self.max_queue:
            events.popleft()
            self.dropped += 1
        events.append(event)

    def closed(self, reason):
        """The error for a stream that ended, read at its end."""
        if self.greeting is None:
            return NotQMPError(f"{self.name}: not a QMP peer: {reason} "
                               "before sending a greeting")
        return QMPConnectionError(f"{self.name}: {reason}")

    def no_greeting(self, timeout):
        return NotQMPError(
            f"{self.name}: no QMP greeting within {timeout:g} s (not a QMP "
            "monitor, or another client holds it)")


def _excerpt(raw):
    text = raw[:60].decode("utf-8", "replace")
    return text + ("..." if len(raw) > 60 else "")


def command_bytes(command, arguments, msg_id):
    message = {"execute": command}
    if arguments is not None:
        message["arguments"] = arguments
    message["id"] = msg_id
    return json.dumps(message).encode("utf-8") + b"\n"


def result(reply, command):
    """A reply's return value, or its error raised as CommandError."""
    if reply.kind == "error":
        raise CommandError(reply.error_class, reply.desc, reply.id, command)
    return reply.value


class ConnectionInfo:
    """What both clients say about their connection, from their Inbox."""

    greeting = property(lambda self: self._inbox.greeting)
    dropped = property(lambda self: self._inbox.dropped)
    decode_errors = property(lambda self: self._inbox.decode_errors)

    @property
    def closed_reason(self):
        """Why the connection ended (a QMPConnectionError); None while
        it is open."""
        return self._closed


class Client(ConnectionInfo):
    """A negotiated QMP connection; make one with ``connect()``.

    ``greeting`` is QEMU's greeting (a ``qmpfast.Greeting``), ``dropped``
    the number of events dropped because the queue was full,
    ``decode_errors`` the number of undecodable messages skipped.
    """

    def __init__(self, sock, name, *, timeout=DEFAULT_TIMEOUT, events=None,
                 max_queue=DEFAULT_MAX_QUEUE, backend=None):
        self.address = name
        self.timeout = timeout
        self._inbox = Inbox(name, events, max_queue, backend)
        self._sock = sock
        sock.settimeout(None)  # waits go through the selector
        self._selector = selectors.DefaultSelector()
        self._selector.register(sock, selectors.EVENT_READ)
        self._ids = itertools.count(1)
        self._cond = threading.Condition(threading.Lock())
        self._send_lock = threading.Lock()
        self._reading = False
        self._waiting = set()
        self._replies = {}
        self._closed = None  # the error to raise once the stream has ended
        self._shut = False  # close() was called

    def _handshake(self):
        with self._cond:
            if not self._wait(lambda: self._inbox.greeting is not None,
                              time.monotonic() + self.timeout):
                raise self._inbox.no_greeting(self.timeout)
        self.execute("qmp_capabilities")

    # -- reading -----------------------------------------------------------

    def _wait(self, ready, deadline):
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

    def _recv(self, timeout):
        """Bytes read, None on timeout, or why the stream ended (a str)."""
        try:
            if not self._selector.select(timeout):
                return None
            data = self._sock.recv(_RECV)
        except ConnectionResetError:
            # QEMU reads commands a byte at a time; when it exits (quit)
            # with input unread, Linux reports ECONNRESET instead of EOF,
            # after everything QEMU sent has been read.
            return "connection closed by peer"
        except (OSError, ValueError) as exc:  # ValueError: closed by us
            return f"connection lost: {getattr(exc, 'strerror', None) or exc}"
        return data or "connection closed by peer"

    def _dispatch(self, data):
        inbox = self._inbox
        if type(data) is str:
            if self._closed is None:
                self._closed = inbox.closed(data)
            return
        try:
            replies = inbox.feed(data)
        except NotQMPError as exc:
            self._closed = exc
            raise
        for reply in replies:
            msg_id = reply.id
            if type(msg_id) is int and msg_id in self._waiting:
                self._replies[msg_id] = reply

    # -- public ------------------------------------------------------------

    def execute(self, command, arguments=None, timeout=None):
        """Run ``command`` and return its result.

        Raises CommandError on an error reply, TimeoutError when no reply
        comes within ``timeout`` (default: the client's), and
        QMPConnectionError when the connection ends first.
        """
        msg_id = next(self._ids)
        data = command_bytes(command, arguments, msg_id)
        deadline = time.monotonic() + (
            self.timeout if timeout is None else timeout)
        with self._cond:
            if self._closed is not None:
                raise self._closed
            self._waiting.add(msg_id)
        try:
            try:
                with self._send_lock:
                    self._sock.sendall(data)
            except OSError as exc:
                raise QMPConnectionError(
                    f"{self.address}: cannot send {command}: "
                    f"{exc.strerror or exc}") from exc
            with self._cond:
                if not self._wait(lambda: msg_id in self._replies, deadline):
                    raise TimeoutError(f"{self.address}: no reply to "
                                       f"{command} (id {msg_id})")
                reply = self._replies.pop(msg_id)
        finally:
            with self._cond:
                self._waiting.discard(msg_id)
                self._replies.pop(msg_id, None)
        return result(reply, command)

    def get_event(self, timeout=None):
        """The next event; None when none comes within ``timeout`` seconds
        (``None``: wait forever).  Raises QMPConnectionError once the
        connection has ended and every queued event has been read."""
        events = self._inbox.events
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if not self._wait(lambda: events, deadline):
                return None
            return events.popleft()

    def events(self, timeout=None):
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

    def close(self):
        """Close the connection; waiting calls raise QMPConnectionError."""
        with self._cond:
            if self._closed is None:
                self._closed = QMPConnectionError(
                    f"{self.address}: connection closed")
            if self._shut:
                return
            self._shut = True
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            if not self._reading:  # else the reader releases it on waking
                self._release()

    def _release(self):
        self._selector.close()
        self._sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        state = "closed" if self._closed is not None else "open"
        return f"<qmpfast.Client {self.address} {state}>"


def connect(address, *, timeout=DEFAULT_TIMEOUT,
            connect_timeout=DEFAULT_CONNECT_TIMEOUT, events=None,
            max_queue=DEFAULT_MAX_QUEUE, backend=None):
    """Connect to a QMP monitor and negotiate capabilities.

    ``address``: a unix socket path or ``HOST:PORT``.  ``timeout``: the
    default wait for the greeting and for each reply.  ``connect_timeout``:
    how long to keep retrying while the socket does not exist or refuses
    (QEMU still starting); ``None`` retries forever.  ``events``: only
    these event names are queued.  ``max_queue``: events kept before the
    oldest is dropped.  ``backend``: the scanner (``"c"``, ``"python"``).
    """
    name = os.fspath(address)
    sock = _open_socket(address, timeout, connect_timeout)
    try:
        client = Client(sock, name, timeout=timeout, events=events,
                        max_queue=max_queue, backend=backend)
    except BaseException:
        sock.close()
        raise
    try:
        client._handshake()
    except BaseException:
        client.close()
        raise
    return client


__all__ = ["connect", "Client", "CommandError", "QMPConnectionError",
           "NotQMPError", "parse_address"]
