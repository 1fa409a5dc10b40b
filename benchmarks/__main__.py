"""``python -m benchmarks``: run every benchmark and print the comparison table."""

from benchmarks.run import main

raise SystemExit(main())
