"""``python -m benchmarks.plot RESULTS.json OUT.png``: the chart of a
``--json`` result.  It lives in the package (``qmpfast.cli.benchmark.plot``,
also ``qmpfast bench --plot``); this module keeps the old command.
"""

import sys

from qmpfast.cli.benchmark.plot import *  # noqa: F401,F403
from qmpfast.cli.benchmark.plot import main as _main


def main(argv=None) -> int:
    return _main(argv, prog="python -m benchmarks.plot")


if __name__ == "__main__":
    sys.exit(main())
