"""Typed event classes for QEMU's whole event catalogue.

``catalogue.json`` (shipped in the package) lists every event QEMU 11.1.3 can
send, with its members, enums and structs.  From it this module makes one
subclass of ``Event`` per event: members become snake_case attributes
(``node-name`` -> ``node_name``; a member whose name an Event attribute
already has gets a trailing underscore), structs become small typed objects,
unions pick their branch by tag, absent optional members read as ``None``
and enum values come out as interned ``str``.

For the seven events of the original QMP documentation the scanner extracts
each member's bytes in its own pass (``EXTRACTED_PATHS``).  The first
attribute read of such an event reads all its members at once and keeps
them: from ``data`` decoded whole when it is small (the usual case, and the
cheapest way to get several members), else from each member's own bytes,
so that a huge ``data`` is never decoded for a few members.  Other events
decode ``data`` once, on the first attribute read.
"""

from __future__ import annotations

import json
import keyword
import os
import sys

from .messages import Event, safe_repr
from ..scan.paths import S_DATA, Schema
from ..scan.paths import MISSING

_HERE = os.path.dirname(os.path.abspath(__file__))

with open(os.path.join(_HERE, "catalogue.json"), encoding="utf-8") as _f:
    CATALOGUE = json.load(_f)

ENUMS = {name: frozenset(spec["values"])
         for name, spec in CATALOGUE["enums"].items()}
STRUCTS = CATALOGUE["structs"]
EVENTS = {name: spec for name, spec in CATALOGUE.items()
          if name not in ("enums", "structs")}
SCALARS = {"str": str, "int": int, "bool": bool, "number": float}

# The seven events of the 2010 documentation, whose members the scanner
# extracts itself.
DOCUMENTED = ("BLOCK_IO_ERROR", "RESET", "SHUTDOWN", "STOP", "VNC_CONNECTED",
              "VNC_DISCONNECTED", "VNC_INITIALIZED")
VNC_INFO_MEMBERS = ("host", "service", "family", "auth", "websocket",
                    "x509_dname", "sasl_username")

_EVENT_ATTRS = frozenset(dir(Event)) | {"name", "seconds", "microseconds"}


def attr_name(member, taken=_EVENT_ATTRS):
    """The Python attribute for a QAPI member name."""
    name = member.replace("-", "_")
    if keyword.iskeyword(name) or name in taken:
        name += "_"
    return name


def class_name(event):
    """BLOCK_IO_ERROR -> BlockIoError."""
    return "".join(part.capitalize() for part in event.lower().split("_"))


def _extracted_paths():
    paths = []
    for event in DOCUMENTED:
        for member, info in EVENTS[event]["members"].items():
            if info["type"] in ("VncServerInfo", "VncBasicInfo",
                                "VncClientInfo"):
                paths.append(("data", member))
                paths.extend(("data", member, m) for m in VNC_INFO_MEMBERS)
            else:
                paths.append(("data", member))
    return tuple(dict.fromkeys(paths))


EXTRACTED_PATHS = _extracted_paths()
EXTRACTED_EVENTS = frozenset(DOCUMENTED)
# the slot of each extracted path in every decoder's schema
_SLOT_OF = Schema(paths=EXTRACTED_PATHS).slot_of


# ---- structs ---------------------------------------------------------------

class Struct:
    """A QAPI struct member value: its members as attributes.

    Built from the decoded dict; members not in the catalogue stay reachable
    through ``to_dict()``.
    """

    __slots__ = ("_raw",)
    _members = ()  # (attribute, key, type name)

    def __init__(self, value):
        self._raw = value
        for attr, key, typ in self._members:
            object.__setattr__(self, attr,
                               convert(typ, value.get(key, MISSING)))

    def to_dict(self):
        return self._raw

    def __eq__(self, other):
        if isinstance(other, Struct):
            return self._raw == other._raw
        if isinstance(other, dict):
            return self._raw == other
        return NotImplemented

    def __hash__(self):
        return hash(json.dumps(self._raw, sort_keys=True))

    def __repr__(self):
        parts = [f"{attr}={getattr(self, attr)!r}"
                 for attr, _key, _t in self._members
                 if getattr(self, attr) is not None]
        return f"{type(self).__name__}({', '.join(parts)})"


