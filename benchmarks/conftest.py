"""Keep the pytest benchmarks out of ordinary test runs.

``test_bench.py`` is collected only when asked for: with
``--benchmark-only``, or when this folder (or a file in it) is named on the
command line.  A bare ``pytest`` at the top of the repository therefore
does not spend minutes timing parsers.
"""

from pathlib import Path

HERE = Path(__file__).resolve().parent


def pytest_ignore_collect(collection_path, config):
    if collection_path.name != "test_bench.py":
        return None
    if config.getoption("benchmark_only", default=False):
        return None
    for arg in config.args:
        target = Path(arg.split("::")[0]).resolve()
        if target == HERE or HERE in target.parents:
            return None
    return True
