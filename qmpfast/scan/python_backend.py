"""The pure-Python backend: the twin of the C scanner (csrc/qmpscan.c).

It produces exactly the records of the C scanner (same statuses, the same six
integers per record, the same ``pos``/``keep_from``/``in_message`` after every
call) for any input, any chunking and any ``max_records``.  Two paths share
one state:

* The fast path runs whenever the scanner is between messages.  It takes
  the complete lines ahead (up to the last ``\n`` within reach), decodes them
  strictly as UTF-8 in one go and lets the json module's C scanner parse one
  message after the other straight out of that text.  When it gives an
  object and the few checks where the json module is laxer than the scanner
  pass (lone surrogate escapes, nesting depth, message size, NaN/Infinity;
  integers of 19 digits are looked for to set TAG_BIGNUM), the record is
  built from the resulting dict, which ``value()`` and ``obj()`` then serve
  without decoding again.  Text that is not ASCII goes a line at a time, so
  that character offsets never have to be turned into byte offsets.
* The slow path is a faithful port of the C state machine, resumable at any
  byte.  It takes over, one message at a time, for anything the fast path
  declines (errors and what follows them, protocol errors, huge numbers)
  and for a message cut by the end of the buffer, which it carries on with
  in the next call instead of rescanning it.  Whole strings, keys, numbers
  and runs of whitespace go through ``re``.  A message it completes is
  decoded only when a value of it is asked for.
"""

from __future__ import annotations

import json
import re
from json.scanner import make_scanner as _make_scanner

from . import _header as K
from .records import (R_END, REC_FIELDS, TAG_BIGNUM, TAG_BIGTS,
                      TAG_LONGNAME, Records, bad_tag, event_tag, tag_kind)
from .paths import S_DATA
from ..errors import IntegerTooLongError
from .paths import MISSING, member_path
from .values import lenient_loads, refusal, std_loads

# scanner states, as in qmpscan.c; from _OBJ_FIRST on: inside a message.
# _DEFERRED (this backend's own): a valid start of a message cut by the end
# of the buffer, to be scanned again from its start in the next call.
(_TOP, _SKIPLINE, _OBJ_FIRST, _OBJ_KEY, _COLON, _VALUE, _ARR_FIRST, _AFTER,
 _KEY, _STRING, _NUMBER, _LITERAL, _DEFERRED) = range(13)
# number states
_N_START, _N_MINUS, _N_ZERO, _N_INT, _N_DOT, _N_FRAC, _N_E, _N_ESIGN, \
    _N_EXP = range(9)

_LITERALS = (b"true", b"false", b"null")
_LITERAL_TYPES = (K.T_TRUE, K.T_FALSE, K.T_NULL)
_WS_BYTES = frozenset(b" \t\n\r")
_ESCAPES = {ord('"'): 0x22, ord("\\"): 0x5C, ord("/"): 0x2F, ord("b"): 0x08,
            ord("f"): 0x0C, ord("n"): 0x0A, ord("r"): 0x0D, ord("t"): 0x09}
_HEX = {c: int(chr(c), 16) for c in b"0123456789abcdefABCDEF"}
_STRING_TYPES = (K.T_STR_ASCII, K.T_STR_UTF8, K.T_STR_ESC)
_EMPTY = {}

_ws = re.compile(rb"[ \t\n\r]*").match
_digits = re.compile(rb"[0-9]*").match
# a complete JSON number; what follows it decides whether it is complete
_number = re.compile(rb"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?").match
# Patterns here repeat single bytes only: the re module keeps no state per
# repetition of those, where it would for a repeated group (megabytes for a
# long string).
# string contents up to a quote, backslash or control byte; bytes from 0x80
# on are then checked to be UTF-8 as RFC 3629 has it (_utf8_end)
_string_bytes = re.compile(rb'[^"\\\x00-\x1f]*').match
_high_byte = re.compile(rb"[\x80-\xff]").search
# fast lanes of the slow path: a whole string without escapes, a key of
# that kind with its colon
_plain_string = re.compile(rb'"([^"\\\x00-\x1f]*)"').match
_key_colon = re.compile(
    rb'[ \t\n\r]*"([^"\\\x00-\x1f]*)"[ \t\n\r]*:[ \t\n\r]*').match

# fast path checks
# a backslash-u escape of a surrogate (the backslash may be escaped itself)
_surrogate_escape = re.compile(r"\\u[dD][89a-fA-F]").search
# digits to "0", anything else to " ": a run of 19 "0" is where an integer
# of 19 digits may be
_DIGIT_MAP = bytes(0x30 if 0x30 <= i <= 0x39 else 0x20 for i in range(256))
_DIGITS_19 = b"0" * 19

_ws_text = re.compile(r"[ \t\n\r]*").match
_KIND_MESSAGE = K.KIND_MESSAGE
_KIND_RETURN = K.KIND_RETURN
_KIND_ERROR = K.KIND_ERROR
_KIND_GREETING = K.KIND_GREETING
_KIND_COMMAND = K.KIND_COMMAND
_TAG_BIGTS = TAG_BIGTS
_TAG_BIGNUM = TAG_BIGNUM
_BIG = 10 ** 18  # timestamps with more digits set TAG_BIGTS
_NAME_CACHE_MAX = 4096
_DEFER_MAX = 65536  # longer cut messages go to the state machine at once
_ABSENT = object()