STRUCT_CLASSES = {}


def _struct_members(name):
    spec = STRUCTS[name]
    return tuple((attr_name(key, taken=()), key, info["type"])
                 for key, info in spec["members"].items())


def _make_struct(name):
    spec = STRUCTS[name]
    members = _struct_members(name)
    if spec["kind"] == "union":
        # the union's class holds the common members; each branch class adds
        # its own and is what a value becomes
        members_all = list(members)
        for branch in spec["branches"]:
            for m in _struct_members(branch["members_of"]):
                if m[0] not in {a for a, _k, _t in members_all}:
                    members_all.append(m)
        members = tuple(members_all)
    cls = type(name, (Struct,), {
        "__slots__": tuple(attr for attr, _k, _t in members),
        "_members": members,
        "__doc__": f"QAPI {spec['kind']} {name} (since {spec.get('since')}).",
        "__module__": __name__,
    })
    return cls


def struct_class(name):
    cls = STRUCT_CLASSES.get(name)
    if cls is None:
        cls = STRUCT_CLASSES[name] = _make_struct(name)
    return cls


def convert(typ, value):
    """A decoded JSON value as the catalogue type says it reads."""
    if value is MISSING or value is None:
        return None
    if typ in ENUMS:
        return sys.intern(value) if isinstance(value, str) else value
    if typ in STRUCTS and isinstance(value, dict):
        return struct_class(typ)(value)
    return value


# How an extracted member's value is read: as it is, as an interned enum
# value, or as a VncInfo when it is an object.
_PLAIN, _ENUM, _VNC = range(3)
_VNC_TYPES = ("VncServerInfo", "VncClientInfo", "VncBasicInfo")


class _Members:
    """How to read the extracted members of one JSON object (an event's
    ``data``, the ``server`` or ``client`` of a VNC event) all at once.

    A small object is decoded whole, once (``Batch.peek_object``), and its
    members are picked from it: cheaper than reading their slots one by one
    from three members on, or when members are objects themselves.  Others,
    a large object, or a value that is not an object, are read member slot
    by member slot.  Either way absent members and nulls read as None and
    enum values as interned str.
    """

    __slots__ = ("members", "keys", "enums", "vncs", "whole")

    def __init__(self, members):
        self.members = members  # (key, slot offset, kind) per member
        self.keys = tuple(key for key, _offset, _kind in members)
        self.enums = tuple(n for n, (_key, _offset, kind)
                           in enumerate(members) if kind == _ENUM)
        self.vncs = tuple((n, offset) for n, (_key, offset, kind)
                          in enumerate(members) if kind == _VNC)
        self.whole = len(members) >= 3 or bool(self.vncs)

    def read(self, batch, index, slot, obj=None):
        """The members' values (a list) of the object at ``slot``; ``obj``
        is that object from ``peek_object``, when already at hand."""
        if obj is None and self.whole:
            obj = batch.peek_object(index, slot)
        if obj is None:
            return self.read_slots(batch, index, slot)
        values = list(map(obj.get, self.keys))
        for n, offset in self.vncs:
            value = values[n]
            if type(value) is dict:
                values[n] = VncInfo(batch, index, slot + offset, value)
        for n in self.enums:
            value = values[n]
            if type(value) is str:
                values[n] = sys.intern(value)
        return values

    def read_slots(self, batch, index, slot):
        """The same, read member slot by member slot."""
        values = []
        for _key, offset, kind in self.members:
            mslot = slot + offset
            if kind == _VNC and batch.is_object(index, mslot):
                value = VncInfo(batch, index, mslot)
            else:
                value = batch.value(index, mslot)
                if value is MISSING:
                    value = None
                elif kind == _ENUM and type(value) is str:
                    value = sys.intern(value)
            values.append(value)
        return values


