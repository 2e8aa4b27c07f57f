"""Peer: the standard library's ``json`` module, line by line.

Why: it is what most QMP clients use (QEMU's own library included), so it
is the baseline everyone has.  No typed job: stdlib has no schema types.
"""

import json
import platform

from ._common import dict_jobs, split_lines

NAME = "stdlib-json"
AVAILABLE = True
NOTE = ""


def version() -> str:
    return f"json {json.__version__} (Python {platform.python_version()})"


def batches(chunks):
    """Complete messages of each chunk, decoded by ``json.loads``."""
    return split_lines(chunks, json.loads)


JOBS = dict_jobs(batches)
