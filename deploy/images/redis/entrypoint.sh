#!/bin/sh
# Like the official image: without a config file, Redis' protected mode would refuse every
# client off loopback; in a container the network is the boundary, so turn it off first (a later
# --protected-mode on the command line still wins).
set -eu
if [ "${1:-}" = redis-server ]; then
  shift
  exec redis-server --protected-mode no "$@"
fi
exec "$@"