def _vnc_members():
    """The members of a VncInfo, which sit at the same slot offsets below
    ``server`` and ``client``."""
    slot_of = _SLOT_OF
    members = None
    for parent in ("server", "client"):
        base = slot_of[("data", parent)]
        these = tuple((m, slot_of[("data", parent, m)] - base,
                       _ENUM if m in ("family", "auth") else _PLAIN)
                      for m in VNC_INFO_MEMBERS)
        assert members in (None, these), "server and client slots differ"
        members = these
    return _Members(members)


class VncInfo:
    """``server`` or ``client`` of a VNC event, read from extracted slots.

    Its members are read together when the event's ``server`` or
    ``client`` is first read.  Members added by newer QEMUs (``websocket``)
    and the ones only VNC_INITIALIZED carries (``x509_dname``,
    ``sasl_username``) read as ``None`` when absent.
    """

    __slots__ = {
        "_b": "the batch", "_i": "the record index",
        "_s": "the slot of the object",
        "host": "IP address or path",
        "service": "port number",
        "family": "address family: ipv4, ipv6, unix, vsock, unknown",
        "auth": "authentication method (servers)",
        "websocket": "whether it is a websocket (QEMU >= 2.3)",
        "x509_dname": "TLS dname",
        "sasl_username": "SASL user name",
    }
    _members = None  # a _Members, set below

    def __init__(self, batch, index, slot, obj=None):
        """The object at ``slot``; ``obj`` is it from ``peek_object``, when
        already at hand."""
        self._b = batch
        self._i = index
        self._s = slot
        if obj is None:
            obj = batch.peek_object(index, slot)
            if obj is None:  # too large to decode whole
                (self.host, self.service, self.family, self.auth,
                 self.websocket, self.x509_dname, self.sasl_username) = \
                    self._members.read_slots(batch, index, slot)
                return
        # what _Members.read does, written out: VncInfo objects are many
        get = obj.get
        self.host = get("host")
        self.service = get("service")
        family = get("family")
        self.family = sys.intern(family) if type(family) is str else family
        auth = get("auth")
        self.auth = sys.intern(auth) if type(auth) is str else auth
        self.websocket = get("websocket")
        self.x509_dname = get("x509_dname")
        self.sasl_username = get("sasl_username")

    def to_dict(self):
        value = self._b.value(self._i, self._s)
        return None if value is MISSING else value

    def __eq__(self, other):
        if isinstance(other, (VncInfo, Struct)):
            return self.to_dict() == other.to_dict()
        if isinstance(other, dict):
            return self.to_dict() == other
        return NotImplemented

    def __hash__(self):
        return hash((self.host, self.service))

    def __repr__(self):
        parts = [f"{a}={getattr(self, a)!r}" for a in VNC_INFO_MEMBERS
                 if getattr(self, a) is not None]
        return f"VncInfo({', '.join(parts)})"


VncInfo._members = _vnc_members()


# ---- event classes ---------------------------------------------------------

def _data_getter(key, typ):
    def get(self):
        value = self.data
        if not isinstance(value, dict):
            return None
        return convert(typ, value.get(key, MISSING))
    return get


class _ExtractedEvent(Event):
    """Base of the classes of the documented events, whose members the
    scanner extracts.

    The first member read reads them all (``_Members.read``: one decode of
    a small ``data``) into a list kept in ``_v``; every read after that, of
    any member, is an index into it and returns the same object.  Events
    whose members are never read carry just ``_v = None``.
    """

    __slots__ = ("_v",)
    _extracted = _Members(())  # the members, offsets from "data"

    # Event.__init__ written out with the one more slot: calling it would
    # cost a Python frame per event, on the decoder's hottest path
    def __init__(self, seconds, microseconds, batch, index):
        self.seconds = seconds
        self.microseconds = microseconds
        self._b = batch
        self._i = index
        self._d = None
        self._v = None


