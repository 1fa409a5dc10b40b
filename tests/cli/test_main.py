"""The ``adapters`` entry points: help, cheap import, and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from adapters.cli import build_parser, main

from .conftest import base_env, run_cli

COMMANDS = ("demo", "doctor", "token", "emulator")
HEAVY = (
    "azure.identity",
    "azure.core",
    "openai",
    "requests",
    "jwt",
    "httpx",
    "rich",
    "starlette",
    "langchain_openai",
    "llama_index",
)


def test_python_m_adapters_lists_the_commands() -> None:
    """``python -m adapters --help`` exits 0 and names every command."""
    result = run_cli("--help", env=base_env())

    assert result.returncode == 0
    assert all(command in result.stdout for command in COMMANDS)


def test_console_script_runs_the_same_cli() -> None:
    """The installed ``adapters`` console script answers ``--help``."""
    script = Path(sys.executable).with_name("adapters")
    if not script.exists():  # pragma: no cover - a non-editable layout without scripts
        pytest.skip("no console script next to the interpreter")

    result = subprocess.run(
        [str(script), "--help"], env=base_env(), capture_output=True, text=True, check=False
    )

    assert result.returncode == 0
    assert "doctor" in result.stdout


def test_importing_the_cli_imports_nothing_heavy() -> None:
    """``import adapters.cli`` loads no azure, HTTP, JWT or framework library."""
    code = f"import sys, adapters.cli\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"

    result = subprocess.run(
        [sys.executable, "-c", code], env=base_env(), capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == ""


def test_configuration_error_is_one_line_on_stderr_with_exit_2() -> None:
    """A bad setting prints one clear line, no traceback, and exits 2."""
    result = run_cli("token", env=base_env(AZURE_OPENAI_ENDPOINT="my-resource.openai.azure.com"))

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("adapters token: AZURE_OPENAI_ENDPOINT is not a URL")
    assert result.stderr.count("\n") == 1


def test_missing_command_is_a_usage_error() -> None:
    """Running ``adapters`` without a command prints usage and exits 2."""
    with pytest.raises(SystemExit) as exit_info:
        main([])

    assert exit_info.value.code == 2


@pytest.mark.parametrize("value", ["0", "-1", "nan", "soon"])
def test_timeouts_must_be_positive_numbers(value: str) -> None:
    """--timeout refuses zero, negative and non-numeric values."""
    with pytest.raises(SystemExit):
        build_parser().parse_args(["doctor", "--timeout", value])


def test_defaults_of_the_commands() -> None:
    """The documented defaults: 30 s timeouts, 2 s demo tokens, any free emulator ports."""
    parser = build_parser()

    assert parser.parse_args(["doctor"]).timeout == 30.0
    assert parser.parse_args(["token"]).timeout == 30.0
    assert parser.parse_args(["demo"]).token_lifetime == 2.0
    emulator = parser.parse_args(["emulator"])
    assert (emulator.port, emulator.identity_port) == (0, 0)
