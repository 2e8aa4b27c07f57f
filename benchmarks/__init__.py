"""Benchmarks comparing qmpfast with other ways of parsing a QMP event stream.

Run ``python -m benchmarks.run`` for the comparison table, or
``pytest benchmarks/ --benchmark-only`` for the pytest-benchmark variant.
Every competitor works on the same seeded stream (``benchmarks.streams``)
and does the same job, so the numbers compare parsers, not workloads.
"""
