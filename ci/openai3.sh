#!/usr/bin/env bash
# Runs the openai and LangChain adapter tests against openai 3.x.
#
# The locked environment has openai 2.x (llama-index-llms-openai pins openai<3), while
# `pip install "keyless-adapters[openai]"` (and `[langchain]`: langchain-openai has no
# upper bound) resolves openai 3.x today. This script keeps a second environment,
# .venv-openai3 (gitignored), without the llama-index extra, so the resolver picks
# openai 3, and runs the openai adapter, LangChain adapter and lazy-import tests there.
#
# Usage: ci/openai3.sh [extra pytest arguments]
#   OPENAI3_FRESH=1 ci/openai3.sh   recreate the environment and take the newest openai 3.x
set -euo pipefail

cd "$(dirname "$0")/.."
venv=.venv-openai3

if [[ "${OPENAI3_FRESH:-0}" == "1" ]]; then
    rm -rf "$venv"
fi
uv venv --quiet --allow-existing "$venv"
uv pip install --quiet --python "$venv" \
    -e ".[openai,langchain,testing]" "openai>=3" \
    "pytest>=8" "pytest-asyncio>=0.24" "pytest-timeout>=2.3"

"$venv/bin/python" - <<'PY'
import importlib.util
import openai

major = int(openai.__version__.split(".")[0])
print(f"openai {openai.__version__} in .venv-openai3")
assert major >= 3, f"expected openai 3.x, resolved {openai.__version__}"
# Without the llama-index extra nothing pins openai<3; make sure it stayed out.
assert importlib.util.find_spec("llama_index") is None, "llama-index leaked into .venv-openai3"
PY

exec "$venv/bin/python" -m pytest -q -p no:cacheprovider \
    tests/integration/test_openai_adapter.py tests/integration/test_langchain_adapter.py \
    tests/unit/test_lazy_imports.py "$@"
