"""``python -m adapters``: the same command line as the ``adapters`` console script."""

from __future__ import annotations

import sys

from adapters.cli import main

if __name__ == "__main__":
    sys.exit(main())
