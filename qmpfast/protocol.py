"""The QMP client protocol without I/O, shared by both clients.

``qmpfast.client`` (sockets) and ``qmpfast.aio`` (asyncio) only move bytes
and wait; what the bytes mean lives here, so the two clients cannot
disagree on it: address parsing, the retry schedule for a monitor that is
not listening yet, command encoding, id allocation, and the ``Inbox`` that
decodes what QEMU sends, queues events and settles waiting commands.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections import deque
from collections.abc import Iterable
from typing import Any, Callable, Generic, TypeVar, Union

from .decoder import DEFAULT_MAX_MESSAGE_SIZE, Decoder
from .errors import (CommandError, DecodeError, MessageTooLargeError,
                     NotQMPError, ProtocolError, QMPConnectionError,
                     QMPError)
from .model.messages import ErrorResponse, Event, Greeting, Return

DEFAULT_TIMEOUT = 10.0
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_MAX_QUEUE = 10000

# What a settled command gets: its reply, or the error to raise for it.
Outcome = Union[Return, QMPError]


def parse_address(address: str | os.PathLike[str]) -> tuple[str, Any]:
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


# errors that mean "not listening yet": retried up to connect_timeout
RETRIED = (FileNotFoundError, ConnectionRefusedError)


class Backoff:
    """Delays between connection attempts while QEMU is still starting.

    Short at first (QEMU usually listens within milliseconds), doubling up
    to a quarter second; the last attempt falls on the deadline itself.
    """

    def __init__(self, timeout: float | None, now: float) -> None:
        self._deadline = None if timeout is None else now + timeout
        self._delay = 0.01

    def next_delay(self, now: float) -> float | None:
        """Seconds to wait before the next attempt; None to give up."""
        delay = self._delay
        if self._deadline is not None:
            remaining = self._deadline - now
            if remaining <= 0:
                return None
            delay = min(delay, remaining)
        self._delay = min(self._delay * 2, 0.25)
        return delay


def connect_error(name: str, exc: BaseException | None) -> QMPConnectionError:
    """The QMPConnectionError for a failed connection attempt."""
    if isinstance(exc, TimeoutError):  # socket.timeout is TimeoutError
        return QMPConnectionError(f"{name}: connection timed out")
    errno = getattr(exc, "errno", None)
    if errno and errno > 0:
        reason = os.strerror(errno)
    else:  # e.g. a name that does not resolve
        reason = getattr(exc, "strerror", None) or str(exc)
    return QMPConnectionError(f"{name}: cannot connect: {reason}")


# -- commands ---------------------------------------------------------------

def command_bytes(command: str, arguments: dict[str, Any] | None,
                  msg_id: int, oob: bool = False) -> bytes:
    """The line that runs ``command`` (out of band with ``oob``: QEMU
    runs it at once, even while an in-band command is still running),
    checked to be JSON QEMU accepts.

    ``json.dumps`` would write NaN and infinities as bare words and a lone
    surrogate as a ``\\ud800`` escape; QEMU rejects both with an error that
    carries no id, so they are refused here (ValueError) before anything is
    sent.
    """
    message: dict[str, Any] = {"exec-oob" if oob else "execute": command}
    if arguments is not None:
        message["arguments"] = arguments
    message["id"] = msg_id
    try:
        text = json.dumps(message, allow_nan=False)
    except (ValueError, TypeError) as exc:
        _refuse(command, message, exc)
        raise  # not found again: the json module's own message
    if "\\ud" in text or "\\uD" in text:  # surrogates, or a fluke
        _refuse(command, message, None)
    return text.encode("ascii") + b"\n"


def _refuse(command: str, message: dict[str, Any],
            exc: Exception | None) -> None:
    """Raise an error naming the part of ``message`` that cannot be sent
    (ValueError for values, TypeError for types); return if none."""
    for path, value in _parts(message):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as bad:
                raise ValueError(
                    f"{command}: {path} holds {value[bad.start]!r}, a lone "
                    "surrogate, which is not Unicode text") from exc
        elif isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{command}: {path} is {value!r}, which JSON "
                             "cannot express") from exc
        elif not isinstance(value, (int, float, bool, type(None), dict,
                                    list, tuple)):
            raise TypeError(f"{command}: {path} is a {type(value).__name__}"
                            ", which JSON cannot express") from exc


def _parts(message: dict[str, Any]) -> Iterable[tuple[str, Any]]:
    """The command name and every argument, key and value, each with the
    words that name it."""
    yield "the command name", message.get("execute",
                                          message.get("exec-oob"))
    arguments = message.get("arguments")
    if not isinstance(arguments, dict):
        yield from _members(arguments, "the arguments")
        return
    for key, value in arguments.items():
        yield f"argument name {key!r}", key
        yield from _members(value, f"argument {key!r}")


def _members(value: Any, path: str) -> Iterable[tuple[str, Any]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"a key in {path}", key
            yield from _members(item, f"{path}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _members(item, f"{path}[{index}]")


def capabilities_arguments(greeting: Greeting,
                           oob: bool) -> dict[str, Any] | None:
    """The arguments of ``qmp_capabilities``: out-of-band execution is
    enabled when asked for and the greeting offers it (QEMU offers it
    only on monitors that can run commands out of band)."""
    offered = greeting.capabilities
    if oob and isinstance(offered, list) and "oob" in offered:
        return {"enable": ["oob"]}
    return None


def oob_unavailable(name: str, command: str) -> QMPError:
    """The error for ``exec-oob`` on a connection without the capability."""
    return QMPError(f"{name}: cannot run {command} out of band: oob was not "
                    "negotiated (connect with oob=True to a monitor whose "
                    "greeting offers it)")


# Where the raw traffic goes when asked: called with ">" and the bytes
# about to be sent, "<" and the bytes just received.
Traffic = Callable[[str, bytes], None]


class Listener:
    """A queue of the events with given names, bounded like the main
    one: when full, the oldest event is dropped and counted in
    ``dropped``.  Any number may listen on one connection; each sees
    every event it asked for, whoever else reads what."""

    def __init__(self, names: Iterable[str] | None = None,
                 max_queue: int = DEFAULT_MAX_QUEUE) -> None:
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        if isinstance(names, str):
            raise TypeError("names must be a collection of event names, "
                            f"not the string {names!r}")
        self.names = None if names is None else frozenset(names)
        self.max_queue = max_queue
        self.events: deque[Event] = deque()
        self.dropped = 0

    def wants(self, event: Event) -> bool:
        return self.names is None or event.name in self.names

    def push(self, event: Event) -> None:
        """Queue ``event`` (the Inbox calls this for wanted events)."""
        events = self.events
        if len(events) >= self.max_queue:
            events.popleft()
            self.dropped += 1
        events.append(event)


ClientT = TypeVar("ClientT")


class ListenerView(Generic[ClientT]):
    """What the event listeners of both clients share: the client they
    read through and the queue they read."""

    def __init__(self, client: ClientT, queue: Listener) -> None:
        self._client = client
        self._queue = queue

    @property
    def names(self) -> frozenset[str] | None:
        """The event names this listener takes (None: every event)."""
        return self._queue.names

    @property
    def dropped(self) -> int:
        """Events dropped because this listener's queue was full."""
        return self._queue.dropped


