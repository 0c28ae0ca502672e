#!/usr/bin/env bash
# Make a Docker engine answer on this machine, then make sure the sandbox test image exists.
# Idempotent, non-interactive (CI has no stdin), meant to run as root on Debian.
#   TANDEM_DOCKERD_LOG  where dockerd logs (default /var/log/dockerd.log)
#   TANDEM_DOCKER_WAIT  seconds to wait for the engine (default 60)
#   TANDEM_SKIP_IMAGE=1 skip building the busybox test image
set -euo pipefail

LOG="${TANDEM_DOCKERD_LOG:-/var/log/dockerd.log}"
WAIT="${TANDEM_DOCKER_WAIT:-60}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DEBIAN_FRONTEND=noninteractive

say() { echo "ensure-docker: $*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo -n "$@"; fi
}

# A client-only `docker` may already sit in /usr/local/bin; the engine is what we need.
# busybox-static is the test image's whole root filesystem.
need=()
command -v dockerd >/dev/null 2>&1 || [ -x /usr/sbin/dockerd ] || need+=(docker.io)
command -v docker >/dev/null 2>&1 || need+=(docker.io)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
if [ "${#need[@]}" -gt 0 ]; then
  say "installing ${need[*]}"
  as_root apt-get update -q
  as_root apt-get install -y -q --no-install-recommends "${need[@]}"
fi
PATH="$PATH:/usr/sbin:/sbin"

engine_up() { docker info >/dev/null 2>&1; }

if ! engine_up; then
  if pgrep -x dockerd >/dev/null 2>&1; then
    say "dockerd is running but not answering yet; waiting"
  else
    say "starting dockerd (log: $LOG)"
    # setsid + nohup: the engine must outlive this script and the CI step that ran it.
    as_root setsid nohup dockerd >>"$LOG" 2>&1 </dev/null &
  fi
  deadline=$((SECONDS + WAIT))
  until engine_up; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      say "docker engine did not answer within ${WAIT}s; last log lines:"
      tail -n 30 "$LOG" >&2 || true
      exit 1
    fi
    sleep 0.5
  done
fi
say "engine up: $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?')"

# Same image as `python -m sandbox.images build-test`, for machines where the project's
# Python dependencies are not installed yet.
build_test_image_with_cli() {
  local tmp tag="tandem-sandbox-test:latest"
  tmp="$(mktemp -d)"
  mkdir -p "$tmp/rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,root,proc,sys,dev,tmp,home/user,workspace,run,var/tmp}
  cp /bin/busybox "$tmp/rootfs/bin/busybox"
  for applet in $(/bin/busybox --list-full); do
    [ "$applet" = bin/busybox ] || ln -sf /bin/busybox "$tmp/rootfs/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n' >"$tmp/rootfs/etc/passwd"
  printf 'root:x:0:\nuser:x:1000:\n' >"$tmp/rootfs/etc/group"
  chmod 1777 "$tmp/rootfs/tmp"
  chown 1000:1000 "$tmp/rootfs/home/user" "$tmp/rootfs/workspace"
  tar -C "$tmp/rootfs" -cf "$tmp/rootfs.tar" .
  rm -rf "$tmp/rootfs"
  cat >"$tmp/Dockerfile" <<'DOCKERFILE'
FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/home/user LANG=C.UTF-8
LABEL tandem.image=test
USER 1000:1000
WORKDIR /workspace
CMD ["/bin/sh"]
DOCKERFILE
  docker build -q -t "$tag" "$tmp" >/dev/null
  rm -rf "$tmp"
  echo "$tag"
}

if [ "${TANDEM_SKIP_IMAGE:-0}" != "1" ]; then
  PY="${PYTHON:-python3}"
  if (cd "$ROOT" && "$PY" -c 'import aiodocker, sandbox.images' >/dev/null 2>&1); then
    (cd "$ROOT" && "$PY" -m sandbox.images build-test --if-missing)
  elif docker image inspect tandem-sandbox-test:latest >/dev/null 2>&1; then
    say "image tandem-sandbox-test:latest exists"
  else
    say "project not installed; building the test image with the docker CLI"
    build_test_image_with_cli
  fi
fi
