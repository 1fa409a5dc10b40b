"""Side-by-side benchmarks: keyless-adapters' token provider against plain azure-identity.

Run everything with one command (a few minutes; ``--quick`` for a smoke run)::

    uv run python -m benchmarks            # add --quick, --duration 30, --only hot,storm

Every figure of ours is measured in the same run, against the same loopback emulators,
as the same figure for ``azure.identity.get_bearer_token_provider`` (and its
``azure.identity.aio`` twin), and printed beside it with the ratio and the goal. The
results and the machine they came from are recorded in ``docs/performance.md``.

Benchmarks are not tests: they measure wall-clock time, so they stay out of the pytest run.
"""
