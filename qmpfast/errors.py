"""The exceptions of qmpfast, defined once and raised by both backends."""

from __future__ import annotations

from typing import Any, Callable, Optional

# what ``__reduce__`` gives pickle: how to rebuild the error
# (and the source, set again as state: it names where the error came from,
# which matters most when the error crosses a process boundary)
_Reduced = tuple[Callable[..., "DecodeError"], tuple[Any, ...],
                 dict[str, Any]]


class QMPError(Exception):
    """Base class of every error qmpfast raises."""


class DecodeError(QMPError, ValueError):
    """A message could not be decoded.

    ``offset`` is the absolute stream offset where the bad message began;
    ``position`` the offset of the byte found wrong (equal to ``offset`` when
    the whole message is at fault); ``messages`` the well-formed messages
    decoded before this error by the same ``feed()`` call, so that raising
    loses nothing.
    """

    def __init__(self, msg: str, offset: int = 0,
                 position: Optional[int] = None, *,
                 source: Optional[str] = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.offset = offset
        self.position = offset if position is None else position
        self.source = source
        # the decoded messages (qmpfast.Message objects; this module sits
        # below them)
        self.messages: list[Any] = []

    def __str__(self) -> str:
        if self.source:
            return f"{self.source}: {self.msg}"
        return self.msg

    def __reduce__(self) -> _Reduced:
        return (type(self), (self.msg, self.offset, self.position),
                {"source": self.source})


class MessageTooLargeError(DecodeError):
    """A message grew past ``max_message_size``; it was discarded unbuffered."""


class IncompleteMessageError(DecodeError):
    """The stream ended inside a message."""


class ProtocolError(DecodeError):
    """Valid JSON that breaks QMP's shapes (e.g. an event without a name)."""


class ValidationError(DecodeError):
    """An event that does not match the QEMU event catalogue (strict mode).

    ``path`` names the offending member, as in ``$.data.server.family``.
    """

    def __init__(self, msg: str, offset: int = 0,
                 position: Optional[int] = None, *, path: str = "$",
                 source: Optional[str] = None) -> None:
        super().__init__(msg, offset, position, source=source)
        self.path = path

    def __reduce__(self) -> _Reduced:
        return (_rebuild_validation, (self.msg, self.offset, self.position,
                                      self.path), {"source": self.source})


def _rebuild_validation(msg: str, offset: int, position: int,
                        path: str) -> ValidationError:
    return ValidationError(msg, offset, position, path=path)


class IntegerTooLongError(DecodeError):
    """An integer with more digits than this interpreter converts
    (``sys.get_int_max_str_digits()``, 4300 by default), refused as
    ``json.loads`` refuses it: converting one costs time quadratic in its
    length, with the GIL held.  ``path`` names the member, as in
    ``$.return.size``; ``digits`` is its length.
    """

    def __init__(self, msg: str, offset: int = 0,
                 position: Optional[int] = None, *, path: str = "$",
                 digits: int = 0, source: Optional[str] = None) -> None:
        super().__init__(msg, offset, position, source=source)
        self.path = path
        self.digits = digits

    def under(self, prefix: str) -> IntegerTooLongError:
        """The same error for a value found at ``prefix`` (a path such as
        ``$.data``) of the message."""
        path = prefix + self.path[1:]
        return IntegerTooLongError(
            _integer_text(self.digits, path), self.offset, self.position,
            path=path, digits=self.digits, source=self.source)

    def __reduce__(self) -> _Reduced:
        return (_rebuild_integer, (self.msg, self.offset, self.position,
                                   self.path, self.digits),
                {"source": self.source})


def _integer_text(digits: int, path: str) -> str:
    import sys
    limit: int = getattr(sys, "get_int_max_str_digits", int)()
    return (f"integer of {digits} digits at {path} exceeds this "
            f"interpreter's limit of {limit} digits for integer conversion "
            f"(see sys.set_int_max_str_digits)")


def integer_too_long(digits: int, path: str = "$") -> IntegerTooLongError:
    """The error for an integer of ``digits`` digits at ``path``."""
    return IntegerTooLongError(_integer_text(digits, path), path=path,
                               digits=digits)


def _rebuild_integer(msg: str, offset: int, position: int, path: str,
                     digits: int) -> IntegerTooLongError:
    return IntegerTooLongError(msg, offset, position, path=path,
                               digits=digits)


class CommandError(QMPError):
    """QEMU answered a command with an error reply.

    ``error_class`` and ``desc`` are None when the reply lacks them (or has
    something other than a string there): a malformed error is still an
    error, so it fails the command instead of being dropped.  ``id`` is the
    command's id.
    """

    def __init__(self, error_class: str | None, desc: str | None,
                 id: int | None = None, command: str | None = None) -> None:
        super().__init__(f"{command}: {error_class or '(no class)'}: "
                         f"{desc if desc is not None else '(no description)'}")
        self.error_class = error_class
        self.desc = desc
        self.id = id
        self.command = command

    def __reduce__(self) -> tuple[type, tuple[object, ...]]:
        return (type(self), (self.error_class, self.desc, self.id,
                             self.command))


class QMPConnectionError(QMPError, ConnectionError):
    """The peer could not be reached, or the connection is closed."""


class NotQMPError(QMPConnectionError):
    """The peer does not speak QMP (no greeting, or not JSON at all)."""
