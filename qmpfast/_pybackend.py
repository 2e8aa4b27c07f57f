"""The pure-Python backend: the twin of the C scanner (csrc/qmpscan.c).

It produces exactly the records of the C scanner (same statuses, the same six
integers per record, the same ``pos``/``keep_from``/``in_message`` after every
call) for any input, any chunking and any ``max_records``.  Two paths share
one state:

* The fast path works line by line whenever the scanner is between messages:
  the line up to the next ``\\n`` is decoded strictly as UTF-8 and parsed by
  the json module's C scanner.  When that gives an object, and the few checks
  where the json module is laxer than the scanner pass (lone surrogate
  escapes, nesting depth, message size, NaN/Infinity, trailing bytes), the
  record is built from the resulting dict, which ``value()`` and ``obj()``
  then serve without decoding again.
* The slow path is a faithful port of the C state machine, resumable at any
  byte.  It takes over for anything the fast path declines (errors, several
  messages on one line, pretty-printed messages, huge numbers), and for the
  partial line at the end of a buffer, so a message split across calls is
  never rescanned from its start.  Runs of string bytes, digits and
  whitespace go through ``re``.  A message it completes is decoded only when
  a value of it is asked for.
"""

from __future__ import annotations

import json
import re
from json.scanner import make_scanner as _make_scanner

from . import _constants as K
from .values import MISSING, loads

# scanner states, as in qmpscan.c; from _OBJ_FIRST on: inside a message
(_TOP, _SKIPLINE, _OBJ_FIRST, _OBJ_KEY, _COLON, _VALUE, _ARR_FIRST, _AFTER,
 _KEY, _STRING, _NUMBER, _LITERAL) = range(12)
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

_ws = re.compile(rb"[ \t\n\r]*").match
_digits = re.compile(rb"[0-9]*").match
# a complete JSON number; what follows it decides whether it is complete
_number = re.compile(rb"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?").match
# string contents up to the first quote, backslash, control byte, invalid or
# incomplete UTF-8 sequence (what RFC 3629 allows: no overlongs, surrogates
# or code points above U+10FFFF)
_string_run = re.compile(
    rb"(?:[\x20\x21\x23-\x5b\x5d-\x7f]+"
    rb"|[\xc2-\xdf][\x80-\xbf]"
    rb"|\xe0[\xa0-\xbf][\x80-\xbf]"
    rb"|[\xe1-\xec\xee\xef][\x80-\xbf]{2}"
    rb"|\xed[\x80-\x9f][\x80-\xbf]"
    rb"|\xf0[\x90-\xbf][\x80-\xbf]{2}"
    rb"|[\xf1-\xf3][\x80-\xbf]{3}"
    rb"|\xf4[\x80-\x8f][\x80-\xbf]{2})*").match
# a \u escape of a surrogate (maybe: the backslash may itself be escaped)
_surrogate_escape = re.compile(rb"\\u[dD][89a-fA-F]").search

_BIG = 10 ** 18  # timestamps with more digits set TAG_BIGTS
_NAME_CACHE_MAX = 4096


class _NotJSON(ValueError):
    """NaN, Infinity or -Infinity: the json module takes them, RFC 8259 not."""


def _reject_constant(name):
    raise _NotJSON(name)


_decoder = json.JSONDecoder(parse_constant=_reject_constant)
_scan_once = _make_scanner(_decoder)


def _c_int64(digits, neg):
    """What the C scanner makes of an integer: the value of its first 19
    digits, as int64 (wrapping), negated when ``neg``."""
    v = int(digits[:19])
    if v >= 1 << 63:
        v -= 1 << 64
    if neg:
        v = -v
        if v >= 1 << 63:
            v -= 1 << 64
    return v


def _c_timestamp(v):
    """The C scanner's int64 for a timestamp integer of 19 digits or more."""
    neg = v < 0
    return _c_int64(str(-v if neg else v), neg)


