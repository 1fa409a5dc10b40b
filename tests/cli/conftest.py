"""Helpers for the CLI tests: run ``python -m adapters`` with an explicit environment.

Every command runs as a subprocess of this interpreter, with an environment built from
scratch (a few neutral variables copied from ours, plus what the test gives), so nothing
from the developer's shell leaks in. The emulators run in the test process; their
addresses reach the subprocess through that environment.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from adapters.testing import AzureOpenAIEmulator, ManagedIdentityEmulator

# Neutral variables the subprocess may inherit: none of them names an Azure resource,
# a credential or a proxy.
_INHERITED = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "TMPDIR",
    "TZ",
    "SYSTEMROOT",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONPYCACHEPREFIX",
)

CHAT = "chat"
"""The chat deployment the Azure OpenAI emulator fixture serves."""


def base_env(**extra: str) -> dict[str, str]:
    """A clean environment for a CLI subprocess, plus ``extra``."""
    env = {name: os.environ[name] for name in _INHERITED if name in os.environ}
    env.update(extra)
    return env


def run_cli(
    *args: str, env: Mapping[str, str], timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m adapters *args`` and capture its output as text."""
    return subprocess.run(
        [sys.executable, "-m", "adapters", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def closed_ports(count: int = 1) -> list[int]:
    """Distinct 127.0.0.1 ports that nothing listens on (bound together, then released)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def closed_port() -> int:
    """A 127.0.0.1 port that nothing listens on."""
    return closed_ports(1)[0]


@pytest.fixture
def azure_env(
    identity_emulator: ManagedIdentityEmulator, azure_openai_emulator: AzureOpenAIEmulator
) -> dict[str, str]:
    """The environment of an app on an Azure host with a chat deployment configured."""
    return base_env(
        **identity_emulator.environ,
        AZURE_OPENAI_ENDPOINT=azure_openai_emulator.endpoint,
        AZURE_OPENAI_CHAT_DEPLOYMENT=CHAT,
    )
