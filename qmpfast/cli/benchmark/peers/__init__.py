"""The competitors, one small module each, and how to load one.

Every peer module exposes the same things, so the runner and the pytest
benchmarks treat them alike:

* ``NAME``: the library's name; ``AVAILABLE`` and ``NOTE`` (why not);
* ``version()``: the library's version as a string;
* ``JOBS``: ``{"full": fn, "route": fn, ...}`` for its main variant, each
  ``fn(chunks) -> tuple of ints`` (a checksum, so no work can be skipped;
  ``common.Job``);
* ``VARIANTS``: ``{variant name: jobs}`` when one library is measured in
  more than one way (msgspec untyped/typed, qmpfast C/pure Python).

* ``MISSING`` (optional): ``{job: why}`` for jobs the peer has but cannot
  run here (a library they need is missing), so the report says why.

A job a peer cannot do is simply absent from its jobs.  A module whose
library is missing still imports, with ``AVAILABLE = False``; the
libraries are imported by name (``importlib``), so that the package's
type check does not need them installed.

``ELSEWHERE`` lists the variants measured under another interpreter (PyPy:
qmpfast's C scanner is a cffi module, PyPy's own FFI, while orjson and
msgspec do not run there): the same peer module, run by that interpreter,
so that one table compares both interpreters on the same stream.

``REGISTRY`` lists every variant with the module that holds it and the
environment it needs *before* that module is imported (qmpfast picks its
backend at import time), which is why the runner measures each variant in
a fresh process.
"""

from __future__ import annotations

import importlib
import os
import platform
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

from .common import Job

#: An environment to apply: a value of None means "unset".
Env = Dict[str, Optional[str]]

#: (variant, module in this package, environment to set before import).
REGISTRY: Tuple[Tuple[str, str, Env], ...] = (
    ("stdlib-json", "stdlib_json", {}),
    ("orjson", "orjson_peer", {}),
    ("msgspec", "msgspec_peer", {}),
    ("msgspec-typed", "msgspec_peer", {}),
    ("qemu.qmp", "qemu_qmp_peer", {}),
    ("qmpfast-c", "qmpfast_peer", {"QMPFAST_PUREPYTHON": None}),
    # QMPFAST_REQUIRE_C (set by CI) would refuse the pure-Python backend
    ("qmpfast-python", "qmpfast_peer", {"QMPFAST_PUREPYTHON": "1",
                                        "QMPFAST_REQUIRE_C": None}),
    ("qmpfast.columns", "qmpfast_columns_peer", {"QMPFAST_PUREPYTHON": None}),
)

#: (variant, the variant it runs, interpreter it runs under): the name
#: given to ``platform.python_implementation()``, lower case.
ELSEWHERE = (
    ("pypy-json", "stdlib-json", "pypy"),
    ("pypy-qmpfast-c", "qmpfast-c", "pypy"),
    ("pypy-qmpfast-python", "qmpfast-python", "pypy"),
)

REGISTRY_ENV = {name: env for name, _, env in REGISTRY}
REGISTRY_ENV.update((name, REGISTRY_ENV[base]) for name, base, _ in ELSEWHERE)
VARIANT_NAMES = tuple(name for name, _, _ in REGISTRY) + tuple(
    name for name, _, _ in ELSEWHERE)
#: the interpreter of each variant measured elsewhere
INTERPRETER = {name: where for name, _, where in ELSEWHERE}
_BASE = {name: base for name, base, _ in ELSEWHERE}


class Peer(NamedTuple):
    """One loaded variant: ``jobs`` is empty when it is unavailable."""
    name: str
    library: str
    available: bool
    note: str
    version: str
    jobs: Dict[str, Job]
    missing: Dict[str, str] = {}


def select(wanted: Optional[Sequence[str]] = None) -> List[str]:
    """Variant names matching ``wanted`` (variant or library names, e.g.
    "msgspec" selects msgspec and msgspec-typed); all when None."""
    if not wanted:
        return list(VARIANT_NAMES)
    def matches(name: str, w: str) -> bool:
        return name == w or name.startswith(w + "-")
    unknown = [w for w in wanted if not any(matches(n, w) for n in VARIANT_NAMES)]
    if unknown:
        raise ValueError(f"unknown peer(s) {unknown}; known: {list(VARIANT_NAMES)}")
    chosen = [n for n in VARIANT_NAMES if any(matches(n, w) for w in wanted)]
    return chosen


def load(variant: str, set_env: bool = True) -> Peer:
    """Import the module holding ``variant`` and return it as a Peer.

    With ``set_env`` the variant's environment is applied first; that only
    matters in a process that has not imported the library yet.
    """
    base = _BASE.get(variant, variant)
    for name, module_name, env in REGISTRY:
        if name == base:
            break
    else:
        raise ValueError(f"unknown peer {variant!r}; known: {list(VARIANT_NAMES)}")
    here = platform.python_implementation().lower()
    if INTERPRETER.get(variant, here) != here:
        return Peer(variant, variant, False,
                    f"runs under {INTERPRETER[variant]} (the runner "
                    "starts it)", "", {})
    if set_env:
        for key, value in env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    module = importlib.import_module(f"{__name__}.{module_name}")
    library: str = module.NAME
    variants: Dict[str, Dict[str, Job]] = getattr(
        module, "VARIANTS", {library: module.JOBS})
    version: str = module.version() if module.AVAILABLE else ""
    if not module.AVAILABLE:
        return Peer(variant, library, False, module.NOTE, version, {})
    if base not in variants:
        note: str = getattr(module, "NOTE", "") or \
            f"{variant} is not the variant loaded in this process"
        return Peer(variant, library, False, note, version, {})
    missing: Dict[str, str] = dict(getattr(module, "MISSING", {}))
    return Peer(variant, library, True, "", version, dict(variants[base]),
                missing)