# -- what QEMU sends --------------------------------------------------------

class Inbox:
    """Decoded messages sorted out: events queued, commands settled.

    Before the greeting, a decode error or a message that is neither an
    event nor a greeting means the peer is not QMP; after it, a bad message
    is skipped and counted in ``decode_errors`` so that one stray byte
    cannot end a collector.  A bad message still settles the command it
    answers when that can be told (see ``feed``).

    Commands are registered with ``expect`` in the order they are sent and
    settled at most once: the first reply with a command's id wins, and
    later replies with that id are dropped like replies to unknown ids.
    """

    def __init__(self, name: str, events: Iterable[str] | None = None,
                 max_queue: int = DEFAULT_MAX_QUEUE,
                 backend: str | None = None,
                 max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        self.name = name
        self.max_queue = max_queue
        self.events: deque[Event] = deque()
        self.dropped = 0
        self.decode_errors = 0
        self.greeting: Greeting | None = None
        self.listeners: list[Listener] = []
        self._decoder = Decoder(
            events=events, backend=backend, source=name, on_error="skip",
            max_message_size=max_message_size)
        self._ids = itertools.count(1)
        self._pending: dict[int, str] = {}  # id -> command, oldest first
        self._unparsed = False  # an id-less error since the last id'd reply
        self._fed = 0  # stream offset of the next chunk
        self._last = b""  # the chunk before, to recover bad replies
        self._last_base = 0

    def next_id(self) -> int:
        return next(self._ids)

    def expect(self, msg_id: int, command: str) -> None:
        """``command`` (id ``msg_id``) is about to be sent: await its
        reply.  Register commands in the order they are sent."""
        self._pending[msg_id] = command

    def forget(self, msg_id: int) -> None:
        """Stop waiting for ``msg_id``: its reply, if it comes, is dropped."""
        self._pending.pop(msg_id, None)

    def feed(self, data: bytes) -> list[tuple[int, Outcome]]:
        """Decode ``data``; queue its events, return the commands settled.

        An error reply without an id (QEMU could not parse a command) and a
        message over ``max_message_size`` (QEMU's events are small, so it
        is a reply) both fail the oldest command waiting: QEMU answers
        commands in order.  An error reply that lacks ``class`` or
        ``desc`` fails its command with the CommandError it allows.
        """
        base = self._fed
        feed = self._decoder.feed
        messages = feed(data)
        self._fed = base + len(data)
        settled: list[tuple[int, Outcome]] = []
        for msg in messages:
            if isinstance(msg, Event):
                self.push(msg)
            elif self.greeting is None:
                if not isinstance(msg, Greeting):
                    raise NotQMPError(
                        f"{self.name}: not a QMP peer: it sent "
                        f"{_excerpt(msg.raw)} instead of a greeting")
                self.greeting = msg
            elif isinstance(msg, (Return, ErrorResponse)):
                self._reply(msg, settled)
        errors = self._decoder.errors
        if errors:
            # bytes before the greeting that are not QMP mean a peer that is
            # not QMP, however the stream was cut into chunks
            if self.greeting is None or (
                    errors[0].offset < self.greeting.stream_offset):
                raise NotQMPError(f"{self.name}: not a QMP peer: "
                                  f"{errors[0].msg}")
            self.decode_errors += len(errors)
            for error in errors:
                self._bad_message(error, data, base, settled)
            errors.clear()
        self._last = data
        self._last_base = base
        return settled

    def _reply(self, msg: Return | ErrorResponse,
               settled: list[tuple[int, Outcome]]) -> None:
        msg_id = msg.id
        if isinstance(msg, ErrorResponse):
            self._error(msg_id is None, msg_id, msg.error_class, msg.desc,
                        settled)
            return
        if msg_id is not None:
            self._unparsed = False
        command = self._pending.pop(msg_id, None) if (
            type(msg_id) is int) else None
        if command is not None:
            settled.append((msg_id, msg))

    def _error(self, id_less: bool, msg_id: Any, error_class: Any,
               desc: Any, settled: list[tuple[int, Outcome]]) -> None:
        """Settle the command an error reply answers.

        One line QEMU cannot parse may draw several id-less errors (one per
        token it skips): only the first fails a command, the rest up to
        the next reply with an id belong to the same line, and failing the
        next command with them would report one QEMU still runs.
        """
        error_class = error_class if isinstance(error_class, str) else None
        desc = desc if isinstance(desc, str) else None
        if id_less:
            if self._unparsed:
                return
            self._unparsed = True
            self._fail_oldest(lambda i, command: CommandError(
                error_class, desc, i, command), settled)
            return
        self._unparsed = False
        command = self._pending.pop(msg_id, None) if (
            type(msg_id) is int) else None
        if command is not None:
            settled.append((msg_id, CommandError(error_class, desc, msg_id,
                                                 command)))

    def _fail_oldest(self, error: Callable[[int, str], QMPError],
                     settled: list[tuple[int, Outcome]]) -> None:
        if self._pending:
            msg_id = next(iter(self._pending))
            settled.append((msg_id, error(msg_id,
                                          self._pending.pop(msg_id))))

    def _bad_message(self, error: DecodeError, data: bytes, base: int,
                     settled: list[tuple[int, Outcome]]) -> None:
        if isinstance(error, MessageTooLargeError):
            self._fail_oldest(lambda i, command: error, settled)
        elif isinstance(error, ProtocolError):
            obj = self._recover(error.offset, data, base)
            if isinstance(obj, dict) and "error" in obj:
                detail = obj["error"]
                if not isinstance(detail, dict):
                    detail = {}
                self._error("id" not in obj, obj.get("id"),
                            detail.get("class"), detail.get("desc"),
                            settled)

    def _recover(self, offset: int, data: bytes, base: int) -> Any:
        """The JSON value of a well-formed message the decoder refused
        (QMP's shapes broken), when it began in this chunk or the one
        before; None otherwise."""
        if offset >= base:
            buf = data[offset - base:]
        elif offset >= self._last_base and self._last:
            buf = self._last[offset - self._last_base:] + data
        else:
            return None
        text = buf.decode("utf-8", "replace").lstrip()
        try:
            return json.JSONDecoder().raw_decode(text)[0]
        except ValueError:
            return None

    def push(self, event: Event) -> None:
        events = self.events
        if len(events) >= self.max_queue:
            events.popleft()
            self.dropped += 1
        events.append(event)
        for listener in self.listeners:
            if listener.wants(event):
                listener.push(event)

    def closed(self, reason: str) -> QMPConnectionError:
        """The error for a stream that ended, read at its end."""
        if self.greeting is None:
            return NotQMPError(f"{self.name}: not a QMP peer: {reason} "
                               "before sending a greeting")
        return QMPConnectionError(f"{self.name}: {reason}")

    def no_greeting(self, timeout: float) -> NotQMPError:
        return NotQMPError(
            f"{self.name}: no QMP greeting within {timeout:g} s (not a QMP "
            "monitor, or another client holds it)")


def _excerpt(raw: bytes) -> str:
    text = raw[:60].decode("utf-8", "replace")
    return text + ("..." if len(raw) > 60 else "")


def result(outcome: Outcome) -> Any:
    """A settled command's return value, or its error raised."""
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome.value


def send_timeout(name: str, command: str, msg_id: int,
                 timeout: float) -> TimeoutError:
    """The error for a command the peer did not read in time."""
    return TimeoutError(
        f"{name}: {command} (id {msg_id}) not sent within {timeout:g} s: "
        "the peer stopped reading; the connection is closed")


def reply_timeout(name: str, command: str, msg_id: int) -> TimeoutError:
    return TimeoutError(f"{name}: no reply to {command} (id {msg_id})")


class ConnectionInfo:
    """What both clients say about their connection, from their Inbox."""

    _inbox: Inbox
    _closed: QMPConnectionError | None

    @property
    def greeting(self) -> Greeting:
        """QEMU's greeting (``connect()`` returns only once it came)."""
        greeting = self._inbox.greeting
        if greeting is None:
            raise QMPConnectionError(f"{self._inbox.name}: no greeting yet")
        return greeting

    @property
    def oob(self) -> bool:
        """Whether out-of-band execution was negotiated (``execute_oob``)."""
        return getattr(self, "_oob", False)

    @property
    def dropped(self) -> int:
        """Events dropped because the queue was full."""
        return self._inbox.dropped

    @property
    def decode_errors(self) -> int:
        """Undecodable messages skipped."""
        return self._inbox.decode_errors

    @property
    def closed_reason(self) -> QMPConnectionError | None:
        """Why the connection ended; None while it is open."""
        return self._closed


__all__ = ["parse_address", "command_bytes", "Inbox", "result", "Listener",
           "capabilities_arguments", "oob_unavailable", "Traffic",
           "ConnectionInfo", "Backoff", "connect_error", "CommandError",
           "QMPConnectionError", "NotQMPError", "DEFAULT_TIMEOUT",
           "DEFAULT_CONNECT_TIMEOUT", "DEFAULT_MAX_QUEUE"]
