"""The scanner's output records: their layout and how a tag is packed.

Both scanners write ``REC_FIELDS`` integers per message (offsets, the
timestamp, a tag, an error position; see csrc/qmpscan.h).  This module is
the one place above the scanners that knows that layout: the C backend, the
Python twin, the decoder and the tests read and write records through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Sequence

from ._header import (ERROR_TEXT, KIND_BAD, KIND_EVENT, R_END, R_ERRPOS,
                      R_MICROS, R_SECONDS, R_START, R_TAG, REC_FIELDS,
                      TAG_BIGNUM, TAG_BIGTS, TAG_BYTE_SHIFT, TAG_CODE_MASK,
                      TAG_CODE_SHIFT, TAG_ID_SHIFT, TAG_KIND_MASK,
                      TAG_LONGNAME, E_ERROR_SHAPE, E_EVENT_NAME, E_TIMESTAMP)

__all__ = [
    "REC_FIELDS", "R_START", "R_END", "R_SECONDS", "R_MICROS", "R_TAG",
    "R_ERRPOS", "TAG_BIGTS", "TAG_BIGNUM", "TAG_LONGNAME", "ERROR_TEXT",
    "PROTOCOL_CODES", "event_tag", "bad_tag", "tag_kind", "tag_name_id",
    "tag_code", "tag_byte", "wanted", "column", "Records",
]

# The hot paths of the backends read a message's start as ``recs[j]``.
if R_START != 0:
    raise ImportError("qmpscan.h: QMPF_R_START must be 0")

# Codes of messages that are valid JSON but not valid QMP.
PROTOCOL_CODES = frozenset({E_EVENT_NAME, E_TIMESTAMP, E_ERROR_SHAPE})


def event_tag(kind: int, name_id: int = -1, flags: int = 0) -> int:
    """Tag of a good record: its kind, flags, and event name id (-1: none)."""
    return kind | flags | (name_id + 1) << TAG_ID_SHIFT


def bad_tag(code: int, byte: int = -1) -> int:
    """Tag of a bad record: the error code and the offending byte (-1: none,
    for example at the end of the input)."""
    return KIND_BAD | code << TAG_CODE_SHIFT | (byte + 1) << TAG_BYTE_SHIFT


def tag_kind(tag: int) -> int:
    """KIND_* of a record."""
    return tag & TAG_KIND_MASK


def tag_name_id(tag: int) -> int:
    """Event name id of a good event record, -1 when the scanner had none."""
    return (tag >> TAG_ID_SHIFT) - 1


def tag_code(tag: int) -> int:
    """Error code (E_*) of a bad record."""
    return (tag >> TAG_CODE_SHIFT) & TAG_CODE_MASK


def tag_byte(tag: int) -> int:
    """The offending byte of a bad record, -1 when there was none."""
    return (tag >> TAG_BYTE_SHIFT) - 1


def wanted(tag: int, want: bytes) -> bool:
    """Whether a record is one an event-name mask asks for: ``want`` has a
    byte per event name id, nonzero for the events to read."""
    if tag & TAG_KIND_MASK != KIND_EVENT:
        return False
    name_id = (tag >> TAG_ID_SHIFT) - 1
    return 0 <= name_id < len(want) and bool(want[name_id])


def column(recs: Sequence[int], field: int) -> Sequence[int]:
    """One field of every record of ``recs``: a strided slice, no copy per
    value on a memoryview."""
    return recs[field::REC_FIELDS]


class Records:
    """Base of the C and the pure-Python ``Batch``: the records of one scan
    call (``recs``, ``n`` of them) and the buffer they point into (``buf``,
    starting at stream offset ``base``)."""

    __slots__ = ("buf", "base", "recs", "n")

    buf: Any
    base: int
    recs: Any
    n: int

    if TYPE_CHECKING:  # each backend's Batch defines these
        def value(self, i: int, slot: int) -> Any:
            """The decoded value at a slot's path, or MISSING."""

        def data(self, i: int) -> Any:
            """The ``data`` member decoded (``{}`` when absent)."""

        def is_object(self, i: int, slot: int) -> bool:
            """Whether the value at a slot is a JSON object."""

        def peek_object(self, i: int, slot: int) -> Optional[dict[str, Any]]:
            """The JSON object at a slot decoded whole, or None."""

        def obj(self, i: int) -> Any:
            """The whole message decoded."""

        def rows(self, n: int, slots: tuple[int, ...],
                 want: Optional[bytes] = None,
                 dense: bool = True) -> list[Any]:
            """The values at ``slots`` of the first ``n`` records, record
            after record (None where absent); ``want``: a byte per event
            name id, nonzero for the events to read (None: every record);
            ``dense``: values for every record (None for those not read)
            rather than for the records read."""

    def start(self, i: int) -> int:
        """Absolute stream offset of record ``i``'s message."""
        return int(self.recs[i * REC_FIELDS + R_START])

    def tag(self, i: int) -> int:
        """The tag of record ``i``."""
        return int(self.recs[i * REC_FIELDS + R_TAG])

    def has_bignum(self, i: int) -> bool:
        """Whether record ``i``'s message holds an integer of more than 18
        digits (its values then need the exact, slower decode)."""
        return bool(self.recs[i * REC_FIELDS + R_TAG] & TAG_BIGNUM)

    def error_pos(self, i: int) -> int:
        """Absolute offset of the offending byte of bad record ``i``."""
        return int(self.recs[i * REC_FIELDS + R_ERRPOS])

    def subset(self, first: int, end: int) -> Records:
        """Records ``first`` to ``end - 1`` as a batch of their own, holding
        copies of just their bytes (each backend's batch says how)."""
        raise NotImplementedError

    def raw(self, i: int) -> bytes:
        """The bytes of record ``i``'s message, as ``bytes``."""
        j = i * REC_FIELDS
        base = self.base
        raw = self.buf[self.recs[j + R_START] - base:
                       self.recs[j + R_END] - base]
        # ``buf`` may be the decoder's bytearray, handed over to the batch
        return raw if type(raw) is bytes else bytes(raw)

