"""The state machine of csrc/qmpscan.c, resumable at any byte.

It takes over, one message at a time, whatever the json-module path
declines (errors and what follows them, protocol errors, huge numbers) and
a message cut by the end of the buffer, which it carries on with in the
next call instead of rescanning it.  Whole keys, plain strings, numbers and
runs of whitespace go through ``re`` (the fast lanes of tokens.py); a token
cut by the end of the input, or a string with escapes or bytes that are
not ASCII, goes to the method of its state here and the resumable readers
of strings.py and numbers.py.  What the message has shown, and its record,
are message.py's.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from .. import _header as K
from .classify import Classify
from .keys import EMPTY
from .message import (AFTER, ARR_FIRST, COLON, KEY_STR, LITERAL, NUMBER,
                      OBJ_FIRST, OBJ_KEY, SKIPLINE, STRING, TOP, VALUE,
                      Message, Objects, Records)
from .numbers import NumberReader
from .strings import EVENT_NAME, KEY, PLAIN, StringReader
from .tokens import (LITERAL_TYPES, LITERALS, WS_BYTES, Buf, key_colon,
                     number, plain_string, utf8_end, ws)

# a state's method: (buf, p, end, node) -> (p, state, node, error code)
_Resume = Callable[[Buf, int, int, int], tuple[int, int, int, int]]


class Machine(Message):
    """The state machine over the message state of message.py."""

    def __init__(self, schema: Any, max_size: int, max_depth: int,
                 classify: Classify, start: int = 0) -> None:
        super().__init__(schema, classify, start)
        self._max_size = max_size
        self._max_depth = max_depth
        self._str = StringReader()
        self._num = NumberReader()
        self._resume: dict[int, _Resume] = {
            KEY_STR: self._key, STRING: self._string, NUMBER: self._number,
            LITERAL: self._literal}

    def run(self, buf: Buf, p: int, base: int, recs: Records,
            objs: Objects) -> tuple[int, Optional[int]]:
        """Run from ``p`` until back between messages (returns (p, None))
        or stopped (returns (p, status)).  Between messages, the caller
        stands on a byte that is not whitespace, with room for a record."""
        bend = len(buf)
        st = self.st
        if st == SKIPLINE:
            q = buf.find(b"\n", p)
            if q < 0:
                return bend, K.DONE
            self.st = TOP
            return q + 1, None
        if st == TOP:
            self.msg_start = base + p
            if self.doomed and self.doomed_start(base + p):
                # skip the line (see Message._doom)
                q = buf.find(b"\n", p)
                if q < 0:
                    self.st = SKIPLINE
                    return bend, K.DONE
                return q + 1, None
            if buf[p] != 0x7B:
                return self._fail(buf, p, base, K.E_EXPECTED_OBJECT, recs,
                                  objs)
            self.reset_message()
            self._kinds.append(True)
            self._nodes.append(0)
            self._starts.append(0)
            st = OBJ_FIRST
            p += 1
        ms = self.msg_start - base  # message start in buf
        end = min(ms + self._max_size, bend)
        p, st, code = self._scan(buf, p, ms, end, st)
        if st == TOP:
            self.st = TOP
            return p, self._finish(p, base, recs, objs)
        if code:
            return self._fail(buf, p, base, code, recs, objs)
        if end != bend:
            return self._too_large(p, base, recs, objs)
        self.st = st
        return p, K.DONE

    def _scan(self, buf: Buf, p: int, ms: int, end: int,
              st: int) -> tuple[int, int, int]:
        """The tokens of the message from ``p`` (``ms``: its start) until
        it is whole (returns state TOP), bad (an error code) or cut by
        ``end``.  The common tokens are taken here, in one loop (a call per
        token would cost about what the token does); a token cut by the end
        of the input, or a string the fast lanes decline, by the method of
        its state (``_resume``)."""
        kinds = self._kinds
        nodes = self._nodes
        starts = self._starts
        types = self._types
        roles = self._roles
        ws_bytes = WS_BYTES
        vn = self._val_node  # node of the value being read, or -1
        code = 0
        while True:
            if st > AFTER:  # inside a token
                p, next_st, vn, code = self._resume[st](buf, p, end, vn)
                if code or next_st == st:
                    break
                st = next_st
                continue
            if st == OBJ_KEY or st == OBJ_FIRST:
                # fast lane: a key without escapes, its colon
                m = key_colon(buf, p, end)
                if m is not None and \
                        utf8_end(buf, m.start(1), m.end(1)) == m.end(1):
                    parent = nodes[-1]
                    vn = -1 if parent < 0 or m.end(1) - m.start(1) > \
                        K.CAPTURE_MAX else \
                        self._children.get(parent, EMPTY).get(m.group(1), -1)
                    p = m.end()
                    st = VALUE
                    continue
            if p < end and buf[p] in ws_bytes:
                p = ws(buf, p, end).end()
            if p == end:
                break
            c = buf[p]
            if st == VALUE:
                if vn >= 0:  # a value of a tracked node starts
                    self._at[vn] = p - ms
                    types[vn] = 0
                    if roles[vn] == K.ROLE_SECONDS:
                        self._bigts &= ~1
                    elif roles[vn] == K.ROLE_MICROS:
                        self._bigts &= ~2
                if c == 0x22:
                    # fast lane: a string without escapes
                    m = plain_string(buf, p, end)
                    if m is not None and utf8_end(
                            buf, m.start(1), m.end(1)) == m.end(1):
                        p = m.end()
                        if vn >= 0:
                            self._string_at(vn, m.group(1))
                        st = AFTER
                        continue
                    self._str.begin(EVENT_NAME if vn >= 0 and roles[vn] ==
                                    K.ROLE_EVENT else PLAIN)
                    st = STRING
                    p += 1
                elif c == 0x7B or c == 0x5B:
                    if len(kinds) >= self._max_depth:
                        code = K.E_TOO_DEEP
                        break
                    if vn >= 0:
                        for child in self._subtree.get(vn, ()):
                            types[child] = 0
                            self._at[child] = 0
                    kinds.append(c == 0x7B)
                    nodes.append(vn)
                    starts.append(p - ms)
                    st = OBJ_FIRST if c == 0x7B else ARR_FIRST
                    p += 1
                elif c == 0x2D or 0x30 <= c <= 0x39:
                    # fast lane: a number the byte after it ends
                    m = number(buf, p, end)
                    if m is not None and (q := m.end()) < end and \
                            buf[q] not in b".eE":
                        p = q
                        isint = m.start(2) < 0 and m.start(3) < 0
                        if isint and m.end(1) - m.start(1) > 18:
                            self._bignum = 1
                        if vn >= 0:
                            self._number_at(vn, isint, m.end(1) - m.start(1),
                                            c == 0x2D, m.group(1)[:19])
                        st = AFTER
                    else:
                        self._num.begin()
                        st = NUMBER
                elif c == 0x74 or c == 0x66 or c == 0x6E:  # t f n
                    lit = 0 if c == 0x74 else 1 if c == 0x66 else 2
                    word = LITERALS[lit]
                    if p + len(word) <= end and buf.startswith(word, p):
                        p += len(word)
                        if vn >= 0:
                            types[vn] = LITERAL_TYPES[lit]
                        st = AFTER
                    else:
                        self._lit = lit
                        self._lit_idx = 0
                        st = LITERAL
                else:
                    code = K.E_EXPECTED_VALUE
                    break
                continue
            if st == AFTER:
                if c == 0x2C:  # ','
                    p += 1
                    if kinds[-1]:
                        st = OBJ_KEY
                    else:
                        vn = -1
                        st = VALUE
                    continue
                if c != (0x7D if kinds[-1] else 0x5D):
                    code = (K.E_EXPECTED_OBJ_NEXT if kinds[-1]
                            else K.E_EXPECTED_ARR_NEXT)
                    break
            elif st == COLON:
                if c != 0x3A:
                    code = K.E_EXPECTED_COLON
                    break
                p += 1
                st = VALUE
                continue
            elif st == ARR_FIRST:
                if c != 0x5D:  # else: close the empty array, below
                    vn = -1
                    st = VALUE
                    continue
            elif c == 0x22:  # a key the fast lane declined
                self._str.begin(KEY if nodes[-1] >= 0 else PLAIN)
                st = KEY_STR
                p += 1
                continue
            elif not (c == 0x7D and st == OBJ_FIRST):
                code = K.E_EXPECTED_KEY
                break
            # close the container at p
            p += 1
            nd = nodes.pop()
            kind = kinds.pop()
            starts.pop()
            if nd >= 0:
                types[nd] = K.T_OBJECT if kind else K.T_ARRAY
            if not kinds:
                st = TOP  # the message is whole
                break
            st = AFTER
        self._val_node = vn
        return p, st, code

    # ---- states that resume a token cut by the end of the input ---------
    # Each returns (p, next state, node, error code): the same state when
    # the input ends first (``_scan`` then stops).

    def _key(self, buf: Buf, p: int, end: int,
             vn: int) -> tuple[int, int, int, int]:
        """Inside a key (with escapes, or bytes that are not ASCII)."""
        p, r = self._str.scan(buf, p, end)
        if r <= 0:
            return p, KEY_STR, vn, -r
        cap = self._str.cap
        vn = -1 if cap is None else \
            self._children.get(self._nodes[-1], EMPTY).get(bytes(cap), -1)
        return p, COLON, vn, 0

    def _string(self, buf: Buf, p: int, end: int,
                vn: int) -> tuple[int, int, int, int]:
        """Inside a value string (with escapes, or bytes that are not
        ASCII)."""
        p, r = self._str.scan(buf, p, end)
        if r <= 0:
            return p, STRING, vn, -r
        if vn >= 0:
            self._string_at(vn, self._str.captured())
        return p, AFTER, vn, 0

    def _number(self, buf: Buf, p: int, end: int,
                vn: int) -> tuple[int, int, int, int]:
        """Inside a number."""
        num = self._num
        p, r = num.scan(buf, p, end)
        if r <= 0:
            return p, NUMBER, vn, K.E_BAD_NUMBER if r else 0
        if num.isint and num.digits > 18:
            self._bignum = 1
        if vn >= 0:
            self._number_at(vn, num.isint, num.digits, num.neg, num.head)
        return p, AFTER, vn, 0

    def _literal(self, buf: Buf, p: int, end: int,
                 vn: int) -> tuple[int, int, int, int]:
        """Inside true, false or null."""
        word = LITERALS[self._lit]
        i = self._lit_idx
        while i < len(word):
            if p == end:
                self._lit_idx = i
                return p, LITERAL, vn, 0
            if buf[p] != word[i]:
                return p, LITERAL, vn, K.E_BAD_LITERAL
            p += 1
            i += 1
        if vn >= 0:
            self._types[vn] = LITERAL_TYPES[self._lit]
        return p, AFTER, vn, 0
