"""The documentation builds without a warning, and the code it shows runs."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
REFERENCE_MODULES = (
    "adapters",
    "adapters.openai",
    "adapters.langchain",
    "adapters.llama_index",
    "adapters.rawtoken",
    "adapters.settings",
    "adapters.credentials",
    "adapters.testing",
    "adapters.errors",
)


def _installed(*modules: str) -> bool:
    return all(importlib.util.find_spec(module) is not None for module in modules)


@pytest.mark.skipif(
    not _installed("mkdocs", "material", "mkdocstrings"),
    reason="mkdocs-material and mkdocstrings are not installed",
)
def test_docs_build_strictly(tmp_path: Path) -> None:
    """`mkdocs build --strict` succeeds: no warning, no broken link or anchor."""
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output, output
    assert (tmp_path / "index.html").is_file()
    assert (tmp_path / "reference" / "openai" / "index.html").is_file()


def test_every_public_module_has_a_reference_page() -> None:
    """Each public module is rendered by a mkdocstrings directive under docs/reference/."""
    directives = {
        match.group(1)
        for page in (DOCS / "reference").glob("*.md")
        for match in re.finditer(r"^::: ([\w.]+)\s*$", page.read_text(encoding="utf-8"), re.M)
    }
    assert set(REFERENCE_MODULES) <= directives


def test_every_example_is_shown_on_the_examples_page() -> None:
    """docs/examples.md includes every script in examples/."""
    page = (DOCS / "examples.md").read_text(encoding="utf-8")
    for script in sorted((ROOT / "examples").glob("*.py")):
        assert f'--8<-- "examples/{script.name}"' in page, script.name


@pytest.mark.skipif(
    not _installed("starlette", "openai"), reason="needs the testing and openai extras"
)
def test_testing_page_example_module_passes() -> None:
    """The test module shown on the "Testing your app" page passes with the pytest plugin."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(DOCS / "snippets" / "test_my_app.py"),
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        env={**os.environ, "TZ": "UTC"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr  # 5 if nothing ran


def test_readme_begins_with_the_two_commands() -> None:
    """The README's first code block is `uv run adapters demo` then `uv run pytest`."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```\w*\n(.*?)```", readme, re.S)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert [c for c in commands if c] == ["uv run adapters demo", "uv run pytest"]
