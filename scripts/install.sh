#!/usr/bin/env bash
# Install Tandem into ./.venv and build the front end. Idempotent; run as root on Debian or as a
# user with Python 3.11+ and Node 20+ (apt is only used for what is missing).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export DEBIAN_FRONTEND=noninteractive
say() { echo "install: $*" >&2; }

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    say "python3-venv is missing: installing it"
    apt-get update -q && apt-get install -y -q python3-venv
    "$PYTHON" -m venv .venv
  fi
fi
EXTRAS="${TANDEM_EXTRAS:-}"
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -c requirements.lock -e ".${EXTRAS:+[$EXTRAS]}"  # versions from the lock

if [ -f web/package.json ]; then
  if ! command -v npm >/dev/null 2>&1; then
    say "npm is missing: installing nodejs and npm"
    apt-get update -q && apt-get install -y -q nodejs npm
  fi
  (cd web && npm ci --no-audit --no-fund --loglevel=error && node build.mjs)
fi
say "done: run .venv/bin/tandem serve"
