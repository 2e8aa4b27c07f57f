"""The twin's scanner: the interface of csrc/qmpscan.h over its two paths.

It produces exactly the records of the C scanner (same statuses, the same
six integers per record, the same ``pos``/``keep_from``/``in_message``
after every call) for any input, any chunking and any ``max_records``.
Between messages the fast path (lines.py) runs; a message in progress is
the state machine's (machine.py), and so is whatever the fast path
declines.
"""

from __future__ import annotations

from typing import Any, Optional

from .. import _header as K
from .batch import Batch, Path
from .classify import make_classifier
from .lines import Lines
from .machine import Machine
from .message import DEFERRED, OBJ_FIRST, TOP, Objects
from .tokens import Buf


class Scanner:
    """A resumable scanner; see csrc/qmpscan.h for the contract."""

    def __init__(self, schema: Any, max_message_size: int, max_depth: int,
                 start: int = 0) -> None:
        # value() paths; a key longer than the capture buffer never matches
        paths: list[Path] = []
        for path in schema.paths:
            if any(len(k.encode("utf-8", "surrogatepass")) > K.CAPTURE_MAX
                   for k in path):
                path = (object(),)  # matches nothing
            paths.append(tuple(path))
        self._paths = paths
        classify = make_classifier(schema)
        self._machine = Machine(schema, max_message_size, max_depth,
                                classify, start)
        self._lines = Lines(self._machine, classify, max_message_size,
                            max_depth)
        self._pos = start
        self._batch: Optional[Batch] = None

    def restart(self, offset: int) -> None:
        """Forget any message in progress; scan on from ``offset``."""
        self._pos = offset
        self._machine.restart(offset)
        self._lines.redo = -1

    @property
    def pos(self) -> int:
        """Stream offset where the next scan goes on."""
        return self._pos

    @property
    def keep_from(self) -> int:
        """Stream offset of the first byte the next scan still needs."""
        m = self._machine
        return m.msg_start if m.st >= OBJ_FIRST else self._pos

    @property
    def in_message(self) -> bool:
        """Whether a message is in progress (cut by the end of the
        input)."""
        return self._machine.st >= OBJ_FIRST

    def open_containers(self) -> list[int]:
        """Stream offsets of the containers open inside the message in
        progress (not its own object), outermost first."""
        machine = self._machine
        if machine.st < OBJ_FIRST:
            return []
        return [machine.msg_start + rel for rel in machine._starts[1:]]

    @property
    def message_start(self) -> int:
        """Stream offset of the message in progress, or of the last one."""
        return self._machine.msg_start

    def scan_count(self, buf: Buf, base: int,
                   max_records: int) -> tuple[int, int, int]:
        """``scan`` without the Batch: returns (status, number of records,
        keep_from); ``batch(buf, base, n)`` gives the records, before the
        next scan."""
        status, self._batch = self.scan(buf, base, max_records)
        return status, self._batch.n, self.keep_from

    def batch(self, buf: Buf, base: int, n: int) -> Optional[Batch]:
        """The Batch of the last ``scan_count``."""
        batch, self._batch = self._batch, None
        return batch

    def scan(self, buf: Buf, base: int, max_records: int) -> tuple[int, Batch]:
        """Scan ``buf`` (bytes at stream offset ``base``) from ``pos``.

        Returns (status, Batch).
        """
        recs: list[int] = []
        objs: Objects = []
        if max_records <= 0:
            return K.FULL, Batch(buf, base, recs, 0, objs, self._paths)
        m = self._machine
        p = self._pos - base
        status: Optional[int] = None
        if m.st == DEFERRED:
            p = m.msg_start - base
            m.st = TOP
            self._lines.redo = m.msg_start  # not deferred twice
        elif m.st != TOP:
            p, status = m.run(buf, p, base, recs, objs)
        if status is None:
            p, status = self._lines.run(buf, p, base, max_records, recs, objs)
        self._pos = base + p
        return status, Batch(buf, base, recs, len(objs), objs, self._paths)
