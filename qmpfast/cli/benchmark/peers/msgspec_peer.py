"""Peer: msgspec, untyped and typed.

Why two variants: msgspec is the strongest competitor when it knows the
schema.  ``msgspec`` decodes to dicts (like orjson); ``msgspec-typed``
decodes into ``msgspec.Struct`` classes, as an expert would write it:

* a tagged union (``tag_field="event"``) of the seven documented events
  plus RESUME, for the typed job;
* a ``Route`` struct without ``data`` for the route job, so msgspec skips
  the payload without building it;
* an ``Envelope`` struct (data as a dict) for the full and filter jobs.

All structs use ``gc=False`` (they cannot form cycles), as msgspec's
performance guide recommends.  They are declared with ``msgspec.defstruct``
(the same Struct types a class statement makes), since msgspec is
imported by name: the package's type check must not need it installed,
and a class cannot derive from a base the checker sees as ``Any``.  Both variants decode a whole chunk at once
with ``Decoder.decode_lines``, faster than one ``decode`` per line; only
the incomplete last line is carried to the next chunk.
"""

from __future__ import annotations

import importlib
from typing import (Any, Dict, Iterable, Iterator, List, Literal, Optional,
                    Tuple, Union)

from .common import BLOCK_IO_ERROR, Checksum, Job, dict_jobs

NAME = "msgspec"
msgspec: Optional[Any]
try:
    msgspec = importlib.import_module("msgspec")
except ImportError as exc:
    msgspec = None
    AVAILABLE, NOTE = False, f"msgspec not installed ({exc})"
else:
    AVAILABLE, NOTE = True, ""


def version() -> str:
    return str(msgspec.__version__) if msgspec else ""


def _decode_chunks(decoder: Any, chunks: Iterable[bytes]) -> Iterator[Any]:
    """Yield ``decoder.decode_lines`` of the complete lines of each chunk."""
    decode_lines = decoder.decode_lines
    tail = b""
    for chunk in chunks:
        data = tail + chunk
        end = data.rfind(b"\n") + 1
        tail = data[end:]
        yield decode_lines(memoryview(data)[:end])
    if tail.strip():
        yield decode_lines(tail)


Family = Literal["ipv4", "ipv6", "unix", "vsock", "unknown"]
ShutdownCause = Literal[
    "none", "host-error", "host-qmp-quit", "host-qmp-system-reset",
    "host-signal", "host-ui", "guest-shutdown", "guest-reset",
    "guest-panic", "subsystem-reset", "snapshot-load"]


def _schema(ms: Any) -> Dict[str, Any]:
    """The Structs of the typed variant: {name: Struct type}."""
    field = ms.field

    def struct(name: str, fields: List[Tuple[Any, ...]],
               **options: Any) -> Any:
        return ms.defstruct(name, fields, module=__name__, gc=False,
                            **options)

    timestamp = struct("Timestamp", [("seconds", int),
                                     ("microseconds", int)])
    block_io_error = struct("BlockIoErrorData", [
        ("device", str),
        ("operation", Literal["read", "write"]),
        ("action", Literal["ignore", "report", "stop"]),
        ("reason", str),
        ("qom_path", str, field(name="qom-path")),
        ("node_name", Optional[str], field(default=None, name="node-name")),
        ("nospace", Optional[bool], None)])
    shutdown = struct("ShutdownData", [("guest", bool),
                                       ("reason", ShutdownCause)])
    vnc_basic = struct("VncBasicInfo", [
        ("host", str), ("service", str), ("family", Family),
        ("websocket", bool)])
    vnc_server = struct("VncServerInfo", [("auth", Optional[str], None)],
                        bases=(vnc_basic,))
    vnc_client = struct("VncClientInfo", [
        ("x509_dname", Optional[str], None),
        ("sasl_username", Optional[str], None)], bases=(vnc_basic,))
    vnc_connected = struct("VncConnectedData", [("server", vnc_server),
                                                ("client", vnc_basic)])
    vnc_client_data = struct("VncClientData", [("server", vnc_server),
                                               ("client", vnc_client)])

    # One class per event; ``name`` is a class attribute holding the tag,
    # so reading the event name costs no more than for any other peer.
    def event(cls: str, tag: str, data: Any = None) -> Any:
        fields: List[Tuple[Any, ...]] = [("timestamp", timestamp)]
        if data is not None:
            fields.append(("data", data))
        return struct(cls, fields, tag_field="event", tag=tag,
                      namespace={"name": tag})

    events = [
        event("BlockIoError", "BLOCK_IO_ERROR", block_io_error),
        event("Reset", "RESET", shutdown),
        event("Shutdown", "SHUTDOWN", shutdown),
        event("Stop", "STOP"),
        event("Resume", "RESUME"),
        event("VncConnected", "VNC_CONNECTED", vnc_connected),
        event("VncInitialized", "VNC_INITIALIZED", vnc_client_data),
        event("VncDisconnected", "VNC_DISCONNECTED", vnc_client_data),
    ]
    return {
        "AnyEvent": Union[tuple(events)],
        "Route": struct("Route", [("event", str), ("timestamp", timestamp)]),
        "Envelope": struct("Envelope", [
            ("event", str), ("timestamp", timestamp),
            ("data", Optional[dict], None)]),
    }


