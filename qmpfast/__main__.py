"""``python -m qmpfast`` is the ``qmpfast`` command."""

import sys

from .cli import main

sys.exit(main())
