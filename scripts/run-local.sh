#!/usr/bin/env bash
# `make run`: starts a single-node cluster from config/ with data under ./data,
# prints every endpoint, and stops everything on Ctrl-C.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=$root/bin
mkdir -p data
# shellcheck source=scripts/run-lib.sh
. "$root/scripts/run-lib.sh"

start "$bin/placement-center" --config config/placement-center.toml

# Wait until the placement center has a leader (kv list needs one).
for _ in $(seq 1 100); do
  if "$bin/robustctl" --placement 127.0.0.1:1228 --timeout 1s kv list --limit 1 >/dev/null 2>&1; then break; fi
  sleep 0.2
done
"$bin/robustctl" --placement 127.0.0.1:1228 cluster status || true

start "$bin/journal-server" --config config/journal-server.toml
# Wait until the journal node has registered (streams need a live journal).
for _ in $(seq 1 100); do
  if "$bin/robustctl" --placement 127.0.0.1:1228 --timeout 1s node list 2>/dev/null | grep -qi journal; then break; fi
  sleep 0.2
done

start "$bin/broker-server" --config config/broker-server.toml
# Wait until the broker has registered (it listens before it registers).
for _ in $(seq 1 100); do
  if "$bin/robustctl" --placement 127.0.0.1:1228 --timeout 1s node list 2>/dev/null | grep -qi broker; then break; fi
  sleep 0.2
done
"$bin/robustctl" --placement 127.0.0.1:1228 node list || true

cat <<'INFO'

RobustMQ-Go is running:
  placement-center gRPC (admin API, robustctl) 127.0.0.1:1228
  placement-center metrics / health            http://127.0.0.1:9100/metrics  http://127.0.0.1:9100/healthz
  journal-server gRPC (segments)                 127.0.0.1:1778
  journal-server metrics / health              http://127.0.0.1:9110/metrics  http://127.0.0.1:9110/healthz
  broker-server MQTT (3.1, 3.1.1, 5.0)           tcp 127.0.0.1:1883  ws://127.0.0.1:8083/mqtt
  broker-server Kafka                           127.0.0.1:9092  (kcat -b 127.0.0.1:9092 -L)
  broker-server gRPC / metrics / health        127.0.0.1:1229  http://127.0.0.1:9120/metrics  http://127.0.0.1:9120/healthz
  (sessions, routes and retained messages live in the placement center,
   QoS 1/2 messages in the journal stream "mqtt-messages")

Try:  bin/robustctl cluster status
      bin/robustctl stream create demo --partitions 2 --replicas 1
      bin/robustctl bench produce --stream demo --count 10000 --size 100 --verifiable
      bin/robustctl bench consume --stream demo --verify --expect 10000
      mosquitto_sub -h 127.0.0.1 -t 'a/#' -v     # and in another shell:
      mosquitto_pub -h 127.0.0.1 -t a/b -m hi -q 1
      echo hello | kcat -b 127.0.0.1:9092 -P -t demo-kafka   # then:
      kcat -b 127.0.0.1:9092 -C -t demo-kafka -e
Data is under ./data. Press Ctrl-C to stop.
INFO
wait -n "${pids[@]}" || true
