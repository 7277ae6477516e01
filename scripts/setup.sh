#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: MinIO, mc and nats-server built from source into a cache shared
# by every clone, a virtual environment with the pinned Python packages, with --cluster Debian's nginx (and
# its stream module: the front door of `gourmetgram up --cluster`), and with --test-tools all of that plus
# Debian's chromium for the browser test, docker-compose, docker.io and debootstrap for the deployment test, and
# libheif-examples (heif-enc) for making HEIC test photos; with --python-only the virtual environment and heif-enc
# alone (what the unit tests and the static checks need: no server built, no browser installed).
# Re-running it costs seconds once everything is in place.
set -euo pipefail

# Pinned: MinIO ships as source only. These are the Go pseudo-versions of the commits we test against.
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"   # = RELEASE.2025-10-15 code + Feb 2026 fixes
MC_VERSION="v0.0.0-20250313080218-cf909e1063a9"
NATS_VERSION="v2.15.2"   # github.com/nats-io/nats-server/v2: the event transport's JetStream
# Label Studio, for the test of the review round trip (--test-tools only): a venv of its own in the tools
# cache (1 GB, about 70 s to install), never in the project's venv.
LABEL_STUDIO_VERSION="1.23.2"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The same variable and default as Settings.tools_dir, so the Python side finds what is built here.
BIN="${GOURMETGRAM_BIN:-$HOME/.cache/gourmetgram/bin}"
VENV="${GOURMETGRAM_VENV:-$ROOT/.venv}"
WANT_TEST_TOOLS=0
WANT_CLUSTER=0
WANT_SERVERS=1
for arg in "$@"; do
  case "$arg" in
    --python-only) WANT_SERVERS=0 ;;
    --test-tools) WANT_TEST_TOOLS=1; WANT_CLUSTER=1 ;;  # the cluster tests run `up --cluster`'s front door
    --cluster) WANT_CLUSTER=1 ;;
  esac
done

log() { printf '[setup] %s\n' "$*" >&2; }

# go install <module>@<version> into $BIN/<name>, unless the stamp says that exact version is there.
go_tool() {
  local name="$1" module="$2" version="$3"
  local stamp="$BIN/$name.version"
  if [[ -x "$BIN/$name" && -f "$stamp" && "$(cat "$stamp")" == "$version" ]]; then
    return
  fi
  command -v go >/dev/null || { log "Go toolchain not found: install Go >= 1.24 (MinIO ships as source only)"; exit 1; }
  log "building $name $version with go install (first time only: several minutes)"
  local tmp; tmp="$(mktemp -d)"
  local started=$SECONDS
  GOBIN="$tmp" CGO_ENABLED=0 GOFLAGS=-buildvcs=false go install "$module@$version"
  mkdir -p "$BIN"
  mv -f "$tmp/$name" "$BIN/$name"
  echo "$version" > "$stamp"
  rm -rf "$tmp"
  log "$name built in $((SECONDS - started)) s"
}

# pip install label-studio==<version> into <tools cache>/label-studio, unless the stamp says it is there.
label_studio() {
  local venv; venv="$(dirname "$BIN")/label-studio"
  if [[ -x "$venv/bin/label-studio" && "$(cat "$venv/.version" 2>/dev/null)" == "$LABEL_STUDIO_VERSION" ]]; then
    return
  fi
  log "installing Label Studio $LABEL_STUDIO_VERSION into $venv (first time only: about a minute)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "label-studio==$LABEL_STUDIO_VERSION"
  echo "$LABEL_STUDIO_VERSION" > "$venv/.version"
}

minio_pid="" mc_pid="" nats_pid=""
if (( WANT_SERVERS )); then
  go_tool minio github.com/minio/minio "$MINIO_VERSION" &
  minio_pid=$!
  go_tool mc github.com/minio/mc "$MC_VERSION" &
  mc_pid=$!
  go_tool nats-server github.com/nats-io/nats-server/v2 "$NATS_VERSION" &
  nats_pid=$!
fi
label_studio_pid=""
if (( WANT_TEST_TOOLS && WANT_SERVERS )); then
  label_studio &
  label_studio_pid=$!
fi

# The venv is rebuilt only when pyproject.toml changes.
stamp="$VENV/.pyproject.sha256"
want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  log "installing Python packages into $VENV (first time: a few minutes, torch is large)"
  # An existing venv is kept as it is: made again by another python3 (another PATH), its packages break.
  [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet -e "$ROOT[test]"
  echo "$want" > "$stamp"
fi

missing=()
if (( WANT_TEST_TOOLS && WANT_SERVERS )); then
  [[ -x /usr/bin/chromium ]] || missing+=(chromium)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  # The deployment test (tests/deploy/test_docker_stack.py) builds and starts the images with Debian's Docker.
  [[ -x /usr/sbin/dockerd ]] || missing+=(docker.io)
  [[ -x /usr/sbin/debootstrap ]] || missing+=(debootstrap)
fi
if (( WANT_TEST_TOOLS )); then
  # heif-enc: the tests (unit tests too) make their HEIC photos with libheif's own encoder, as a phone would.
  command -v heif-enc >/dev/null || missing+=(libheif-examples)
fi
if (( WANT_CLUSTER && WANT_SERVERS )); then
  [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
  [[ -f /usr/lib/nginx/modules/ngx_stream_module.so ]] || missing+=(libnginx-mod-stream)
fi
if (( ${#missing[@]} )); then
  log "installing Debian's ${missing[*]}"
  if [[ $(id -u) -eq 0 ]]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if (( ! WANT_SERVERS )); then
  log "ready: Python in $VENV (--python-only: no servers, no browser)"
  exit 0
fi
wait "$minio_pid" || { log "building minio failed"; exit 1; }
wait "$mc_pid" || { log "building mc failed"; exit 1; }
wait "$nats_pid" || { log "building nats-server failed"; exit 1; }
if [[ -n "$label_studio_pid" ]]; then
  wait "$label_studio_pid" || { log "installing Label Studio failed"; exit 1; }
fi
log "ready: minio, mc and nats-server in $BIN, Python in $VENV"
