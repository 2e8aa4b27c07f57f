"""The message classes: one small object per message, decoded lazily.

A message keeps only its record (its batch and index) and its timestamp;
values are decoded from their byte spans when first read.  Every class is
a tuple of the same fields, so the decoder builds a whole batch in one
pass of C-implemented builtins.
"""

from __future__ import annotations

import datetime as _dt
import functools
import importlib
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Optional

from ..scan.records import Records

from ..scan import _header as K
from ..scan.paths import MISSING

from ..scan.paths import (S_ARGUMENTS, S_ERROR_CLASS, S_ERROR_DESC, S_EXEC_OOB,
                     S_EXECUTE, S_ID, S_QMP, S_RETURN)

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)

def _property_field(index: int, doc: str) -> Any:
    return property(itemgetter(index), doc=doc)


# A tuple field read as an attribute: on CPython the C descriptor of
# namedtuple fields (no Python frame per read), elsewhere a property.
_field: Callable[[int, str], Any]
try:
    _field = importlib.import_module("_collections")._tuplegetter
except (ImportError, AttributeError):  # pragma: no cover
    _field = _property_field

# Where a message's fields sit in its tuple.
F_SECONDS, F_MICROS, F_BATCH, F_INDEX, F_NAME = range(5)


class Lazy(functools.cached_property):  # type: ignore[type-arg]
    """A value computed from the message on first read and then kept in
    the message's ``__dict__`` under the same name.

    A non-data descriptor: once the instance holds the value, attribute
    lookup finds it there without calling Python code, so every read
    after the first costs what a plain attribute does.  (No lock: one
    message is read by one thread at a time, and two racing first reads
    would compute equal values.)
    """

    def __init__(self, compute: Callable[[Any], Any], doc: str = "") -> None:
        super().__init__(compute)
        self.__doc__ = doc

    def __get__(self, obj: Any, owner: Optional[type] = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__[self.attrname] = self.func(obj)
        return value


class _Data:
    """``Event.data``: the ``data`` member as a dict (``{}`` when absent),
    decoded on first read and kept (a dict of this event's own).  A
    ``Lazy`` written out: one Python frame on the first read, none after."""

    def __get__(self, obj: Any, owner: Optional[type] = None) -> Any:
        if obj is None:
            return self
        value = obj.__dict__["data"] = obj[F_BATCH].data(obj[F_INDEX])
        return value


class Message(tuple):  # type: ignore[type-arg]
    """A QMP message: any JSON object.  Subclasses say what kind.

    A message is a tuple ``(seconds, microseconds, batch, index)`` (plain
    ``Event`` objects add their name) so that the decoder builds a whole
    batch of them with ``tuple.__new__`` over ``zip``: no Python code runs
    per message.  Values are decoded from the record when first read and
    kept in the instance ``__dict__``.
    """

    kind: ClassVar[str] = "message"
    if TYPE_CHECKING:
        _batch: Records
        _index: int
    else:
        _batch = _field(F_BATCH, "the batch of records the message is in")
        _index = _field(F_INDEX, "the message's record in its batch")

    @property
    def raw(self) -> bytes:
        """The exact bytes of this message, without surrounding whitespace."""
        return self._batch.raw(self._index)

    @property
    def stream_offset(self) -> int:
        """Absolute stream offset of the message's first byte."""
        return self._batch.start(self._index)

    def to_dict(self) -> dict[str, Any]:
        """The whole message as ``json.loads(raw)`` gives it (a new dict)."""
        return self._batch.obj(self._index)  # type: ignore[no-any-return]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return type(self) is type(other) and (
            self.raw == other.raw or self.to_dict() == other.to_dict())

    def __ne__(self, other: object) -> bool:
        # tuple's own would compare the fields
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return hash((type(self).__name__, getattr(self, "name", None)))

    def __repr__(self) -> str:
        raw = self.raw
        text = raw[:60].decode("utf-8", "replace")
        return f"<{type(self).__name__} {text}{'...' if len(raw) > 60 else ''}>"

    def __reduce__(self) -> tuple[Callable[[bytes], Message], tuple[bytes]]:
        return (_from_raw, (self.raw,))


# The decoder sits above this module; it registers its ``parse`` here so
# that pickled messages can be rebuilt from their bytes (unpickling imports
# ``qmpfast``, which imports the decoder).
_parse: Optional[Callable[[bytes], Message]] = None


def _from_raw(raw: bytes) -> Message:
    assert _parse is not None, "qmpfast.decoder is not imported"
    return _parse(raw)


