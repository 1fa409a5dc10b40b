"""Frameworks load only when an adapter is called, and a missing one names its extra.

Each check runs in a fresh interpreter, so modules imported by other tests do not count.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

FRAMEWORKS = ("openai", "langchain", "langchain_core", "langchain_openai", "llama_index")


def run(code: str) -> str:
    """Run ``code`` in a fresh interpreter and return its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def loaded_frameworks_after(statement: str) -> list[str]:
    """The framework packages in ``sys.modules`` after running ``statement``."""
    out = run(
        f"""
        import json, sys
        {statement}
        names = {FRAMEWORKS!r}
        print(json.dumps(sorted(n for n in names if n in sys.modules)))
        """
    )
    return list(json.loads(out))


def test_import_adapters_loads_no_framework() -> None:
    """``import adapters`` imports neither openai, LangChain nor LlamaIndex."""
    assert loaded_frameworks_after("import adapters") == []


def test_importing_the_adapter_modules_loads_no_framework() -> None:
    """The adapter modules import their framework only when a function is called."""
    statement = "import adapters.openai, adapters.langchain, adapters.llama_index"

    assert loaded_frameworks_after(statement) == []


def test_adapters_openai_does_not_shadow_the_sdk() -> None:
    """``adapters/openai.py`` gets the top-level openai package, not itself."""
    pytest.importorskip("openai")

    out = run(
        """
        import adapters.openai, adapters._framework
        sdk = adapters._framework._openai()
        print(sdk.__name__, hasattr(sdk, "AzureOpenAI"), sdk is not adapters.openai)
        """
    )

    assert out.split() == ["openai", "True", "True"]


@pytest.mark.parametrize(
    ("module", "call", "extra"),
    [
        ("openai", "adapters.openai.client()", "openai"),
        ("langchain_openai", "adapters.langchain.chat_model()", "langchain"),
        ("langchain_openai", "adapters.langchain.embeddings()", "langchain"),
        ("llama_index.llms.azure_openai", "adapters.llama_index.llm()", "llama-index"),
        (
            "llama_index.embeddings.azure_openai",
            "adapters.llama_index.embedding()",
            "llama-index",
        ),
    ],
)
def test_missing_framework_names_the_extra(module: str, call: str, extra: str) -> None:
    """Calling an adapter whose framework is absent says which extra to install."""
    out = run(
        f"""
        import sys
        sys.modules[{module!r}] = None  # as if the package were not installed
        import adapters.openai, adapters.langchain, adapters.llama_index
        from adapters.errors import MissingExtraError
        try:
            {call}
        except MissingExtraError as exc:
            print(isinstance(exc, ImportError), exc)
        """
    )

    assert out.startswith("True ")
    assert f'pip install "keyless-adapters[{extra}]"' in out