SCHEMA: Dict[str, Any] = _schema(msgspec) if msgspec is not None else {}


def _decoder(kind: Optional[str] = None) -> Any:
    assert msgspec is not None
    if kind is None:
        return msgspec.json.Decoder()
    return msgspec.json.Decoder(SCHEMA[kind])


def _untyped_batches(chunks: Iterable[bytes]) -> Iterator[Any]:
    return _decode_chunks(_decoder(), chunks)


def typed_full(chunks: Iterable[bytes]) -> Checksum:
    n = sec = usec = nlen = nkeys = 0
    for evs in _decode_chunks(_decoder("Envelope"), chunks):
        for ev in evs:
            ts = ev.timestamp
            n += 1
            sec += ts.seconds
            usec += ts.microseconds
            nlen += len(ev.event)
            data = ev.data
            if data:
                nkeys += len(data)
    return (n, sec, usec, nlen, nkeys)

def typed_route(chunks: Iterable[bytes]) -> Checksum:
    n = sec = usec = nlen = 0
    for evs in _decode_chunks(_decoder("Route"), chunks):
        for ev in evs:
            ts = ev.timestamp
            n += 1
            sec += ts.seconds
            usec += ts.microseconds
            nlen += len(ev.event)
    return (n, sec, usec, nlen)

def typed_filter(chunks: Iterable[bytes]) -> Checksum:
    n = sec = nkeys = 0
    for evs in _decode_chunks(_decoder("Envelope"), chunks):
        for ev in evs:
            if ev.event == BLOCK_IO_ERROR:
                n += 1
                sec += ev.timestamp.seconds
                nkeys += len(ev.data)
    return (n, sec, nkeys)

def typed(chunks: Iterable[bytes]) -> Checksum:
    n = sec = usec = nlen = t = 0
    for evs in _decode_chunks(_decoder("AnyEvent"), chunks):
        for ev in evs:
            name = ev.name
            ts = ev.timestamp
            n += 1
            sec += ts.seconds
            usec += ts.microseconds
            nlen += len(name)
            if name == "BLOCK_IO_ERROR":
                d = ev.data
                t += (len(d.device) + len(d.operation) + len(d.action)
                      + len(d.reason) + len(d.qom_path))
                if d.node_name is not None:
                    t += len(d.node_name)
                if d.nospace:
                    t += 1
            elif name == "RESET" or name == "SHUTDOWN":
                d = ev.data
                t += d.guest + len(d.reason)
            elif name.startswith("VNC_"):
                s, c = ev.data.server, ev.data.client
                t += (len(s.host) + len(s.service) + len(s.family)
                      + s.websocket + len(c.host) + len(c.service)
                      + len(c.family) + c.websocket)
                if s.auth is not None:
                    t += len(s.auth)
                if name != "VNC_CONNECTED":
                    if c.x509_dname is not None:
                        t += len(c.x509_dname)
                    if c.sasl_username is not None:
                        t += len(c.sasl_username)
    return (n, sec, usec, nlen, t)


JOBS: Dict[str, Job] = dict_jobs(_untyped_batches) if AVAILABLE else {}
VARIANTS: Dict[str, Dict[str, Job]] = {
    "msgspec": JOBS,
    "msgspec-typed": {"full": typed_full, "route": typed_route,
                      "typed": typed, "filter": typed_filter},
} if AVAILABLE else {}
