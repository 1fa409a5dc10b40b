"""Integration tests: the adapters with real SDKs against the loopback emulators."""
