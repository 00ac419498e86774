# shellcheck shell=bash
# Sourced by scripts/bench-*.sh (not run on its own).
#
# bench_run NAME SMOKE EXPECT SUBCOMMAND ARGS...
# Runs bin/robustmq-bench ARGS. Without --smoke (SMOKE=false) it execs the
# bench, so Ctrl-C reaches it and it stops its processes. With --smoke it
# tees the output and has `robustmq-bench [SUBCOMMAND] check --expect
# EXPECT` check the JSON lines (EXPECT 0: at least one step line).
# SUBCOMMAND is empty for the placement bench. NAME prefixes messages.
bench_run() {
  local name=$1 smoke=$2 expect=$3 sub=$4
  shift 4
  if ! $smoke; then
    exec "$bin/robustmq-bench" "$@"
  fi
  bench_out=$(mktemp)
  trap 'rm -f "$bench_out"' EXIT
  local status=0
  "$bin/robustmq-bench" "$@" | tee "$bench_out" || status=$?
  if [ "$status" -ne 0 ]; then
    echo "$name: smoke run failed (exit $status)" >&2
    exit "$status"
  fi
  "$bin/robustmq-bench" ${sub:+"$sub"} check --expect "$expect" < "$bench_out"
}
