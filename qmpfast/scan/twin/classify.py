"""What a finished message is, and whether it has the shape QMP gives it.

Both scanning paths judge a message here, so they cannot disagree: the
json-module path passes the dict it parsed, the state machine a dict of
stand-ins it builds from the types it saw (``envelope``).  Only the members
QMP gives a meaning to are read:

* ``event``: an event; its name must be a string and its ``timestamp`` an
  object of two integers, ``seconds`` and ``microseconds``;
* ``return``: a reply;
* ``error``: an error reply, an object with a string ``class`` and ``desc``;
* ``QMP``: the greeting;
* ``execute`` or ``exec-oob``: a command;
* anything else: a plain message.

The verdict is ``(tag, seconds, microseconds)`` as the record holds them
(see records.py).  Its tag is ``FILTERED`` for an event the schema does not
keep, and minus the E_* code for a message that is not valid QMP.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from .. import _header as K
from ..records import TAG_BIGTS, TAG_LONGNAME, event_tag
from ..paths import BUILTIN_PATHS
from .tokens import STRING_TYPES

Verdict = tuple[int, int, int]
Classify = Callable[[dict[str, Any]], Verdict]

FILTERED = -1
BIG = 10 ** 18  # a timestamp this far from 0 has more than 18 digits

ROLE_ORDER = (K.ROLE_EVENT, K.ROLE_TIMESTAMP, K.ROLE_SECONDS, K.ROLE_MICROS,
          K.ROLE_RETURN, K.ROLE_ERROR, K.ROLE_ERROR_CLASS, K.ROLE_ERROR_DESC,
          K.ROLE_QMP, K.ROLE_EXECUTE, K.ROLE_EXEC_OOB)

# constant verdicts
_FILTERED: Verdict = (FILTERED, 0, 0)
_BAD_NAME: Verdict = (-K.E_EVENT_NAME, 0, 0)
_BAD_TIMESTAMP: Verdict = (-K.E_TIMESTAMP, 0, 0)
_BAD_ERROR: Verdict = (-K.E_ERROR_SHAPE, 0, 0)
_RETURN: Verdict = (K.KIND_RETURN, 0, 0)
_ERROR: Verdict = (K.KIND_ERROR, 0, 0)
_GREETING: Verdict = (K.KIND_GREETING, 0, 0)
_COMMAND: Verdict = (K.KIND_COMMAND, 0, 0)
_MESSAGE: Verdict = (K.KIND_MESSAGE, 0, 0)

_NAME_CACHE_MAX = 4096

# A name the scanner cannot capture (more than CAPTURE_MAX bytes) never has
# an id; the state machine, which keeps no more of it, passes this one.
LONG_NAME = "?" * (K.CAPTURE_MAX + 1)

# stand-ins for values of the types the state machine tells apart
_STAND_IN: dict[int, Any] = {
    K.T_STR_ASCII: "", K.T_STR_UTF8: "", K.T_STR_ESC: "", K.T_INT: 0,
    K.T_NUMBER: 0.0, K.T_TRUE: True, K.T_FALSE: False, K.T_NULL: None,
    K.T_ARRAY: [],
}


def _key(role: int) -> str:
    """The key of the member with ``role`` (under its parent: ``seconds``
    is the key inside ``timestamp``); every schema has these members."""
    for path, r in BUILTIN_PATHS:
        if r == role:
            return str(path[-1])
    raise ImportError(f"no member has role {role}")  # pragma: no cover


# module constants: the fastest to load for the function of every message
ROLE_KEYS = tuple(_key(r) for r in ROLE_ORDER)
(_K_EVENT, _K_TS, _K_SEC, _K_USEC, _K_RETURN, _K_ERROR, _K_CLASS, _K_DESC,
 _K_QMP, _K_EXECUTE, _K_OOB) = ROLE_KEYS


def make_classifier(schema: Any) -> Classify:
    """The classifying function of a schema: its keys, the event names it
    keeps, and a cache of the tags of the names seen."""
    keep = schema.keep
    name_id = schema.name_id
    name_tags: dict[str, int] = {}

    def name_tag(name: str) -> int:
        """Tag of an event called ``name``: FILTERED when not kept."""
        nid: int = name_id(name)
        if nid < 0 and len(name.encode("utf-8", "surrogatepass")) > \
                K.CAPTURE_MAX:
            tag = event_tag(K.KIND_EVENT, -1, TAG_LONGNAME)  # kept
        elif keep is not None and nid not in keep:
            tag = FILTERED
        else:
            tag = event_tag(K.KIND_EVENT, nid)
        if len(name_tags) < _NAME_CACHE_MAX:
            name_tags[name] = tag
        return tag

    def classify(d: dict[str, Any]) -> Verdict:
        """The verdict on the message ``d`` (see the module's docstring)."""
        name = d.get(_K_EVENT)
        if name is not None or _K_EVENT in d:
            if type(name) is not str:
                return _BAD_NAME
            tag = name_tags.get(name)
            if tag is None:
                tag = name_tag(name)
            if tag < 0:
                return _FILTERED
            ts = d.get(_K_TS)
            if type(ts) is not dict:
                return _BAD_TIMESTAMP
            sec = ts.get(_K_SEC)
            usec = ts.get(_K_USEC)
            if type(sec) is not int or type(usec) is not int:
                return _BAD_TIMESTAMP
            # (literals: folded into constants, the fastest to load)
            if not (-10 ** 18 < sec < 10 ** 18 and
                    -10 ** 18 < usec < 10 ** 18):
                # more than 18 digits: flagged, left at 0
                tag |= TAG_BIGTS
                if not -BIG < sec < BIG:
                    sec = 0
                if not -BIG < usec < BIG:
                    usec = 0
            return tag, sec, usec
        if _K_RETURN in d:
            return _RETURN
        if _K_ERROR in d:
            e = d[_K_ERROR]
            if type(e) is not dict or type(e.get(_K_CLASS)) is not str or \
                    type(e.get(_K_DESC)) is not str:
                return _BAD_ERROR
            return _ERROR
        if _K_QMP in d:
            return _GREETING
        if _K_EXECUTE in d or _K_OOB in d:
            return _COMMAND
        return _MESSAGE

    return classify


def envelope(types: Sequence[int], nodes: Sequence[int], name: str,
             seconds: int, micros: int) -> dict[str, Any]:
    """What the json module would give of the members with a role, from
    what the state machine saw: ``types[nodes[i]]`` is the type of the
    member of role ``ROLE_ORDER[i]`` (T_ABSENT when the message does not
    have it); ``name`` the event name (``LONG_NAME`` when too long to
    capture); the timestamp's integers (``BIG`` for one of more than 18
    digits).  Other values are stand-ins of their JSON type."""
    n_event, n_ts, n_sec, n_usec, n_return, n_error, n_class, n_desc, \
        n_qmp, n_execute, n_oob = nodes
    d: dict[str, Any] = {}
    t = types[n_event]
    if t:
        d[_K_EVENT] = name if t in STRING_TYPES else _stand_in(t)
    t = types[n_ts]
    if t:
        d[_K_TS] = ts = _stand_in(t)
        if t == K.T_OBJECT:
            _member(ts, _K_SEC, types[n_sec], seconds)
            _member(ts, _K_USEC, types[n_usec], micros)
    t = types[n_error]
    if t:
        d[_K_ERROR] = e = _stand_in(t)
        if t == K.T_OBJECT:
            _member(e, _K_CLASS, types[n_class], 0)
            _member(e, _K_DESC, types[n_desc], 0)
    for key, nd in ((_K_RETURN, n_return), (_K_QMP, n_qmp),
                    (_K_EXECUTE, n_execute), (_K_OOB, n_oob)):
        if types[nd]:
            d[key] = _stand_in(types[nd])
    return d


def _member(obj: dict[str, Any], key: str, t: int, value: int) -> None:
    """Member ``key`` of type ``t`` (T_ABSENT: none) in ``obj``; an integer
    is ``value``."""
    if t:
        obj[key] = value if t == K.T_INT else _stand_in(t)


def _stand_in(t: int) -> Any:
    """A value of JSON type ``t`` (T_*), for ``classify`` to judge."""
    return {} if t == K.T_OBJECT else _STAND_IN[t]
