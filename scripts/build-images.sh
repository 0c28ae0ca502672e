#!/usr/bin/env bash
# Build the production images locally (no registry): the Debian base with debootstrap, then the
# app, PostgreSQL, Redis and nginx images that docker-compose.yml names. Unchanged images are kept.
#   bash scripts/build-images.sh [app|postgres|redis|nginx ...] [--force] [--verbose]
# Needs root (debootstrap), a Docker engine and debootstrap (scripts/ensure-docker.sh). The app's
# front end and wheel are built inside `docker build` (deploy/images/app/Dockerfile): no Node or
# pip needed on the host; a TLS-intercepting proxy's CA goes in deploy/ca/ (its README).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"; else PY=python3; fi
fi
if ! command -v debootstrap >/dev/null 2>&1 && [ ! -x /usr/sbin/debootstrap ]; then
  echo "build-images: installing debootstrap" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >&2 \
    || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >&2; }
fi
cd "$ROOT"
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" exec "$PY" "$ROOT/scripts/build_images.py" "$@"
