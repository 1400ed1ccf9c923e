#!/usr/bin/env bash
# make up: start a local Shoal on this machine: a registry on 127.0.0.1, the controller (embedded
# etcd), an agent, a demo image pushed to the registry. State lives under /var/lib/shoal-up and
# /run/shoal-up so it never mixes with a system install; `make down` removes it all.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
STATE=${SHOAL_UP_STATE:-/var/lib/shoal-up}
RUN=${SHOAL_UP_RUN:-/run/shoal-up}
# The address the registry and the controller listen on. 127.0.0.1 keeps them local; give the
# machine's own address (SHOAL_UP_ADDR=10.0.0.5 make up) to let agents on other machines join.
ADDR=${SHOAL_UP_ADDR:-127.0.0.1}
REG_PORT=${SHOAL_UP_REGISTRY_PORT:-5000}
API_PORT=${SHOAL_UP_API_PORT:-6443}
SOCK=$RUN/agent.sock
# The demo agent's own bridge and iptables chains, so `make down` can remove exactly them.
BRIDGE=${SHOAL_UP_BRIDGE:-shoalup0}
# Each node's bridge takes its podCIDR (a /24 of the cluster CIDR) from the controller.
CLUSTER_CIDR=${SHOAL_UP_CLUSTER_CIDR:-10.244.0.0/16}
CHAINS=SHOALUP
CTL="node $ROOT/dist/shoalctl.js"
mkdir -p "$STATE" "$RUN"

if [ "$(id -u)" != 0 ]; then echo "make up needs root (namespaces, cgroups, networking)" >&2; exit 1; fi

start() { # name, log, command...
  local name=$1 log=$2; shift 2
  if [ -f "$RUN/$name.pid" ] && kill -0 "$(cat "$RUN/$name.pid")" 2>/dev/null; then
    echo "  $name already running (pid $(cat "$RUN/$name.pid"))"; return
  fi
  setsid "$@" >>"$log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
  echo "  started $name (pid $!, log $log)"
}
wait_for() { # description, command...
  local what=$1; shift
  for _ in $(seq 1 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "timed out waiting for $what" >&2; exit 1
}

echo "== registry on $ADDR:$REG_PORT"
mkdir -p "$STATE/registry"
cat >"$STATE/registry.yml" <<YML
version: 0.1
storage:
  filesystem:
    rootdirectory: $STATE/registry
  delete:
    enabled: true
http:
  addr: $ADDR:$REG_PORT
YML
start registry "$STATE/registry.log" /usr/bin/docker-registry serve "$STATE/registry.yml"
wait_for "the registry" curl -sf "http://$ADDR:$REG_PORT/v2/"

echo "== controller on $ADDR:$API_PORT (embedded etcd under $STATE/controller)"
start controller "$STATE/controller.log" node "$ROOT/dist/shoal-controller.js" \
  --listen "$ADDR:$API_PORT" --data-dir "$STATE/controller" --cluster-cidr "$CLUSTER_CIDR"
# Its first start makes the cluster's CA and writes admin.config (CA + an admin certificate).
wait_for "the controller's admin.config" test -s "$STATE/controller/admin.config"
wait_for "the controller" env SHOAL_CONFIG="$STATE/controller/admin.config" $CTL cluster info
# Everything below (and the README's commands) use it as the current context.
$CTL context import "$STATE/controller/admin.config"
TOKEN=$($CTL cluster join-token worker -q)

echo "== agent (socket $SOCK)"
start agent "$STATE/agent.log" node "$ROOT/dist/shoal-agent.js" \
  --socket "$SOCK" --data-dir "$STATE/agent" --run-dir "$RUN/agent" \
  --controller "https://$ADDR:$API_PORT" --join-token "$TOKEN" --node-name "$(hostname)" \
  --advertise-addr "$ADDR" --insecure-registry "$ADDR:$REG_PORT" \
  --bridge "$BRIDGE" --bridge-chain-prefix "$CHAINS"
wait_for "the agent" env SHOAL_HOST="unix://$SOCK" $CTL images -q

echo "== demo image $ADDR:$REG_PORT/demo/web:1"
bash "$ROOT/scripts/make-demo-image.sh" "$STATE/demo-rootfs.tar"
SHOAL_HOST=unix://$SOCK $CTL import "$STATE/demo-rootfs.tar" "$ADDR:$REG_PORT/demo/web:1" >/dev/null
SHOAL_HOST=unix://$SOCK $CTL push "$ADDR:$REG_PORT/demo/web:1"

echo "== demo service (manifests/web.yaml)"
sed "s#REGISTRY#$ADDR:$REG_PORT#" "$ROOT/manifests/web.yaml" | $CTL apply -f - --wait || {
  echo "the demo service did not converge; see $STATE/*.log and 'shoalctl get tasks'" >&2; exit 1; }

cat <<TXT

Shoal is up.
  shoalctl get nodes                 # this machine, registered as a node
  shoalctl get services              # the demo service
  shoalctl get tasks -o wide         # its replicas and where they run
  curl http://127.0.0.1:8080/        # the published port, balanced over the replicas
  shoalctl logs service/web -f       # the logs of every replica, through the controller
  shoalctl exec task/<name> -- ps    # a command in one replica, wherever it runs
  shoalctl scale service/web --replicas 5
  SHOAL_HOST=unix://$SOCK shoalctl ps     # the containers on this node (engine level)
  make down                          # stop and clean up
Another machine joins as an agent (see README, "A second machine"):
  shoal-agent --controller https://$ADDR:$API_PORT --join-token \$(shoalctl cluster join-token worker -q) \\
    --node-name NAME --advertise-addr ITS_IP --insecure-registry $ADDR:$REG_PORT
Your credentials: $STATE/controller/admin.config (imported into ~/.shoal/config;
  "shoalctl context import FILE" on a laptop; "shoalctl token create --role viewer" for others)
TXT
