"""The message classes: one small object per message, decoded lazily.

Every message keeps only its record (the batch it came from and its index):
``raw``, ``data`` and member values are decoded from their byte spans when
first read.  Events also carry their name and timestamp, which the scanner
already parsed.  All classes share one constructor signature so the decoder
builds a whole batch in one comprehension.
"""

from __future__ import annotations

import datetime as _dt
from types import FunctionType

from ..scan import _header as K
from ..scan.paths import MISSING

from ..scan.paths import (S_ARGUMENTS, S_ERROR_CLASS, S_ERROR_DESC, S_EXEC_OOB,
                     S_EXECUTE, S_ID, S_QMP, S_RETURN)

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def _own_copy(function, owner):
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
    return copy


class Message:
    """A QMP message: any JSON object.  Subclasses say what kind."""

    __slots__ = ("_b", "_i", "_d")
    kind = "message"

    # properties read for most messages, which every subclass gets its own
    # copy of (see _own_copy)
    _hot = ()

    def __init_subclass__(cls, **kwargs: object) -> None:
        """Give the class its own copies of ``__init__``, of its properties
        and of the inherited hot ones (see _own_copy)."""
        super().__init_subclass__(**kwargs)
        if "__init__" not in cls.__dict__:
            cls.__init__ = _own_copy(cls.__init__, cls)
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

    def __init__(self, seconds, microseconds, batch, index):
        self._b = batch
        self._i = index

    @property
    def raw(self):
        """The exact bytes of this message, without surrounding whitespace."""
        return self._b.raw(self._i)

    @property
    def stream_offset(self):
        """Absolute stream offset of the message's first byte."""
        return self._b.start(self._i)

    def to_dict(self):
        """The whole message as ``json.loads(raw)`` gives it (a new dict)."""
        return self._b.obj(self._i)

    def _value(self, path_slot):
        return self._b.value(self._i, path_slot)

    def __eq__(self, other):
        if not isinstance(other, Message):
            return NotImplemented
        return type(self) is type(other) and (
            self.raw == other.raw or self.to_dict() == other.to_dict())

    def __hash__(self):
        return hash((type(self).__name__, getattr(self, "name", None)))

    def __repr__(self):
        raw = self.raw
        text = raw[:60].decode("utf-8", "replace")
        return f"<{type(self).__name__} {text}{'...' if len(raw) > 60 else ''}>"

    def __reduce__(self):
        return (_from_raw, (self.raw,))


# The decoder sits above this module; it registers its ``parse`` here so
# that pickled messages can be rebuilt from their bytes (unpickling imports
# ``qmpfast``, which imports the decoder).
_parse = None


def _from_raw(raw):
    return _parse(raw)


class Event(Message):
    """An asynchronous event: ``name``, ``seconds``, ``microseconds``, ``data``."""

    __slots__ = ("name", "seconds", "microseconds")
    kind = "event"
    _hot = ("data",)

    # Typed subclasses carry ``name`` as a class attribute, so building one
    # sets four slots; plain Events are given theirs.
    def __init__(self, seconds, microseconds, batch, index, name=None):
        self.seconds = seconds
        self.microseconds = microseconds
        self._b = batch
        self._i = index
        self._d = None
        if name is not None:
            self.name = name

    @property
    def timestamp(self):
        """Seconds since the epoch as a float (-1.000001 when QEMU had none;
        infinite for integers too large for a float)."""
        try:
            return self.seconds + self.microseconds / 1e6
        except OverflowError:
            return float("inf") if self.seconds > 0 else float("-inf")

    @property
    def datetime(self):
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
    def data(self):
        """The ``data`` member as a dict (``{}`` when absent), decoded once."""
        value = self._d
        if value is None:
            value = self._d = self._b.data(self._i)
        return value

    def _stamp(self):
        when = self.datetime
        if when is None:
            return "no time"
        return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def _fields(self):
        return ""

    def __repr__(self):
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
    def value(self):
        return self._b.value(self._i, S_RETURN)

    @property
    def id(self):
        return _none(self._b.value(self._i, S_ID))

    def __repr__(self):
        return f"<Return id={self.id!r} value={_short(self.value)}>"


class ErrorResponse(Message):
    """A failed command reply: ``error_class``, ``desc`` and ``id``."""

    __slots__ = ()
    kind = "error"

    @property
    def error_class(self):
        return self._b.value(self._i, S_ERROR_CLASS)

    @property
    def desc(self):
        return self._b.value(self._i, S_ERROR_DESC)

    @property
    def id(self):
        return _none(self._b.value(self._i, S_ID))

    def __repr__(self):
        return (f"<ErrorResponse id={self.id!r} class={self.error_class!r} "
                f"desc={self.desc!r}>")


class Greeting(Message):
    """The greeting QEMU sends first: ``version`` and ``capabilities``."""

    __slots__ = ()
    kind = "greeting"

    def _qmp(self):
        value = self._b.value(self._i, S_QMP)
        return value if isinstance(value, dict) else {}

    @property
    def version(self):
        return self._qmp().get("version")

    @property
    def capabilities(self):
        return self._qmp().get("capabilities")

    def __repr__(self):
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
    def oob(self):
        return self._b.value(self._i, S_EXECUTE) is MISSING

    @property
    def command(self):
        b = self._b
        value = b.value(self._i, S_EXECUTE)
        if value is MISSING:
            value = b.value(self._i, S_EXEC_OOB)
        return value

    @property
    def arguments(self):
        value = self._b.value(self._i, S_ARGUMENTS)
        return {} if value is MISSING else value

    @property
    def id(self):
        return _none(self._b.value(self._i, S_ID))

    def __repr__(self):
        return (f"<Command {self.command!r} arguments="
                f"{_short(self.arguments)} id={self.id!r}>")


def _none(value):
    return None if value is MISSING else value


def safe_repr(value):
    """repr(value), which a message's repr may call on a value nested
    deeper than repr can go: repr of a message never raises."""
    try:
        return repr(value)
    except RecursionError:
        return "<nested too deep>"


def _short(value):
    text = safe_repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


KIND_CLASSES = {
    K.KIND_MESSAGE: Message,
    K.KIND_EVENT: Event,
    K.KIND_RETURN: Return,
    K.KIND_ERROR: ErrorResponse,
    K.KIND_GREETING: Greeting,
    K.KIND_COMMAND: Command,
}
