#!/usr/bin/env bash
# `make run-cluster`: a 3-member placement center from config/raft/, 3 journal
# nodes from config/journal/ and 2 brokers from config/broker/, data under ./data, Ctrl-C stops all.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=$root/bin
mkdir -p data
# shellcheck source=scripts/run-lib.sh
. "$root/scripts/run-lib.sh"
for n in 1 2 3; do
  start "$bin/placement-center" --config "config/raft/node-$n.toml"
done
addrs=127.0.0.1:1228,127.0.0.1:2228,127.0.0.1:3228
for _ in $(seq 1 100); do
  if "$bin/robustctl" --placement $addrs --timeout 1s kv list >/dev/null 2>&1; then break; fi
  sleep 0.2
done
"$bin/robustctl" --placement $addrs cluster status || true
for n in 1 2 3; do
  start "$bin/journal-server" --config "config/journal/node-$n.toml"
done
for _ in $(seq 1 100); do
  if [ "$("$bin/robustctl" --placement $addrs --timeout 1s node list 2>/dev/null | grep -ci journal)" -ge 3 ]; then break; fi
  sleep 0.2
done
for n in 1 2; do
  start "$bin/broker-server" --config "config/broker/node-$n.toml"
done
for _ in $(seq 1 100); do
  if [ "$("$bin/robustctl" --placement $addrs --timeout 1s node list 2>/dev/null | grep -ci broker)" -ge 2 ]; then break; fi
  sleep 0.2
done
"$bin/robustctl" --placement $addrs node list || true
cat <<INFO

3-member placement center, 3 journal nodes and 2 brokers running:
  placement gRPC    127.0.0.1:1228 127.0.0.1:2228 127.0.0.1:3228
  placement metrics http://127.0.0.1:9100/metrics http://127.0.0.1:9101/metrics http://127.0.0.1:9102/metrics
  journal gRPC      127.0.0.1:1778 127.0.0.1:2778 127.0.0.1:3778
  journal metrics   http://127.0.0.1:9110/metrics http://127.0.0.1:9111/metrics http://127.0.0.1:9112/metrics
  broker MQTT       tcp 127.0.0.1:1883 127.0.0.1:2883   ws://127.0.0.1:8083/mqtt ws://127.0.0.1:2083/mqtt
  broker Kafka      127.0.0.1:9092 127.0.0.1:2092
  broker gRPC       127.0.0.1:1229 127.0.0.1:2229
  broker metrics    http://127.0.0.1:9120/metrics http://127.0.0.1:9121/metrics
Try:  bin/robustctl --placement $addrs cluster status
      bin/robustctl --placement $addrs stream create demo --partitions 3 --replicas 3
      bin/robustctl --placement $addrs bench produce --stream demo --count 100000 --size 100 --verifiable
      mosquitto_sub -p 2883 -t 'a/#' -v -V mqttv5     # and, on the other broker:
      mosquitto_pub -p 1883 -t a/b -m hi -q 1 -V mqttv5
Any process can be killed to try failover; the others keep running.
Press Ctrl-C to stop.
INFO
# Until Ctrl-C (or every process ended): one process dying is what this
# cluster is for.
wait || true
