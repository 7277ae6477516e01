#!/usr/bin/env bash
# Sets up (first time: MinIO is built from source, a few minutes) and runs the whole system locally.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
exec "$ROOT/.venv/bin/gourmetgram" up "$@"
