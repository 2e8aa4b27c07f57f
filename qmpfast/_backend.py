"""Picks the scanner backend once, at import.

``QMPFAST_PUREPYTHON=1`` forces the pure-Python twin; ``QMPFAST_REQUIRE_C=1``
makes a missing C module an ImportError instead of a silent fallback (CI sets
it so a broken build cannot pass as slow-but-green).
"""

import os

_force_python = os.environ.get("QMPFAST_PUREPYTHON", "") not in ("", "0")
_require_c = os.environ.get("QMPFAST_REQUIRE_C", "") not in ("", "0")

if _force_python:
    if _require_c:
        raise ImportError(
            "QMPFAST_PUREPYTHON and QMPFAST_REQUIRE_C are both set")
    from ._pybackend import Batch, Scanner  # noqa: F401
    BACKEND = "python"
else:
    try:
        from ._cbackend import Batch, Scanner  # noqa: F401
        BACKEND = "c"
    except ImportError as exc:
        if _require_c:
            raise ImportError(
                "QMPFAST_REQUIRE_C is set but the qmpfast C scanner could not "
                f"be imported: {exc}") from exc
        from ._pybackend import Batch, Scanner  # noqa: F401
        BACKEND = "python"
