"""``adapters demo``: every adapter through token rotations, keyless, in under 30 seconds."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from dataclasses import dataclass

import pytest

from adapters._demo import STRAY_KEY

from .conftest import base_env, run_cli

CLIENTS = (
    "openai · AzureOpenAI: chat + embeddings",
    "openai · AsyncAzureOpenAI: streamed chat",
    "openai · OpenAI v1: chat",
    "openai · AsyncOpenAI v1: embeddings",
    "raw token · httpx.Auth: raw chat POST",
    "raw token · requests + token.headers()",
    "LangChain · AzureChatOpenAI: invoke + ainvoke",
    "LangChain · AzureOpenAIEmbeddings",
    "LlamaIndex · AzureOpenAI: complete",
    "LlamaIndex · AzureOpenAIEmbedding: async",
)
TOTAL = "All clients (server's count)"
# A table row: the client's name, then requests, failures, tokens and api-key headers.
ROW = re.compile(r"^(?P<name>\S.*?)\s{2,}(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$")


@dataclass(frozen=True)
class Row:
    """One line of the demo's final table."""

    name: str
    requests: int
    failures: int
    tokens: int
    api_keys: int


@dataclass(frozen=True)
class Demo:
    """One finished run of ``python -m adapters demo``."""

    result: subprocess.CompletedProcess[str]
    seconds: float

    @property
    def rows(self) -> dict[str, Row]:
        found = {}
        for line in self.result.stdout.splitlines():
            match = ROW.match(line)
            if match:
                name, *numbers = match.groups()
                found[name] = Row(name, *map(int, numbers))
        return found

    def row(self, name: str) -> Row:
        rows = self.rows
        assert name in rows, f"no row {name!r} in:\n{self.result.stdout}"
        return rows[name]


@pytest.fixture(scope="module")
def demo() -> Demo:
    """The demo, run once for this module (it takes about ten seconds)."""
    started = time.monotonic()
    result = run_cli("demo", env=base_env(), timeout=90)
    return Demo(result, time.monotonic() - started)


def test_demo_exits_0_with_a_successful_result(demo: Demo) -> None:
    """The demo ends with "Result: OK" and exit code 0."""
    assert demo.result.returncode == 0, demo.result.stdout + demo.result.stderr
    assert "Result: OK" in demo.result.stdout


def test_demo_finishes_in_under_30_seconds(demo: Demo) -> None:
    """The whole run, interpreter start included, takes less than 30 seconds."""
    assert demo.seconds < 30


def test_demo_table_shows_every_client_without_failures(demo: Demo) -> None:
    """Each client sent requests and none failed."""
    for client in CLIENTS:
        row = demo.row(client)
        assert row.requests > 0, client
        assert row.failures == 0, client


def test_demo_clients_cross_several_token_rotations(demo: Demo) -> None:
    """Each client's requests carried at least three distinct tokens."""
    for client in CLIENTS:
        assert demo.row(client).tokens >= 3, client


def test_demo_sends_no_api_key_despite_the_stray_variable(demo: Demo) -> None:
    """AZURE_OPENAI_API_KEY is set by the demo, yet no request carries an api-key header."""
    assert all(demo.row(client).api_keys == 0 for client in CLIENTS)
    assert demo.row(TOTAL).api_keys == 0
    assert f"AZURE_OPENAI_API_KEY={STRAY_KEY} was set" in demo.result.stdout
    assert "the server saw 0 api-key headers" in demo.result.stdout


def test_demo_shares_one_token_per_lifetime_across_clients(demo: Demo) -> None:
    """The server saw no more distinct tokens than the identity emulator issued, none expired."""
    match = re.search(
        r"the shared provider fetched (\d+) .* the identity emulator issued (\d+); "
        r"the server saw (\d+) distinct tokens, 0 expired",
        demo.result.stdout,
    )
    assert match is not None, demo.result.stdout
    fetched, issued, seen = map(int, match.groups())
    assert seen <= issued <= fetched
    assert demo.row(TOTAL).tokens == seen


def test_demo_prints_plain_progress_lines_when_not_on_a_terminal(demo: Demo) -> None:
    """Without a terminal the progress is plain lines, with no terminal escape codes."""
    assert re.search(r"^\[\s*\d+\.\d s\] 10 clients running: ", demo.result.stdout, re.M)
    assert "\x1b[" not in demo.result.stdout


def test_demo_without_the_testing_extra_names_it() -> None:
    """With the emulator dependencies missing, the demo names the extra and exits 2."""
    code = (
        "import sys; sys.modules['uvicorn'] = None\n"
        "from adapters.cli import main; sys.exit(main(['demo']))"
    )

    result = subprocess.run(
        [sys.executable, "-c", code],
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert "pip install 'keyless-adapters[testing]'" in result.stderr
    assert result.stderr.count("\n") == 1


def test_demo_skips_a_missing_framework_and_names_its_extra() -> None:
    """Without LangChain and LlamaIndex, their rows are skipped with the extra to install."""
    code = (
        "import sys; sys.modules['langchain_openai'] = None; sys.modules['llama_index'] = None\n"
        "from adapters.cli import main; sys.exit(main(['demo', '--duration', '2']))"
    )

    result = subprocess.run(
        [sys.executable, "-c", code],
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "LangChain · AzureChatOpenAI: invoke + ainvoke (skipped)" in result.stdout
    assert "pip install 'keyless-adapters[langchain]'" in result.stdout
    assert "pip install 'keyless-adapters[llama-index]'" in result.stdout
    assert "Result: OK" in result.stdout
