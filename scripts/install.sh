#!/usr/bin/env bash
# Install Tandem into ./.venv and build the front end. Idempotent, and quick when nothing changed:
# each step (pip, npm, the front-end build) records a stamp of what it depends on and is skipped
# while that stamp still matches, so a restart takes seconds and a `git pull` that changes
# pyproject.toml, package-lock.json or web/src re-runs just the steps it affects.
# Runs as root on Debian or as a user with Python 3.11+ and Node 18+ (apt only for what is missing).
#   TANDEM_EXTRAS        pip extras (e.g. "test")
#   TANDEM_FORCE_INSTALL=1  run every step regardless of the stamps
# `install.sh python` or `install.sh web` runs one half (serve.sh starts the sandbox image build
# between them); no argument runs both.
set -euo pipefail
PART="${1:-all}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export DEBIAN_FRONTEND=noninteractive
say() { echo "install: $*" >&2; }

STAMPS=.venv/.tandem-stamps
# A digest of the given files and directory trees (contents and names), plus extra words.
digest() {
  local words="$1"; shift
  { echo "$words"; { find "$@" -type f -not -path '*/node_modules/*' -print0 2>/dev/null || true; } | sort -z | xargs -0 -r sha256sum; } |
    sha256sum | cut -d' ' -f1
}
fresh() { [ "${TANDEM_FORCE_INSTALL:-0}" != 1 ] && [ -f "$STAMPS/$1" ] && [ "$(cat "$STAMPS/$1")" = "$2" ]; }
stamp() { mkdir -p "$STAMPS"; echo "$2" >"$STAMPS/$1"; }

PYTHON="${PYTHON:-python3}"
if [ "$PART" != web ]; then
if [ ! -x .venv/bin/python ]; then
  if ! "$PYTHON" -m venv .venv 2>/dev/null; then
    say "python3-venv is missing: installing it"
    apt-get -o DPkg::Lock::Timeout=300 update -q && apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends python3-venv
    rm -rf .venv
    "$PYTHON" -m venv .venv
  fi
fi
EXTRAS="${TANDEM_EXTRAS:-}"
py_stamp="$(digest "extras=$EXTRAS $(.venv/bin/python -VV 2>&1)" pyproject.toml requirements.lock)"
if fresh python "$py_stamp" && .venv/bin/python -c 'import backend' 2>/dev/null; then
  say "Python packages up to date (pyproject.toml and requirements.lock unchanged)"
else
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  # Versions from the lock (the tested set); a checkout without one resolves from pyproject.toml.
  LOCK=()
  [ -f requirements.lock ] && LOCK=(-c requirements.lock)
  .venv/bin/python -m pip install -q "${LOCK[@]}" -e ".${EXTRAS:+[$EXTRAS]}"
  stamp python "$py_stamp"
fi

fi

if [ "$PART" != python ] && [ -f web/package.json ]; then
  if ! command -v npm >/dev/null 2>&1; then
    say "npm is missing: installing nodejs and npm"
    apt-get -o DPkg::Lock::Timeout=300 update -q && apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends nodejs npm
  fi
  npm_stamp="$(digest "node=$(node --version)" web/package.json web/package-lock.json)"
  if fresh npm "$npm_stamp" && [ -d web/node_modules ]; then
    say "npm packages up to date (package-lock.json unchanged)"
  else
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
    stamp npm "$npm_stamp"
  fi
  web_stamp="$(digest "$npm_stamp" web/src web/build.mjs)"
  if fresh web "$web_stamp" && [ -f web/static/dist/manifest.json ]; then
    say "front end up to date (web/src unchanged)"
  else
    (cd web && node build.mjs >/dev/null)
    stamp web "$web_stamp"
  fi
fi
[ "$PART" = python ] || say "done: run .venv/bin/tandem serve"
