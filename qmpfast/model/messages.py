"""The message classes: one small object per message, decoded lazily.

A message keeps only its record (its batch and index); values are decoded
from their byte spans when first read.  All classes share one constructor
signature so the decoder builds a whole batch in one pass.
"""

from __future__ import annotations

import datetime as _dt
from types import FunctionType
from typing import Any, Callable, ClassVar, Optional, TypeVar

from ..scan.records import Records

from ..scan import _header as K
from ..scan.paths import MISSING

from ..scan.paths import (S_ARGUMENTS, S_ERROR_CLASS, S_ERROR_DESC, S_EXEC_OOB,
                     S_EXECUTE, S_ID, S_QMP, S_RETURN)

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)

_F = TypeVar("_F", bound=Callable[..., Any])


def _own_copy(function: _F, owner: type) -> _F:
    """A copy of ``function`` with a code object of its own, for ``owner``.

    CPython (3.11 on) specializes each attribute store of a function's
    bytecode for the one class it last saw.  A decoder builds objects of
    many message classes in turn; with one shared ``__init__`` every store
    would miss its cache (about 70 ns per object with the 8 classes of a
    usual QEMU stream).  With a copy per class each stays specialized.
    """
    copy = FunctionType(function.__code__.replace(), function.__globals__,
                        function.__name__, function.__defaults__,
                        function.__closure__)
    copy.__kwdefaults__ = function.__kwdefaults__
    copy.__doc__ = function.__doc__
    copy.__module__ = function.__module__
    copy.__qualname__ = f"{owner.__qualname__}.{function.__name__}"
    return copy  # type: ignore[return-value]


class Message:
    """A QMP message: any JSON object.  Subclasses say what kind."""

    __slots__ = ("_batch", "_index", "_data")
    kind: ClassVar[str] = "message"
    _batch: Records
    _index: int

    # properties read for most messages, which every subclass gets its own
    # copy of (see _own_copy)
    _hot: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Give the class its own copies of ``__init__``, of its properties
        and of the inherited hot ones (see _own_copy)."""
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            cls.__init__ = _own_copy(cls.__init__, cls)  # type: ignore[method-assign]
        names = [name for name, value in cls.__dict__.items()
                 if isinstance(value, property)]
        names += [name for name in cls._hot if name not in cls.__dict__]
        for name in names:
            prop = getattr(cls, name)  # the property itself, on a class
            if isinstance(prop, property) and \
                    isinstance(prop.fget, FunctionType):
                setattr(cls, name, property(_own_copy(prop.fget, cls),
                                            prop.fset, prop.fdel,
                                            prop.__doc__))

    def __init__(self, seconds: int, microseconds: int, batch: Records,
                 index: int) -> None:
        self._batch = batch
        self._index = index

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

    __slots__ = ("name", "seconds", "microseconds")
    kind = "event"
    _hot = ("data",)
    _data: Optional[dict[str, Any]]

    name: str
    """The event's name, such as ``"BLOCK_IO_ERROR"``."""
    seconds: int
    """Seconds of QEMU's timestamp (-1 when QEMU could not read its clock)."""
    microseconds: int
    """Microseconds of QEMU's timestamp (-1 with ``seconds`` -1)."""

    # Typed subclasses carry ``name`` as a class attribute, so building one
    # sets four slots; plain Events are given theirs.
    def __init__(self, seconds: int, microseconds: int, batch: Records,
                 index: int, name: Optional[str] = None) -> None:
        self.seconds = seconds
        self.microseconds = microseconds
        self._batch = batch
        self._index = index
        self._data = None
        if name is not None:
            self.name = name

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

    @property
    def data(self) -> dict[str, Any]:
        """The ``data`` member as a dict (``{}`` when absent), decoded once."""
        value = self._data
        if value is None:
            value = self._data = self._batch.data(self._index)
        return value

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

    __slots__ = ()
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

    __slots__ = ()
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

    __slots__ = ()
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

    __slots__ = ()
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
