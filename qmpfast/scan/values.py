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
from typing import Any, Callable, Optional, Union

from ..errors import IntegerTooLongError, integer_too_long
from . import _header as K

Loads = Callable[[Any], Any]
"""A JSON loader: bytes-like (or str) in, value out."""

# (member path, number of digits) of each integer too long to convert
TooLong = list[tuple[str, int]]


def _int(digits: bytes) -> int:
    """An integer member's value; beyond the interpreter's digit limit the
    same refusal as ``json.loads``, as a qmpfast error naming nothing yet
    (the caller knows the member)."""
    try:
        return int(digits)
    except ValueError:
        raise integer_too_long(len(digits.lstrip(b"-"))) from None


# plain: the interpreter's own integer limit applies, as in json.loads.
# On PyPy json.loads is its built-in decoder, while a JSONDecoder instance
# runs the json module's Python scanner, several times slower.
_std_decode: Callable[[str], Any] = (
    json.loads if sys.implementation.name == "pypy"
    else json.JSONDecoder().decode)


class _Digits(str):
    """An integer's digits kept as text, to find which member was too long."""


def lenient_loads(data: Union[str, bytes, bytearray, memoryview]
                  ) -> tuple[Any, TooLong]:
    """``(value, too_long)`` for JSON that json refused for its integers:
    integers over the interpreter's digit limit stay text (linear time)
    and ``too_long`` lists them as ``(path, digits)``, in document order,
    so that each read can refuse exactly the members that hold one."""
    if not isinstance(data, str):
        data = bytes(data).decode("utf-8")
    limit: float = getattr(sys, "get_int_max_str_digits", int)() or float("inf")

    def parse_int(digits: str) -> int:
        return _Digits(digits) if len(digits) > limit else int(digits)  # type: ignore[return-value]

    tree = json.JSONDecoder(parse_int=parse_int).decode(data)
    too_long: TooLong = []
    stack: list[tuple[str, Any]] = [("$", tree)]
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


def refusal(too_long: TooLong, prefix: str = "$"
            ) -> Optional[IntegerTooLongError]:
    """The IntegerTooLongError for the first of ``too_long`` at or below
    the member ``prefix``, or None."""
    for path, digits in too_long:
        if path == prefix or path.startswith((prefix + ".", prefix + "[")):
            return integer_too_long(digits, path)
    return None


_deep_lock = threading.Lock()


def std_loads(data: Any) -> Any:
    """json.loads, bytes in, value out; an integer over the interpreter's
    digit limit raises IntegerTooLongError naming its member.

    The json module recurses once per nesting level and so stops short of
    the 1024 levels the scanner accepts (QEMU's own limit); such rare
    messages are decoded again with a recursion limit that fits them.
    """
    if not isinstance(data, str):
        data = bytes(data).decode("utf-8")
    try:
        return _std_decode(data)
    except ValueError as exc:
        if "integer string conversion" not in str(exc):
            raise
        error = refusal(lenient_loads(data)[1])
        if error is None:
            raise
        raise error from None
    except RecursionError:
        with _deep_lock:
            old = sys.getrecursionlimit()
            sys.setrecursionlimit(max(old, 4 * 1024 + 200))
            try:
                return _std_decode(data)
            finally:
                sys.setrecursionlimit(old)


loads: Loads
fast_loads: Loads
FAST_LOADS: str

try:  # pragma: no cover - depends on what is installed
    import orjson as _orjson  # type: ignore[import-not-found,unused-ignore]

    def loads(data: Any) -> Any:
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


def decode_span(buf: Any, t: int, a: int, b: int, loads: Loads = loads
                ) -> Any:
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
