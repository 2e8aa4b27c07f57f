"""pytest-benchmark version of ``benchmarks.run``: same peers, same jobs.

    pytest benchmarks/ --benchmark-only
    QMPFAST_BENCH_MB=20 pytest benchmarks/ --benchmark-only --benchmark-group-by=group

Why both: ``benchmarks.run`` isolates each peer in its own process and
prints ratios; this file plugs into pytest-benchmark's tooling (saved runs,
``--benchmark-compare``).  Everything runs in one process here, so qmpfast
is measured with the backend this process imports: the C one, or the pure
Python one when ``QMPFAST_PUREPYTHON=1`` is set.  A peer that is not
installed, or lacks a job, is skipped with the reason.
"""

import functools
import os

import pytest

pytest.importorskip("pytest_benchmark")

from qmpfast.cli.benchmark import peers                        # noqa: E402
from qmpfast.cli.benchmark.peers import common                 # noqa: E402
from qmpfast.cli.benchmark.runner import JOBS, STREAM_MIX      # noqa: E402
from qmpfast.cli.benchmark.streams import (                    # noqa: E402
    MIXES, chunks, make_stream)

SIZE_MB = float(os.environ.get("QMPFAST_BENCH_MB", "2"))
CHUNK = int(os.environ.get("QMPFAST_BENCH_CHUNK", "65536"))


@functools.lru_cache(maxsize=None)
def stream(mix: str):
    data = make_stream(size=int(SIZE_MB * 2**20), seed=1, mix=MIXES[mix])
    return data, chunks(data, CHUNK)


@functools.lru_cache(maxsize=None)
def expected(job: str):
    return common.reference(job, stream(STREAM_MIX[job])[0])


@functools.lru_cache(maxsize=None)
def peer(variant: str):
    # The environment is left as the user set it: see the module docstring.
    return peers.load(variant, set_env=False)


@pytest.mark.parametrize("variant", peers.VARIANT_NAMES)
@pytest.mark.parametrize("job", JOBS)
def test_parse(benchmark, job, variant):
    p = peer(variant)
    if not p.available:
        pytest.skip(f"{variant}: {p.note}")
    if job not in p.jobs:
        pytest.skip(f"{variant} has no {job} job")
    data, parts = stream(STREAM_MIX[job])
    benchmark.group = job
    benchmark.extra_info.update(events=data.count(b"\n"), bytes=len(data),
                                version=p.version)
    result = benchmark.pedantic(p.jobs[job], args=(parts,), rounds=5,
                                warmup_rounds=1, iterations=1)
    assert result == expected(job)
