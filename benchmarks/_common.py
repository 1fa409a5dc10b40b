"""Shared pieces of the benchmarks: result rows, units, counting credentials, emulators."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

SCOPE = "https://cognitiveservices.azure.com/.default"
HOUR = 3600.0

# Variables that would change which managed-identity flavour azure-identity picks, or put a
# key on the wire; the benchmarks start from an environment without them.
AZURE_VARIABLES = (
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_AD_TOKEN",
    "OPENAI_API_KEY",
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_AUTHORITY_HOST",
    "AZURE_TOKEN_CREDENTIALS",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
    "IDENTITY_SERVER_THUMBPRINT",
    "IMDS_ENDPOINT",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
)


@dataclass(frozen=True)
class Row:
    """One line of the result table: our figure beside the baseline's, and the goal.

    Attributes:
        section: The benchmark it belongs to (hot path, cold start...).
        metric: What was measured, including the baseline's name.
        ours: Our figure, formatted.
        baseline: The same figure for the baseline, formatted.
        ratio: How the two compare, formatted ("1,234x cheaper", "64x fewer").
        goal: The goal, in words.
        met: Whether the goal was met; None when the row has no goal of its own.
        key: The row's headline number (usually the ratio), used to pick the median of
            repeated runs and to show their range; None when repeats do not vary it.
        key_format: How to print ``key`` (a ``str.format`` pattern).
    """

    section: str
    metric: str
    ours: str
    baseline: str
    ratio: str
    goal: str = ""
    met: bool | None = None
    key: float | None = None
    key_format: str = "{:,.3g}"


def median(values: Sequence[float]) -> float:
    """The median of a non-empty sequence."""
    return statistics.median(values)


def fmt_time(seconds: float) -> str:
    """A duration with a readable unit: ns, µs, ms or s."""
    if seconds < 1e-6:
        return f"{seconds * 1e9:,.0f} ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:,.1f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:,.1f} ms"
    return f"{seconds:,.2f} s"


def fmt_ratio(value: float) -> str:
    """A ratio with as many digits as it deserves."""
    if value >= 100:
        return f"{value:,.0f}x"
    if value >= 10:
        return f"{value:.1f}x"
    return f"{value:.2f}x"


def clean_environment() -> None:
    """Remove the Azure variables that would change credential behaviour."""
    for name in AZURE_VARIABLES:
        os.environ.pop(name, None)


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the block, restoring the previous values after."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class CountingCredential:
    """Wraps a sync credential and counts the calls made to it (and the overlap).

    Attributes:
        calls: ``get_token``/``get_token_info`` calls.
        max_concurrent: The most calls that were in progress at once.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls = 0
        self.max_concurrent = 0
        self._active = 0
        self._lock = threading.Lock()

    def _enter(self) -> None:
        with self._lock:
            self.calls += 1
            self._active += 1
            self.max_concurrent = max(self.max_concurrent, self._active)

    def _exit(self) -> None:
        with self._lock:
            self._active -= 1

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        self._enter()
        try:
            return self.inner.get_token_info(*scopes, options=options)
        finally:
            self._exit()

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        self._enter()
        try:
            return self.inner.get_token(*scopes, **kwargs)
        finally:
            self._exit()

    def close(self) -> None:
        self.inner.close()


class AsyncCountingCredential(CountingCredential):
    """The ``azure.identity.aio`` twin of :class:`CountingCredential`."""

    async def get_token_info(self, *scopes: str, options: Any = None) -> Any:  # type: ignore[override]
        self._enter()
        try:
            return await self.inner.get_token_info(*scopes, options=options)
        finally:
            self._exit()

    async def get_token(self, *scopes: str, **kwargs: Any) -> Any:  # type: ignore[override]
        self._enter()
        try:
            return await self.inner.get_token(*scopes, **kwargs)
        finally:
            self._exit()

    async def close(self) -> None:  # type: ignore[override]
        await self.inner.close()


class RemoteAzure:
    """The identity and Azure OpenAI emulators, served by a child process.

    Attributes:
        identity: ``IDENTITY_ENDPOINT`` / ``IDENTITY_HEADER`` of the identity emulator.
        endpoint: The Azure OpenAI endpoint.
    """

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        hello = self._read()
        self.identity: dict[str, str] = hello["identity"]
        self.endpoint: str = hello["endpoint"]
        self._lock = threading.Lock()

    def _read(self) -> dict[str, Any]:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError("the emulator process exited")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def command(self, *words: object) -> dict[str, Any]:
        """Send one command and return its JSON reply."""
        assert self._process.stdin is not None
        with self._lock:
            self._process.stdin.write(" ".join(str(w) for w in words) + "\n")
            self._process.stdin.flush()
            return self._read()

    def stats(self) -> dict[str, Any]:
        """Both emulators' counters."""
        return self.command("stats")

    def reset(self) -> None:
        """Zero both emulators' counters."""
        self.command("reset")

    def close(self) -> None:
        """Stop the child process."""
        if self._process.poll() is None:
            with suppress(OSError, RuntimeError, ValueError):
                self.command("exit")
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def __enter__(self) -> RemoteAzure:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
