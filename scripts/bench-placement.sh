#!/usr/bin/env bash
# Placement center vs etcd write benchmark (`make bench-placement`).
# Builds the bench-only module tests/bench (kept out of go.work, so built
# with GOWORK=off) into bin/robustmq-bench and runs it against
# bin/placement-center (from `make build`). All arguments are passed on,
# e.g. --concurrency 1,16,256 --duration 10s --etcd-endpoints leader.
# --smoke: a few seconds, concurrency 1 and 16 only, and the output's JSON
# lines are checked (used by `make test`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/bin
if [ ! -x "$bin/placement-center" ]; then
  echo "bench-placement: $bin/placement-center missing; run 'make build' first" >&2
  exit 1
fi
mkdir -p "$bin"
(cd "$root/tests/bench" && GOWORK=off go build -o "$bin/robustmq-bench" ./cmd/robustmq-bench)

args=(--placement-bin "$bin/placement-center" --placement-config-dir "$root/config/raft" "$@")
smoke=false
expect=2 # --smoke runs concurrency 1 and 16
for a in "$@"; do
  case $a in
    --smoke) smoke=true ;;
    --concurrency*) expect=0 ;; # steps chosen by hand: at least one line
  esac
done

# shellcheck source=scripts/bench-lib.sh
. "$root/scripts/bench-lib.sh"
bench_run bench-placement "$smoke" "$expect" "" "${args[@]}"
