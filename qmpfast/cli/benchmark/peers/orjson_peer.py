"""Peer: orjson, the fastest general JSON parser for Python, line by line.

Why: the ratio columns of the report are relative to it; a QMP parser
that is not faster than ``orjson.loads`` per line has no reason to exist.
No typed job: orjson returns plain dicts.
"""

from __future__ import annotations

import importlib
from typing import Any, Dict, Iterable, Iterator, List, Optional

from .common import Job, dict_jobs, split_lines

NAME = "orjson"
orjson: Optional[Any]
try:
    orjson = importlib.import_module("orjson")
except ImportError as exc:          # the benchmark still runs without it
    orjson = None
    AVAILABLE, NOTE = False, f"orjson not installed ({exc})"
else:
    AVAILABLE, NOTE = True, ""


def version() -> str:
    return str(orjson.__version__) if orjson else ""


def batches(chunks: Iterable[bytes]) -> Iterator[List[Any]]:
    """Complete messages of each chunk, decoded by ``orjson.loads``."""
    assert orjson is not None
    return split_lines(chunks, orjson.loads)


JOBS: Dict[str, Job] = dict_jobs(batches) if AVAILABLE else {}
