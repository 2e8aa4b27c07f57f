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
performance guide recommends.  Both variants decode a whole chunk at once
with ``Decoder.decode_lines``, faster than one ``decode`` per line; only
the incomplete last line is carried to the next chunk.
"""

from __future__ import annotations

from typing import ClassVar, Literal, Optional, Union

from ._common import BLOCK_IO_ERROR, dict_jobs

NAME = "msgspec"
try:
    import msgspec
    from msgspec import Struct, field
except ImportError as exc:
    msgspec = None
    AVAILABLE, NOTE = False, f"msgspec not installed ({exc})"
else:
    AVAILABLE, NOTE = True, ""


def version() -> str:
    return msgspec.__version__ if msgspec else ""


def _decode_chunks(decoder, chunks):
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


if AVAILABLE:
    Family = Literal["ipv4", "ipv6", "unix", "vsock", "unknown"]
    ShutdownCause = Literal[
        "none", "host-error", "host-qmp-quit", "host-qmp-system-reset",
        "host-signal", "host-ui", "guest-shutdown", "guest-reset",
        "guest-panic", "subsystem-reset", "snapshot-load"]

    class Timestamp(Struct, gc=False):
        seconds: int
        microseconds: int

    class BlockIoErrorData(Struct, gc=False):
        device: str
        operation: Literal["read", "write"]
        action: Literal["ignore", "report", "stop"]
        reason: str
        qom_path: str = field(name="qom-path")
        node_name: Optional[str] = field(default=None, name="node-name")
        nospace: Optional[bool] = None

    class ShutdownData(Struct, gc=False):
        guest: bool
        reason: ShutdownCause

    class VncBasicInfo(Struct, gc=False):
        host: str
        service: str
        family: Family
        websocket: bool

    class VncServerInfo(VncBasicInfo, gc=False):
        auth: Optional[str] = None

    class VncClientInfo(VncBasicInfo, gc=False):
        x509_dname: Optional[str] = None
        sasl_username: Optional[str] = None

    class VncConnectedData(Struct, gc=False):
        server: VncServerInfo
        client: VncBasicInfo

    class VncClientData(Struct, gc=False):
        server: VncServerInfo
        client: VncClientInfo

    # One class per event; ``name`` is a class attribute holding the tag,
    # so reading the event name costs no more than for any other peer.
    class BlockIoError(Struct, tag_field="event", tag="BLOCK_IO_ERROR", gc=False):
        name: ClassVar[str] = "BLOCK_IO_ERROR"
        timestamp: Timestamp
        data: BlockIoErrorData

    class Reset(Struct, tag_field="event", tag="RESET", gc=False):
        name: ClassVar[str] = "RESET"
        timestamp: Timestamp
        data: ShutdownData

    class Shutdown(Struct, tag_field="event", tag="SHUTDOWN", gc=False):
        name: ClassVar[str] = "SHUTDOWN"
        timestamp: Timestamp
        data: ShutdownData

    class Stop(Struct, tag_field="event", tag="STOP", gc=False):
        name: ClassVar[str] = "STOP"
        timestamp: Timestamp

    class Resume(Struct, tag_field="event", tag="RESUME", gc=False):
        name: ClassVar[str] = "RESUME"
        timestamp: Timestamp

    class VncConnected(Struct, tag_field="event", tag="VNC_CONNECTED", gc=False):
        name: ClassVar[str] = "VNC_CONNECTED"
        timestamp: Timestamp
        data: VncConnectedData

    class VncInitialized(Struct, tag_field="event", tag="VNC_INITIALIZED", gc=False):
        name: ClassVar[str] = "VNC_INITIALIZED"
        timestamp: Timestamp
        data: VncClientData

    class VncDisconnected(Struct, tag_field="event", tag="VNC_DISCONNECTED", gc=False):
        name: ClassVar[str] = "VNC_DISCONNECTED"
        timestamp: Timestamp
        data: VncClientData

    AnyEvent = Union[BlockIoError, Reset, Shutdown, Stop, Resume,
                     VncConnected, VncInitialized, VncDisconnected]

    class Route(Struct, gc=False):
        event: str
        timestamp: Timestamp

    class Envelope(Struct, gc=False):
        event: str
        timestamp: Timestamp
        data: Optional[dict] = None

    def _untyped_batches(chunks):
        return _decode_chunks(msgspec.json.Decoder(), chunks)

    def typed_full(chunks):
        n = sec = usec = nlen = nkeys = 0
        for evs in _decode_chunks(msgspec.json.Decoder(Envelope), chunks):
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

    def typed_route(chunks):
        n = sec = usec = nlen = 0
        for evs in _decode_chunks(msgspec.json.Decoder(Route), chunks):
            for ev in evs:
                ts = ev.timestamp
                n += 1
                sec += ts.seconds
                usec += ts.microseconds
                nlen += len(ev.event)
        return (n, sec, usec, nlen)

    def typed_filter(chunks):
        n = sec = nkeys = 0
        for evs in _decode_chunks(msgspec.json.Decoder(Envelope), chunks):
            for ev in evs:
                if ev.event == BLOCK_IO_ERROR:
                    n += 1
                    sec += ev.timestamp.seconds
                    nkeys += len(ev.data)
        return (n, sec, nkeys)

    def typed(chunks):
        n = sec = usec = nlen = t = 0
        for evs in _decode_chunks(msgspec.json.Decoder(AnyEvent), chunks):
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

    JOBS = dict_jobs(_untyped_batches)
    VARIANTS = {
        "msgspec": JOBS,
        "msgspec-typed": {"full": typed_full, "route": typed_route,
                          "typed": typed, "filter": typed_filter},
    }
else:
    JOBS, VARIANTS = {}, {}
