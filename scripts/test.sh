#!/usr/bin/env bash
# Sets up everything the tests need (MinIO, mc and nats-server from source, Python packages, chromium,
# nginx, Label Studio) and runs the whole suite: unit, integration (real MinIO, NATS, the cluster), browser
# (real chromium), deployment files; then, for the whole suite only (no arguments), the mutation run of the
# core modules (scripts/mutation.sh, about 10 minutes on 2 cores), which fails under 90 % per module.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
started=$SECONDS
"$ROOT/scripts/setup.sh" --test-tools
echo "[test] set-up took $((SECONDS - started)) s"
cd "$ROOT"
mkdir -p test-artifacts
"$ROOT/.venv/bin/python" -m pytest -p no:cacheprovider "$@"
if [[ $# -eq 0 ]]; then
  echo "[test] mutation testing of the core modules (scripts/mutation.sh)"
  "$ROOT/scripts/mutation.sh"
fi
