"""What the events mean: the VM's run state and its VNC sessions.

No event names the status ``query-status`` reports.  A ``STOP`` may mean
``paused``, ``io-error``, ``shutdown``, ``guest-panicked``, ``watchdog`` or
``finish-migrate``; the event QEMU sent just before it tells which.
``VMState`` replays QEMU's own rules (``runstate.c``, ``cpus.c``; all that
a TCG guest can produce checked against QEMU 7.2 with ``query-status``
after every step) so that after any sequence of events ``status`` is what
``query-status`` would answer:

* BLOCK_IO_ERROR with action ``stop``, GUEST_PANICKED with action ``pause``
  or ``poweroff`` and WATCHDOG with action ``pause`` ask for a stop, which
  QEMU carries out a moment later with a STOP: io-error, guest-panicked,
  watchdog.  Asked while the VM is not running, it changes nothing and no
  STOP follows.  RESUME drops a request not yet carried out, as QEMU does.
* SHUTDOWN ends a running VM: with ``-no-shutdown`` a STOP follows (and
  means nothing more), without it QEMU exits; QEMU's last status is
  ``shutdown`` either way.  A VM not running keeps its status.
* Any other STOP means ``paused`` (``finish-migrate`` while MIGRATION events
  report a migration in progress).
* RESUME and WAKEUP mean ``running``, SUSPEND ``suspended``.  A ``cont`` on
  an io-error VM retries the failed request: RESUME, BLOCK_IO_ERROR, STOP.
* RESET leaves ``running``, ``inmigrate`` and ``finish-migrate`` alone and
  turns every other status into ``prelaunch``.
* MIGRATION ``completed`` means ``postmigrate`` on the source; on a
  destination (``inmigrate``) that does not start by itself (RESUME comes
  first if it does), ``paused``.  ``failed``/``cancelled`` during
  ``finish-migrate`` mean ``postmigrate`` (RESUME follows if it was running).
* Since QEMU 9.0 a STOP of a suspended VM means ``paused`` and the RESUME
  after it ``suspended`` again (older QEMUs send neither).

Events cannot tell ``debug`` (gdbstub), ``internal-error`` (KVM),
``save-vm``/``restore-vm`` (snapshots, dumps) or ``colo`` from a plain
stop, so those read as ``paused``; a migration shows only with the
``events`` migration capability on.  Two changes happen a moment away from
their event and the tracker follows the event: ``system_wakeup`` sets
``running`` before WAKEUP is sent, and the source sets ``postmigrate`` just
after MIGRATION ``completed``.  ``seed()`` with a ``query-status`` answer
puts the tracker right (and ends ``unknown``).
"""

from __future__ import annotations

import datetime as _dt
from collections import Counter
from typing import Any, Callable, Iterator, Optional, Sequence, cast

from .model.catalogue import struct_class
from .model.messages import Event, Message
from .decoder import parse

UNKNOWN = "unknown"
_LIVE = ("running", UNKNOWN, "suspended")  # where a stop request takes effect
_RESET_KEEPS = ("running", "inmigrate", "finish-migrate", UNKNOWN)
_MIGRATION_OVER = ("completed", "failed", "cancelled", "none")
_EXITS = ("host-qmp-quit", "host-signal")  # QEMU quits whatever -no-shutdown
_VncClientInfo = struct_class("VncClientInfo")
_VncServerInfo = struct_class("VncServerInfo")


def _member(event: Event, key: str) -> Any:
    return event.data.get(key) if isinstance(event.data, dict) else None


def _keep(event: Optional[Event]) -> Optional[Event]:
    """A copy holding only its own bytes, not the whole chunk it came in."""
    return parse(event.raw) if event is not None else None  # type: ignore[return-value]


def _iso(when: Optional[_dt.datetime]) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if when else "-"


