"""Benchmarks comparing qmpfast with other ways of parsing a QMP event stream.

Run ``python -m benchmarks.run`` for the comparison table, or
``pytest benchmarks/ --benchmark-only`` for the pytest-benchmark variant.
Every competitor works on the same seeded stream (``benchmarks.streams``)
and does the same job, so the numbers compare parsers, not workloads.

The stream generator, the peers, the runner and the chart ship with the
package (``qmpfast.cli.benchmark``, run by ``qmpfast bench``);
``run``, ``_worker``, ``plot`` and ``streams`` here re-export them.
``scaling`` and ``scanner`` are the source tree's own.
"""
