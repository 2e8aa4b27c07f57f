"""The records of one scan call of the twin, and the values they hold.

Messages the fast path parsed keep their dict, which ``value()`` walks;
the others are decoded on the first read.  A message holding an integer
over the interpreter's digit limit is decoded leniently (such integers stay
text), so that its other members still read; a read at or above one of
them raises IntegerTooLongError as json.loads would.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from .. import _header as K
from ...errors import IntegerTooLongError
from ..paths import MISSING, S_DATA, member_path
from ..records import R_END, REC_FIELDS, Records, tag_kind, wanted
from ..values import lenient_loads, refusal, std_loads
from .tokens import Buf

Path = tuple[Any, ...]


class Batch(Records):
    """The records of one scan call and the bytes they point into.

    A dict or list handed out (by ``obj()``, or ``value()`` of a container)
    is the caller's: later reads decode afresh, so that, as with the C
    backend, each read gives new objects that nothing else changes.
    """

    __slots__ = ("_objs", "_paths", "_too_long")

    def __init__(self, buf: Buf, base: int, recs: list[int], n: int,
                 objs: list[Optional[Any]], paths: Sequence[Path]) -> None:
        self.buf = buf
        self.base = base
        self.recs = recs
        self.n = n
        self._objs = objs  # per record: its decoded object, or None
        self._paths = paths
        # per record holding integers over the interpreter's digit limit:
        # their (path, digits); reads at or above them raise
        self._too_long: dict[int, list[tuple[str, int]]] = {}

    def _tree(self, i: int) -> Any:
        d = self._objs[i]
        if d is None:
            if tag_kind(self.tag(i)) == K.KIND_BAD:
                return MISSING
            try:
                d = std_loads(self.raw(i))
            except IntegerTooLongError:
                d, self._too_long[i] = lenient_loads(
                    self.raw(i))
            self._objs[i] = d
        return d

    def subset(self, first: int, end: int) -> Batch:
        """Records ``first`` to ``end - 1`` as a batch of their own, with
        copies of just their bytes and records."""
        start = self.recs[first * REC_FIELDS]  # R_START
        stop = self.recs[(end - 1) * REC_FIELDS + R_END]
        part = Batch(self.buf[start - self.base:stop - self.base], start,
                     self.recs[first * REC_FIELDS:end * REC_FIELDS],
                     end - first, self._objs[first:end], self._paths)
        for i, too_long in self._too_long.items():
            if first <= i < end:
                part._too_long[i - first] = too_long
        return part

    def _refuse(self, i: int, path: Path) -> None:
        """Raise for an integer too long at or below ``path`` of record
        ``i``'s message (a tuple of keys)."""
        exc = refusal(
            self._too_long[i], member_path(path))
        if exc is not None:
            raise exc

    def _walk(self, i: int, slot: int) -> Any:
        """The value at a slot's path in the decoded message, or MISSING
        (like the C scanner, only through objects)."""
        d = self._objs[i]
        if d is None:
            d = self._tree(i)
        for key in self._paths[slot]:
            if type(d) is not dict:
                return MISSING
            d = d.get(key, MISSING)
        return d

    def is_object(self, i: int, slot: int) -> bool:
        """Whether the value at a slot is a JSON object."""
        return type(self._walk(i, slot)) is dict

    def value(self, i: int, slot: int) -> Any:
        """The decoded value at a slot's path, or MISSING."""
        d = self._walk(i, slot)
        if self._too_long and i in self._too_long:
            self._refuse(i, self._paths[slot])
        if type(d) is dict or type(d) is list:
            self._objs[i] = None  # handed out
        return d

    def data(self, i: int) -> Any:
        """The ``data`` member (``{}`` when absent)."""
        d = self._objs[i]
        if d is None:
            d = self._tree(i)
            if d is MISSING:
                return {}
        if self._too_long and i in self._too_long:
            self._refuse(i, self._paths[S_DATA])
        self._objs[i] = None  # handed out
        d = d.get(self._paths[S_DATA][0], MISSING)
        return {} if d is MISSING else d

    def peek_object(self, i: int, slot: int) -> Optional[dict[str, Any]]:
        """The object at a slot, for the caller to read members from and
        keep them; None when the value there is not an object.

        An object of scalars is the parsed one, which stays here (its
        members cannot change); one holding arrays or objects is handed
        out, as by ``value()``.
        """
        d = self._walk(i, slot)
        if type(d) is not dict:
            return None
        if self._too_long and i in self._too_long:
            self._refuse(i, self._paths[slot])
        if not _CONTAINERS.isdisjoint(
                map(type, d.values())):  # type: ignore[arg-type,unused-ignore]
            self._objs[i] = None  # handed out
        return d

    def rows(self, n: int, slots: tuple[int, ...],
             want: Optional[bytes] = None, dense: bool = True) -> list[Any]:
        """The values at ``slots`` of the first ``n`` records, record after
        record (None where absent), as the C backend's interner gives
        them: for every record (``dense``) or for those ``want`` asks
        for."""
        out: list[Any] = []
        value = self.value
        for i in range(n):
            if want is not None and not wanted(self.tag(i), want):
                if dense:
                    out += [None] * len(slots)
                continue
            for slot in slots:
                v = value(i, slot)
                out.append(None if v is MISSING else v)
        return out

    def obj(self, i: int) -> Any:
        """The whole message, decoded."""
        d = self._objs[i]
        if d is None:
            return std_loads(self.raw(i))
        if self._too_long and i in self._too_long:
            self._refuse(i, ())
        self._objs[i] = None
        return d


_CONTAINERS = frozenset((dict, list))
