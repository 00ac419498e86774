#!/usr/bin/env bash
# Journal vs NATS JetStream vs disk-limit benchmark (`make bench-journal`).
# Builds the bench-only module tests/bench (kept out of go.work, so built
# with GOWORK=off) into bin/robustmq-bench, and nats-server v2.15.2 (pinned
# as a tool in tests/bench/go.mod; fetched through the Go module proxy at
# build time only) into bin/nats-server, then runs
# `robustmq-bench journal` against bin/placement-center and
# bin/journal-server (from `make build`). All arguments are passed on,
# e.g. --concurrency 1,16,64 --duration 10s --record-size 1024.
# --smoke: seconds long, concurrency 1 and 16 only, and the output's JSON
# lines are checked (used by `make test` through `make bench-smoke`).
# --profile DIR: run a copy of journal-server with net/http/pprof compiled
# in (bin/journal-server-pprof, built through `go build -overlay` from
# tests/bench/internal/journalbench/testdata/journal_pprof_overlay.go;
# journal-server's sources are not touched) and collect CPU, goroutine,
# block and mutex profiles plus /metrics of every journal node during our
# measured runs into DIR. Its figures are not the benchmark's.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/bin
for b in placement-center journal-server; do
  if [ ! -x "$bin/$b" ]; then
    echo "bench-journal: $bin/$b missing; run 'make build' first" >&2
    exit 1
  fi
done
mkdir -p "$bin"
(cd "$root/tests/bench" && GOWORK=off go build -o "$bin/robustmq-bench" ./cmd/robustmq-bench)
(cd "$root/tests/bench" && GOWORK=off go build -o "$bin/nats-server" github.com/nats-io/nats-server/v2)

journal_bin=$bin/journal-server
pass=()
while [ $# -gt 0 ]; do
  case $1 in
    --profile)
      [ $# -ge 2 ] || { echo "bench-journal: --profile needs a directory" >&2; exit 2; }
      overlay=$(mktemp)
      printf '{"Replace": {"%s": "%s"}}\n' "$root/journal-server/cmd/journal-server/zz_bench_pprof.go" \
        "$root/tests/bench/internal/journalbench/testdata/journal_pprof_overlay.go" > "$overlay"
      (cd "$root/journal-server" && go build -overlay "$overlay" -o "$bin/journal-server-pprof" ./cmd/journal-server)
      rm -f "$overlay"
      journal_bin=$bin/journal-server-pprof
      pass+=(--pprof-dir "$2")
      shift 2 ;;
    *) pass+=("$1"); shift ;;
  esac
done
set -- "${pass[@]}"

args=(journal
  --placement-bin "$bin/placement-center" --placement-config-dir "$root/config/raft"
  --journal-bin "$journal_bin" --journal-config-dir "$root/config/journal"
  --nats-bin "$bin/nats-server" "$@")
smoke=false
expect=3 # concurrency 1, 16, 64
for a in "$@"; do
  case $a in
    --smoke) smoke=true ;;
  esac
done
$smoke && expect=2 # --smoke runs concurrency 1 and 16
for a in "$@"; do
  case $a in
    --concurrency*) expect=0 ;; # steps chosen by hand: at least one line
  esac
done

# shellcheck source=scripts/bench-lib.sh
. "$root/scripts/bench-lib.sh"
bench_run bench-journal "$smoke" "$expect" "journal" "${args[@]}"