class _NotJSON(ValueError):
    """NaN, Infinity or -Infinity: the json module takes them, RFC 8259 not."""


def _reject_constant(name):
    raise _NotJSON(name)


_scan_once = _make_scanner(
    json.JSONDecoder(parse_constant=_reject_constant))
# every member, duplicates too
_pairs_scan = _make_scanner(json.JSONDecoder(object_pairs_hook=list))


def _utf8_end(buf, p, q):
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


def _lone_surrogate(text, start, end):
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


def _bignum_hook(found):
    def parse_int(digits):
        if len(digits) > 18 and len(digits.lstrip("-")) > 18:
            found.append(digits)
        return 0
    return parse_int


def _has_bignum(text, start):
    """True when the (valid) message at text[start:] has an integer (no
    fraction, no exponent) of more than 18 digits: TAG_BIGNUM.  All of it:
    a duplicate key may have thrown such a number away.  None: not sure."""
    found = []
    scan = _make_scanner(json.JSONDecoder(parse_int=_bignum_hook(found),
                                          object_pairs_hook=list))
    try:
        scan(text, start)
    except (ValueError, StopIteration, RecursionError):
        return None
    return bool(found)


_CONTAINERS = frozenset((dict, list))


class Batch(Records):
    """The records of one scan call and the bytes they point into.

    Messages the fast path parsed keep their dict, which ``value()`` walks;
    the others are decoded on the first read.  A dict or list handed out
    (by ``obj()``, or ``value()`` of a container) is the caller's: later
    reads decode afresh, so that, as with the C backend, each read gives
    new objects that nothing else changes.
    """

    __slots__ = ("_objs", "_paths", "_too_long")

    def __init__(self, buf, base, recs, n, objs, paths):
        self.buf = buf
        self.base = base
        self.recs = recs
        self.n = n
        self._objs = objs  # per record: its decoded object, or None
        self._paths = paths
        # per record holding integers over the interpreter's digit limit:
        # their (path, digits); reads at or above them raise
        self._too_long = {}

    def _tree(self, i):
        d = self._objs[i]
        if d is None:
            if tag_kind(self.tag(i)) == K.KIND_BAD:
                return MISSING
            try:
                d = std_loads(self.raw(i))
            except IntegerTooLongError:
                d, self._too_long[i] = lenient_loads(self.raw(i))
            self._objs[i] = d
        return d

    def subset(self, first, end):
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

    def _refuse(self, i, path):
        """Raise for an integer too long at or below ``path`` of record
        ``i``'s message (a tuple of keys)."""
        exc = refusal(self._too_long[i], member_path(path))
        if exc is not None:
            raise exc

    def _walk(self, i, slot):
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

    def is_object(self, i, slot):
        """Whether the value at a slot is a JSON object."""
        return type(self._walk(i, slot)) is dict

    def value(self, i, slot):
        """The decoded value at a slot's path, or MISSING."""
        d = self._walk(i, slot)
        if self._too_long and i in self._too_long:
            self._refuse(i, self._paths[slot])
        if type(d) is dict or type(d) is list:
            self._objs[i] = None  # handed out
        return d

    def data(self, i):
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

    def peek_object(self, i, slot):
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
        if not _CONTAINERS.isdisjoint(map(type, d.values())):
            self._objs[i] = None  # handed out
        return d

    def obj(self, i):
        d = self._objs[i]
        if d is None:
            return std_loads(self.raw(i))
        if self._too_long and i in self._too_long:
            self._refuse(i, ())
        self._objs[i] = None
        return d


