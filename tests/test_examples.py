"""Every script in examples/ runs against the loopback emulators and prints what it promises.

Each example runs as its own process, exactly as a user runs it (``python examples/x.py``),
with only environment variables pointing it at the emulated Azure: the App Service
managed-identity endpoint (``IDENTITY_ENDPOINT``/``IDENTITY_HEADER``, picked up by the real
``ManagedIdentityCredential``) and the Azure OpenAI emulator, which rejects ``api-key``
headers and checks every bearer token. The cases are keyed by file name, so a new example
without a case fails here until one is added.
"""

from __future__ import annotations

import ast
import concurrent.futures
import importlib.util
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

pytest.importorskip("starlette")  # the emulators need the testing extra

if TYPE_CHECKING:
    from adapters.testing import AzureOpenAIEmulator, ManagedIdentityEmulator, TokenIssuer

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES_DIR = ROOT / "examples"
EXAMPLES = sorted(path.name for path in EXAMPLES_DIR.glob("*.py"))

CHAT = "my-chat"
EMBEDDING = "my-embeddings"
# Deployment names that differ from the model names, as on a real resource.
DEPLOYMENTS = {CHAT: "gpt-4o-mini", EMBEDDING: "text-embedding-3-small"}
RUN_TIMEOUT = 90.0


@dataclass(frozen=True)
class Case:
    """What one example needs and must print."""

    expected: tuple[str, ...]
    """Substrings its standard output must contain."""
    requires: tuple[str, ...] = ()
    """Modules it imports beyond openai (skipped when one is missing)."""
    server: bool = False
    """A web app: started on a free loopback port and driven over HTTP."""


CASES: dict[str, Case] = {
    "openai_sync.py": Case(
        (
            f"chat ({CHAT} runs gpt-4o-mini):",
            f"Hello from {CHAT}! You said: Say hello in five words.",
            "embeddings: 2 vectors of 8 floats",
            "token fetches: 1 (ManagedIdentityCredential)",
        )
    ),
    "openai_async.py": Case(
        (
            f"A: Hello from {CHAT}! You said: What is a managed identity?",
            f"Hello from {CHAT}! You said: Stream me a short greeting.",
            "token fetches: 1 for 4 requests",
        )
    ),
    "openai_v1.py": Case(
        (
            "/openai/v1/",
            f"models: {CHAT}, {EMBEDDING}",
            f"chat: Hello from {CHAT}! You said: Hello from the v1 surface",
            "embedding: 8 floats",
            f"async chat: Hello from {CHAT}! You said: Hello from asyncio",
        )
    ),
    "langchain_chat.py": Case(
        (
            f"invoke: Hello from {CHAT}! You said: Explain keyless authentication.",
            f"batch: Hello from {CHAT}! You said: Explain RBAC.",
            f"ainvoke: Hello from {CHAT}! You said: Explain token refresh.",
            "token fetches: 1",
        ),
        requires=("langchain_openai",),
    ),
    "langchain_embeddings.py": Case(
        ("embedded 2 documents, 8 dimensions each", "Managed identities give"),
        requires=("langchain_openai",),
    ),
    "llama_index_llm.py": Case(
        (
            f"complete: Hello from {CHAT}! You said: Name one benefit",
            f"chat: Hello from {CHAT}! You said: And one more?",
            f"stream: Hello from {CHAT}! You said: Stream this.",
            f"acomplete: Hello from {CHAT}! You said: Async, please.",
            "token fetches: 1",
        ),
        requires=("llama_index.llms.azure_openai",),
    ),
    "llama_index_embedding.py": Case(
        ("batch: 3 vectors of 8 floats", "query: 8 floats", "matches the sync one: True"),
        requires=("llama_index.embeddings.azure_openai",),
    ),
    "rag_pipeline.py": Case(
        (
            "context 1: The Cognitive Services OpenAI User role grants access",
            f"answer: Hello from {CHAT}! You said: Which role does my managed identity need",
            "token fetches for the whole pipeline: 1",
        ),
        requires=("langchain_openai", "llama_index.embeddings.azure_openai"),
    ),
    "raw_token_httpx.py": Case(
        (
            "credential=ManagedIdentityCredential",
            "valid for at least 5 more minutes: True",
            f"httpx: Hello from {CHAT}! You said: Hello over raw HTTP",
            f"httpx async: Hello from {CHAT}! You said: Hello over raw HTTP",
            "headers(): HTTP 200",
        )
    ),
    "web_app.py": Case(("keyless chat app: POST /chat, GET /stats",), server=True),
}


@dataclass
class EmulatedAzure:
    """The emulators an example talks to, and the environment that points at them."""

    identity: ManagedIdentityEmulator
    openai: AzureOpenAIEmulator
    environ: dict[str, str]


