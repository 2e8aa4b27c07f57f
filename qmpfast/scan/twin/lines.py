"""The fast path: complete lines through the json module.

It runs whenever the scanner is between messages.  It takes the complete
lines ahead (up to the last line break within reach), decodes them strictly
as UTF-8 in one go and lets the json module's C scanner parse one message
after the other straight out of that text (a block).  When that gives an
object and the few checks where the json module is laxer than the scanner
pass (lone surrogate escapes, nesting depth, message size, NaN/Infinity;
integers of 19 digits are looked for to set TAG_BIGNUM), classify.py judges
the dict and the record keeps it, for ``Batch.value()`` and ``obj()`` to
serve without decoding again.  Text that is not ASCII goes a line at a
time, so that character offsets never have to be turned into byte offsets.

Whatever it declines goes to the state machine, one message at a time: an
error and what follows it, a protocol error (the machine says which), a
huge number, a message cut by the end of the buffer (deferred once, to be
parsed whole in the next call when it then is).
"""

from __future__ import annotations

import json
import re
import sys
from json.scanner import make_scanner
from typing import Any, Callable, Optional, cast

from .. import _header as K
from ..records import TAG_BIGNUM
from .classify import FILTERED, Classify
from .machine import Machine
from .message import DEFERRED, Objects, Records
from .tokens import DIGIT_MAP, DIGITS_19, WS_BYTES, Buf, ws, ws_text

_DEFER_MAX = 65536  # longer cut messages go to the state machine at once
_DECLINED = (ValueError, StopIteration, RecursionError)

# a backslash-u escape of a surrogate (the backslash may be escaped itself)
_surrogate_escape = re.compile(r"\\u[dD][89a-fA-F]").search


class _NotJSON(ValueError):
    """NaN, Infinity or -Infinity: the json module takes them, RFC 8259
    not."""


def _reject_constant(name: str) -> Any:
    raise _NotJSON(name)


_scan_once = make_scanner(
    cast(Any, json.JSONDecoder(parse_constant=_reject_constant)))
# every member, duplicates too
_pairs_scan = make_scanner(cast(Any, json.JSONDecoder(object_pairs_hook=list)))

# PyPy decodes and translates a bytearray several times slower than bytes
# (about 1 us per message here): a block is made bytes first, there.
_BYTES_BLOCKS = sys.implementation.name == "pypy"

_scan_message: Callable[[str, int], tuple[Any, int]] = _scan_once
"""(message, end) of the JSON text at ``text[idx:]``; what block mode
parses each message with."""

if sys.implementation.name == "pypy":
    # PyPy's json module has no C scanner (make_scanner is the Python
    # one, several times slower than json.loads); its built-in decoder
    # takes whole strings only, so a message alone on its line goes
    # through it and anything else through the scanner.
    try:
        from _pypyjson import loads as _pypy_loads  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # pragma: no cover
        pass
    else:
        def _scan_message(text: str, idx: int) -> tuple[Any, int]:
            """``_scan_once``, by the built-in decoder when the message
            is the rest of its line (the decoder takes NaN and Infinity,
            so a line with either goes to the scanner, which refuses
            them)."""
            nl = text.find("\n", idx)
            line = text[idx:nl] if nl >= 0 else text[idx:]
            if "NaN" not in line and "Infinity" not in line:
                try:
                    value = _pypy_loads(line, json.JSONDecodeError)
                except (ValueError, RecursionError):
                    pass  # not alone on its line, or not valid: say which
                else:
                    return value, idx + len(line.rstrip(" \t\r"))
            result: tuple[Any, int] = _scan_once(text, idx)
            return result


def _lone_surrogate(text: str, start: int, end: int) -> bool:
    """True when the message text[start:end] has a string (key or value)
    with a lone surrogate escape, which the json module lets through.  All
    of it: a duplicate key may have thrown such a string away."""
    if _surrogate_escape(text, start, end) is None:
        return False
    try:
        pairs, _ = _pairs_scan(text, start)
        json.dumps(pairs, ensure_ascii=False).encode()
    except (UnicodeEncodeError, ValueError, RecursionError):
        return True
    return False


def _has_bignum(text: str, start: int) -> Optional[bool]:
    """True when the (valid) message at text[start:] has an integer (no
    fraction, no exponent) of more than 18 digits: TAG_BIGNUM.  All of it:
    a duplicate key may have thrown such a number away.  None: not sure."""
    found = []

    def parse_int(digits: str) -> int:
        if len(digits) > 18 and len(digits.lstrip("-")) > 18:
            found.append(digits)
        return 0

    scan = make_scanner(cast(Any, json.JSONDecoder(
        parse_int=parse_int, object_pairs_hook=list)))
    try:
        scan(text, start)
    except _DECLINED:
        return None
    return bool(found)


