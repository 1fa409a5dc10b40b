"""Import time: ``import adapters`` against a bare ``import azure.identity``.

Each figure is the median over fresh interpreters of the time the import statement takes
(``time.perf_counter`` around it, so interpreter start-up is left out). Bytecode is cached
and warm: ``PYTHONDONTWRITEBYTECODE`` may be set in this environment (and the virtual
environment may hold no ``.pyc`` files), so every run points ``PYTHONPYCACHEPREFIX`` at one
temporary directory and the first runs of each statement, which fill it, are discarded.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from benchmarks._common import Row, fmt_time, median

SECTION = "Import time (fresh interpreter, warm bytecode cache)"
_PROGRAM = "import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
_PAIRS = (
    ("import adapters", "import azure.identity"),
    ("import adapters, azure.identity", "import azure.identity"),
)


def _measure(statement: str, env: dict[str, str]) -> float:
    output = subprocess.run(
        [sys.executable, "-c", _PROGRAM.format(statement=statement)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(output.strip())


def run(*, quick: bool) -> list[Row]:
    """Measure the imports in fresh interpreters; returns the table rows."""
    repeats = 5 if quick else 21
    statements = sorted({statement for pair in _PAIRS for statement in pair})
    with tempfile.TemporaryDirectory(prefix="adapters-bench-pycache-") as cache:
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = cache
        for statement in statements:  # fill the bytecode cache
            _measure(statement, env)
            _measure(statement, env)
        samples: dict[str, list[float]] = {statement: [] for statement in statements}
        for _ in range(repeats):
            for statement in statements:  # interleaved, so drift hits all alike
                samples[statement].append(_measure(statement, env))
    medians = {statement: median(values) for statement, values in samples.items()}
    rows = []
    for ours, plain in _PAIRS:
        extra = medians[ours] - medians[plain]
        rows.append(
            Row(
                SECTION,
                f"`{ours}` vs `{plain}`",
                fmt_time(medians[ours]),
                fmt_time(medians[plain]),
                f"{extra * 1e3:+.1f} ms",
                "< 20 ms more",
                extra < 0.020,
                extra * 1e3,
                "{:+.1f} ms",
            )
        )
    return rows
