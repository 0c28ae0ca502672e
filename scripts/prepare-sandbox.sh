#!/usr/bin/env bash
# What terminals need, prepared without ever blocking the editor: `prepare-sandbox.sh MODE LOG`.
# - MODE off: one line, nothing else.
# - A Docker engine answers and the image build has what it needs: nothing to do.
# - Root with apt: docker.io and debootstrap are installed and dockerd started IN THE BACKGROUND;
#   progress goes to LOG, which the server reads for `/api/sandbox` (phase installing_engine) and
#   which is removed once the engine answers (a last line "failed: ..." stays when it does not).
# - Otherwise: one line on what terminals need, and the server starts without them.
#   TANDEM_DOCKERD_LOG  where dockerd logs (default /var/log/dockerd.log)
#   TANDEM_DOCKER_WAIT  seconds to wait for a started dockerd (default 60)
set -uo pipefail
MODE="${1:-auto}"
LOG="${2:-./data/sandbox/engine-install.log}"
DOCKERD_LOG="${TANDEM_DOCKERD_LOG:-/var/log/dockerd.log}"
WAIT="${TANDEM_DOCKER_WAIT:-60}"
PATH="$PATH:/usr/sbin:/sbin"
say() { echo "serve: $*" >&2; }

if [ "$MODE" = off ]; then
  say "terminals are off (TANDEM_SANDBOX=off); they need a Docker engine and TANDEM_SANDBOX=auto"
  exit 0
fi
engine_up() { command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1; }
has_debootstrap() { command -v debootstrap >/dev/null 2>&1; }
rm -f "$LOG" "$LOG.apt" # a previous start's note is stale now
if engine_up && has_debootstrap; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  if engine_up; then
    say "the sandbox image build needs debootstrap (as root: apt-get install debootstrap); editing works meanwhile"
  else
    say "terminals need a Docker engine: as root, apt-get install docker.io debootstrap and start dockerd" \
      "(or run this script as root); editing works meanwhile, terminals come on once an engine answers"
  fi
  exit 0
fi

need=()
command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
has_debootstrap || need+=(debootstrap)
say "preparing terminals in the background (${need[*]:-dockerd}); progress in $LOG and /api/sandbox"
mkdir -p "$(dirname "$LOG")"
(
  note() { echo "$*" >>"$LOG"; }
  : >"$LOG"
  export DEBIAN_FRONTEND=noninteractive
  if [ "${#need[@]}" -gt 0 ]; then
    # A previous start stopped mid-install leaves dpkg half-configured; finish that first.
    dpkg --configure -a >>"$LOG.apt" 2>&1 || true
    note "apt-get update"
    if ! apt-get -o DPkg::Lock::Timeout=300 update -q >>"$LOG.apt" 2>&1; then note "failed: apt-get update (see $LOG.apt)"; exit 1; fi
    note "apt-get install ${need[*]}"
    if ! apt-get -o DPkg::Lock::Timeout=300 install -y -q --no-install-recommends "${need[@]}" >>"$LOG.apt" 2>&1; then
      note "failed: apt-get install ${need[*]} (see $LOG.apt)"
      exit 1
    fi
  fi
  if ! engine_up; then
    if ! pgrep -x dockerd >/dev/null 2>&1; then
      note "starting dockerd (log: $DOCKERD_LOG)"
      # setsid + nohup: the engine outlives this script and the server.
      setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    fi
    deadline=$((SECONDS + WAIT))
    until engine_up; do
      if [ "$SECONDS" -ge "$deadline" ] || ! pgrep -x dockerd >/dev/null 2>&1; then
        note "failed: dockerd did not start: $(tail -n 1 "$DOCKERD_LOG" 2>/dev/null | cut -c1-200)"
        exit 1
      fi
      sleep 0.5
    done
  fi
  rm -f "$LOG" "$LOG.apt"
) </dev/null >/dev/null 2>&1 &
disown 2>/dev/null || true
exit 0