def describe(event: Optional[Event]) -> str:
    """One line saying what an event that explains a status means."""
    if event is None:
        return ""
    name = event.name

    def get(key: str) -> Any:
        return _member(event, key)

    if name == "BLOCK_IO_ERROR":
        text = (f"BLOCK_IO_ERROR {get('device') or get('node-name')} "
                f"{get('operation')}: {get('reason')}")
        return text + " (no space left)" if get("nospace") else text
    if name in ("SHUTDOWN", "RESET"):
        who = "guest" if get("guest") else "host"
        return f"{name} {get('reason')} by the {who}"
    if name in ("GUEST_PANICKED", "WATCHDOG"):
        info = get("info")
        kind = f", {info.get('type')} info" if isinstance(info, dict) else ""
        return f"{name} action {get('action')}{kind}"
    if name == "MIGRATION":
        return f"MIGRATION {get('status')}"
    return name


class StatusChange:
    """One change of ``VMState.status``: what it became, what it was, the
    event that explains it (``reason``), the event that made it (``event``;
    None for a ``seed``) and that event's time (aware UTC datetime)."""

    __slots__ = ("status", "previous", "reason", "event", "time")

    def __init__(self, status: str, previous: str, reason: Optional[Event],
                 event: Optional[Event],
                 time: Optional[_dt.datetime]) -> None:
        self.status = status
        self.previous = previous
        self.reason = reason
        self.event = event
        self.time = time

    @property
    def explanation(self) -> str:
        """What made the change, in words: "STOP after BLOCK_IO_ERROR
        ide1-hd0 read: Input/output error"."""
        by = self.event.name if self.event is not None else "query-status"
        if self.reason is None:
            return by
        if self.reason.name == by:
            return describe(self.reason)
        return f"{by} after {describe(self.reason)}"

    def __str__(self) -> str:
        return f"{self.previous} -> {self.status} ({self.explanation})"

    def __repr__(self) -> str:
        return f"<StatusChange {_iso(self.time)} {self}>"


class VncSession:
    """One VNC client from connection to disconnection.

    QEMU sends VNC_CONNECTED before authentication, so the user names
    (``sasl_username``, ``x509_dname``) arrive only with VNC_INITIALIZED or
    VNC_DISCONNECTED.  Times are None when the event was not seen.
    """

    __slots__ = ("client", "server", "connected_at", "initialized_at",
                 "disconnected_at", "initialized", "closed")

    def __init__(self, client: Any, server: Any) -> None:
        self.client = client  # a VncClientInfo struct
        self.server = server  # a VncServerInfo struct
        self.connected_at: Optional[_dt.datetime] = None
        self.initialized_at: Optional[_dt.datetime] = None
        self.disconnected_at: Optional[_dt.datetime] = None
        self.initialized = False
        self.closed = False

    @property
    def key(self) -> tuple[Any, Any, Any]:
        """The client address: (family, host, service)."""
        return _address(self.client)

    @property
    def auth(self) -> Optional[str]:
        """The server's authentication scheme."""
        return self.server.auth  # type: ignore[no-any-return]

    @property
    def sasl_username(self) -> Optional[str]:
        """The client's SASL user name, once VNC_INITIALIZED told it."""
        return self.client.sasl_username  # type: ignore[no-any-return]

    @property
    def x509_dname(self) -> Optional[str]:
        """The client's TLS dname, once VNC_INITIALIZED told it."""
        return self.client.x509_dname  # type: ignore[no-any-return]

    @property
    def open(self) -> bool:
        """No VNC_DISCONNECTED seen yet."""
        return not self.closed

    @property
    def duration(self) -> Optional[_dt.timedelta]:
        """Connection (or, when that was not seen, initialization) to
        disconnection, a timedelta; None while open or when unknown."""
        start = self.connected_at or self.initialized_at
        if start is None or self.disconnected_at is None:
            return None
        return self.disconnected_at - start

    def __repr__(self) -> str:
        state = "open" if self.open else f"closed after {self.duration}"
        return f"<VncSession {_client_label(self.client)} {state}>"


def _address(client: Any) -> tuple[Any, Any, Any]:
    return (client.family, client.host, client.service)