def _valid_start(buf: Buf, p: int, max_depth: int) -> bool:
    """Whether buf[p:] is the start of a message in which the C scanner
    finds nothing wrong so far (within limits, no error before the end of
    the input); False when not sure."""
    tail = buf[p:]
    if len(tail) > max_depth and \
            tail.count(b"{") + tail.count(b"[") > max_depth:
        return False
    try:
        text = tail.decode()  # a cut UTF-8 sequence: not sure
        _scan_once(text, 0)
    except json.JSONDecodeError as exc:
        # the json module stops at the end of the text, or at a string it
        # cannot end, having checked all before
        if exc.pos != len(text) and \
                exc.msg != "Unterminated string starting at":
            return False
    except _DECLINED:
        return False
    else:
        return False  # a whole message
    # a surrogate escape, maybe of a pair cut in two: not sure
    return _surrogate_escape(text) is None


def _next_lines(buf: Buf, p: int, room: int
                ) -> tuple[int, Optional[str], bool, Optional[Buf]]:
    """The complete lines from ``p``, about as many as there is ``room``
    for records: (q, text, escapes, digits), ``q`` the last line break
    (-1: none); ``text`` their text when all ASCII, else None; whether it
    has a \\u escape; its DIGIT_MAP when it has a run of 19 digits, else
    None."""
    lim = p + 4096 + room * 512
    q = buf.rfind(b"\n", p, lim) if lim < len(buf) else buf.rfind(b"\n", p)
    if q < 0:
        q = buf.find(b"\n", p)
        if q < 0:
            return -1, None, False, None
    block = buf[p:q + 1]
    if _BYTES_BLOCKS and type(block) is not bytes:
        block = bytes(block)
    try:
        text = block.decode()
    except UnicodeDecodeError:
        return q, None, False, None
    if not text.isascii():
        return q, None, False, None
    digits: Optional[Buf] = block.translate(DIGIT_MAP)
    if digits is not None and digits.find(DIGITS_19) < 0:
        digits = None
    return q, text, "\\u" in text, digits


