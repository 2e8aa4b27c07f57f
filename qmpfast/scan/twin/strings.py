"""Strings of the state machine: the twin of the strings section of
csrc/qmpscan.c.

A string that the machine's fast lane cannot take whole (it has escapes or
bytes that are not ASCII, or the buffer ends inside it) is scanned here,
resumably at any byte: inside an escape, a \\u escape, a surrogate pair or a
UTF-8 sequence.  A key, and the event name, are captured (escapes decoded)
up to CAPTURE_MAX bytes, as the C scanner captures them to look them up.
"""

from __future__ import annotations

from typing import Optional

from .. import _header as K
from .tokens import ESCAPES, HEX, Buf, string_bytes, utf8_end

# modes of a string
PLAIN = 0
KEY = 1
EVENT_NAME = 2


class StringReader:
    """The string in progress: its mode, the capture, and where inside an
    escape or a UTF-8 sequence the input stopped."""

    __slots__ = ("mode", "cap", "_esc", "_ucode", "_hisur", "_u8need",
                 "_u8lo", "_u8hi")

    mode: int
    cap: Optional[bytearray]

    def __init__(self) -> None:
        self.begin(PLAIN)
        self._ucode = 0
        self._u8lo = 0x80
        self._u8hi = 0xBF

    def begin(self, mode: int) -> None:
        """A string starts (after its quote)."""
        self.mode = mode
        # None: not captured, or too long to match anything
        self.cap = bytearray() if mode else None
        self._esc = 0      # 1 after '\\', 2..5 in \\uXXXX, 6..7 before a
        self._hisur = 0    # low surrogate's \\u; the high surrogate
        self._u8need = 0   # continuation bytes still to come

    def captured(self) -> Optional[bytes]:
        """The captured contents; None when too long (or not captured)."""
        cap = self.cap
        return None if cap is None else bytes(cap)

    def scan(self, buf: Buf, p: int, end: int) -> tuple[int, int]:
        """Scan string contents from p: returns (p, 1) past the closing
        quote, (p, 0) at the end of the input, or (p, -code) at an error."""
        cap = self.cap
        while True:
            if self._u8need:
                p, r = self._continuation(buf, p, end)
                if r <= 0:
                    return p, r
            if self._esc:
                p, r = self._escape(buf, p, end)
                if r <= 0:
                    return p, r
                cap = self.cap
            if cap is not None and len(cap) > K.CAPTURE_MAX:
                cap = self.cap = None
            # plain bytes
            q = utf8_end(buf, p, string_bytes(buf, p, end).end())
            if cap is not None and q > p:
                if len(cap) + q - p > K.CAPTURE_MAX:
                    cap = self.cap = None
                else:
                    cap += buf[p:q]
            p = q
            if p == end:
                return p, 0
            c = buf[p]
            if c == 0x22:
                return p + 1, 1
            if c == 0x5C:
                self._esc = 1
                p += 1
                continue
            if c < 0x20:
                return p, -K.E_CONTROL_IN_STRING
            if not self._lead_byte(c):
                return p, -K.E_BAD_UTF8
            if cap is not None:
                cap.append(c)
            p += 1

    def _lead_byte(self, c: int) -> bool:
        """A UTF-8 lead byte whose sequence is invalid or cut by the end:
        note what must follow it (False: no sequence starts with it)."""
        lo = 0x80
        hi = 0xBF
        if c < 0xC2:
            return False
        elif c < 0xE0:
            need = 1
        elif c < 0xF0:
            need = 2
            if c == 0xE0:
                lo = 0xA0
            elif c == 0xED:
                hi = 0x9F
        elif c < 0xF5:
            need = 3
            if c == 0xF0:
                lo = 0x90
            elif c == 0xF4:
                hi = 0x8F
        else:
            return False
        self._u8need = need
        self._u8lo = lo
        self._u8hi = hi
        return True

    def _continuation(self, buf: Buf, p: int, end: int) -> tuple[int, int]:
        """The continuation bytes of a UTF-8 sequence: (p, 1) after them,
        (p, 0) at the end of the input, (p, -code) at a bad one."""
        cap = self.cap
        lo = self._u8lo
        hi = self._u8hi
        while self._u8need:
            if p == end:
                return p, 0
            c = buf[p]
            if c < lo or c > hi:
                return p, -K.E_BAD_UTF8
            if cap is not None:
                cap.append(c)
            lo = self._u8lo = 0x80
            hi = self._u8hi = 0xBF
            self._u8need -= 1
            p += 1
        return p, 1

    def _escape(self, buf: Buf, p: int, end: int) -> tuple[int, int]:
        """The rest of an escape (of a surrogate pair: both): (p, 1) after
        it, (p, 0) at the end of the input, (p, -code) at an error."""
        cap = self.cap
        while self._esc:
            if p == end:
                return p, 0
            c = buf[p]
            esc = self._esc
            if esc == 1:
                if c == 0x75:  # 'u'
                    self._esc = 2
                    self._ucode = 0
                    p += 1
                    continue
                out = ESCAPES.get(c)
                if out is None:
                    return p, -K.E_BAD_ESCAPE
                if cap is not None:
                    cap.append(out)
                self._esc = 0
                p += 1
            elif esc <= 5:
                h = HEX.get(c)
                if h is None:
                    return p, -K.E_BAD_UNICODE_ESCAPE
                self._ucode = self._ucode << 4 | h
                p += 1
                self._esc = esc + 1
                if esc == 5 and not self._code_point(self._ucode):
                    return p - 1, -K.E_LONE_SURROGATE
            elif esc == 6:
                if c != 0x5C:
                    return p, -K.E_LONE_SURROGATE
                self._esc = 7
                p += 1
            else:
                if c != 0x75:
                    return p, -K.E_LONE_SURROGATE
                self._esc = 2
                self._ucode = 0
                p += 1
        return p, 1

    def _code_point(self, cp: int) -> bool:
        """The four hex digits of a \\u escape are in: capture the code
        point, or wait for the low surrogate of a pair (False: a surrogate
        where none may be)."""
        if self._hisur:
            if cp < 0xDC00 or cp > 0xDFFF:
                return False
            cp = 0x10000 + ((self._hisur - 0xD800) << 10) + (cp - 0xDC00)
            self._hisur = 0
        elif 0xD800 <= cp <= 0xDBFF:
            self._hisur = cp
            self._esc = 6
            return True
        elif 0xDC00 <= cp <= 0xDFFF:
            return False
        cap = self.cap
        if cap is not None:
            cap += chr(cp).encode("utf-8")
        self._esc = 0
        return True
