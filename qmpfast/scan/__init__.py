"""Picks the scanner backend once, at import.

``QMPFAST_PUREPYTHON=1`` forces the pure-Python twin; ``QMPFAST_REQUIRE_C=1``
makes a missing C module an ImportError instead of a silent fallback (CI sets
it so a broken build cannot pass as slow-but-green).  ``backend(name)`` gives
either one explicitly, for tests and for ``Decoder(backend=...)``.
"""

from __future__ import annotations

import importlib
import os
import warnings
from types import ModuleType
from typing import Any, Protocol

from .paths import Schema
from .records import Records


class ScannerType(Protocol):
    """What the decoder uses of either backend's ``Scanner``."""

    def __init__(self, schema: Schema, max_message_size: int,
                 max_depth: int, start: int = 0) -> None: ...

    @property
    def pos(self) -> int:
        """Absolute stream offset up to which input has been scanned."""
        ...

    @property
    def keep_from(self) -> int:
        """The first offset the next scan may still need."""
        ...

    @property
    def in_message(self) -> bool:
        """Whether the scanner is inside a message."""
        ...

    def open_containers(self) -> list[int]:
        """Offsets of the containers open in the message in progress."""
        ...

    @property
    def message_start(self) -> int:
        """The offset where the message in progress began."""
        ...

    def restart(self, offset: int) -> None: ...

    def scan_count(self, buf: Any, base: int,
                   max_records: int) -> tuple[int, int, int]: ...

    def batch(self, buf: Any, base: int, n: int) -> Records: ...


_force_python = os.environ.get("QMPFAST_PUREPYTHON", "") not in ("", "0")
_require_c = os.environ.get("QMPFAST_REQUIRE_C", "") not in ("", "0")

_MODULES = {"c": "qmpfast.scan.cffi_backend", "python": "qmpfast.scan.twin"}


def backend(name: str) -> ModuleType:
    """The backend module for ``"c"`` or ``"python"`` (ImportError if the C
    module is not built)."""
    if name not in _MODULES:
        raise ValueError(f"backend must be 'c' or 'python', not {name!r}")
    return importlib.import_module(_MODULES[name])


def available_backends() -> list[str]:
    """Names of the backends that import here."""
    names = []
    for name in _MODULES:
        try:
            backend(name)
        except ImportError:
            continue
        names.append(name)
    return names


if _force_python:
    if _require_c:
        raise ImportError(
            "QMPFAST_PUREPYTHON and QMPFAST_REQUIRE_C are both set")
    _default = backend("python")
    BACKEND = "python"
else:
    try:
        _default = backend("c")
        BACKEND = "c"
    except ImportError as exc:
        if _require_c:
            raise ImportError(
                "QMPFAST_REQUIRE_C is set but the qmpfast C scanner could not "
                f"be imported: {exc}") from exc
        _default = backend("python")
        BACKEND = "python"
        # a build was expected (nothing asked for pure Python): say so
        # once, where the user sees it, not only in pip's log
        warnings.warn(
            f"qmpfast: the C scanner is not available ({exc}); using the "
            "pure-Python backend, which is several times slower.  Reinstall "
            "with a C compiler and the Python headers to build it, or set "
            "QMPFAST_PUREPYTHON=1 to choose the pure-Python backend "
            "explicitly.", RuntimeWarning, stacklevel=2)

Scanner: type[ScannerType] = _default.Scanner
