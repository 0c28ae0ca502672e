#!/usr/bin/env bash
# Install what is needed, then run `tandem serve` with the given flags (embedded defaults:
# SQLite under ./data, in-process pub/sub, 127.0.0.1:8000). The editor never waits for terminals:
# as root on Debian without a Docker engine, the engine (docker.io) and what the image build needs
# (debootstrap) are installed and dockerd started in the background while the server starts; the
# server notices the engine, builds the sandbox image and turns terminals on by itself.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
say() { echo "serve: $*" >&2; }

bash "$ROOT/scripts/install.sh" python

# The data directory and sandbox mode `tandem serve` will use (flags win over the environment).
DATA="${TANDEM_DATA:-./data}"
MODE="${TANDEM_SANDBOX:-auto}"
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[$i]}" in
    --data) DATA="${args[$((i + 1))]:-$DATA}" ;;
    --data=*) DATA="${args[$i]#--data=}" ;;
    --sandbox) MODE="${args[$((i + 1))]:-$MODE}" ;;
    --sandbox=*) MODE="${args[$i]#--sandbox=}" ;;
  esac
done
mkdir -p "$DATA/sandbox"
# With an engine already here, the image build (minutes, the slow part of a first run) starts now,
# alongside the front-end build and the server's start; the server waits on its build lock and
# shows its progress instead of building a second time.
if [ "$MODE" != off ] && [ "${TANDEM_SANDBOX_BUILD_MISSING:-true}" != false ] && [ "$(id -u)" -eq 0 ] &&
  command -v debootstrap >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1 &&
  ! docker image inspect "${TANDEM_SANDBOX_IMAGE:-tandem-sandbox:latest}" >/dev/null 2>&1; then
  say "building the sandbox image in the background (log: $DATA/sandbox/build.log)"
  kind=()
  [ "${TANDEM_SANDBOX_BUILD_KIND:-default}" = test ] && kind=(--test)
  (setsid nohup "$ROOT/.venv/bin/tandem" sandbox build-image "${kind[@]}" --if-missing --data "$DATA" \
    --tag "${TANDEM_SANDBOX_IMAGE:-tandem-sandbox:latest}" >"$DATA/sandbox/build.log" 2>&1 </dev/null &)
fi
bash "$ROOT/scripts/install.sh" web
# After the front end: an engine install runs apt in the background, and install.sh may need apt.
bash "$ROOT/scripts/prepare-sandbox.sh" "$MODE" "$DATA/sandbox/engine-install.log"

exec "$ROOT/.venv/bin/tandem" serve "$@"
