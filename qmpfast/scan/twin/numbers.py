"""Numbers of the state machine: the twin of the number states of
csrc/qmpscan.c.

A number the machine's fast lane cannot take whole (the buffer ends inside
it, or it is bad) is scanned here, resumably at any byte.  Only what the
scanner needs of it is kept: its sign, whether it is an integer, how many
digits its integer part has (more than 18 set TAG_BIGNUM, or TAG_BIGTS for
a timestamp) and those digits up to the 19th (a timestamp's value).
"""

from __future__ import annotations

from .tokens import Buf, digits

# where inside a number the input stopped
(N_START, N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_E, N_ESIGN,
 N_EXP) = range(9)


class NumberReader:
    """The number in progress."""

    __slots__ = ("state", "neg", "isint", "digits", "head")

    def __init__(self) -> None:
        self.begin()

    def begin(self) -> None:
        """A number starts (at its first byte)."""
        self.state = N_START
        self.neg = False
        self.isint = True
        self.digits = 0    # of the integer part
        self.head = b""    # the first 19 of them

    def scan(self, buf: Buf, p: int, end: int) -> tuple[int, int]:
        """The number from p: (p, 1) when the byte at p ends the number,
        (p, 0) at the end of the input, (p, -1) when it is bad."""
        ns = self.state
        while True:
            if p == end:
                self.state = ns
                return p, 0
            c = buf[p]
            if ns == N_START:
                if c == 0x2D:
                    self.neg = True
                    ns = N_MINUS
                    p += 1
                    continue
                ns = N_MINUS
            if ns == N_MINUS:
                if c == 0x30:
                    ns = N_ZERO
                    self.digits = 1
                    self.head = b"0"
                    p += 1
                    continue
                if 0x31 <= c <= 0x39:
                    ns = N_INT
                    continue
                return p, -1
            if ns == N_INT:
                q = digits(buf, p, end).end()
                d = self.digits
                if d < 19:
                    self.head += buf[p:min(q, p + 19 - d)]
                self.digits = d + q - p
                p = q
                if p == end:
                    self.state = ns
                    return p, 0
                c = buf[p]
                ns = N_ZERO  # what may follow is the same
            if ns == N_ZERO:
                if c == 0x2E or c == 0x65 or c == 0x45:
                    self.isint = False
                    ns = N_DOT if c == 0x2E else N_E
                    p += 1
                    continue
                return p, 1
            if ns == N_DOT or ns == N_ESIGN:
                if 0x30 <= c <= 0x39:
                    ns = N_FRAC if ns == N_DOT else N_EXP
                    p += 1
                    continue
                return p, -1
            if ns == N_FRAC:
                p = digits(buf, p, end).end()
                if p == end:
                    self.state = ns
                    return p, 0
                if buf[p] == 0x65 or buf[p] == 0x45:
                    ns = N_E
                    p += 1
                    continue
                return p, 1
            if ns == N_E:
                ns = N_ESIGN
                if c == 0x2B or c == 0x2D:
                    p += 1
                continue
            # N_EXP
            p = digits(buf, p, end).end()
            if p == end:
                self.state = ns
                return p, 0
            return p, 1
