"""What the batches of both scanners share: the record layout and the bytes.

A batch holds the records of one scan call (``recs``: REC_FIELDS integers
per record, see _constants) and the buffer they point into (``buf``,
starting at stream offset ``base``).  Each backend adds how it reads
values; the raw bytes of a message are read the same way by both.
"""

from __future__ import annotations

from . import _header as K


class Records:
    """Base of the C and the pure-Python ``Batch``."""

    __slots__ = ("buf", "base", "recs", "n")

    def raw(self, i):
        """The bytes of record ``i``'s message, as ``bytes``."""
        j = i * K.REC_FIELDS
        base = self.base
        raw = self.buf[self.recs[j] - base:self.recs[j + 1] - base]
        # ``buf`` may be the decoder's bytearray, handed over to the batch
        return raw if type(raw) is bytes else bytes(raw)
