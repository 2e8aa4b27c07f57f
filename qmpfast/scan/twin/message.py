"""The message in progress in the state machine, and its record.

What the machine has seen of a message so far: its open containers, and for
the members it tracks (keys.py) the type and offset of their values, the
event name, the timestamp's integers.  When the message is whole it is
judged by classify.py and recorded; a syntax error, or a message over the
size limit, is recorded as bad.  The twin of the records and errors of
csrc/qmpscan.c.
"""

from __future__ import annotations

from typing import Any, Optional

from .. import _header as K
from ..records import TAG_BIGNUM, bad_tag
from .classify import (BIG, FILTERED, LONG_NAME, ROLE_ORDER, Classify,
                       envelope)
from .keys import KeyTable
from .tokens import Buf

# scanner states, as in qmpscan.c; from OBJ_FIRST on: inside a message.
# DEFERRED (the twin's own): a valid start of a message cut by the end of
# the buffer, to be scanned again from its start in the next call.
(TOP, SKIPLINE, OBJ_FIRST, OBJ_KEY, COLON, VALUE, ARR_FIRST, AFTER, KEY_STR,
 STRING, NUMBER, LITERAL, DEFERRED) = range(13)

Records = list[int]
Objects = list[Optional[dict[str, Any]]]

# where a protocol error is: at the member of this role
_ERROR_ROLE = {K.E_EVENT_NAME: K.ROLE_EVENT, K.E_TIMESTAMP: K.ROLE_TIMESTAMP,
               K.E_ERROR_SHAPE: K.ROLE_ERROR}


