"""Every bad input in the table produces its exact error, and the docs show the same table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.bad_inputs import BAD_INPUTS, BadInput, render

ROOT = Path(__file__).resolve().parents[2]
SNIPPET = ROOT / "docs" / "snippets" / "bad-inputs.md"


def test_table_has_at_least_twenty_distinct_inputs():
    """The table covers 20+ distinct bad inputs."""
    assert len({row.given for row in BAD_INPUTS}) == len(BAD_INPUTS) >= 20


@pytest.mark.parametrize("row", BAD_INPUTS, ids=[row.id for row in BAD_INPUTS])
def test_bad_input_produces_its_error(row: BadInput, monkeypatch):
    """The input raises the expected error type with the expected text, and no secret."""
    for name, value in row.env.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(row.error) as raised:
        row.call()

    message = str(raised.value)
    assert row.fragment in message
    if row.secret is not None:
        assert row.secret not in message
        assert row.secret not in repr(raised.value)


def test_committed_snippet_matches_the_table():
    """docs/snippets/bad-inputs.md is the table's current rendering (regenerate it if not)."""
    assert SNIPPET.read_text(encoding="utf-8") == render(), (
        "docs/snippets/bad-inputs.md is stale: run "
        "`uv run python -m tests.reliability.bad_inputs > docs/snippets/bad-inputs.md`"
    )


def test_module_prints_the_table():
    """`python -m tests.reliability.bad_inputs` prints the rendering."""
    printed = subprocess.run(
        [sys.executable, "-m", "tests.reliability.bad_inputs"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert printed == render()