@pytest.fixture
def emulated_azure(token_issuer: TokenIssuer) -> Iterator[EmulatedAzure]:
    """A managed identity and an Azure OpenAI resource, as environment variables."""
    from adapters.testing import AzureOpenAIEmulator, ManagedIdentityEmulator

    with (
        ManagedIdentityEmulator(issuer=token_issuer) as identity,
        AzureOpenAIEmulator(issuer=token_issuer, deployments=DEPLOYMENTS) as openai,
    ):
        # os.environ is already free of Azure variables (tests/conftest.py).
        environ = {
            **os.environ,
            **identity.environ,
            "AZURE_OPENAI_ENDPOINT": openai.endpoint,
            "AZURE_OPENAI_CHAT_DEPLOYMENT": CHAT,
            "AZURE_OPENAI_EMBEDDING_DEPLOYMENT": EMBEDDING,
            "AZURE_OPENAI_API_VERSION": "2024-10-21",
            "PYTHONUNBUFFERED": "1",
            "NO_PROXY": "127.0.0.1,localhost",
        }
        yield EmulatedAzure(identity, openai, environ)


def _case(name: str) -> Case:
    case = CASES.get(name)
    assert case is not None, f"examples/{name} has no case in tests/test_examples.py: add one"
    for module in case.requires:
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # a parent package is missing
            found = False
        if not found:
            pytest.skip(f"examples/{name} needs {module}, which is not installed")
    return case


def _run_script(name: str, environ: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES_DIR / name)],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )


def _run_server(environ: dict[str, str]) -> tuple[int, str, str]:
    """Start the web app on a free port, chat through it, stop it; returns rc and output."""
    import httpx

    process = subprocess.Popen(
        [sys.executable, str(EXAMPLES_DIR / "web_app.py")],
        cwd=ROOT,
        env={**environ, "HOST": "127.0.0.1", "PORT": "0"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    stderr_lines: list[str] = []
    started = threading.Event()
    url: list[str] = []

    def read_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            stderr_lines.append(line)
            match = re.search(r"Uvicorn running on (http://127\.0\.0\.1:\d+)", line)
            if match:
                url.append(match.group(1))
                started.set()
        started.set()  # the process ended without starting

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        assert started.wait(RUN_TIMEOUT), "the web app did not start"
        assert url, "the web app exited before serving:\n" + "".join(stderr_lines)
        with httpx.Client(base_url=url[0], timeout=30) as http:

            def ask(i: int) -> str:
                response = http.post("/chat", json={"message": f"hello {i}"})
                response.raise_for_status()
                return str(response.json()["reply"])

            with concurrent.futures.ThreadPoolExecutor(5) as pool:
                replies = list(pool.map(ask, range(5)))
            stats = http.get("/stats").json()
            rejected = http.post("/chat", json={}).status_code
    finally:
        process.send_signal(signal.SIGTERM)
        # Not communicate(): it would read stderr too, racing the reader thread for lines.
        try:
            process.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(5)
        assert process.stdout is not None
        stdout = process.stdout.read()
        process.stdout.close()
    assert replies == [f"Hello from {CHAT}! You said: hello {i}" for i in range(5)]
    assert stats == {"credential": "ManagedIdentityCredential", "token_fetches": 1}
    assert rejected == 400
    stderr = "".join(stderr_lines)
    # uvicorn shuts down gracefully on SIGTERM (closing the client in the lifespan), then
    # re-raises the signal, so the process ends "killed by SIGTERM" rather than with 0.
    assert "Application shutdown complete." in stderr
    assert process.returncode in (0, -signal.SIGTERM)
    return 0, stdout, stderr


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_keyless_against_the_emulators(
    name: str, emulated_azure: EmulatedAzure
) -> None:
    """The example exits 0, prints its expected lines, and sends only fresh bearer tokens."""
    case = _case(name)
    started = time.perf_counter()
    if case.server:
        returncode, stdout, stderr = _run_server(emulated_azure.environ)
    else:
        result = _run_script(name, emulated_azure.environ)
        returncode, stdout, stderr = result.returncode, result.stdout, result.stderr
    elapsed = time.perf_counter() - started

    assert returncode == 0, f"examples/{name} failed ({elapsed:.1f} s):\n{stdout}\n{stderr}"
    assert "Traceback" not in stderr, stderr
    missing = [line for line in case.expected if line not in stdout]
    assert not missing, f"examples/{name} did not print {missing}; it printed:\n{stdout}"
    openai = emulated_azure.openai
    assert openai.requests > 0
    assert openai.statuses == {200: openai.requests}, openai.log
    assert openai.api_key_headers == 0
    # One token for the whole process, however many requests and frameworks used it.
    assert emulated_azure.identity.tokens_issued == 1


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_is_a_script_with_a_main(name: str) -> None:
    """The example defines main() and calls it under ``if __name__ == "__main__":``."""
    tree = ast.parse((EXAMPLES_DIR / name).read_text(encoding="utf-8"))
    functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert "main" in functions
    assert ast.get_docstring(tree), f"examples/{name} needs a module docstring"
    guard = tree.body[-1]
    assert isinstance(guard, ast.If)
    assert ast.unparse(guard.test) == "__name__ == '__main__'"
    assert ast.unparse(guard.body[0]) == "main()"


def test_every_case_names_an_existing_example() -> None:
    """No case in this file outlives the example it tests."""
    assert sorted(CASES) == EXAMPLES