def _has_lone_surrogate(obj):
    """True when a string (key or value) of ``obj`` has a lone surrogate."""
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


class Batch:
    """The records of one scan call and the bytes they point into."""

    __slots__ = ("buf", "base", "recs", "n", "_objs", "_paths")

    def __init__(self, buf, base, recs, n, objs, paths):
        self.buf = buf
        self.base = base
        self.recs = recs
        self.n = n
        self._objs = objs  # per record: its decoded object, or None
        self._paths = paths

    def raw(self, i):
        j = i * K.REC_FIELDS
        base = self.base
        return self.buf[self.recs[j] - base:self.recs[j + 1] - base]

    def span(self, i, slot):
        raise NotImplementedError("the pure-Python backend has no spans")

    def _tree(self, i):
        d = self._objs[i]
        if d is None:
            if self.recs[i * K.REC_FIELDS + K.R_TAG] & 15 == K.KIND_BAD:
                return MISSING
            d = self._objs[i] = loads(self.raw(i))
        return d

    def value(self, i, slot):
        """The decoded value at a slot's path, or MISSING."""
        d = self._objs[i]
        if d is None:
            d = self._tree(i)
        for key in self._paths[slot]:
            if type(d) is not dict:
                return MISSING
            d = d.get(key, MISSING)
        if type(d) is dict or type(d) is list:
            # handed out: later reads decode afresh, as the C backend does
            self._objs[i] = None
        return d

    def obj(self, i):
        d = self._objs[i]
        if d is None:
            return loads(self.raw(i))
        self._objs[i] = None
        return d


