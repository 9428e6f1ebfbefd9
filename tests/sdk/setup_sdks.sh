#!/usr/bin/env bash
# Installs the official Kopo Kopo SDKs, each in its own private environment under .sdk/,
# so the compatibility tests (tests/k2sim/test_official_sdks.py) can drive k2sim with them.
# They pin old dependencies (requests, pip), hence one virtualenv each, never the system Python.
# Idempotent: an environment whose SDK already imports/resolves is left alone. Quiet on success.
set -euo pipefail
cd "$(dirname "$0")/../.."

SDK=.sdk
mkdir -p "$SDK"
LOG="$SDK/setup.log"
: >"$LOG"

# quietly CMD...: runs CMD with its output in $LOG, shown only if it fails.
quietly() {
  if ! "$@" >>"$LOG" 2>&1; then
    echo "setup_sdks.sh: failed: $*" >&2
    tail -n 40 "$LOG" >&2
    exit 1
  fi
}

# py_env DIR VERSION: a venv at DIR with k2-connect==VERSION installed.
py_env() {
  local dir="$1" version="$2" marker="$1/.k2-connect-$2"
  if [ -f "$marker" ] && "$dir/bin/python" -c "import k2connect, flask" >/dev/null 2>&1; then
    return 0
  fi
  rm -rf "$dir"
  quietly python3 -m venv "$dir"
  quietly "$dir/bin/python" -m pip install -q --disable-pip-version-check --no-input "k2-connect==$version"
  quietly "$dir/bin/python" -c "import k2connect, flask"
  touch "$marker"
}

node_env() {
  local dir="$SDK/node" version="1.3.0" marker="$SDK/node/.k2-connect-node-1.3.0"
  if [ -f "$marker" ] && node -e "require(process.argv[1] + '/node_modules/k2-connect-node')" "$PWD/$dir" >/dev/null 2>&1; then
    return 0
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  printf '{\n  "name": "k2-sdk-compat",\n  "private": true,\n  "version": "0.0.0"\n}\n' >"$dir/package.json"
  quietly npm install --prefix "$dir" --no-audit --no-fund --save-exact --loglevel=error "k2-connect-node@$version"
  quietly node -e "require(process.argv[1] + '/node_modules/k2-connect-node')" "$PWD/$dir"
  touch "$marker"
}

py_env "$SDK/py-v1" 1.2.7
py_env "$SDK/py-v2" 2.0.0
node_env
