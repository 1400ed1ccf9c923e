#!/usr/bin/env bash
# make down: stop what `make up` started and remove its state. The controller goes first, so
# the agent gets no replacement tasks while its containers are removed.
set -uo pipefail
cd "$(dirname "$0")/.."
STATE=${SHOAL_UP_STATE:-/var/lib/shoal-up}
RUN=${SHOAL_UP_RUN:-/run/shoal-up}
SOCK=$RUN/agent.sock

stop() { # name
  local f=$RUN/$1.pid pid
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$f"
  echo "stopped $1"
}

stop controller
if [ -S "$SOCK" ] && [ -f dist/shoalctl.js ]; then
  ids=$(SHOAL_HOST=unix://$SOCK node dist/shoalctl.js ps -a -q 2>/dev/null || true)
  if [ -n "$ids" ]; then
    # shellcheck disable=SC2086
    SHOAL_HOST=unix://$SOCK node dist/shoalctl.js rm -f $ids >/dev/null 2>&1 || true
    echo "removed $(echo "$ids" | wc -w) containers"
  fi
fi
stop agent
stop registry
# The demo bridge and Shoal's iptables chains of the demo agent (make up uses its own).
BRIDGE=${SHOAL_UP_BRIDGE:-shoalup0}
CHAINS=SHOALUP
for table in nat filter mangle; do
  iptables -t "$table" -S 2>/dev/null | grep -- "-j $CHAINS-" | grep -v "^-A $CHAINS-" | sed 's/^-A /-D /' |
    while read -r rule; do
      # shellcheck disable=SC2086
      iptables -t "$table" $rule 2>/dev/null
    done
  chains=$(iptables -t "$table" -S 2>/dev/null | awk -v p="-N $CHAINS-" 'index($0, p) == 1 {print $2}')
  # Flush them all before deleting any: Shoal's chains jump to each other.
  for chain in $chains; do iptables -t "$table" -F "$chain" 2>/dev/null; done
  for chain in $chains; do iptables -t "$table" -X "$chain" 2>/dev/null; done
done
ip link show "$BRIDGE" >/dev/null 2>&1 && ip link del "$BRIDGE" && echo "removed bridge $BRIDGE"
# The cluster network of the demo agent: its VXLAN device, ipsets and mesh policy rules.
VX=$(echo "$CHAINS" | tr 'A-Z_' 'a-z-' | cut -c1-12)-vx
ip link show "$VX" >/dev/null 2>&1 && ip link del "$VX" && echo "removed $VX"
for set in $(ipset list -n 2>/dev/null | grep "^$CHAINS-"); do ipset destroy "$set" 2>/dev/null; done
while ip rule del pref 5300 2>/dev/null; do :; done
# The agent's parent cgroup (default --cgroup-parent shoal), once empty.
for d in /sys/fs/cgroup/*/shoal /sys/fs/cgroup/shoal; do [ -d "$d" ] && rmdir "$d" 2>/dev/null; done
# The agent's tmpfs of secrets and configs (and anything else mounted under the state dirs).
for m in $(awk '{print $5}' /proc/self/mountinfo | grep -E "^($RUN|$STATE)/" | sort -r); do umount -l "$m" 2>/dev/null; done
rm -rf "$STATE" "$RUN"
echo "cleaned $STATE and $RUN"
