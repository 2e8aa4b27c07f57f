"""The seeded QMP stream generator, kept importable as
``benchmarks.streams``: it lives in ``qmpfast.cli.benchmark.streams``,
shipped with the package for ``qmpfast bench``."""

from qmpfast.cli.benchmark.streams import *  # noqa: F401,F403
from qmpfast.cli.benchmark.streams import EPOCH  # noqa: F401