def _client_label(client: Any) -> str:
    host, service = client.host or "", client.service or ""
    if client.family == "unix" or not (host or service):
        text = f"{client.family or '?'} socket"
    elif ":" in host:
        text = f"[{host}]:{service}"
    else:
        text = f"{host}:{service}"
    return text + " (websocket)" if client.websocket else text


def _vnc_info(event: Event, member: str, cls: Callable[[dict[str, Any]], Any]
              ) -> Any:
    value = _member(event, member)
    return cls(value if isinstance(value, dict) else {})


class VMState:
    """The VM's run state and VNC sessions, from its events.

    ``apply(message)`` takes every decoded message (non-events are ignored)
    and returns a ``StatusChange`` when ``status`` changed.  ``status`` is
    named as ``query-status`` names it; ``reason`` is the event explaining
    a non-running status (None for a plain ``stop``); ``since`` is when it
    began.  Counters for a collector: ``event_counts`` (per name),
    ``io_errors`` (per (device, operation)), ``resets`` (per (guest,
    reason)).  ``vnc_sessions`` holds the latest session per client address
    (over a unix socket every client has the same one) and ``vnc_history``
    all of them in order.
    """

    def __init__(self) -> None:
        self.status = UNKNOWN
        self.reason: Optional[Event] = None
        self.since: Optional[_dt.datetime] = None
        self.changes: list[StatusChange] = []
        self.event_counts: Counter[str] = Counter()
        self.io_errors: Counter[tuple[Any, Any]] = Counter()
        self.resets: Counter[tuple[Any, Any]] = Counter()
        self.last_shutdown: Optional[Event] = None
        self.vnc_sessions: dict[tuple[Any, Any, Any], VncSession] = {}
        self.vnc_history: list[VncSession] = []
        # address -> open sessions, oldest first
        self._open: dict[tuple[Any, Any, Any], list[VncSession]] = {}
        # (status, reason event) of a stop asked for
        self._pending: Optional[tuple[str, Optional[Event]]] = None
        # (status, reason) a RESUME restores (9.0+)
        self._resume_to: Optional[tuple[str, Optional[Event]]] = None
        # MIGRATION event of a migration under way
        self._migration: Optional[Event] = None
        # (index in changes, time, status, text)
        self._notes: list[tuple[int, Optional[_dt.datetime], str, str]] = []

    # -- the run state -----------------------------------------------------

    def apply(self, message: Message) -> Optional[StatusChange]:
        """Account for one message; a ``StatusChange`` if status changed."""
        if message.kind != "event":
            return None
        event = cast(Event, message)
        name = event.name
        self.event_counts[name] += 1
        handler = _HANDLERS.get(name)
        return handler(self, event) if handler is not None else None

    def seed(self, query_status: Any) -> Optional[StatusChange]:
        """Start from the live state: ``query-status``'s return value (or
        the Return message carrying it)."""
        value = getattr(query_status, "value", query_status)
        self._pending = self._resume_to = None
        return self._set(value["status"], None, None)

    def _set(self, status: str, reason: Optional[Event],
             event: Optional[Event]) -> Optional[StatusChange]:
        if status == self.status:
            return None
        kept = _keep(event)
        if reason is event:
            reason = kept
        when = event.datetime if event is not None else None
        change = StatusChange(status, self.status, reason, kept, when)
        self.status, self.reason, self.since = status, reason, when
        self.changes.append(change)
        return change

    def _request(self, status: str, event: Event) -> None:
        if self.status in _LIVE:
            self._pending = (status, _keep(event))

    def _on_stop(self, event: Event) -> Optional[StatusChange]:
        pending, self._pending = self._pending, None
        if self.status == "suspended":
            self._resume_to = ("suspended", self.reason)
        if pending is not None:
            return self._set(pending[0], pending[1], event)
        if self._migration is not None:
            return self._set("finish-migrate", self._migration, event)
        return self._set("paused", None, event)

    def _on_resume(self, event: Event) -> Optional[StatusChange]:
        self._pending = None
        target: tuple[str, Optional[Event]] = self._resume_to or (
            "running", None)
        self._resume_to = None
        return self._set(target[0], target[1], event)

    def _on_wakeup(self, event: Event) -> Optional[StatusChange]:
        self._pending = self._resume_to = None
        return self._set("running", None, event)

    def _on_suspend(self, event: Event) -> Optional[StatusChange]:
        return self._set("suspended", event, event)

    def _on_shutdown(self, event: Event) -> Optional[StatusChange]:
        if self.status == "running":
            change = self._set("shutdown", event, event)
            assert change is not None  # the status was another
            self.last_shutdown = change.event
            self._pending = ("shutdown", change.event)  # the STOP, if any
            return change
        self.last_shutdown = _keep(event)
        if self.status in _LIVE:
            self._pending = ("shutdown", self.last_shutdown)
        then = ("QEMU exits" if _member(event, "reason") in _EXITS
                else "status unchanged")
        self._notes.append((len(self.changes), event.datetime, self.status,
                            f"{describe(event)}: {then}"))
        return None

    def _on_reset(self, event: Event) -> Optional[StatusChange]:
        self.resets[(_member(event, "guest"), _member(event, "reason"))] += 1
        self._resume_to = None
        if self.status in _RESET_KEEPS:
            return None
        return self._set("prelaunch", event, event)

    def _on_block_io_error(self, event: Event) -> None:
        self.io_errors[(_member(event, "device"),
                        _member(event, "operation"))] += 1
        if _member(event, "action") == "stop":
            self._request("io-error", event)

    def _on_guest_panicked(self, event: Event) -> None:
        if _member(event, "action") in ("pause", "poweroff"):
            self._request("guest-panicked", event)

    def _on_watchdog(self, event: Event) -> None:
        if _member(event, "action") == "pause":
            self._request("watchdog", event)

    def _on_migration(self, event: Event) -> Optional[StatusChange]:
        status = _member(event, "status")
        if status not in _MIGRATION_OVER:
            self._migration = _keep(event)
            return None
        self._migration = None
        if status == "completed":
            if self.status == "inmigrate":
                return self._set("paused", event, event)
            if self.status not in ("running", UNKNOWN):
                return self._set("postmigrate", event, event)
        elif status != "none" and self.status == "finish-migrate":
            return self._set("postmigrate", event, event)
        return None

    # -- VNC ---------------------------------------------------------------

    @property
    def open_vnc_sessions(self) -> list[VncSession]:
        """The sessions not disconnected yet, oldest first."""
        return [s for s in self.vnc_history if s.open]

    def _session(self, event: Event, create: Optional[bool]
                 ) -> tuple[VncSession, list[VncSession]]:
        client = _vnc_info(event, "client", _VncClientInfo)
        key = _address(client)
        waiting = self._open.setdefault(key, [])
        session = None
        if not create:
            # over a unix socket several clients share one address: the
            # oldest fits best (QEMU tells them apart no better)
            session = next((s for s in waiting if create is None
                            or not s.initialized), None)
        if session is None:
            session = VncSession(client, _vnc_info(event, "server",
                                                   _VncServerInfo))
            self.vnc_history.append(session)
            self.vnc_sessions[key] = session
            waiting.append(session)
        elif client.to_dict():
            session.client = client  # later events carry the user names
        return session, waiting

    def _on_vnc_connected(self, event: Event) -> None:
        session, _ = self._session(event, True)
        session.connected_at = event.datetime

    def _on_vnc_initialized(self, event: Event) -> None:
        session, _ = self._session(event, False)
        session.initialized, session.initialized_at = True, event.datetime

    def _on_vnc_disconnected(self, event: Event) -> None:
        session, waiting = self._session(event, None)
        session.closed, session.disconnected_at = True, event.datetime
        waiting.remove(session)

    # -- text --------------------------------------------------------------

    def summary(self) -> str:
        """The status timeline and the VNC sessions, as text to read."""
        return "".join(_summary_lines(self))


