#!/usr/bin/env bash
# MQTT broker vs mosquitto benchmark (`make bench-mqtt`).
# Builds the bench-only module tests/bench (kept out of go.work, so built
# with GOWORK=off) into bin/robustmq-bench and runs `robustmq-bench mqtt`
# against bin/placement-center, bin/journal-server and bin/broker-server
# (from `make build`) and /usr/sbin/mosquitto (Debian package mosquitto).
# All arguments are passed on, e.g. --nodes 3 --publishers 1,16,64
# --duration 10s --payload-size 1024 --scenarios qos1.
# --smoke: seconds long (publishers 1 and 16, 1 s steps, 4 fan-in publishers, 100 slow messages
# per publisher), and the output's JSON lines are checked (used by
# `make test` through `make bench-smoke`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/bin
for b in placement-center journal-server broker-server; do
  if [ ! -x "$bin/$b" ]; then
    echo "bench-mqtt: $bin/$b missing; run 'make build' first" >&2
    exit 1
  fi
done
if [ ! -x /usr/sbin/mosquitto ] && ! printf '%s\n' "$@" | grep -q -- '--mosquitto-bin'; then
  echo "bench-mqtt: /usr/sbin/mosquitto missing; install the Debian package mosquitto (or pass --mosquitto-bin)" >&2
  exit 1
fi
mkdir -p "$bin"
(cd "$root/tests/bench" && GOWORK=off go build -o "$bin/robustmq-bench" ./cmd/robustmq-bench)

args=(mqtt
  --placement-bin "$bin/placement-center" --placement-config-dir "$root/config/raft"
  --journal-bin "$bin/journal-server" --journal-config-dir "$root/config/journal"
  --broker-bin "$bin/broker-server" "$@")
smoke=false
expect=5 # --smoke: qos1 at 1 and 16 publishers, qos0-fanin, slow-subscriber persistent and clean
for a in "$@"; do
  case $a in
    --smoke) smoke=true ;;
    --publishers*|--scenarios*|--slow-sessions*) expect=0 ;; # steps chosen by hand: at least one line
  esac
done

# shellcheck source=scripts/bench-lib.sh
. "$root/scripts/bench-lib.sh"
bench_run bench-mqtt "$smoke" "$expect" "mqtt" "${args[@]}"
