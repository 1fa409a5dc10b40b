"""CLI tests: ``python -m adapters ...`` as a subprocess against the loopback emulators."""
