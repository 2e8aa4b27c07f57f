"""``python -m benchmarks._worker``: one measurement, by hand.

The worker lives in the package (``qmpfast.cli.benchmark.worker``); the
runner starts it there.  This module keeps the old command working.
"""

import sys

from qmpfast.cli.benchmark.worker import *  # noqa: F401,F403
from qmpfast.cli.benchmark.worker import main as _main


def main(argv=None) -> int:
    return _main(argv, prog="python -m benchmarks._worker")


if __name__ == "__main__":
    sys.exit(main())
