"""Peer: qmpfast's columnar API (``qmpfast.columns.ColumnDecoder``), C
backend.

Why a peer of its own: it answers the jobs a collector or a loader runs
without an object per message.  ``route`` sums the name, seconds and
microseconds columns of each chunk (Python lists of Python values, as a
caller gets them); ``typed`` reads the documented events' members as
columns, per event (``Columns.event_members``); ``scan`` is the scanner alone
(records counted, nothing read: the ceiling); ``parquet`` turns each
chunk into an Arrow batch with the typed columns and writes it as Parquet
to memory (what ``qmpfast convert`` does per chunk).
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import os
from typing import Any, Callable, Dict, Iterable, List, Optional, Set, Tuple

from .common import BLOCK_IO_ERROR, Checksum, Job

NAME = "qmpfast"
# Imported by name, as in qmpfast_peer: it may be missing under PyPy.
qmpfast: Optional[Any]
ColumnDecoder: Any = None
_BACKEND = ""
try:
    if os.environ.get("QMPFAST_PUREPYTHON"):
        raise ImportError("the columns peer measures the C backend")
    qmpfast = importlib.import_module("qmpfast")
    ColumnDecoder = importlib.import_module("qmpfast.columns").ColumnDecoder
    _BACKEND = qmpfast.BACKEND
except Exception as exc:
    qmpfast = None
    AVAILABLE, NOTE = False, f"qmpfast not usable ({type(exc).__name__}: {exc})"
else:
    AVAILABLE, NOTE = True, ""


def version() -> str:
    return f"{qmpfast.__version__} ({_BACKEND} backend, columns)" \
        if qmpfast else ""


def route(chunks: Iterable[bytes]) -> Checksum:
    n = sec = usec = nlen = 0
    feed = ColumnDecoder().feed
    for chunk in chunks:
        cols = feed(chunk)
        n += len(cols)
        sec += sum(cols.seconds)
        usec += sum(cols.microseconds)
        nlen += sum(map(len, cols.name))
    return (n, sec, usec, nlen)


BIO = {BLOCK_IO_ERROR}
GUEST = {"RESET", "SHUTDOWN"}
VNC = {"VNC_CONNECTED", "VNC_DISCONNECTED", "VNC_INITIALIZED"}
VNC_CLIENT_MORE = {"VNC_DISCONNECTED", "VNC_INITIALIZED"}
# (member path, events it is read for, how it counts: len of a string, or
# 1 for true)
Count = Callable[[Any], int]
TYPED: List[Tuple[str, Set[str], Count]] = [(f"data.{m}", BIO, len) for m in
         ("device", "operation", "action", "qom-path", "node-name")]
TYPED += [("data.nospace", BIO, int), ("data.reason", BIO | GUEST, len),
          ("data.guest", GUEST, int)]
TYPED += [(f"data.{side}.{m}", VNC, len) for side in ("server", "client")
          for m in ("host", "service", "family")]
TYPED += [(f"data.{side}.websocket", VNC, int)
          for side in ("server", "client")]
TYPED += [("data.server.auth", VNC, len)]
TYPED += [(f"data.client.{m}", VNC_CLIENT_MORE, len)
          for m in ("x509_dname", "sasl_username")]


# event -> (its member paths, how each counts)
BY_EVENT: Dict[str, Tuple[List[str], List[Count]]] = {}
for _path, _events, _count in TYPED:
    for _event in sorted(_events):
        paths, counts = BY_EVENT.setdefault(_event, ([], []))
        paths.append(_path)
        counts.append(_count)


def typed(chunks: Iterable[bytes]) -> Checksum:
    """Each documented event's members as columns of that event's rows
    (``Columns.event_members``), counted as the object peers count
    attributes."""
    n = sec = usec = nlen = t = 0
    feed = ColumnDecoder().feed
    for chunk in chunks:
        cols = feed(chunk)
        n += len(cols)
        sec += sum(cols.seconds)
        usec += sum(cols.microseconds)
        nlen += sum(map(len, cols.name))
        for event, (paths, counts) in BY_EVENT.items():
            for values, count in zip(cols.event_members(event, paths),
                                     counts):
                t += sum(map(count, filter(None, values)))
    return (n, sec, usec, nlen, t)


def scan(chunks: Iterable[bytes]) -> Checksum:
    decoder: Any = importlib.import_module("qmpfast.decoder").Decoder()
    scanner = decoder._scanner
    n = base = 0
    tail = b""
    for chunk in chunks:
        buf = tail + chunk
        while True:
            status, k, keep = scanner.scan_count(buf, base, 4096)
            n += k
            if status == 0:
                break
        tail = buf[keep - base:]
        base = keep
    return (n,)


def parquet(chunks: Iterable[bytes]) -> Checksum:
    """As ``qmpfast convert`` does: a batch per chunk, a row group per
    ROW_GROUP rows."""
    arrow = importlib.import_module("qmpfast.arrow")
    row_group: int = importlib.import_module("qmpfast.cli.convert").ROW_GROUP
    pa = importlib.import_module("pyarrow")
    pq = importlib.import_module("pyarrow.parquet")
    n = 0
    sink = io.BytesIO()
    feed = ColumnDecoder().feed
    pending: List[Any] = []
    rows = 0
    with pq.ParquetWriter(sink, arrow.schema(source=True)) as writer:
        for chunk in chunks:
            cols = feed(chunk)
            n += len(cols)
            pending.append(arrow.record_batch(cols, source="vm"))
            rows += len(cols)
            if rows >= row_group:
                writer.write_table(pa.Table.from_batches(pending))
                pending, rows = [], 0
        if pending:
            writer.write_table(pa.Table.from_batches(pending))
    return (n,)


JOBS: Dict[str, Job] = {"route": route, "typed": typed, "scan": scan,
                        "parquet": parquet} if AVAILABLE else {}
MISSING: Dict[str, str] = {}
if AVAILABLE and importlib.util.find_spec("pyarrow") is None:
    del JOBS["parquet"]
    MISSING["parquet"] = "pyarrow not installed"
VARIANTS: Dict[str, Dict[str, Job]] = \
    {"qmpfast.columns": JOBS} if AVAILABLE else {}
