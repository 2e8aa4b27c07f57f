"""Peer: the standard library's ``json`` module, line by line.

Why: it is what most QMP clients use (QEMU's own library included), so it
is the baseline everyone has.  No typed job: stdlib has no schema types.
"""

from __future__ import annotations

import json
import platform
from typing import Any, Dict, Iterable, Iterator, List

from .common import Job, dict_jobs, split_lines

NAME = "stdlib-json"
AVAILABLE = True
NOTE = ""


def version() -> str:
    # json.__version__ is real but missing from the type stubs
    return (f"json {getattr(json, '__version__', '?')} "
            f"(Python {platform.python_version()})")


def batches(chunks: Iterable[bytes]) -> Iterator[List[Any]]:
    """Complete messages of each chunk, decoded by ``json.loads``."""
    return split_lines(chunks, json.loads)


JOBS: Dict[str, Job] = dict_jobs(batches)
