"""``python -m benchmarks.run``: the peer comparison, full-size defaults.

The runner lives in the package (``qmpfast.cli.benchmark.runner``) so
that ``qmpfast bench`` works where qmpfast is installed; this module keeps
the source tree's command and its options.
"""

import sys

from qmpfast.cli.benchmark.runner import *  # noqa: F401,F403
from qmpfast.cli.benchmark.runner import main as _main


def main(argv=None) -> int:
    return _main(argv, prog="python -m benchmarks.run")


if __name__ == "__main__":
    sys.exit(main())
