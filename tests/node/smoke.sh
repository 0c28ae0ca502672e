#!/usr/bin/env bash
# smoke.sh — run every interop script and a small run of every load scenario.
#   bash tests/node/smoke.sh                        # starts reference-server.mjs on an unused port
#   bash tests/node/smoke.sh ws://127.0.0.1:8000/yjs [TOKEN]   # against a running server (e.g. tandem serve --no-auth)
# Needs `npm ci --prefix tests/node` first. Ends with "N passed, N failed"; exit 1 on any failure.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
bench="$here/../../bench/node"
url="${1:-}"
token_args=()
[ -n "${2:-}" ] && token_args=(--token "$2")
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; }
trap cleanup EXIT
if [ -z "$url" ]; then
  coproc REF { exec node "$here/reference-server.mjs"; }
  server_pid=$REF_PID
  read -r -t 10 line <&"${REF[0]}" || { echo "reference server did not start"; exit 1; }
  url="$(node -e 'console.log(JSON.parse(process.argv[1]).url)' "$line")"
fi
run_id="smoke-$$-$(date +%s)"
passed=0; failed=0
check() { # name, command...
  local name="$1"; shift
  local out
  if out="$("$@" 2>/tmp/smoke-$$.err)"; then
    passed=$((passed + 1)); echo "PASS $name: ${out:0:300}"
  else
    failed=$((failed + 1)); echo "FAIL $name: ${out:0:600}"; sed 's/^/    /' /tmp/smoke-$$.err | head -5
  fi
}
c=(--url "$url" "${token_args[@]}")
check converge node "$here/converge.mjs" "${c[@]}" --room "$run_id-conv" --clients 5 --edits 200
check write node "$here/client.mjs" write "${c[@]}" --room "$run_id-rw" --text 'hello 🦀👩‍💻 한국어'
check read node "$here/client.mjs" read "${c[@]}" --room "$run_id-rw" --expect-length 17
check paste node "$here/client.mjs" paste "${c[@]}" --room "$run_id-paste" --bytes 2000000
check files node "$here/client.mjs" files "${c[@]}" --room "$run_id-files"
check awareness-null node "$here/client.mjs" awareness "${c[@]}" --room "$run_id-aw" --leave null
check awareness-drop node "$here/client.mjs" awareness "${c[@]}" --room "$run_id-aw" --leave drop
check dump node "$here/dump.mjs" "${c[@]}" --room "$run_id-rw" --expect-length 17
check fanout node "$bench/loadgen.mjs" fanout "${c[@]}" --room "$run_id-fan" --writers 2 --readers 10 --rate 50 --seconds 2
check idle node "$bench/loadgen.mjs" idle "${c[@]}" --room "$run_id-idle" --clients 200 --rooms 4 --hold 1
check joinstorm node "$bench/loadgen.mjs" joinstorm "${c[@]}" --room "$run_id-storm" --clients 20 --tries 3
check history node "$bench/loadgen.mjs" history "${c[@]}" --room "$run_id-hist" --edits 5000 --fresh 1
rm -f /tmp/smoke-$$.err
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
