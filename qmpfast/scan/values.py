"""Decoding of JSON values from byte spans, with the fastest loader present.

``loads`` is orjson's when it is installed (the ``fast`` extra), else the
standard library's; both give the same Python values for the JSON the
scanner has already validated.  Integers with more digits than the
interpreter converts are refused as json.loads refuses them.
"""

from __future__ import annotations

import json
import sys
import threading

from ..errors import integer_too_long
from . import _header as K



def _int(digits):
    """An integer member's value; beyond the interpreter's digit limit the
    same refusal as ``json.loads``, as a qmpfast error naming nothing yet
    (the caller knows the member)."""
    try:
        return int(digits)
    except ValueError:
        raise integer_too_long(len(digits.lstrip(b"-"))) from None


# plain: the interpreter's own integer limit applies, as in json.loads
_std = json.JSONDecoder()


class _Digits(str):
    """An integer's digits kept as text, to find which member was too long."""


def lenient_loads(data):
    """``(value, too_long)`` for JSON that json refused for its integers:
    integers over the interpreter's digit limit stay text (linear time)
    and ``too_long`` lists them as ``(path, digits)``, in document order,
    so that each read can refuse exactly the members that hold one."""
    if not isinstance(data, str):
        data = bytes(data).decode("utf-8")
    limit = getattr(sys, "get_int_max_str_digits", int)() or float("inf")

    def parse_int(digits):
        return _Digits(digits) if len(digits) > limit else int(digits)

    tree = json.JSONDecoder(parse_int=parse_int).decode(data)
    too_long = []
    stack = [("$", tree)]
    while stack:
        path, value = stack.pop()
        if type(value) is _Digits:
            digits = len(value.lstrip("-"))
            if digits > limit:
                too_long.append((path, digits))
        elif type(value) is dict:
            stack.extend((f"{path}.{key}", item)
                         for key, item in reversed(value.items()))
        elif type(value) is list:
            stack.extend((f"{path}[{index}]", item)
                         for index, item in reversed(list(enumerate(value))))
    return tree, too_long


def refusal(too_long, prefix="$"):
    """The IntegerTooLongError for the first of ``too_long`` at or below
    the member ``prefix``, or None."""
    for path, digits in too_long:
        if path == prefix or path.startswith((prefix + ".", prefix + "[")):
            return integer_too_long(digits, path)
    return None


_deep_lock = threading.Lock()


def std_loads(data):
    """json.loads, bytes in, value out; an integer over the interpreter's
    digit limit raises IntegerTooLongError naming its member.

    The json module recurses once per nesting level and so stops short of
    the 1024 levels the scanner accepts (QEMU's own limit); such rare
    messages are decoded again with a recursion limit that fits them.
    """
    if not isinstance(data, str):
        data = bytes(data).decode("utf-8")
    try:
        return _std.decode(data)
    except ValueError as exc:
        if "integer string conversion" not in str(exc):
            raise
        raise refusal(lenient_loads(data)[1]) from None
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
        return _int(buf[a:b])
    if t == K.T_STR_ESC:
        return loads(buf[a - 1:b + 1])
    return loads(buf[a:b])
