#!/usr/bin/env bash
# Sets up (first time: MinIO is built from source, a few minutes) and runs the whole system locally.
# `./scripts/up.sh --cluster` also installs Debian's nginx for the cluster's front door.
# It prints `source <data>/env.sh`: in another terminal that puts this set-up's `gourmetgram` and `mc` on the PATH.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
setup_args=()
for arg in "$@"; do [[ "$arg" == "--cluster" ]] && setup_args+=(--cluster); done
"$ROOT/scripts/setup.sh" "${setup_args[@]}"
exec "$ROOT/.venv/bin/gourmetgram" up "$@"