class Message:
    """Where the scan stands (``st``, ``msg_start``) and what the message
    in progress has shown so far."""

    def __init__(self, schema: Any, classify: Classify, start: int) -> None:
        self._classify = classify
        table = KeyTable(schema)
        self._children = table.children
        self._roles = table.roles
        self._subtree = table.subtree
        self._n_types = table.n_types
        self._role_node = table.role_node
        self._role_nodes = [table.role_node[r] for r in ROLE_ORDER]
        self.restart(start)

    def restart(self, offset: int) -> None:
        """Forget any message in progress; the next one starts at
        ``offset``."""
        self.st = TOP
        self.msg_start = offset
        self.reset_message()
        # resync: the starts (ascending) of the containers still open at
        # the last syntax error, found at _doom_end; see _doom
        self._doomed: list[int] = []
        self._doom_next = 0
        self._doom_end = offset - 1

    def reset_message(self) -> None:
        """Forget what the message in progress has shown."""
        self._kinds: list[bool] = []  # per open container: is an object
        self._nodes: list[int] = []   # per open container: tracked node, -1
        self._starts: list[int] = []  # per open container: its offset in
        #                               the message
        self._types = [0] * self._n_types  # per tracked node: T_*
        self._at = [0] * self._n_types     # its offset in the message
        self._val_node = -1
        self._name: Optional[bytes] = None  # event name; None: too long
        self._bigts = 0     # 1: seconds, 2: microseconds over 18 digits
        self._bignum = 0    # some integer has more than 18 digits
        self._seconds = 0
        self._micros = 0
        self._lit = 0       # a literal cut by the end: which, how far
        self._lit_idx = 0

    # ---- what a value of a tracked node has shown ------------------------

    def _string_at(self, nd: int, contents: Optional[bytes]) -> None:
        """A string read at tracked node ``nd``; ``contents`` as captured
        (None: too long to capture)."""
        self._types[nd] = K.T_STR_ASCII  # which string type: no matter here
        if self._roles[nd] == K.ROLE_EVENT:
            self._name = None if contents is None or \
                len(contents) > K.CAPTURE_MAX else contents

    def _number_at(self, nd: int, isint: bool, digits: int, neg: bool,
                   head: bytes) -> None:
        """A number read at tracked node ``nd``: an integer or not, with
        ``digits`` digits before any fraction, the first 19 in ``head``."""
        self._types[nd] = K.T_INT if isint else K.T_NUMBER
        role = self._roles[nd]
        if isint and (role == K.ROLE_SECONDS or role == K.ROLE_MICROS):
            bit = 1 if role == K.ROLE_SECONDS else 2
            if digits > 18:
                self._bigts |= bit  # flagged, left at 0
                v = 0
            else:
                v = -int(head) if neg else int(head)
            if bit == 1:
                self._seconds = v
            else:
                self._micros = v

    # ---- records and errors ---------------------------------------------

    def _finish(self, p: int, base: int, recs: Records,
                objs: Objects) -> Optional[int]:
        """Record of the message just completed at ``p``: judged by
        classify.py (None: go on; ERROR: it is not valid QMP)."""
        types = self._types
        name = self._name
        tag, sec, usec = self._classify(envelope(
            types, self._role_nodes,
            LONG_NAME if name is None else name.decode(),
            BIG if self._bigts & 1 else self._seconds,
            BIG if self._bigts & 2 else self._micros))
        if tag == FILTERED:
            return None  # no record
        start = self.msg_start
        if tag < 0:
            code = -tag
            nd = self._role_node[_ERROR_ROLE[code]]
            # an event without a timestamp: at the message's start
            errpos = start + (self._at[nd] if types[nd] else 0)
            recs += (start, base + p, 0, 0, bad_tag(code), errpos)
            objs.append(None)
            return K.ERROR
        if self._bignum:
            tag |= TAG_BIGNUM
        recs += (start, base + p, sec, usec, tag, 0)
        objs.append(None)  # decoded when a value is asked for
        return None

    @property
    def doomed(self) -> bool:
        """Whether any doomed container lies ahead (see _doom)."""
        return self._doom_next < len(self._doomed)

    def doomed_start(self, at: int) -> bool:
        """Whether a message beginning at stream offset ``at`` would begin
        at a doomed container (see _doom): it would fail where the last
        syntax error was found, so resync skips its line.  Messages begin
        at increasing offsets, so doomed ones before ``at`` are passed for
        good."""
        doomed = self._doomed
        i = self._doom_next
        while i < len(doomed) and doomed[i] < at:
            i += 1
        self._doom_next = i
        return i < len(doomed) and doomed[i] == at

    def _doom(self, code: int, at: int) -> None:
        """A syntax error at stream offset ``at``: the containers still
        open there (but the message's own object) become the doomed ones.
        A restart at one of them would read the same bytes, valid inside
        it, up to ``at`` and fail there again (its size limit ends later,
        it is nested less deeply).  Errors of the limits keep no such list,
        as the restart's limits differ.  An error found no later than the
        last one keeps the list: its message began at a token of the one
        that failed then, so it fails where that one did, with open
        containers among the doomed ones, or ends before, and the next
        message fails at once."""
        if code == K.E_TOO_DEEP or at <= self._doom_end:
            return
        start = self.msg_start
        self._doomed = [start + rel for rel in self._starts[1:]]
        self._doom_next = 0
        self._doom_end = at

    def _fail(self, buf: Buf, errp: int, base: int, code: int,
              recs: Records, objs: Objects) -> tuple[int, int]:
        """A syntax error at buf[errp]: record it, resume after the first
        line break after where the message began (where lines that start
        with a doomed container are skipped: see _doom)."""
        start = self.msg_start
        recs += (start, base + errp + 1, 0, 0,
                 bad_tag(code, buf[errp]), base + errp)
        objs.append(None)
        self._doom(code, base + errp)
        self.reset_message()
        q = buf.find(b"\n", start - base)
        if q >= 0:
            self.st = TOP
            return q + 1, K.ERROR
        self.st = SKIPLINE
        return len(buf), K.ERROR

    def _too_large(self, p: int, base: int, recs: Records,
                   objs: Objects) -> tuple[int, int]:
        """The message reached the size limit at ``p``: record it, skip to
        the next line break."""
        recs += (self.msg_start, base + p, 0, 0, bad_tag(K.E_TOO_LARGE),
                 base + p)
        objs.append(None)
        self.st = SKIPLINE
        self.reset_message()
        return p, K.ERROR
