"""``python -m costing``: the command line of :mod:`costing.cli`."""

import sys

from costing.cli import main

if __name__ == "__main__":
    sys.exit(main())