def _extracted_getter(k):
    def get(self):
        values = self._v
        if values is None:
            values = self._v = self._extracted.read(self._b, self._i,
                                                    S_DATA)
        return values[k]
    return get


# What repr() shows of the documented events: their 2010 members.
REPR_MEMBERS = {
    "BLOCK_IO_ERROR": ("device", "operation", "action"),
    "RESET": ("guest", "reason"),
    "SHUTDOWN": ("guest", "reason"),
    "VNC_CONNECTED": ("client",),
    "VNC_INITIALIZED": ("client",),
    "VNC_DISCONNECTED": ("client",),
}


def _short_value(value):
    if isinstance(value, (VncInfo, Struct)):
        host = getattr(value, "host", None)
        service = getattr(value, "service", None)
        if host or service:
            return repr(f"{host or ''}:{service or ''}")
        family = getattr(value, "family", None)
        return repr(family) if family else None
    return safe_repr(value)


def _fields_repr(attrs):
    def _fields(self):
        parts = []
        for attr in attrs:
            value = getattr(self, attr)
            if value is not None:
                text = _short_value(value)
                if text is not None:
                    parts.append(f"{attr}={text}")
        return " ".join(parts)
    return _fields


def make_event_class(event, slot_of=None):
    """The Event subclass for one catalogue event.

    ``slot_of`` maps member paths to scanner slots; members found there read
    their extracted bytes, the others go through ``data``.
    """
    spec = EVENTS[event]
    ns = {"__slots__": (), "__module__": __name__, "name": event,
          "members": {}}
    scalars = []
    extracted = []
    for key, info in spec["members"].items():
        attr = attr_name(key)
        typ = info["type"]
        slot = slot_of.get(("data", key), -1) if slot_of else -1
        if slot >= 0 and (typ in _VNC_TYPES or typ not in STRUCTS):
            kind = (_VNC if typ in _VNC_TYPES else
                    _ENUM if typ in ENUMS else _PLAIN)
            getter = _extracted_getter(len(extracted))
            extracted.append((key, slot - slot_of[("data",)], kind))
        else:
            getter = _data_getter(key, typ)
        ns[attr] = property(getter, doc=f"{key}: {typ}"
                            f"{' (optional)' if info['optional'] else ''}")
        ns["members"][attr] = (key, typ, info["optional"])
        if typ not in STRUCTS:
            scalars.append(attr)
    shown = REPR_MEMBERS.get(event)
    if shown is None:  # the required scalar members, in catalogue order
        shown = tuple(a for a in scalars if not ns["members"][a][2])
    ns["_fields"] = _fields_repr(tuple(attr_name(m) for m in shown)
                                 if event in REPR_MEMBERS else shown)
    ns["__doc__"] = (f"QMP event {event} (since QEMU {spec.get('since')}, "
                     f"{spec.get('source')}).")
    if extracted:
        ns["_extracted"] = _Members(tuple(extracted))
        return type(class_name(event), (_ExtractedEvent,), ns)
    return type(class_name(event), (Event,), ns)


def _build_classes():
    slot_of = _SLOT_OF
    classes = {}
    for event in EVENTS:
        classes[event] = make_event_class(
            event, slot_of if event in EXTRACTED_EVENTS else None)
    return classes


EVENT_CLASSES = _build_classes()


def event_class(name):
    """The class for an event name; plain ``Event`` for names not in the
    catalogue (a newer QEMU's events still decode, with ``.data``)."""
    return EVENT_CLASSES.get(name, Event)


globals().update({cls.__name__: cls for cls in EVENT_CLASSES.values()})
__all__ = ["event_class", "EVENT_CLASSES", "Struct", "VncInfo"] + [
    cls.__name__ for cls in EVENT_CLASSES.values()]
