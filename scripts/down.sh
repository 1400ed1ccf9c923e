#!/usr/bin/env bash
# make down: stop what `make up` started and remove its state.
set -uo pipefail
cd "$(dirname "$0")/.."
STATE=${SHOAL_UP_STATE:-/var/lib/shoal-up}
RUN=${SHOAL_UP_RUN:-/run/shoal-up}
SOCK=$RUN/agent.sock
if [ -S "$SOCK" ] && [ -f dist/shoalctl.js ]; then
  ids=$(SHOAL_HOST=unix://$SOCK node dist/shoalctl.js ps -a -q 2>/dev/null || true)
  [ -n "$ids" ] && SHOAL_HOST=unix://$SOCK node dist/shoalctl.js rm -f $ids >/dev/null 2>&1 || true
fi
for name in agent controller registry; do
  f=$RUN/$name.pid
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$f"
  echo "stopped $name"
done
rm -rf "$STATE" "$RUN"
echo "cleaned $STATE and $RUN"