_HANDLERS: dict[str, Callable[[VMState, Event], Optional[StatusChange]]] = {
    "STOP": VMState._on_stop,
    "RESUME": VMState._on_resume,
    "WAKEUP": VMState._on_wakeup,
    "SUSPEND": VMState._on_suspend,
    "SHUTDOWN": VMState._on_shutdown,
    "RESET": VMState._on_reset,
    "BLOCK_IO_ERROR": VMState._on_block_io_error,
    "GUEST_PANICKED": VMState._on_guest_panicked,
    "WATCHDOG": VMState._on_watchdog,
    "MIGRATION": VMState._on_migration,
    "VNC_CONNECTED": VMState._on_vnc_connected,
    "VNC_INITIALIZED": VMState._on_vnc_initialized,
    "VNC_DISCONNECTED": VMState._on_vnc_disconnected,
}

_HEAD, _TAIL = 10, 40  # a long timeline shows its start and its end


def _summary_lines(state: VMState) -> Iterator[str]:
    n = sum(state.event_counts.values())
    yield f"VM status, times in UTC ({n} event{'s' * (n != 1)})\n"
    rows: list[tuple[float, str, str, str, str, str]] = [
        (i, _iso(c.time) if c.event is not None else "query-status",
         c.previous, "->", c.status, c.explanation)
        for i, c in enumerate(state.changes)]
    for index, when, status, text in state._notes:
        rows.append((index - 0.5, _iso(when), status, "", "", text))
    rows.sort(key=lambda row: row[0])
    if len(rows) > _HEAD + _TAIL + 5:
        hidden = len(rows) - _HEAD - _TAIL
        rows[_HEAD:-_TAIL] = [(0, "...", "", "", "", f"{hidden} more")]
    yield from _table([row[1:] for row in rows])
    if not rows:
        yield "  no status change\n"
    yield (f"  last status: {state.status}"
           + (f" since {_iso(state.since)}" if state.since else "")
           + (f" ({describe(state.reason)})" if state.reason else "") + "\n")
    yield "\nEvents: " + _counts(state.event_counts, str)
    yield "I/O errors: " + _counts(state.io_errors, " ".join)
    yield "Resets: " + _counts(state.resets, lambda key: (
        f"{key[1]} by the {'guest' if key[0] else 'host'}"))
    sessions = state.vnc_history
    n_open = len(state.open_vnc_sessions)
    yield (f"\nVNC sessions: {len(sessions) or 'none'}"
           + (f" ({n_open or 'none'} open)" if sessions else "") + "\n")
    if sessions:
        yield from _table([("client", "connected", "initialized",
                            "disconnected", "duration", "auth", "user")]
                          + [_session_row(s) for s in sessions])


