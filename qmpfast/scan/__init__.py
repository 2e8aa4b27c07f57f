"""Picks the scanner backend once, at import.

``QMPFAST_PUREPYTHON=1`` forces the pure-Python twin; ``QMPFAST_REQUIRE_C=1``
makes a missing C module an ImportError instead of a silent fallback (CI sets
it so a broken build cannot pass as slow-but-green).  ``backend(name)`` gives
either one explicitly, for tests and for ``Decoder(backend=...)``.
"""

import importlib
import os

_force_python = os.environ.get("QMPFAST_PUREPYTHON", "") not in ("", "0")
_require_c = os.environ.get("QMPFAST_REQUIRE_C", "") not in ("", "0")

_MODULES = {"c": "qmpfast.scan.cffi_backend", "python": "qmpfast.scan.twin"}


def backend(name):
    """The backend module for ``"c"`` or ``"python"`` (ImportError if the C
    module is not built)."""
    if name not in _MODULES:
        raise ValueError(f"backend must be 'c' or 'python', not {name!r}")
    return importlib.import_module(_MODULES[name])


def available_backends():
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

Scanner = _default.Scanner
