#!/usr/bin/env bash
# `make run-cluster`: a 3-member placement center from config/raft/, data
# under ./data/raft, Ctrl-C stops all.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bin=$root/bin
mkdir -p data
pids=()
stop() {
  trap - INT TERM EXIT
  echo; echo "stopping..."
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  echo "stopped"
}
trap stop INT TERM EXIT
for n in 1 2 3; do
  "$bin/placement-center" --config "config/raft/node-$n.toml" &
  pids+=($!)
done
addrs=127.0.0.1:1228,127.0.0.1:2228,127.0.0.1:3228
for _ in $(seq 1 100); do
  if "$bin/robustctl" --placement $addrs --timeout 1s kv list >/dev/null 2>&1; then break; fi
  sleep 0.2
done
"$bin/robustctl" --placement $addrs cluster status || true
cat <<INFO

3-member placement center running:
  gRPC   127.0.0.1:1228 127.0.0.1:2228 127.0.0.1:3228
  metrics http://127.0.0.1:9100/metrics http://127.0.0.1:9101/metrics http://127.0.0.1:9102/metrics
Try:  bin/robustctl --placement $addrs cluster status
Press Ctrl-C to stop.
INFO
wait -n "${pids[@]}" || true
