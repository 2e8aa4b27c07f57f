"""Decoding of JSON values from byte spans, with the fastest loader present.

``loads`` is orjson's when it is installed (the ``fast`` extra), else the
standard library's; both give the same Python values for the JSON the
scanner has already validated.  Integers with more digits than Python's
``int`` conversion limit still decode (the scanner accepts numbers of any
length).
"""

from __future__ import annotations

import json
import sys
import threading
from decimal import Decimal

from . import _header as K

MISSING = type("Missing", (), {"__repr__": lambda self: "MISSING",
                               "__bool__": lambda self: False,
                               "__slots__": ()})()


def _parse_int(text):
    try:
        return int(text)
    except ValueError:  # beyond sys.get_int_max_str_digits()
        if not isinstance(text, str):
            text = bytes(text).decode("ascii")
        return int(Decimal(text))


def _parse_float(text):
    return float(text)


_std = json.JSONDecoder(parse_int=_parse_int)


_deep_lock = threading.Lock()


def std_loads(data):
    """json.loads with unlimited integer length; bytes in, value out.

    The json module recurses once per nesting level and so stops short of
    the 1024 levels the scanner accepts (QEMU's own limit); such rare
    messages are decoded again with a recursion limit that fits them.
    """
    if not isinstance(data, str):
        data = bytes(data).decode("utf-8")
    try:
        return _std.decode(data)
    except RecursionError:
        with _deep_lock:
            old = sys.getrecursionlimit()
            sys.setrecursionlimit(max(old, 4 * 1024 + 200))
            try:
                return _std.decode(data)
            finally:
                sys.setrecursionlimit(old)


try:  # pragma: no cover - depends on what is installed
    import orjson as _orjson

    def loads(data):
        try:
            return _orjson.loads(data)
        except _orjson.JSONDecodeError:
            # orjson refuses integers beyond 64 bits; the scanner does not
            return std_loads(data)

    FAST_LOADS = "orjson"
    # for spans the scanner has validated and found free of integers
    # beyond 64 bits, where orjson cannot fail: no wrapper frame
    fast_loads = _orjson.loads
except ImportError:  # pragma: no cover
    loads = fast_loads = std_loads
    FAST_LOADS = "json"


def decode_span(buf, t, a, b, loads=loads):
    """Decode the value of type ``t`` spanning buf[a:b] (strings: contents).

    Pass ``loads=std_loads`` for messages holding integers beyond 64 bits,
    which orjson would turn into floats.
    """
    if t == K.T_STR_ASCII:
        return buf[a:b].decode("ascii")
    if t == K.T_STR_UTF8:
        return buf[a:b].decode("utf-8")
    if t == K.T_TRUE:
        return True
    if t == K.T_FALSE:
        return False
    if t == K.T_NULL:
        return None
    if t == K.T_INT:
        return _parse_int(buf[a:b])
    if t == K.T_STR_ESC:
        return loads(buf[a - 1:b + 1])
    return loads(buf[a:b])
