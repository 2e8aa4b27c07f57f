"""Byte patterns of JSON tokens and the UTF-8 check, for both scanning paths.

The twin's counterpart of the byte helpers of csrc/qmpscan.c: where the C
scanner looks at eight bytes at a time, the twin hands whole runs (of
whitespace, digits, string bytes) to ``re``, whose loops are in C.  The
patterns repeat single bytes only: the re module keeps no state per
repetition of those, where it would for a repeated group (megabytes for a
long string).
"""

from __future__ import annotations

import re
from typing import Any, Protocol, Union, cast

from .. import _header as K

Buf = Union[bytes, bytearray]
"""What the scanner reads: the decoder's bytes or bytearray."""


class _Run(Protocol):
    """``match`` of a pattern that also matches the empty string: it never
    gives None."""

    def __call__(self, string: Any, pos: int = ...,
                 endpos: int = ...) -> "re.Match[Any]": ...


def _run(pattern: "re.Pattern[Any]") -> _Run:
    return cast(_Run, pattern.match)



WS_BYTES = frozenset(b" \t\n\r")
ws = _run(re.compile(rb"[ \t\n\r]*"))
ws_text = _run(re.compile(r"[ \t\n\r]*"))
digits = _run(re.compile(rb"[0-9]*"))
# a complete JSON number; what follows it decides whether it is complete
number = re.compile(
    rb"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?").match

# string contents up to a quote, backslash or control byte; bytes from 0x80
# on are then checked to be UTF-8 as RFC 3629 has it (utf8_end)
string_bytes = _run(re.compile(rb'[^"\\\x00-\x1f]*'))
_high_byte = re.compile(rb"[\x80-\xff]").search
# fast lanes of the state machine: a whole string without escapes, a key of
# that kind with its colon
plain_string = re.compile(rb'"([^"\\\x00-\x1f]*)"').match
key_colon = re.compile(
    rb'[ \t\n\r]*"([^"\\\x00-\x1f]*)"[ \t\n\r]*:[ \t\n\r]*').match

# simple escapes: the byte after the backslash -> the byte it stands for
ESCAPES = {ord('"'): 0x22, ord("\\"): 0x5C, ord("/"): 0x2F, ord("b"): 0x08,
           ord("f"): 0x0C, ord("n"): 0x0A, ord("r"): 0x0D, ord("t"): 0x09}
HEX = {c: int(chr(c), 16) for c in b"0123456789abcdefABCDEF"}

LITERALS = (b"true", b"false", b"null")
LITERAL_TYPES = (K.T_TRUE, K.T_FALSE, K.T_NULL)
STRING_TYPES = (K.T_STR_ASCII, K.T_STR_UTF8, K.T_STR_ESC)

# digits to "0", anything else to " ": a run of 19 "0" is where an integer
# of 19 digits may be (TAG_BIGNUM)
DIGIT_MAP = bytes(0x30 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))
DIGITS_19 = b"0" * 19


def utf8_end(buf: Buf, p: int, q: int) -> int:
    """End of the longest prefix of buf[p:q] that is whole, valid UTF-8
    (where the C scanner would stop, or wait for more)."""
    m = _high_byte(buf, p, q)
    if m is None:
        return q
    a = m.start()
    try:
        buf[a:q].decode()
    except UnicodeDecodeError as exc:
        return a + exc.start
    return q
