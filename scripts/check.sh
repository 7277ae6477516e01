#!/usr/bin/env bash
# The static checks, run by scripts/test.sh before the tests: ruff's lint and its format check, then mypy's
# types (their configuration: [tool.ruff] and [tool.mypy] in pyproject.toml). Fix with
# `.venv/bin/python -m ruff check --fix . && .venv/bin/python -m ruff format .`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${GOURMETGRAM_VENV:-$ROOT/.venv}/bin/python"
cd "$ROOT"
started=$SECONDS
"$PYTHON" -m ruff check --quiet .
"$PYTHON" -m ruff format --check --quiet .
"$PYTHON" -m mypy
echo "[check] ruff and mypy took $((SECONDS - started)) s"
