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

if ! $smoke; then
  # exec: Ctrl-C reaches the bench itself, which stops its clusters.
  exec "$bin/robustmq-bench" "${args[@]}"
fi

out=$(mktemp)
trap 'rm -f "$out"' EXIT
status=0
"$bin/robustmq-bench" "${args[@]}" | tee "$out" || status=$?
if [ "$status" -ne 0 ]; then
  echo "bench-placement: smoke run failed (exit $status)" >&2
  exit "$status"
fi
"$bin/robustmq-bench" check --expect "$expect" < "$out"