class Scanner:
    """A resumable scanner; see csrc/qmpscan.h for the contract."""

    def __init__(self, schema, max_message_size, max_depth, start=0):
        self._schema = schema
        self._max_size = max_message_size
        self._max_depth = max_depth
        self._pos = start
        self._msg_start = start
        self._st = _TOP
        self._keep = schema.keep
        self._name_ids = {}

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
        self._reset_message()

    def _reset_message(self):
        self._kinds = []   # per open container: True object, False array
        self._nodes = []   # per open container: tracked node or -1
        self._types = [0] * self._n_types
        self._at = [0] * self._n_types
        self._val_node = -1
        self._name_id = -1
        self._bigts = 0
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

    def _lookup_name(self, name):
        nid = self._name_ids.get(name)
        if nid is None:
            nid = self._schema.name_id(name)
            if len(self._name_ids) < _NAME_CACHE_MAX:
                self._name_ids[name] = nid
        return nid

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
        if self._st != _TOP:
            p, status = self._slow(buf, p, base, recs, objs)
        if status is None:
            p, status = self._fast(buf, p, base, max_records, recs, objs)
        self._pos = base + p
        return status, Batch(buf, base, recs, len(objs), objs, self._paths)

    # ---- fast path ------------------------------------------------------

    def _fast(self, buf, p, base, max_records, recs, objs):
        """Between messages: whole lines through the json module."""
        bend = len(buf)
        n = len(objs)
        max_size = self._max_size
        max_depth = self._max_depth
        keep = self._keep
        name_ids = self._name_ids
        k_event, k_ts, k_sec, k_usec, k_return, k_error, k_class, k_desc, \
            k_qmp, k_execute, k_oob = self._k
        scan_once = _scan_once
        ws_bytes = _WS_BYTES
        find = buf.find
        nl = -1          # the next line break at or after p, when >= p
        no_nl = bend     # no line break from here to the end
        slow_to = -1     # this line already failed the fast path
        while True:
            if p >= bend:
                return p, K.DONE
            c = buf[p]
            if c != 0x7B and c in ws_bytes:
                p = _ws(buf, p).end()
                continue
            if n >= max_records:
                return p, K.FULL
            if c == 0x7B and p > slow_to:
                if nl < p:
                    if p >= no_nl:
                        nl = -1
                    else:
                        nl = find(b"\n", p)
                        if nl < 0:
                            no_nl = p
                if nl >= 0:
                    line = buf[p:nl]
                    size = len(line)
                    ok = size <= max_size and (
                        size <= max_depth or
                        line.count(b"{") + line.count(b"[") <= max_depth)
                    if ok:
                        try:
                            text = line.decode()
                            d, end = scan_once(text, 0)
                        except (ValueError, StopIteration, RecursionError):
                            ok = False
                    if ok:
                        # only the line's '\r' may follow the object
                        if end == len(text):
                            mend = size
                        elif end + 1 == len(text) and text[end] == "\r":
                            mend = size - 1
                        else:
                            ok = False
                    if ok and (type(d) is not dict or (
                            b"\\u" in line and _surrogate_escape(line)
                            and _has_lone_surrogate(d))):
                        ok = False
                    if ok:
                        if k_event in d:
                            name = d[k_event]
                            if type(name) is not str:
                                ok = False  # protocol error: slow path
                            else:
                                nid = name_ids.get(name)
                                if nid is None:
                                    nid = self._lookup_name(name)
                                if keep is not None and nid not in keep:
                                    self._msg_start = base + p  # filtered
                                    p = nl + 1
                                    continue
                                ts = d.get(k_ts)
                                if type(ts) is not dict:
                                    ok = False
                                else:
                                    sec = ts.get(k_sec)
                                    usec = ts.get(k_usec)
                                    if type(sec) is not int or \
                                            type(usec) is not int:
                                        ok = False
                                    else:
                                        tag = K.KIND_EVENT | (nid + 1) << 8
                                        if not (-_BIG < sec < _BIG and
                                                -_BIG < usec < _BIG):
                                            tag |= K.TAG_BIGTS
                                            if not -_BIG < sec < _BIG:
                                                sec = _c_timestamp(sec)
                                            if not -_BIG < usec < _BIG:
                                                usec = _c_timestamp(usec)
                        elif k_return in d:
                            tag = K.KIND_RETURN
                            sec = usec = 0
                        elif k_error in d:
                            e = d[k_error]
                            if type(e) is not dict or \
                                    type(e.get(k_class)) is not str or \
                                    type(e.get(k_desc)) is not str:
                                ok = False
                            tag = K.KIND_ERROR
                            sec = usec = 0
                        else:
                            sec = usec = 0
                            if k_qmp in d:
                                tag = K.KIND_GREETING
                            elif k_execute in d or k_oob in d:
                                tag = K.KIND_COMMAND
                            else:
                                tag = K.KIND_MESSAGE
                    if ok:
                        start = base + p
                        self._msg_start = start
                        recs += (start, start + mend, sec, usec, tag, 0)
                        objs.append(d)
                        n += 1
                        p = nl + 1
                        continue
                    slow_to = nl
            # anything else: one message (or error) by the state machine
            p, status = self._slow(buf, p, base, recs, objs)
            if status is not None:
                return p, status
            n = len(objs)

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
                        self._val_node = -1
                        st = _VALUE
                    continue
                if (c == 0x7D and kinds[-1]) or (c == 0x5D and not kinds[-1]):
                    pass  # close the container, below
                else:
                    code = (K.E_EXPECTED_OBJ_NEXT if kinds[-1]
                            else K.E_EXPECTED_ARR_NEXT)
                    break
            elif st == _OBJ_FIRST or st == _OBJ_KEY:
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
            elif st == _KEY:
                p, r = self._string(buf, p, end)
                if r == 0:
                    break
                if r < 0:
                    code = -r
                    break
                cap = self._cap
                if cap is not None:
                    self._val_node = children.get(nodes[-1], {}).get(
                        bytes(cap), -1)
                else:
                    self._val_node = -1
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
                        self._val_node = -1
                    nd = self._val_node
                    if nd >= 0:
                        at[nd] = p - ms + (c == 0x22)
                        types[nd] = 0
                        role = roles[nd]
                        if role == K.ROLE_SECONDS:
                            self._bigts &= ~1
                        elif role == K.ROLE_MICROS:
                            self._bigts &= ~2
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
                    if c == 0x22:
                        self._str_begin(
                            2 if nd >= 0 and roles[nd] == K.ROLE_EVENT else 0)
                        st = _STRING
                        p += 1
                        continue
                    if c == 0x2D or 0x30 <= c <= 0x39:
                        m = _number(buf, p, end)
                        if m is not None:
                            q = m.end()
                            if q < end and buf[q] not in b".eE":
                                # complete: the byte after it ends it
                                self._num_neg = c == 0x2D
                                self._num_isint = (m.start(2) < 0 and
                                                   m.start(3) < 0)
                                self._num_digits = m.end(1) - m.start(1)
                                self._num_head = m.group(1)[:19]
                                p = q
                                self._number_done()
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
            elif st == _STRING:
                p, r = self._string(buf, p, end)
                if r == 0:
                    break
                if r < 0:
                    code = -r
                    break
                nd = self._val_node
                if nd >= 0:
                    types[nd] = K.T_STR_ASCII
                if self._str_mode == 2:
                    cap = self._cap
                    self._name_id = (-1 if cap is None else
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
                self._number_done()
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
                nd = self._val_node
                if nd >= 0:
                    types[nd] = _LITERAL_TYPES[self._lit]
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
            self._st = st
            return self._fail(buf, p, base, code, recs, objs)
        # out of input
        if end != bend:
            start = self._msg_start
            recs += (start, base + p, 0, 0, K.KIND_BAD | K.E_TOO_LARGE << 8,
                     base + p)
            objs.append(None)
            self._st = _SKIPLINE
            self._reset_message()
            return p, K.ERROR
        self._st = st
        return p, K.DONE

    def _emit(self, buf, p, base, recs, objs):
        """Record of the message just completed (None: go on)."""
        types = self._types
        at = self._at
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
            elif keep is not None and nid not in keep:
                return None  # filtered out: no record
            elif (types[rn[K.ROLE_TIMESTAMP]] != K.T_OBJECT or
                  types[rn[K.ROLE_SECONDS]] != K.T_INT or
                  types[rn[K.ROLE_MICROS]] != K.T_INT):
                code = K.E_TIMESTAMP
                errpos = start + (at[rn[K.ROLE_TIMESTAMP]]
                                  if types[rn[K.ROLE_TIMESTAMP]] else 0)
            else:
                tag = K.KIND_EVENT | (K.TAG_BIGTS if self._bigts else 0) | \
                    (nid + 1) << 8
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
            recs += (start, end, 0, 0, K.KIND_BAD | code << 8, errpos)
            objs.append(None)
            return K.ERROR
        recs += (start, end, sec, usec, tag, 0)
        objs.append(None)  # decoded when a value is asked for
        return None

    def _fail(self, buf, errp, base, code, recs, objs):
        """A syntax error at buf[errp]: record it, resume after the first
        line break after where the message began."""
        start = self._msg_start
        recs += (start, base + errp + 1, 0, 0,
                 K.KIND_BAD | code << 8 | (buf[errp] + 1) << 16, base + errp)
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
            q = _string_run(buf, p, end).end()
            if cap is not None and q > p:
                cap += buf[p:q]
                if len(cap) > K.CAPTURE_MAX:
                    cap = self._cap = None
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

    def _number_done(self):
        nd = self._val_node
        if nd < 0:
            return
        isint = self._num_isint
        self._types[nd] = K.T_INT if isint else K.T_NUMBER
        role = self._roles[nd]
        if isint and (role == K.ROLE_SECONDS or role == K.ROLE_MICROS):
            v = _c_int64(self._num_head, self._num_neg)
            bit = 1 if role == K.ROLE_SECONDS else 2
            if self._num_digits > 18:
                self._bigts |= bit
            if bit == 1:
                self._seconds = v
            else:
                self._micros = v
