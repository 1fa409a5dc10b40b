"""Run the benchmarks and print one Markdown table per benchmark, ours beside the baseline.

Usage::

    uv run python -m benchmarks                      # everything, 3 runs, 60-s long run
    uv run python -m benchmarks --quick              # smoke run: 1 run, small loops, 5-s long run
    uv run python -m benchmarks --only hot,storm --runs 5
    uv run python -m benchmarks --duration 300       # a longer long run

Sections: ``hot`` (hot path), ``storm`` (cold-start storm), ``e2e`` (end to end), ``long``
(long run) and ``import`` (import time). Every section but the long run is repeated
``--runs`` times; each row shows the run with the median headline figure and, in brackets,
the range over runs.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import shlex
import sys
import time
from collections.abc import Callable, Sequence

from benchmarks import cold_start, end_to_end, hot_path, import_time, long_run
from benchmarks._common import Row, clean_environment

SECTIONS = ("hot", "storm", "e2e", "long", "import")
_PACKAGES = (
    "keyless-adapters",
    "azure-identity",
    "azure-core",
    "msal",
    "openai",
    "httpx",
    "uvicorn",
)
_HEADER = ("Benchmark", "Ours", "Baseline", "Ratio", "Goal", "Met")


def machine() -> list[str]:
    """Lines describing the machine and the library versions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = []
    for name in _PACKAGES:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    load = ""
    if hasattr(os, "getloadavg"):
        load = f", load average at start {os.getloadavg()[0]:.2f}"
    return [
        f"- Machine: {os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}{load}",
        f"- Python {platform.python_version()} ({sys.implementation.name})",
        f"- {', '.join(versions)}",
    ]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _median_row(runs: Sequence[Row]) -> Row:
    """The row of the run with the median headline figure, with the range appended."""
    if len(runs) == 1 or runs[0].key is None:
        return runs[0]
    keyed = sorted(runs, key=lambda row: row.key if row.key is not None else 0.0)
    chosen = keyed[(len(keyed) - 1) // 2]
    low, high = keyed[0].key, keyed[-1].key
    fmt = chosen.key_format
    spread = f"range {fmt.format(low)} to {fmt.format(high)} over {len(runs)} runs"
    ratio = f"{chosen.ratio} ({spread})" if chosen.ratio else f"({spread})"
    met = chosen.met
    if met is not None:
        # Quote the median run's verdict, but say when another run disagreed.
        verdicts = {row.met for row in runs}
        if len(verdicts) > 1:
            ratio += "; goal met in " + f"{sum(bool(row.met) for row in runs)}/{len(runs)}"
    return Row(
        chosen.section,
        chosen.metric,
        chosen.ours,
        chosen.baseline,
        ratio,
        chosen.goal,
        met,
        chosen.key,
        chosen.key_format,
    )


def render(rows: Sequence[Row]) -> str:
    """Markdown: one table per section."""
    lines: list[str] = []
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            lines += ["", f"### {section}", ""]
            lines.append("| " + " | ".join(_HEADER) + " |")
            lines.append("|" + "---|" * len(_HEADER))
        met = "" if row.met is None else ("yes" if row.met else "**no**")
        cells = (row.metric, row.ours, row.baseline, row.ratio, row.goal, met)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    goals = [row for row in rows if row.met is not None]
    met_count = sum(bool(row.met) for row in goals)
    lines += ["", f"Goals met: {met_count} of {len(goals)}."]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="keyless-adapters against plain azure-identity, side by side.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 run, small loops, 5-s long run"
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="seconds of load per design in the long run (default 60; 5 with --quick)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=None,
        help="repeat every section but the long run this many times (default 3; 1 with --quick)",
    )
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run, from {', '.join(SECTIONS)}",
    )
    args = parser.parse_args(argv)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(args.only) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {SECTIONS}")
    if args.duration is None:
        args.duration = 5.0 if args.quick else 60.0
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    if args.runs < 1 or args.duration <= 0:
        parser.error("--runs must be >= 1 and --duration > 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected sections and print the tables; returns the exit status."""
    args = parse_args(argv)
    clean_environment()
    command = "uv run python -m benchmarks" + (
        " " + shlex.join(sys.argv[1:] if argv is None else list(argv))
        if (sys.argv[1:] if argv is None else argv)
        else ""
    )
    print("## Benchmark results\n")
    print(f"- Command: `{command}`")
    for line in machine():
        print(line)
    print(
        f"- Runs: {args.runs} (long run: once, {args.duration:.0f} s per design)",
        flush=True,
    )
    if args.quick:
        print("- Quick mode: small loops, for smoke runs; quote only full runs.", flush=True)

    runners: dict[str, Callable[[], list[Row]]] = {
        "hot": lambda: hot_path.run(quick=args.quick),
        "storm": lambda: cold_start.run(quick=args.quick),
        "e2e": lambda: end_to_end.run(quick=args.quick),
        "long": lambda: long_run.run(duration=args.duration),
        "import": lambda: import_time.run(quick=args.quick),
    }
    rows: list[Row] = []
    started = time.perf_counter()
    for name in SECTIONS:
        if name not in args.only:
            continue
        repeats = 1 if name == "long" else args.runs
        results = []
        for index in range(repeats):
            print(f"  running {name} ({index + 1}/{repeats})...", file=sys.stderr, flush=True)
            results.append(runners[name]())
        rows += [_median_row(column) for column in zip(*results, strict=True)]
    print(render(rows))
    print(f"\nTotal time: {time.perf_counter() - started:.0f} s.")
    return 0
