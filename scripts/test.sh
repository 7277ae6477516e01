#!/usr/bin/env bash
# Sets up what the selected tests need and runs them after the static checks (scripts/check.sh: ruff, mypy).
# With no arguments, or any outside tests/unit, that is everything (MinIO, mc and nats-server from source,
# Python packages, chromium, nginx, Label Studio) and the suite: unit, integration (real MinIO, NATS, the
# cluster), browser (real chromium), deployment files; then, for the whole suite only (no arguments), the
# mutation run of the core modules (scripts/mutation.sh, about 10 minutes on 2 cores), which fails under 90 %
# per module. When every path given is under tests/unit, the Python environment alone: no server, no browser.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
started=$SECONDS
# The paths among the arguments (options and their values, e.g. `-k name`, are no paths of the tree).
unit_paths=0
other_paths=0
for arg in "$@"; do
  case "$arg" in
    tests/unit|tests/unit/*|./tests/unit|./tests/unit/*) unit_paths=$((unit_paths + 1)) ;;
    -*) ;;
    *) if [[ -e "$ROOT/${arg%%::*}" || -e "${arg%%::*}" ]]; then other_paths=$((other_paths + 1)); fi ;;
  esac
done
if (( unit_paths > 0 && other_paths == 0 )); then
  "$ROOT/scripts/setup.sh" --python-only --test-tools   # the venv, and heif-enc (unit tests make HEIC photos)
else
  "$ROOT/scripts/setup.sh" --test-tools
fi
echo "[test] set-up took $((SECONDS - started)) s"
"$ROOT/scripts/check.sh"
cd "$ROOT"
mkdir -p test-artifacts
"${GOURMETGRAM_VENV:-$ROOT/.venv}/bin/python" -m pytest -p no:cacheprovider "$@"
if [[ $# -eq 0 ]]; then
  echo "[test] mutation testing of the core modules (scripts/mutation.sh)"
  "$ROOT/scripts/mutation.sh"
fi
