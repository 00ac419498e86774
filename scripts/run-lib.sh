# shellcheck shell=bash
# Sourced by scripts/run-local.sh and scripts/run-cluster.sh (not run on its
# own): start servers and stop them all, in reverse start order, when the
# script is interrupted or ends.

pids=()

# stop ends every started server, newest first and one at a time: brokers
# and journal nodes still reach the placement center to unregister while
# they stop.
stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping..."
  for ((i=${#pids[@]}-1; i>=0; i--)); do
    kill -TERM "${pids[$i]}" 2>/dev/null || true
    wait "${pids[$i]}" 2>/dev/null || true
  done
  echo "stopped"
}
trap stop INT TERM EXIT

# start runs a server in its own session, so a terminal's Ctrl-C (sent to
# the whole foreground process group) reaches only the script, which then
# stops the servers in order (stop); without it every server got the SIGINT
# at once and the brokers and journal nodes failed to unregister from a
# placement center already gone.
start() {
  if command -v setsid >/dev/null 2>&1; then
    setsid "$@" &
  else
    "$@" &
  fi
  pids+=($!)
}
