#!/bin/sh
# Runs echo_server on a kernel-chosen port and drives it with echo_load
# (bounded: 100 connections, 2 s). Exit 77 (CTest SKIP) when the requested
# driver is not what the server ended up with (the kernel lacks io_uring).
set -eu
server=$1 load=$2 driver=$3 model=$4
out=$(mktemp)
trap 'kill $pid 2>/dev/null || true; rm -f "$out"' EXIT
"$server" --model "$model" --driver "$driver" --port 0 --stats --seconds 60 >"$out" 2>&1 &
pid=$!
for _ in $(seq 100); do
  grep -q "listening on" "$out" && break
  sleep 0.1
done
port=$(sed -n 's/^listening on \([0-9]*\).*/\1/p' "$out")
[ -n "$port" ] || { cat "$out"; exit 1; }
if ! grep -q "driver $driver" "$out"; then
  echo "SKIP: driver $driver not available"; cat "$out"; exit 77
fi
loadout=$("$load" --port "$port" --connections 100 --size 512 --seconds 2 --warmup 0.5)
echo "$loadout"
kill -TERM $pid
wait $pid
cat "$out"
# The load generator verified the echoes. (The server's own message count is
# added when a handler ends, so a SIGTERM that comes before the handlers saw
# their EOFs may print 0: it is not the check.)
echo "$loadout" | grep -q "round_trips [1-9]"
echo "$loadout" | grep -q "errors 0"
