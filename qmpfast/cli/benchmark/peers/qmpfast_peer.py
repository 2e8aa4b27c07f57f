"""Peer: qmpfast, this project, with its C and pure-Python backends.

Why this module looks different from the others: qmpfast does the line
splitting itself (``Decoder.feed(chunk)`` returns the messages completed
by that chunk and keeps the partial tail), decodes ``data`` only when it
is first read, exposes typed events as attributes, and can drop unwanted
events inside its scanner (``Decoder(events={...})``), which the filter
job uses.

The backend is chosen when qmpfast is imported (``QMPFAST_PUREPYTHON=1``
selects pure Python), so one process measures one backend: the variant
offered is ``qmpfast-c`` or ``qmpfast-python`` according to
``qmpfast.BACKEND``.  The runner starts a fresh process per variant with
the environment set accordingly.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import Any, Dict, Iterable, Optional

from .common import BLOCK_IO_ERROR, Checksum, Job

NAME = "qmpfast"
# Imported by name, as the other peers' libraries are: under PyPy it may be
# missing, and the jobs read event attributes that only the typed events
# have, which a checker cannot follow through Decoder.feed.
qmpfast: Optional[Any]
_BACKEND = ""
_Decoder: Any = None
try:
    qmpfast = importlib.import_module("qmpfast")
    _BACKEND = qmpfast.BACKEND
    _Decoder = qmpfast.Decoder
except Exception as exc:            # missing, half-built or not yet this API
    qmpfast = None
    AVAILABLE, NOTE = False, f"qmpfast not usable ({type(exc).__name__}: {exc})"
else:
    AVAILABLE = True
    NOTE = (f"this process loaded the {_BACKEND} backend "
            "(QMPFAST_PUREPYTHON selects it at import time)")


def version() -> str:
    if qmpfast is None:
        return ""
    ver: Optional[str] = getattr(qmpfast, "__version__", None)
    if ver is None:
        try:
            ver = metadata.version("qmpfast")
        except metadata.PackageNotFoundError:
            ver = "unknown"
    return f"{ver} ({_BACKEND} backend)"


def full(chunks: Iterable[bytes]) -> Checksum:
    n = sec = usec = nlen = nkeys = 0
    feed = _Decoder().feed
    for chunk in chunks:
        for ev in feed(chunk):
            n += 1
            sec += ev.seconds
            usec += ev.microseconds
            nlen += len(ev.name)
            data = ev.data
            if data:
                nkeys += len(data)
    return (n, sec, usec, nlen, nkeys)


def route(chunks: Iterable[bytes]) -> Checksum:
    n = sec = usec = nlen = 0
    feed = _Decoder().feed
    for chunk in chunks:
        for ev in feed(chunk):
            n += 1
            sec += ev.seconds
            usec += ev.microseconds
            nlen += len(ev.name)
    return (n, sec, usec, nlen)


def filter_(chunks: Iterable[bytes]) -> Checksum:
    n = sec = nkeys = 0
    feed = _Decoder(events={BLOCK_IO_ERROR}).feed
    for chunk in chunks:
        for ev in feed(chunk):
            n += 1
            sec += ev.seconds
            nkeys += len(ev.data)
    return (n, sec, nkeys)


def typed(chunks: Iterable[bytes]) -> Checksum:
    n = sec = usec = nlen = t = 0
    feed = _Decoder().feed
    for chunk in chunks:
        for ev in feed(chunk):
            name = ev.name
            n += 1
            sec += ev.seconds
            usec += ev.microseconds
            nlen += len(name)
            if name == "BLOCK_IO_ERROR":
                t += (len(ev.device) + len(ev.operation) + len(ev.action)
                      + len(ev.reason) + len(ev.qom_path))
                if ev.node_name is not None:
                    t += len(ev.node_name)
                if ev.nospace:
                    t += 1
            elif name == "RESET" or name == "SHUTDOWN":
                t += ev.guest + len(ev.reason)
            elif name.startswith("VNC_"):
                s, c = ev.server, ev.client
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


JOBS: Dict[str, Job] = {"full": full, "route": route, "typed": typed,
                        "filter": filter_} if AVAILABLE else {}
VARIANTS: Dict[str, Dict[str, Job]] = \
    {f"qmpfast-{_BACKEND}": JOBS} if AVAILABLE else {}
