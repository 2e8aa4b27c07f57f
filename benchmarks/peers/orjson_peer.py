"""Peer: orjson, the fastest general JSON parser for Python, line by line.

Why: the ratio columns of the report are relative to it; a QMP parser
that is not faster than ``orjson.loads`` per line has no reason to exist.
No typed job: orjson returns plain dicts.
"""

from ._common import dict_jobs, split_lines

NAME = "orjson"
try:
    import orjson
except ImportError as exc:          # the benchmark still runs without it
    orjson = None
    AVAILABLE, NOTE = False, f"orjson not installed ({exc})"
else:
    AVAILABLE, NOTE = True, ""


def version() -> str:
    return orjson.__version__ if orjson else ""


def batches(chunks):
    """Complete messages of each chunk, decoded by ``orjson.loads``."""
    return split_lines(chunks, orjson.loads)


JOBS = dict_jobs(batches) if AVAILABLE else {}
