"""``adapters emulator``: prints the exports, serves an unchanged app, stops cleanly."""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
import requests

from .conftest import base_env, closed_ports, run_cli

EXPORTED = {
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_API_VERSION",
    "OPENAI_API_VERSION",
    "AZURE_OPENAI_CHAT_DEPLOYMENT",
    "AZURE_OPENAI_EMBEDDING_DEPLOYMENT",
    "IDENTITY_ENDPOINT",
    "IDENTITY_HEADER",
}


class Emulator:
    """``python -m adapters emulator`` running in the background."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "adapters", "emulator", *args],
            env=base_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self.exports: dict[str, str] = {}
        assert self.process.stdout is not None
        for line in self.process.stdout:  # ends with the `unset` line, then it serves
            self.lines.append(line.rstrip("\n"))
            if line.startswith("export "):
                name, _, value = shlex.split(line)[1].partition("=")
                self.exports[name] = value
            if line.startswith("unset "):
                break

    def stop(self, signum: int) -> tuple[int, str]:
        """Send ``signum`` and return the exit code and stderr."""
        self.process.send_signal(signum)
        _, stderr = self.process.communicate(timeout=20)
        return self.process.returncode, stderr


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """The emulator command, started; killed at the end if a test left it running."""
    running = Emulator("--token-lifetime", "60")
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.communicate(timeout=20)


def test_emulator_prints_every_variable_to_export(emulator: Emulator) -> None:
    """The exports name the endpoint, identity endpoint, deployments and API version."""
    assert set(emulator.exports) == EXPORTED
    assert emulator.exports["AZURE_OPENAI_ENDPOINT"].startswith("http://127.0.0.1:")
    assert emulator.exports["IDENTITY_ENDPOINT"].startswith("http://127.0.0.1:")
    assert emulator.exports["AZURE_OPENAI_CHAT_DEPLOYMENT"] == "chat"
    assert "AZURE_OPENAI_API_KEY" in emulator.lines[-1].split()


def test_emulator_exports_serve_an_unchanged_app(emulator: Emulator) -> None:
    """An app given only the exported variables works: doctor passes against them."""
    result = run_cli("doctor", env=base_env(**emulator.exports))

    assert result.returncode == 0, result.stdout
    assert "ManagedIdentityCredential" in result.stdout


def test_emulator_stops_cleanly_on_sigint(emulator: Emulator) -> None:
    """Ctrl-C (SIGINT) stops both servers and exits 0, without a traceback."""
    endpoint = emulator.exports["AZURE_OPENAI_ENDPOINT"]

    code, stderr = emulator.stop(signal.SIGINT)

    assert code == 0
    assert "stopped after" in stderr
    assert "Traceback" not in stderr
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{endpoint}/openai/v1/models", timeout=5)


def test_emulator_stops_cleanly_on_sigterm(emulator: Emulator) -> None:
    """SIGTERM stops it too, with exit code 0."""
    code, stderr = emulator.stop(signal.SIGTERM)

    assert code == 0
    assert "stopped after" in stderr


def test_emulator_listens_on_the_requested_ports() -> None:
    """--port and --identity-port choose the two listening ports."""
    port, identity_port = closed_ports(2)
    running = Emulator("--port", str(port), "--identity-port", str(identity_port))
    try:
        assert running.exports["AZURE_OPENAI_ENDPOINT"] == f"http://127.0.0.1:{port}"
        assert running.exports["IDENTITY_ENDPOINT"].startswith(f"http://127.0.0.1:{identity_port}/")
    finally:
        code, _ = running.stop(signal.SIGINT)
    assert code == 0
