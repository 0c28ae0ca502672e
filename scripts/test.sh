#!/usr/bin/env bash
# The whole test suite, against real parts. Installs and starts what it needs (as root on Debian):
# Python packages, npm packages, Docker (docker.io + dockerd), Chromium, Redis and PostgreSQL when
# they are not already answering on 127.0.0.1. Fails loudly: a missing part is a failure, not a skip.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export DEBIAN_FRONTEND=noninteractive
say() { echo "test: $*" >&2; }

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then apt-get update -q; apt_updated=1; fi
  apt-get install -y -q --no-install-recommends "$@"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Redis and PostgreSQL: the development machines run them; a fresh machine gets Debian's.
if ! port_open 6379; then
  say "no Redis on 127.0.0.1:6379: installing and starting redis-server"
  command -v redis-server >/dev/null || apt_install redis-server
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
fi
if ! port_open 5432; then
  say "no PostgreSQL on 127.0.0.1:5432: installing and starting it"
  ls /etc/postgresql >/dev/null 2>&1 || apt_install postgresql
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  su postgres -c "psql -c \"ALTER USER postgres PASSWORD NULL\"" >/dev/null || true
fi
for _ in $(seq 1 100); do port_open 6379 && port_open 5432 && break; sleep 0.2; done

command -v chromium >/dev/null || apt_install chromium
# `docker compose config` validates docker-compose.yml; Debian ships compose as `docker-compose`.
if ! docker compose version >/dev/null 2>&1 && ! command -v docker-compose >/dev/null; then
  apt_install docker-compose
fi

TANDEM_EXTRAS=test bash scripts/install.sh
export PATH="$ROOT/.venv/bin:$PATH"
PYTHON="$ROOT/.venv/bin/python" bash scripts/ensure-docker.sh

for dir in tests/node tests/browser; do
  if [ -f "$dir/package.json" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done

say "ruff"
ruff check .
ruff format --check .

say "mypy"
mypy  # [tool.mypy] in pyproject.toml: backend/, sandbox/, signaling/

say "pytest"
exec python -m pytest "$@"
