#!/usr/bin/env bash
# Install what is needed, then run `tandem serve` with the given flags (embedded defaults:
# SQLite under ./data, in-process pub/sub, 127.0.0.1:8000).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/install.sh"
exec "$ROOT/.venv/bin/tandem" serve "$@"