class Scanner:
    """A resumable scanner; see csrc/qmpscan.h for the contract."""

    def __init__(self, schema, max_message_size, max_depth, start=0):
        self._schema = schema
        self._max_size = max_message_size
        self._max_depth = max_depth
        self._keep = schema.keep
        self._name_tags = {}  # event name -> tag (-1: filtered out)

        # value() paths; a key longer than the capture buffer never matches
        paths = []
        for path in schema.paths:
            if any(len(k.encode("utf-8", "surrogatepass")) > K.CAPTURE_MAX
                   for k in path):
                path = (object(),)  # matches nothing
            paths.append(tuple(path))
        self._paths = paths

        # The slow path tracks only the nodes leading to a role.
        nodes = schema.nodes
        wanted = set()
        for node in nodes:
            if node.role:
                while node.id > 0:
                    wanted.add(node.id)
                    node = nodes[node.parent]
        self._children = children = {}
        for nid in sorted(wanted):
            node = nodes[nid]
            children.setdefault(node.parent, {})[
                node.key.encode("utf-8", "surrogatepass")] = nid
        self._roles = [n.role for n in nodes]
        self._subtree = {}
        for nid in wanted:
            below = []
            stack = [nid]
            while stack:
                for child in children.get(stack.pop(), {}).values():
                    below.append(child)
                    stack.append(child)
            if below:
                self._subtree[nid] = below
        # node of each role; the extra last entry stays absent for ever
        self._n_types = len(nodes) + 1
        absent = len(nodes)
        self._role_node = [absent] * K.ROLES
        for node in nodes:
            if node.role:
                self._role_node[node.role] = node.id
        self._byte_names = {}
        for name in schema.names:
            if schema.name_id(name) >= 0:
                self._byte_names[name.encode("utf-8", "surrogatepass")] = \
                    schema.name_ids[name]

        # Fast path: role keys of the dict
        def key(role):
            return schema.paths[schema.role_slot[role]][-1]
        self._k = tuple(key(r) for r in (
            K.ROLE_EVENT, K.ROLE_TIMESTAMP, K.ROLE_SECONDS, K.ROLE_MICROS,
            K.ROLE_RETURN, K.ROLE_ERROR, K.ROLE_ERROR_CLASS,
            K.ROLE_ERROR_DESC, K.ROLE_QMP, K.ROLE_EXECUTE, K.ROLE_EXEC_OOB))
        self.restart(start)

    def restart(self, offset):
        """Forget any message in progress; scan on from ``offset``."""
        self._pos = offset
        self._msg_start = offset
        self._st = _TOP
        self._redo = -1  # start of the message deferred last
        self._reset_message()

    def _reset_message(self):
        self._kinds = []   # per open container: True object, False array
        self._nodes = []   # per open container: tracked node or -1
        self._types = [0] * self._n_types
        self._at = [0] * self._n_types
        self._val_node = -1
        self._name_id = -1  # -2: a name too long to have an id
        self._bigts = 0
        self._bignum = 0    # some integer has more than 18 digits
        self._seconds = 0
        self._micros = 0

    # ---- the interface --------------------------------------------------

    @property
    def pos(self):
        return self._pos

    @property
    def keep_from(self):
        return self._msg_start if self._st >= _OBJ_FIRST else self._pos

    @property
    def in_message(self):
        return self._st >= _OBJ_FIRST

    @property
    def message_start(self):
        return self._msg_start

    def scan_count(self, buf, base, max_records):
        """``scan`` without the Batch: returns (status, number of records,
        keep_from); ``batch(buf, base, n)`` gives the records, before the
        next scan."""
        status, self._batch = self.scan(buf, base, max_records)
        return status, self._batch.n, self.keep_from

    def batch(self, buf, base, n):
        """The Batch of the last ``scan_count``."""
        batch, self._batch = self._batch, None
        return batch

    def scan(self, buf, base, max_records):
        """Scan ``buf`` (bytes at stream offset ``base``) from ``pos``.

        Returns (status, Batch).
        """
        recs = []
        objs = []
        if max_records <= 0:
            return K.FULL, Batch(buf, base, recs, 0, objs, self._paths)
        p = self._pos - base
        status = None
        if self._st == _DEFERRED:
            p = self._msg_start - base
            self._st = _TOP
            self._redo = self._msg_start  # not deferred twice
        elif self._st != _TOP:
            p, status = self._slow(buf, p, base, recs, objs)
        if status is None:
            p, status = self._fast(buf, p, base, max_records, recs, objs)
        self._pos = base + p
        return status, Batch(buf, base, recs, len(objs), objs, self._paths)

    # ---- fast path ------------------------------------------------------

    def _name_tag(self, name):
        """Tag of an event called ``name`` (a str): -1 when filtered out."""
        tag = self._name_tags.get(name)
        if tag is None:
            nid = self._schema.name_id(name)
            if nid < 0 and len(name.encode("utf-8", "surrogatepass")) > \
                    K.CAPTURE_MAX:
                tag = event_tag(K.KIND_EVENT, -1, TAG_LONGNAME)  # kept
            elif self._keep is not None and nid not in self._keep:
                tag = -1
            else:
                tag = event_tag(K.KIND_EVENT, nid)
            if len(self._name_tags) < _NAME_CACHE_MAX:
                self._name_tags[name] = tag
        return tag

    def _classify(self, d):
        """(tag, seconds, microseconds) of a message, as the C scanner has
        them; None when it has a protocol error (the state machine says
        which); tag -1 when it is an event filtered out."""
        k_event, k_ts, k_sec, k_usec, k_return, k_error, k_class, k_desc, \
            k_qmp, k_execute, k_oob = self._k
        name = d.get(k_event, _ABSENT)
        if name is not _ABSENT:
            if type(name) is not str:
                return None
            tag = self._name_tag(name)
            if tag < 0:
                return -1, 0, 0
            ts = d.get(k_ts)
            if type(ts) is not dict:
                return None
            sec = ts.get(k_sec)
            usec = ts.get(k_usec)
            if type(sec) is not int or type(usec) is not int:
                return None
            if not (-_BIG < sec < _BIG and -_BIG < usec < _BIG):
                tag |= TAG_BIGTS  # more than 18 digits: left at 0
                if not -_BIG < sec < _BIG:
                    sec = 0
                if not -_BIG < usec < _BIG:
                    usec = 0
            return tag, sec, usec
        if k_return in d:
            return K.KIND_RETURN, 0, 0
        e = d.get(k_error, _ABSENT)
        if e is not _ABSENT:
            if type(e) is not dict or type(e.get(k_class)) is not str or \
                    type(e.get(k_desc)) is not str:
                return None
            return K.KIND_ERROR, 0, 0
        if k_qmp in d:
            return K.KIND_GREETING, 0, 0
        if k_execute in d or k_oob in d:
            return K.KIND_COMMAND, 0, 0
        return K.KIND_MESSAGE, 0, 0

    def _fast(self, buf, p, base, max_records, recs, objs):
        """Between messages: complete lines through the json module; any
        message it declines goes to the state machine."""
        bend = len(buf)
        n = len(objs)
        short_tail = min(self._max_size, _DEFER_MAX)
        find = buf.find
        append = objs.append
        te = 0           # block mode: buf[tb:te] as text, all ASCII
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
                if c in _WS_BYTES:
                    p = _ws(buf, p).end()
                    continue
            elif p >= te and p > lines_to and p < no_nl:
                # a new block: whole lines, about as many as there is
                # room for records
                lim = p + 4096 + (max_records - n) * 512
                q = buf.rfind(b"\n", p, lim) if lim < bend else \
                    buf.rfind(b"\n", p)
                if q < 0:
                    q = find(b"\n", p)
                    if q < 0:
                        no_nl = p
                if q >= 0:
                    block = buf[p:q + 1]
                    try:
                        text = block.decode()
                    except UnicodeDecodeError:
                        text = ""
                    if text and text.isascii():
                        tb = p
                        te = q + 1
                        escapes = "\\u" in text
                        # runs of 19 digits, where an integer may be long
                        # enough for TAG_BIGNUM
                        digits = block.translate(_DIGIT_MAP)
                        if digits.find(_DIGITS_19) < 0:
                            digits = None
                    else:
                        lines_to = q
            if n >= max_records:
                status = K.FULL
                break
            if p < te and c == 0x7B:
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
            if p <= lines_to and p > slow_to and c == 0x7B:
                # line mode: one message, alone on its line
                if nl < p:
                    nl = find(b"\n", p)
                r = self._line(buf, p, nl)
                if r is not None:
                    d, mend, flags = r
                    r = self._classify(d)
                    if r is not None:
                        tag, sec, usec = r
                        last = base + p
                        if tag >= 0:
                            recs += (last, base + mend, sec, usec,
                                     tag | flags, 0)
                            append(d)
                            n += 1
                        p = mend
                        continue
                slow_to = nl
            if c == 0x7B and p >= no_nl and bend - p <= short_tail and \
                    base + p != self._redo and self._valid_start(buf, p):
                # a valid message start cut by the end of the buffer: the
                # next call scans it again, as a whole if it then is
                self._msg_start = base + p
                self._st = _DEFERRED
                return bend, K.DONE
            # one message (or error) through the state machine
            if last >= 0:
                self._msg_start = last
                last = -1
            p, status = self._slow(buf, p, base, recs, objs)
            if status is not None:
                return p, status
            n = len(objs)
        if last >= 0:
            self._msg_start = last
        return p, status

    def _block(self, text, idx, tlen, off, escapes, digits, n, max_records,
               recs, objs):
        """Block mode: messages one after the other out of ``text`` (all
        ASCII, ending with a line break; offset ``off`` in the stream) from
        ``idx`` on.  Returns (idx, n, start of the last message taken or -1,
        whether idx is between messages: else the state machine must take
        the message at idx)."""
        scan_once = _scan_once
        max_size = self._max_size
        max_depth = self._max_depth
        short = min(max_size, max_depth)
        name_tags = self._name_tags
        k_event, k_ts, k_sec, k_usec, k_return, k_error, k_class, k_desc, \
            k_qmp, k_execute, k_oob = self._k
        big = _BIG
        nbig = -_BIG
        append = objs.append
        taken = -1
        next_escape = -1
        while True:
            try:
                d, end = scan_once(text, idx)
            except (ValueError, StopIteration, RecursionError):
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
            # classify as the C scanner does (as _classify does)
            name = d.get(k_event)
            if name is not None or k_event in d:
                if type(name) is not str:
                    return idx, n, taken, False
                tag = name_tags.get(name)
                if tag is None:
                    tag = self._name_tag(name)
                if tag >= 0:
                    ts = d.get(k_ts)
                    if type(ts) is not dict:
                        return idx, n, taken, False
                    sec = ts.get(k_sec)
                    usec = ts.get(k_usec)
                    if type(sec) is not int or type(usec) is not int:
                        return idx, n, taken, False
                    if not (nbig < sec < big and nbig < usec < big):
                        # more than 18 digits: flagged, left at 0
                        tag |= _TAG_BIGTS
                        if not nbig < sec < big:
                            sec = 0
                        if not nbig < usec < big:
                            usec = 0
            else:
                sec = usec = 0
                if k_return in d:
                    tag = _KIND_RETURN
                elif k_error in d:
                    e = d[k_error]
                    if type(e) is not dict or \
                            type(e.get(k_class)) is not str or \
                            type(e.get(k_desc)) is not str:
                        return idx, n, taken, False
                    tag = _KIND_ERROR
                elif k_qmp in d:
                    tag = _KIND_GREETING
                elif k_execute in d or k_oob in d:
                    tag = _KIND_COMMAND
                else:
                    tag = _KIND_MESSAGE
            if tag >= 0 and digits is not None and \
                    digits.find(_DIGITS_19, idx, end) >= 0:
                bignum = _has_bignum(text, idx)
                if bignum is None:
                    return idx, n, taken, False
                if bignum:
                    tag |= _TAG_BIGNUM
            taken = idx
            if tag >= 0:  # else filtered out
                recs += (off + idx, off + end, sec, usec, tag, 0)
                append(d)
                n += 1
            # on to the next message
            if text.startswith("\r\n{", end):
                idx = end + 2
            else:
                idx = _ws_text(text, end).end()
                if idx >= tlen or text[idx] != "{":
                    return idx, n, taken, True
            if n >= max_records:
                return idx, n, taken, True

    def _valid_start(self, buf, p):
        """Whether buf[p:] is the start of a message in which the C scanner
        finds nothing wrong so far (within limits, no error before the end
        of the input); False when not sure."""
        tail = buf[p:]
        if len(tail) > self._max_depth and \
                tail.count(b"{") + tail.count(b"[") > self._max_depth:
            return False
        try:
            text = tail.decode()  # a cut UTF-8 sequence: not sure
            _scan_once(text, 0)
        except json.JSONDecodeError as exc:
            # the json module stops at the end of the text, or at a string
            # it cannot end, having checked all before
            if exc.pos != len(text) and \
                    exc.msg != "Unterminated string starting at":
                return False
        except (ValueError, StopIteration, RecursionError):
            return False
        else:
            return False  # a whole message
        # a surrogate escape, maybe of a pair cut in two: not sure
        return _surrogate_escape(text) is None

    def _line(self, buf, p, nl):
        """Line mode: (dict, end, flags) of the message that is all of the
        line buf[p:nl] but a last '\\r', or None."""
        line = buf[p:nl]
        try:
            t = line.decode()
            d, end = _scan_once(t, 0)
        except (ValueError, StopIteration, RecursionError):
            return None
        if type(d) is not dict:
            return None
        size = len(line)
        if end == len(t):
            mend = nl
        elif end + 1 == len(t) and t[end] == "\r":
            mend = nl - 1
        else:
            return None
        if size > self._max_size or (
                size > self._max_depth and
                line.count(b"{") + line.count(b"[") > self._max_depth):
            return None
        if "\\u" in t and _lone_surrogate(t, 0, len(t)):
            return None
        flags = 0
        if line.translate(_DIGIT_MAP).find(_DIGITS_19) >= 0:
            bignum = _has_bignum(t, 0)
            if bignum is None:
                return None
            if bignum:
                flags = TAG_BIGNUM
        return d, mend, flags

    # ---- slow path: the state machine of qmpscan.c ----------------------

    def _slow(self, buf, p, base, recs, objs):
        """Run the state machine from ``p`` until it is back between
        messages (returns (p, None)) or stops (returns (p, status))."""
        bend = len(buf)
        st = self._st
        if st == _SKIPLINE:
            q = buf.find(b"\n", p)
            if q < 0:
                return bend, K.DONE
            self._st = _TOP
            return q + 1, None
        if st == _TOP:
            # the caller stands on a byte that is not whitespace, with room
            self._msg_start = base + p
            if buf[p] != 0x7B:
                return self._fail(buf, p, base, K.E_EXPECTED_OBJECT, recs,
                                  objs)
            self._reset_message()
            self._kinds.append(True)
            self._nodes.append(0)
            st = _OBJ_FIRST
            p += 1
        ms = self._msg_start - base  # message start in buf
        end = ms + self._max_size
        if end > bend:
            end = bend
        kinds = self._kinds
        nodes = self._nodes
        types = self._types
        at = self._at
        roles = self._roles
        children = self._children
        ws_bytes = _WS_BYTES
        ws = _ws
        vn = self._val_node  # node of the value being read, or -1
        code = 0
        while True:
            if st == _AFTER:
                if p < end and buf[p] in ws_bytes:
                    p = ws(buf, p, end).end()
                if p == end:
                    break
                c = buf[p]
                if c == 0x2C:  # ','
                    p += 1
                    if kinds[-1]:
                        st = _OBJ_KEY
                    else:
                        vn = -1
                        st = _VALUE
                    continue
                if (c == 0x7D and kinds[-1]) or (c == 0x5D and not kinds[-1]):
                    pass  # close the container, below
                else:
                    code = (K.E_EXPECTED_OBJ_NEXT if kinds[-1]
                            else K.E_EXPECTED_ARR_NEXT)
                    break
            elif st == _OBJ_KEY or st == _OBJ_FIRST:
                # fast lane: a key without escapes, its colon
                m = _key_colon(buf, p, end)
                if m is not None and _utf8_end(buf, m.start(1), m.end(1)) \
                        == m.end(1):
                    parent = nodes[-1]
                    if parent >= 0 and \
                            m.end(1) - m.start(1) <= K.CAPTURE_MAX:
                        vn = children.get(parent, _EMPTY).get(m.group(1), -1)
                    else:
                        vn = -1
                    p = m.end()
                    st = _VALUE
                    continue
                if p < end and buf[p] in ws_bytes:
                    p = ws(buf, p, end).end()
                if p == end:
                    break
                c = buf[p]
                if c == 0x22:
                    self._str_begin(1 if nodes[-1] >= 0 else 0)
                    st = _KEY
                    p += 1
                    continue
                if not (c == 0x7D and st == _OBJ_FIRST):
                    code = K.E_EXPECTED_KEY
                    break
                # '}' of an empty object: close it, below
            elif st == _VALUE or st == _ARR_FIRST:
                if p < end and buf[p] in ws_bytes:
                    p = ws(buf, p, end).end()
                if p == end:
                    break
                c = buf[p]
                if st == _ARR_FIRST and c == 0x5D:
                    pass  # ']' of an empty array: close it, below
                else:
                    if st == _ARR_FIRST:
                        vn = -1
                    nd = vn
                    if nd >= 0:
                        at[nd] = p - ms
                        types[nd] = 0
                        role = roles[nd]
                        if role == K.ROLE_SECONDS:
                            self._bigts &= ~1
                        elif role == K.ROLE_MICROS:
                            self._bigts &= ~2
                    if c == 0x22:
                        # fast lane: a string without escapes
                        m = _plain_string(buf, p, end)
                        if m is not None and _utf8_end(
                                buf, m.start(1), m.end(1)) == m.end(1):
                            p = m.end()
                            if nd >= 0:
                                types[nd] = K.T_STR_ASCII
                                if roles[nd] == K.ROLE_EVENT:
                                    self._name_id = (
                                        -2 if m.end(1) - m.start(1) >
                                        K.CAPTURE_MAX else
                                        self._byte_names.get(m.group(1), -1))
                            st = _AFTER
                            continue
                        self._str_begin(
                            2 if nd >= 0 and roles[nd] == K.ROLE_EVENT else 0)
                        st = _STRING
                        p += 1
                        continue
                    if c == 0x7B or c == 0x5B:
                        if len(kinds) >= self._max_depth:
                            code = K.E_TOO_DEEP
                            break
                        if nd >= 0:
                            for child in self._subtree.get(nd, ()):
                                types[child] = 0
                                at[child] = 0
                        kinds.append(c == 0x7B)
                        nodes.append(nd)
                        st = _OBJ_FIRST if c == 0x7B else _ARR_FIRST
                        p += 1
                        continue
                    if c == 0x2D or 0x30 <= c <= 0x39:
                        m = _number(buf, p, end)
                        if m is not None:
                            q = m.end()
                            if q < end and buf[q] not in b".eE":
                                # complete: the byte after it ends it
                                p = q
                                isint = m.start(2) < 0 and m.start(3) < 0
                                digits = m.end(1) - m.start(1)
                                if isint and digits > 18:
                                    self._bignum = 1
                                if nd >= 0:
                                    self._num_neg = c == 0x2D
                                    self._num_isint = isint
                                    self._num_digits = digits
                                    self._num_head = m.group(1)[:19]
                                    self._number_done(nd)
                                st = _AFTER
                                continue
                        self._num_state = _N_START
                        self._num_digits = 0
                        self._num_neg = False
                        self._num_isint = True
                        self._num_head = b""
                        st = _NUMBER
                        continue
                    if c == 0x74 or c == 0x66 or c == 0x6E:  # t f n
                        lit = 0 if c == 0x74 else 1 if c == 0x66 else 2
                        word = _LITERALS[lit]
                        q = p + len(word)
                        if q <= end and buf.startswith(word, p):
                            p = q
                            if nd >= 0:
                                types[nd] = _LITERAL_TYPES[lit]
                            st = _AFTER
                            continue
                        self._lit = lit
                        self._lit_idx = 0
                        st = _LITERAL
                        continue
                    code = K.E_EXPECTED_VALUE
                    break
            elif st == _KEY:
                p, r = self._string(buf, p, end)
                if r == 0:
                    break
                if r < 0:
                    code = -r
                    break
                cap = self._cap
                if cap is not None:
                    vn = children.get(nodes[-1], _EMPTY).get(bytes(cap), -1)
                else:
                    vn = -1
                st = _COLON
                continue
            elif st == _COLON:
                if p < end and buf[p] in ws_bytes:
                    p = ws(buf, p, end).end()
                if p == end:
                    break
                if buf[p] != 0x3A:
                    code = K.E_EXPECTED_COLON
                    break
                p += 1
                st = _VALUE
                continue
            elif st == _STRING:
                p, r = self._string(buf, p, end)
                if r == 0:
                    break
                if r < 0:
                    code = -r
                    break
                if vn >= 0:
                    types[vn] = K.T_STR_ASCII
                if self._str_mode == 2:
                    cap = self._cap
                    self._name_id = (-2 if cap is None else
                                     self._byte_names.get(bytes(cap), -1))
                st = _AFTER
                continue
            elif st == _NUMBER:
                p, r = self._number_bytes(buf, p, end)
                if r == 0:
                    break
                if r < 0:
                    code = K.E_BAD_NUMBER
                    break
                if self._num_isint and self._num_digits > 18:
                    self._bignum = 1
                if vn >= 0:
                    self._number_done(vn)
                st = _AFTER
                continue
            elif st == _LITERAL:
                word = _LITERALS[self._lit]
                i = self._lit_idx
                while i < len(word):
                    if p == end:
                        break
                    if buf[p] != word[i]:
                        code = K.E_BAD_LITERAL
                        break
                    p += 1
                    i += 1
                self._lit_idx = i
                if code or i < len(word):
                    break
                if vn >= 0:
                    types[vn] = _LITERAL_TYPES[self._lit]
                st = _AFTER
                continue
            else:  # pragma: no cover - no other state is inside a message
                raise AssertionError(st)

            # close the container at p
            p += 1
            nd = nodes.pop()
            kind = kinds.pop()
            if nd >= 0:
                types[nd] = K.T_OBJECT if kind else K.T_ARRAY
            if kinds:
                st = _AFTER
                continue
            # a whole message: classify, check its QMP shape, emit
            self._st = _TOP
            return p, self._emit(buf, p, base, recs, objs)

        if code:
            return self._fail(buf, p, base, code, recs, objs)
        # out of input
        if end != bend:
            start = self._msg_start
            recs += (start, base + p, 0, 0,
                     bad_tag(K.E_TOO_LARGE), base + p)
            objs.append(None)
            self._st = _SKIPLINE
            self._reset_message()
            return p, K.ERROR
        self._st = st
        self._val_node = vn
        return p, K.DONE

    def _emit(self, buf, p, base, recs, objs):
        """Record of the message just completed (None: go on)."""
        types = self._types
        at = self._at  # offsets of the values' first bytes
        rn = self._role_node
        start = self._msg_start
        code = 0
        errpos = 0
        sec = usec = 0
        tag = K.KIND_MESSAGE
        t = types[rn[K.ROLE_EVENT]]
        if t:
            nid = self._name_id
            keep = self._keep
            if t not in _STRING_TYPES:
                code = K.E_EVENT_NAME
                errpos = start + at[rn[K.ROLE_EVENT]]
            elif keep is not None and nid != -2 and nid not in keep:
                return None  # filtered out: no record
            elif (types[rn[K.ROLE_TIMESTAMP]] != K.T_OBJECT or
                  types[rn[K.ROLE_SECONDS]] != K.T_INT or
                  types[rn[K.ROLE_MICROS]] != K.T_INT):
                code = K.E_TIMESTAMP
                errpos = start + (at[rn[K.ROLE_TIMESTAMP]]
                                  if types[rn[K.ROLE_TIMESTAMP]] else 0)
            else:
                tag = event_tag(
                    K.KIND_EVENT, -1 if nid == -2 else nid,
                    (TAG_BIGTS if self._bigts else 0)
                    | (TAG_LONGNAME if nid == -2 else 0))
                sec = self._seconds
                usec = self._micros
        elif types[rn[K.ROLE_RETURN]]:
            tag = K.KIND_RETURN
        elif types[rn[K.ROLE_ERROR]]:
            if (types[rn[K.ROLE_ERROR]] != K.T_OBJECT or
                    types[rn[K.ROLE_ERROR_CLASS]] not in _STRING_TYPES or
                    types[rn[K.ROLE_ERROR_DESC]] not in _STRING_TYPES):
                code = K.E_ERROR_SHAPE
                errpos = start + at[rn[K.ROLE_ERROR]]
            tag = K.KIND_ERROR
        elif types[rn[K.ROLE_QMP]]:
            tag = K.KIND_GREETING
        elif types[rn[K.ROLE_EXECUTE]] or types[rn[K.ROLE_EXEC_OOB]]:
            tag = K.KIND_COMMAND
        end = base + p
        if code:
            recs += (start, end, 0, 0, bad_tag(code), errpos)
            objs.append(None)
            return K.ERROR
        if self._bignum:
            tag |= TAG_BIGNUM
        recs += (start, end, sec, usec, tag, 0)
        objs.append(None)  # decoded when a value is asked for
        return None

    def _fail(self, buf, errp, base, code, recs, objs):
        """A syntax error at buf[errp]: record it, resume after the first
        line break after where the message began."""
        start = self._msg_start
        recs += (start, base + errp + 1, 0, 0,
                 bad_tag(code, buf[errp]), base + errp)
        objs.append(None)
        self._reset_message()
        q = buf.find(b"\n", start - base)
        if q >= 0:
            self._st = _TOP
            return q + 1, K.ERROR
        self._st = _SKIPLINE
        return len(buf), K.ERROR

    # ---- strings --------------------------------------------------------

    def _str_begin(self, mode):
        """A string starts; mode 0 plain, 1 key, 2 event name."""
        self._str_mode = mode
        self._cap = bytearray() if mode else None  # None: not captured
        self._esc = 0
        self._hisur = 0
        self._u8need = 0

    def _string(self, buf, p, end):
        """Scan string contents from p: returns (p, 1) past the closing
        quote, (p, 0) at the end of the input, or (p, -code) at an error."""
        cap = self._cap
        while True:
            if self._u8need:
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
                    out = _ESCAPES.get(c)
                    if out is None:
                        return p, -K.E_BAD_ESCAPE
                    if cap is not None:
                        cap.append(out)
                    self._esc = 0
                    p += 1
                elif esc <= 5:
                    h = _HEX.get(c)
                    if h is None:
                        return p, -K.E_BAD_UNICODE_ESCAPE
                    cp = self._ucode = self._ucode << 4 | h
                    p += 1
                    esc += 1
                    self._esc = esc
                    if esc <= 5:
                        continue
                    if self._hisur:
                        if cp < 0xDC00 or cp > 0xDFFF:
                            return p - 1, -K.E_LONE_SURROGATE
                        cp = 0x10000 + ((self._hisur - 0xD800) << 10) + \
                            (cp - 0xDC00)
                        self._hisur = 0
                    elif 0xD800 <= cp <= 0xDBFF:
                        self._hisur = cp
                        self._esc = 6
                        continue
                    elif 0xDC00 <= cp <= 0xDFFF:
                        return p - 1, -K.E_LONE_SURROGATE
                    if cap is not None:
                        cap += chr(cp).encode("utf-8")
                    self._esc = 0
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
            if cap is not None and len(cap) > K.CAPTURE_MAX:
                cap = self._cap = None  # too long to match anything
            # plain bytes
            q = _utf8_end(buf, p, _string_bytes(buf, p, end).end())
            if cap is not None and q > p:
                if len(cap) + q - p > K.CAPTURE_MAX:
                    cap = self._cap = None
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
            # a UTF-8 lead byte whose sequence is invalid or cut by the end
            lo = 0x80
            hi = 0xBF
            if c < 0xC2:
                return p, -K.E_BAD_UTF8
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
                return p, -K.E_BAD_UTF8
            self._u8need = need
            self._u8lo = lo
            self._u8hi = hi
            if cap is not None:
                cap.append(c)
            p += 1

    # ---- numbers --------------------------------------------------------

    def _number_bytes(self, buf, p, end):
        """The number state machine from p: (p, 1) when the byte at p ends
        the number, (p, 0) at the end of the input, (p, -1) when it is bad."""
        ns = self._num_state
        while True:
            if p == end:
                self._num_state = ns
                return p, 0
            c = buf[p]
            if ns == _N_START:
                if c == 0x2D:
                    self._num_neg = True
                    ns = _N_MINUS
                    p += 1
                    continue
                ns = _N_MINUS
            if ns == _N_MINUS:
                if c == 0x30:
                    ns = _N_ZERO
                    self._num_digits = 1
                    self._num_head = b"0"
                    p += 1
                    continue
                if 0x31 <= c <= 0x39:
                    ns = _N_INT
                    continue
                return p, -1
            if ns == _N_INT:
                q = _digits(buf, p, end).end()
                d = self._num_digits
                if d < 19:
                    self._num_head += buf[p:min(q, p + 19 - d)]
                self._num_digits = d + q - p
                p = q
                if p == end:
                    self._num_state = ns
                    return p, 0
                c = buf[p]
                ns = _N_ZERO  # what may follow is the same
            if ns == _N_ZERO:
                if c == 0x2E:
                    self._num_isint = False
                    ns = _N_DOT
                    p += 1
                    continue
                if c == 0x65 or c == 0x45:
                    self._num_isint = False
                    ns = _N_E
                    p += 1
                    continue
                return p, 1
            if ns == _N_DOT:
                if 0x30 <= c <= 0x39:
                    ns = _N_FRAC
                    p += 1
                    continue
                return p, -1
            if ns == _N_FRAC:
                p = _digits(buf, p, end).end()
                if p == end:
                    self._num_state = ns
                    return p, 0
                c = buf[p]
                if c == 0x65 or c == 0x45:
                    ns = _N_E
                    p += 1
                    continue
                return p, 1
            if ns == _N_E:
                if c == 0x2B or c == 0x2D:
                    ns = _N_ESIGN
                    p += 1
                    continue
                ns = _N_ESIGN
            if ns == _N_ESIGN:
                if 0x30 <= c <= 0x39:
                    ns = _N_EXP
                    p += 1
                    continue
                return p, -1
            # _N_EXP
            p = _digits(buf, p, end).end()
            if p == end:
                self._num_state = ns
                return p, 0
            return p, 1

    def _number_done(self, nd):
        """A number read at tracked node ``nd``."""
        isint = self._num_isint
        self._types[nd] = K.T_INT if isint else K.T_NUMBER
        role = self._roles[nd]
        if isint and (role == K.ROLE_SECONDS or role == K.ROLE_MICROS):
            bit = 1 if role == K.ROLE_SECONDS else 2
            if self._num_digits > 18:
                self._bigts |= bit  # flagged, left at 0
                v = 0
            else:
                v = int(self._num_head)
                if self._num_neg:
                    v = -v
            if bit == 1:
                self._seconds = v
            else:
                self._micros = v
