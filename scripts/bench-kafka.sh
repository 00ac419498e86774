#!/usr/bin/env bash
# Kafka front end vs NATS JetStream vs raw stream client benchmark
# (`make bench-kafka`). Builds the bench-only module tests/bench (kept out
# of go.work, so built with GOWORK=off) into bin/robustmq-bench, and
# nats-server (pinned as a tool in tests/bench/go.mod) into
# bin/nats-server, then runs `robustmq-bench kafka` against
# bin/placement-center, bin/journal-server and bin/broker-server (from
# `make build`). All arguments are passed on, e.g.
# --concurrency 1,16,64 --duration 10s --record-size 1024.
# --smoke: seconds long, concurrency 16 only, and the output's JSON lines
# are checked (used by `make test` through `make bench-smoke`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/bin
for b in placement-center journal-server broker-server; do
  if [ ! -x "$bin/$b" ]; then
    echo "bench-kafka: $bin/$b missing; run 'make build' first" >&2
    exit 1
  fi
done
mkdir -p "$bin"
(cd "$root/tests/bench" && GOWORK=off go build -o "$bin/robustmq-bench" ./cmd/robustmq-bench)
(cd "$root/tests/bench" && GOWORK=off go build -o "$bin/nats-server" github.com/nats-io/nats-server/v2)

args=(kafka
  --placement-bin "$bin/placement-center" --placement-config-dir "$root/config/raft"
  --journal-bin "$bin/journal-server" --journal-config-dir "$root/config/journal"
  --broker-bin "$bin/broker-server" --nats-bin "$bin/nats-server" "$@")
smoke=false
expect=3 # concurrency 1, 16, 64
for a in "$@"; do
  case $a in
    --smoke) smoke=true ;;
  esac
done
$smoke && expect=1 # --smoke runs concurrency 16
for a in "$@"; do
  case $a in
    --concurrency*) expect=0 ;; # steps chosen by hand: at least one line
  esac
done

# shellcheck source=scripts/bench-lib.sh
. "$root/scripts/bench-lib.sh"
bench_run bench-kafka "$smoke" "$expect" "kafka" "${args[@]}"