class Event(Message):
    """An asynchronous event: ``name``, ``seconds``, ``microseconds``, ``data``."""

    kind = "event"

    if TYPE_CHECKING:
        name: str
        seconds: int
        microseconds: int
        data: dict[str, Any]
    else:
        name = _field(F_NAME, "The event's name, such as "
                      "``\"BLOCK_IO_ERROR\"`` (typed classes: a class "
                      "attribute).")
        seconds = _field(F_SECONDS, "Seconds of QEMU's timestamp (-1 when "
                         "QEMU could not read its clock).")
        microseconds = _field(F_MICROS, "Microseconds of QEMU's timestamp "
                              "(-1 with ``seconds`` -1).")
        data = _Data()

    @property
    def timestamp(self) -> float:
        """Seconds since the epoch as a float (-1.000001 when QEMU had none;
        infinite for integers too large for a float)."""
        try:
            return self.seconds + self.microseconds / 1e6
        except OverflowError:
            return float("inf") if self.seconds > 0 else float("-inf")

    @property
    def datetime(self) -> Optional[_dt.datetime]:
        """The timestamp as an aware UTC datetime; None when QEMU could not
        read its clock (it then sends -1/-1) or the value is out of range."""
        if self.seconds == -1 and self.microseconds == -1:
            return None
        try:
            return _EPOCH + _dt.timedelta(seconds=self.seconds,
                                          microseconds=self.microseconds)
        except OverflowError:
            return None

    def _stamp(self) -> str:
        when = self.datetime
        if when is None:
            return "no time"
        return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def _fields(self) -> str:
        return ""

    def __repr__(self) -> str:
        fields = self._fields()
        if type(self) is Event:  # untyped: the name says what it is
            fields = f"{self.name} {fields}" if fields else self.name
        sep = " " if fields else ""
        return f"<{type(self).__name__}{sep}{fields} at {self._stamp()}>"


class Return(Message):
    """A successful command reply: ``value`` and ``id``."""

    kind = "return"

    @property
    def value(self) -> Any:
        """The ``return`` member: any JSON value the command answers."""
        return self._batch.value(self._index, S_RETURN)

    @property
    def id(self) -> Any:
        """The ``id`` of the command answered (None when it had none)."""
        return _none(self._batch.value(self._index, S_ID))

    def __repr__(self) -> str:
        return f"<Return id={self.id!r} value={_short(self.value)}>"


class ErrorResponse(Message):
    """A failed command reply: ``error_class``, ``desc`` and ``id``."""

    kind = "error"

    @property
    def error_class(self) -> str:
        """``error.class``, such as ``"GenericError"`` (the scanner refuses
        an error reply without a string there)."""
        return self._batch.value(self._index, S_ERROR_CLASS)  # type: ignore[no-any-return]

    @property
    def desc(self) -> str:
        """``error.desc``, the error in words."""
        return self._batch.value(self._index, S_ERROR_DESC)  # type: ignore[no-any-return]

    @property
    def id(self) -> Any:
        """The ``id`` of the command answered (None when it had none)."""
        return _none(self._batch.value(self._index, S_ID))

    def __repr__(self) -> str:
        return (f"<ErrorResponse id={self.id!r} class={self.error_class!r} "
                f"desc={self.desc!r}>")


class Greeting(Message):
    """The greeting QEMU sends first: ``version`` and ``capabilities``."""

    kind = "greeting"

    def _qmp(self) -> dict[str, Any]:
        value = self._batch.value(self._index, S_QMP)
        return value if isinstance(value, dict) else {}

    @property
    def version(self) -> Any:
        """``QMP.version``: ``{"qemu": {"major": ...}, "package": ...}``
        as QEMU sent it (None when absent)."""
        return self._qmp().get("version")

    @property
    def capabilities(self) -> Any:
        """``QMP.capabilities``: the list of capabilities QEMU offers."""
        return self._qmp().get("capabilities")

    def __repr__(self) -> str:
        qemu = (self.version or {}).get("qemu", {}) if isinstance(
            self.version, dict) else {}
        v = ".".join(str(qemu.get(k, "?")) for k in ("major", "minor", "micro"))
        return f"<Greeting QEMU {v} capabilities={self.capabilities!r}>"


class Command(Message):
    """A command (what a client sends): ``command``, ``arguments``, ``id``,
    ``oob`` (True for ``exec-oob``)."""

    kind = "command"

    @property
    def oob(self) -> bool:
        """Whether the command came as ``exec-oob`` (out of band)."""
        return self._batch.value(self._index, S_EXECUTE) is MISSING

    @property
    def command(self) -> Any:
        """The command's name (``execute`` or ``exec-oob``), as sent."""
        b = self._batch
        value = b.value(self._index, S_EXECUTE)
        if value is MISSING:
            value = b.value(self._index, S_EXEC_OOB)
        return value

    @property
    def arguments(self) -> Any:
        """The ``arguments`` member as sent (``{}`` when absent)."""
        value = self._batch.value(self._index, S_ARGUMENTS)
        return {} if value is MISSING else value

    @property
    def id(self) -> Any:
        """The command's ``id`` (None when it has none)."""
        return _none(self._batch.value(self._index, S_ID))

    def __repr__(self) -> str:
        return (f"<Command {self.command!r} arguments="
                f"{_short(self.arguments)} id={self.id!r}>")


def _none(value: Any) -> Any:
    return None if value is MISSING else value


def safe_repr(value: object) -> str:
    """repr(value), which a message's repr may call on a value nested
    deeper than repr can go: repr of a message never raises."""
    try:
        return repr(value)
    except RecursionError:
        return "<nested too deep>"


def _short(value: object) -> str:
    text = safe_repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


KIND_CLASSES: dict[int, type[Message]] = {
    K.KIND_MESSAGE: Message,
    K.KIND_EVENT: Event,
    K.KIND_RETURN: Return,
    K.KIND_ERROR: ErrorResponse,
    K.KIND_GREETING: Greeting,
    K.KIND_COMMAND: Command,
}
