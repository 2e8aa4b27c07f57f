"""Strict mode: check events against QEMU's event catalogue.

Accepts what every real QEMU sends, from the 2010 documentation to QEMU
11.x: members that newer QEMUs added are optional here (``ADDED_LATER``),
unknown extra members are allowed (forward compatibility), and events not in
the catalogue pass.  Rejects wrong types, values outside an enum and missing
members that every QEMU version sends, naming the member by its JSON path
(``$.data.server.family``).
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from .catalogue import ENUMS, EVENTS, STRUCTS
from ..errors import ValidationError
from .messages import Event

# (JSON path, what is wrong there)
Problem = tuple[str, str]

# Members the catalogue marks required but older QEMUs do not send, by
# event or struct: QEMU 7.2's BLOCK_IO_ERROR has no qom-path and the 2010
# one no reason; RESET and SHUTDOWN had no data before 2.10/4.0; VNC info
# had no websocket before 2.3; RTC_CHANGE gained qom-path in 9.0.
ADDED_LATER: dict[str, frozenset[str]] = {
    "BLOCK_IO_ERROR": frozenset({"reason", "qom-path"}),
    "RESET": frozenset({"guest", "reason"}),
    "SHUTDOWN": frozenset({"guest", "reason"}),
    "RTC_CHANGE": frozenset({"qom-path"}),
    "VncBasicInfo": frozenset({"websocket"}),
    "VncServerInfo": frozenset({"websocket"}),
    "VncClientInfo": frozenset({"websocket"}),
}

_TYPE_NAMES: dict[type, str] = {
    dict: "an object", list: "an array", str: "a string", bool: "a boolean",
    int: "an integer", float: "a number", type(None): "null"}
_SCALAR_NAMES = {"str": "a string", "int": "an integer", "bool": "a boolean",
                 "number": "a number"}


def _what(value: object) -> str:
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{_TYPE_NAMES.get(type(value), type(value).__name__)} {text}"


def check_value(typ: str, value: Any, path: str) -> Optional[Problem]:
    """Return (path, message) for the first problem, or None."""
    if typ == "str":
        ok = isinstance(value, str)
    elif typ == "int":
        ok = type(value) is int
    elif typ == "bool":
        ok = type(value) is bool
    elif typ == "number":
        ok = type(value) in (int, float)
    elif typ in ENUMS:
        if not isinstance(value, str):
            return path, f"expected a string of {typ}, got {_what(value)}"
        if value not in ENUMS[typ]:
            allowed = ", ".join(sorted(ENUMS[typ]))
            return path, (f"expected one of {typ} ({allowed}), "
                          f"got {value!r}")
        return None
    elif typ in STRUCTS:
        if not isinstance(value, dict):
            return path, f"expected an object ({typ}), got {_what(value)}"
        return check_members(typ, STRUCTS[typ], value, path)
    else:  # 'any' or a type the catalogue does not describe
        return None
    if not ok:
        return path, f"expected {_SCALAR_NAMES[typ]}, got {_what(value)}"
    return None


def check_members(owner: str, spec: Mapping[str, Any],
                  value: Mapping[str, Any], path: str) -> Optional[Problem]:
    """The first problem of the members of ``value``, an object of the
    event or struct ``owner``, or None."""
    later = ADDED_LATER.get(owner, frozenset())
    for key, info in spec["members"].items():
        if key not in value:
            if not info["optional"] and key not in later:
                return f"{path}.{key}", (f"missing member {key!r} "
                                         f"({info['type']})")
            continue
        problem = check_value(info["type"], value[key], f"{path}.{key}")
        if problem:
            return problem
    if spec.get("kind") == "union":
        tag_value = value.get(spec["branches"][0]["tag"])
        for branch in spec["branches"]:
            if tag_value in branch["values"]:
                return check_members(branch["members_of"],
                                     STRUCTS[branch["members_of"]], value,
                                     path)
    return None


def check_event(name: str, data: Any) -> Optional[Problem]:
    """(path, message) for an event's data, or None when it is valid."""
    spec = EVENTS.get(name)
    if spec is None:
        return None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        return "$.data", f"expected an object, got {_what(data)}"
    return check_members(name, spec, data, "$.data")


def validate_event(event: Event, source: Optional[str] = None
                   ) -> Optional[ValidationError]:
    """A ValidationError for a decoded event, or None."""
    problem = check_event(event.name, event.data)
    if problem is None:
        return None
    path, message = problem
    start = event.stream_offset
    return ValidationError(
        f"{event.name} at byte {start}: {path}: {message}", start, start,
        path=path, source=source)
