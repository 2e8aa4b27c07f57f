"""qmpfast: a fast, robust streaming reader of the QEMU Machine Protocol.

    >>> import qmpfast
    >>> dec = qmpfast.Decoder()
    >>> for msg in dec.feed(chunk): ...

``BACKEND`` says which scanner runs: ``"c"`` (the C scanner through cffi) or
``"python"`` (the pure-Python twin, same results).  ``qmpfast.aio`` (the
asyncio client) is imported on first use, so ``import qmpfast`` does not
load asyncio.
"""

import time as _time

# When the import began and ended: ``qmpfast parse --stats`` reports the
# import apart from decoding (two clock reads, nothing else).
_IMPORT_STARTED = _time.perf_counter()

from typing import Any  # noqa: E402 - after the first clock read

from .client import (Client, CommandError, NotQMPError, QMPConnectionError,
                     connect)
from .decoder import (DEFAULT_MAX_DEPTH, DEFAULT_MAX_MESSAGE_SIZE, Decoder,
                      iter_messages, parse)
from .errors import (DecodeError, IncompleteMessageError,
                     IntegerTooLongError, MessageTooLargeError, ProtocolError, QMPError,
                     ValidationError)
from .model import catalogue as _catalogue
from .model.catalogue import *  # noqa: F401,F403 - the typed event classes
from .model.catalogue import EVENT_CLASSES, Struct, VncInfo, event_class
from .model.messages import (Command, ErrorResponse, Event, Greeting,
                             Message, Return)
from .scan import BACKEND
from .scan.values import FAST_LOADS
from .state import StatusChange, VMState, VncSession

__version__ = "0.1.0"

__all__ = [
    "BACKEND", "FAST_LOADS", "Decoder", "parse", "iter_messages",
    "event_class", "EVENT_CLASSES", "Struct", "VncInfo",
    "Message", "Event", "Return", "ErrorResponse", "Greeting", "Command",
    "QMPError", "DecodeError", "MessageTooLargeError",
    "IncompleteMessageError", "IntegerTooLongError", "ProtocolError",
    "ValidationError",
    "DEFAULT_MAX_MESSAGE_SIZE", "DEFAULT_MAX_DEPTH",
    "VMState", "StatusChange", "VncSession",
    "connect", "Client", "CommandError", "QMPConnectionError", "NotQMPError",
    "aio",
]
__all__ += _catalogue.__all__

_IMPORT_DONE = _time.perf_counter()


def __getattr__(name: str) -> Any:
    """``qmpfast.aio`` on first use: asyncio only for those who want it."""
    if name == "aio":
        import importlib
        return importlib.import_module(".aio", __name__)
    raise AttributeError(f"module 'qmpfast' has no attribute {name!r}")
