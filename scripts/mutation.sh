#!/usr/bin/env bash
# Mutation testing of the core logic: mutmut changes the code of the modules listed in pyproject.toml
# ([tool.mutmut] only_mutate) one small change at a time (a flipped comparison, a blanked string, a dropped
# return value) and runs the unit tests that call the changed function; a change no test notices survives.
# Prints each module's score (caught / mutants) and every survivor; exits 1 under [tool.gourmetgram.mutation]
# min_score. Extra arguments go to `mutmut run` (e.g. mutant names: `'gourmetgram.names.*'`).
# Run after ./scripts/setup.sh --test-tools (or ./scripts/test.sh), which installs mutmut in the venv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${GOURMETGRAM_VENV:-$ROOT/.venv}"
cd "$ROOT"
# A fresh run every time: mutmut keeps the verdicts of an earlier run for unchanged code even when the
# tests changed since, so a survivor killed by a new test would still be reported.
[[ $# -eq 0 ]] && rm -rf mutants
started=$SECONDS
# mutmut redraws a spinner line (a braille character first) many times a second: keep one progress line
# per 100 mutants and drop the other spinner lines; print everything else.
set +e
"$VENV/bin/mutmut" run --max-children "${MUTATION_JOBS:-$(nproc)}" "$@" 2>&1 | stdbuf -o0 tr '\r' '\n' | awk '
  /^\342\240/ && $2 ~ /^[0-9]+\/[0-9]+$/ { split($2, n, "/"); if (n[1] != last && (n[1] % 100 == 0 || n[1] == n[2])) { print; fflush() }; last = n[1]; next }
  /^\342\240/ { next }
  { print; fflush() }'
status=${PIPESTATUS[0]}
set -e
if [[ $status -ne 0 ]]; then
  echo "[mutation] mutmut run failed (exit $status)" >&2
  exit "$status"
fi
echo "[mutation] mutmut run took $((SECONDS - started)) s"
exec "$VENV/bin/python" "$ROOT/scripts/mutation_score.py"