class Lines:
    """The fast path of one scanner; its ``machine`` takes what it
    declines."""

    def __init__(self, machine: Machine, classify: Classify, max_size: int,
                 max_depth: int) -> None:
        self._machine = machine
        self._classify = classify
        self._max_size = max_size
        self._max_depth = max_depth
        self._short_tail = min(max_size, _DEFER_MAX)
        self.redo = -1  # start of the message deferred last

    def run(self, buf: Buf, p: int, base: int, max_records: int,
            recs: Records, objs: Objects) -> tuple[int, int]:
        """Scan from ``p``, between messages, until the input ends or the
        records are full (or the machine stops): (p, status)."""
        machine = self._machine
        bend = len(buf)
        n = len(objs)
        tb = te = 0      # block mode: buf[tb:te] is ``text``, all ASCII
        text = ""
        escapes = False
        digits: Optional[Buf] = None
        lines_to = -1    # line mode up to this line break (not ASCII)
        nl = -1          # line mode: the next line break, when >= p
        no_nl = bend     # no line break from here on
        slow_to = -1     # line mode: this line failed already
        last = -1        # start of the last message taken here
        while True:
            if p >= bend:
                status = K.DONE
                break
            c = buf[p]
            if c != 0x7B:
                if c in WS_BYTES:
                    p = ws(buf, p).end()
                    continue
            elif p >= te and p > lines_to and p < no_nl:
                q, block, esc, dig = _next_lines(buf, p, max_records - n)
                if q < 0:
                    no_nl = p
                elif block is None:
                    lines_to = q
                else:
                    tb, te, text, escapes, digits = p, q + 1, block, esc, dig
            if n >= max_records:
                status = K.FULL
                break
            if c == 0x7B and not (machine.doomed and
                                  machine.doomed_start(base + p)):
                # (a doomed start goes to the machine, which skips its
                # line, rather than to the json module, which would read
                # it up to the error again)
                if p < te:
                    # block mode, until something needs more than the json
                    # module or the records are full
                    idx, n, taken, ok = self._block(
                        text, p - tb, te - tb, base + tb, escapes, digits, n,
                        max_records, recs, objs)
                    if taken >= 0:
                        last = base + tb + taken
                    p = tb + idx
                    if ok:
                        continue
                if p <= lines_to and p > slow_to:
                    # line mode: one message, alone on its line
                    if nl < p:
                        nl = buf.find(b"\n", p)
                    mend = self._line(buf, p, nl, base, recs, objs)
                    if mend >= 0:
                        last = base + p
                        n = len(objs)
                        p = mend
                        continue
                    slow_to = nl
                if p >= no_nl and self._defer(buf, p, base):
                    return bend, K.DONE
            # one message (or error) through the state machine
            if last >= 0:
                machine.msg_start = last
                last = -1
            p, stop = machine.run(buf, p, base, recs, objs)
            if stop is not None:
                return p, stop
            n = len(objs)
        if last >= 0:
            machine.msg_start = last
        return p, status

    def _block(self, text: str, idx: int, tlen: int, off: int,
               escapes: bool, digits: Optional[Buf], n: int,
               max_records: int, recs: Records,
               objs: Objects) -> tuple[int, int, int, bool]:
        """Block mode: messages one after the other out of ``text`` (all
        ASCII, ending with a line break; offset ``off`` in the stream) from
        ``idx`` on.  Returns (idx, n, start of the last message taken or -1,
        whether idx is between messages: else the state machine must take
        the message at idx)."""
        scan_once = _scan_message
        classify = self._classify
        max_size = self._max_size
        max_depth = self._max_depth
        short = min(max_size, max_depth)
        append = objs.append
        taken = -1
        next_escape = -1
        while True:
            try:
                d, end = scan_once(text, idx)
            except _DECLINED:
                return idx, n, taken, False
            if type(d) is not dict:
                return idx, n, taken, False
            size = end - idx
            if size > short and not (
                    size <= max_size and (
                        size <= max_depth or
                        text.count("{", idx, end) +
                        text.count("[", idx, end) <= max_depth)):
                return idx, n, taken, False
            if escapes:
                if next_escape < idx:  # where the next \u is, once
                    next_escape = text.find("\\u", idx)
                    if next_escape < 0:
                        escapes = False
                if escapes and next_escape < end and \
                        _lone_surrogate(text, idx, end):
                    return idx, n, taken, False
            tag, sec, usec = classify(d)
            if tag >= 0:
                if digits is not None and \
                        digits.find(DIGITS_19, idx, end) >= 0:
                    bignum = _has_bignum(text, idx)
                    if bignum is None:
                        return idx, n, taken, False
                    if bignum:
                        tag |= TAG_BIGNUM
                recs += (off + idx, off + end, sec, usec, tag, 0)
                append(d)
                n += 1
            elif tag != FILTERED:
                return idx, n, taken, False  # not valid QMP
            taken = idx
            # on to the next message
            if text.startswith("\r\n{", end):
                idx = end + 2
            else:
                idx = ws_text(text, end).end()
                if idx >= tlen or text[idx] != "{":
                    return idx, n, taken, True
            if n >= max_records:
                return idx, n, taken, True

    def _line(self, buf: Buf, p: int, nl: int, base: int, recs: Records,
              objs: Objects) -> int:
        """Line mode: the message that is all of the line buf[p:nl] but a
        last '\\r', recorded (unless filtered out); its end, or -1 when the
        state machine must take it."""
        line = buf[p:nl]
        try:
            t = line.decode()
            d, end = _scan_once(t, 0)
        except _DECLINED:
            return -1
        if type(d) is not dict:
            return -1
        size = len(line)
        if end == len(t):
            mend = nl
        elif end + 1 == len(t) and t[end] == "\r":
            mend = nl - 1
        else:
            return -1
        if size > self._max_size or (
                size > self._max_depth and
                line.count(b"{") + line.count(b"[") > self._max_depth):
            return -1
        if "\\u" in t and _lone_surrogate(t, 0, len(t)):
            return -1
        flags = 0
        if line.translate(DIGIT_MAP).find(DIGITS_19) >= 0:
            bignum = _has_bignum(t, 0)
            if bignum is None:
                return -1
            if bignum:
                flags = TAG_BIGNUM
        tag, sec, usec = self._classify(d)
        if tag >= 0:
            recs += (base + p, base + mend, sec, usec, tag | flags, 0)
            objs.append(d)
        elif tag != FILTERED:
            return -1  # not valid QMP
        return mend

    def _defer(self, buf: Buf, p: int, base: int) -> bool:
        """A message starts at ``p`` and no line break follows: when it is
        a valid start cut by the end of the buffer, leave it for the next
        call to parse whole (once; True)."""
        if len(buf) - p > self._short_tail or base + p == self.redo or \
                self._machine.doomed_start(base + p) or \
                not _valid_start(buf, p, self._max_depth):
            return False
        self._machine.msg_start = base + p
        self._machine.st = DEFERRED
        return True
