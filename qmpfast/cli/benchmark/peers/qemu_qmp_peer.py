"""Peer: QEMU's own Python library, ``qemu.qmp`` (PyPI).

Why: it is the reference client.  Its reader takes one line from the
socket (``_readline``) and builds ``Message(line, eager=True)``, which
parses with ``json.loads`` and checks that the result is an object; that
is exactly what is timed here, minus the asyncio socket plumbing.
Events are then read through the ``Message`` mapping interface.
No typed job: the library has no typed events.
"""

from __future__ import annotations

import importlib
from importlib import metadata
from typing import Any, Dict, Iterable, Iterator, List, Optional

from .common import Job, dict_jobs, split_lines

NAME = "qemu.qmp"
Message: Optional[Any]
try:
    Message = importlib.import_module("qemu.qmp.message").Message
except ImportError as exc:
    Message = None
    AVAILABLE, NOTE = False, f"qemu.qmp not installed ({exc})"
else:
    AVAILABLE, NOTE = True, ""


def version() -> str:
    try:
        return metadata.version("qemu.qmp")
    except metadata.PackageNotFoundError:
        return "unknown"


def batches(chunks: Iterable[bytes]) -> Iterator[List[Any]]:
    """Complete messages of each chunk, as ``qemu.qmp.message.Message``."""
    assert Message is not None
    return split_lines(chunks, Message)


JOBS: Dict[str, Job] = dict_jobs(batches) if AVAILABLE else {}
