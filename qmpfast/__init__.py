"""qmpfast: a fast, robust streaming reader of the QEMU Machine Protocol.

    >>> import qmpfast
    >>> dec = qmpfast.Decoder()
    >>> for msg in dec.feed(chunk): ...

``BACKEND`` says which scanner runs: ``"c"`` (the C scanner through cffi) or
``"python"`` (the pure-Python twin, same results).
"""

from . import aio
from ._backend import BACKEND
from .catalogue import EVENT_CLASSES, Struct, VncInfo, event_class
from .client import (Client, CommandError, NotQMPError, QMPConnectionError,
                     connect)
from .catalogue import *  # noqa: F401,F403 - the typed event classes
from .decoder import (DEFAULT_MAX_DEPTH, DEFAULT_MAX_MESSAGE_SIZE, Decoder,
                      iter_messages, parse)
from .errors import (DecodeError, IncompleteMessageError,
                     MessageTooLargeError, ProtocolError, QMPError,
                     ValidationError)
from .messages import (Command, ErrorResponse, Event, Greeting, Message,
                       Return)
from .state import StatusChange, VMState, VncSession
from .values import FAST_LOADS

__version__ = "0.1.0"

__all__ = [
    "BACKEND", "FAST_LOADS", "Decoder", "parse", "iter_messages",
    "event_class", "EVENT_CLASSES", "Struct", "VncInfo",
    "Message", "Event", "Return", "ErrorResponse", "Greeting", "Command",
    "QMPError", "DecodeError", "MessageTooLargeError",
    "IncompleteMessageError", "ProtocolError", "ValidationError",
    "DEFAULT_MAX_MESSAGE_SIZE", "DEFAULT_MAX_DEPTH",
    "VMState", "StatusChange", "VncSession",
    "connect", "Client", "CommandError", "QMPConnectionError", "NotQMPError",
    "aio",
] + [cls.__name__ for cls in EVENT_CLASSES.values()]