def _counts(counter: Counter[Any], label: Callable[[Any], str]) -> str:
    if not counter:
        return "none\n"
    items = sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return ", ".join(f"{label(key)} x{count}" for key, count in items) + "\n"


def _session_row(session: VncSession) -> tuple[str, ...]:
    start = session.connected_at

    def when(at: Optional[_dt.datetime], seen: bool) -> str:
        if at is None:
            return "-" if not seen else "?"
        if start is None:
            return _iso(at)
        return "+" + _span(at - start)

    return (_client_label(session.client), _iso(start),
            when(session.initialized_at, session.initialized),
            when(session.disconnected_at, session.closed)
            if session.closed else "open",
            _span(session.duration) if session.duration is not None else "-",
            session.auth or "-",
            session.sasl_username or session.x509_dname or "-")


def _span(delta: _dt.timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return (f"{hours}h{minutes:02d}m{seconds:02d}s" if hours
            else f"{minutes}m{seconds:02d}s")


def _table(rows: Sequence[Sequence[object]]) -> Iterator[str]:
    if not rows:
        return
    widths = [max(len(str(row[i])) for row in rows)
              for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [str(c).ljust(w) for c, w in zip(row, widths)]
        yield ("  " + "  ".join(cells + [str(row[-1])])).rstrip() + "\n"


__all__ = ["VMState", "StatusChange", "VncSession", "describe", "UNKNOWN"]
