#!/usr/bin/env bash
# Sets up everything the tests need (MinIO and mc from source, Python packages, chromium) and runs
# the whole suite: unit, integration (real MinIO), browser (real chromium), deployment files.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
started=$SECONDS
"$ROOT/scripts/setup.sh" --test-tools
echo "[test] set-up took $((SECONDS - started)) s"
cd "$ROOT"
mkdir -p test-artifacts
exec "$ROOT/.venv/bin/python" -m pytest -p no:cacheprovider "$@"
