#!/usr/bin/env bash
# `make test-compose`: deploy/docker-compose.yml end to end, as an operator
# would use it. Needs a running Docker engine, the robustmq-go image
# (`make images`), `docker compose` (or docker-compose), mosquitto_pub/sub and
# kcat on the host. Not part of `make test`: CI machines here have no Docker
# engine (docs/deploy.md says what is verified without one).
#
#  1. up: 3 placement members, 3 journal nodes, 2 brokers; wait until healthy
#  2. publish/consume with mosquitto clients through every broker's published
#     port, on one broker and from each broker to another
#  3. Kafka with kcat: Metadata through a published port lists both brokers'
#     container addresses, which a Linux host reaches (docs/deploy.md);
#     produce and consume through them
#  4. scale brokers 2 -> 4 -> 2 while one subscriber stays connected, checking
#     it still receives (also what is published on the new brokers) and every
#     running broker serves new clients
#  5. a 3-replica stream: write, stop one journal container, write again
#     (writes continue), read everything back, start the journal again
#  6. tear down (volumes too), also on failure
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

export ROBUSTMQ_IMAGE=${ROBUSTMQ_IMAGE:-robustmq-go:dev}
export ROBUSTMQ_PUBLISH_IP=127.0.0.1
project=${ROBUSTMQ_COMPOSE_PROJECT:-robustmq-test}
file=deploy/docker-compose.yml
records=${ROBUSTMQ_COMPOSE_RECORDS:-2000}

if docker compose version >/dev/null 2>&1; then
  compose=(docker compose -f "$file" -p "$project")
elif command -v docker-compose >/dev/null; then
  compose=(docker-compose -f "$file" -p "$project")
else
  echo "test-compose: neither 'docker compose' nor docker-compose is installed" >&2
  exit 1
fi
for tool in mosquitto_pub mosquitto_sub kcat; do
  command -v "$tool" >/dev/null || { echo "test-compose: $tool missing (apt-get install mosquitto-clients kcat)" >&2; exit 1; }
done
docker info >/dev/null 2>&1 || { echo "test-compose: no Docker engine answers (docker info failed)" >&2; exit 1; }
docker image inspect "$ROBUSTMQ_IMAGE" >/dev/null || { echo "test-compose: image $ROBUSTMQ_IMAGE missing (make images)" >&2; exit 1; }

work=$(mktemp -d)
sub_pid=""
teardown() {
  local code=$?
  trap - EXIT INT TERM
  if [[ -n $sub_pid ]]; then kill "$sub_pid" 2>/dev/null || true; fi
  if [[ $code -ne 0 ]]; then
    echo "== FAILED (exit $code); last logs:"
    "${compose[@]}" ps -a || true
    "${compose[@]}" logs --no-color --tail 40 || true
  fi
  echo "== tear down"
  "${compose[@]}" --profile tools down -v --remove-orphans || true
  rm -rf "$work"
  exit "$code"
}
trap teardown EXIT INT TERM

step() { echo; echo "== $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

ctl() { "${compose[@]}" --profile tools run --rm -T robustctl "$@"; }

# container_health prints the health status of every container of a service.
container_health() {
  local ids
  ids=$("${compose[@]}" ps -q "$1")
  [[ -n $ids ]] || return 0
  # shellcheck disable=SC2086
  docker inspect --format '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' $ids
}

# wait_healthy SERVICE N: waits until N containers of SERVICE are healthy.
wait_healthy() {
  local svc=$1 want=$2 n
  for _ in $(seq 1 90); do
    n=$(container_health "$svc" | grep -c '^healthy$' || true)
    [[ $n -ge $want ]] && return 0
    sleep 2
  done
  fail "$svc: $want healthy containers expected, have: $(container_health "$svc" | tr '\n' ' ')"
}

# broker_ports prints the host MQTT port of every running broker replica.
broker_ports() {
  local id
  for id in $("${compose[@]}" ps -q broker); do
    docker port "$id" 1883/tcp | head -1 | sed 's/.*://'
  done
}

# pubsub SUB_PORT PUB_PORT TAG: a subscriber on one broker, a publisher on
# the same or another broker (brokers forward to each other's subscribers);
# publishes every 0.5 s until the subscriber has the message (a new route
# takes a moment to reach the other brokers), at most 15 s.
pubsub() {
  local sub_port=$1 pub_port=$2 tag=$3 topic="compose/$3" out pid i
  out=$work/sub-$tag
  mosquitto_sub -h 127.0.0.1 -p "$sub_port" -t "$topic" -q 1 -C 1 -W 20 >"$out" &
  pid=$!
  for i in $(seq 1 30); do
    mosquitto_pub -h 127.0.0.1 -p "$pub_port" -t "$topic" -q 1 -m "hello-$tag"
    sleep 0.5
    kill -0 "$pid" 2>/dev/null || break
  done
  wait "$pid" || fail "subscriber on port $sub_port got nothing published on port $pub_port ($i tries)"
  [[ $(cat "$out") == "hello-$tag" ]] || fail "subscriber on port $sub_port: got '$(cat "$out")', want hello-$tag"
  echo "published on port $pub_port, consumed on port $sub_port: hello-$tag"
}

# every_broker_serves TAG N: pubsub through each running replica, and from
# each replica to the next; N replicas must be running.
every_broker_serves() {
  local ports n i
  mapfile -t ports < <(broker_ports)
  n=${#ports[@]}
  [[ $n -eq $2 ]] || fail "$2 brokers expected, $n running"
  for ((i = 0; i < n; i++)); do
    pubsub "${ports[$i]}" "${ports[$i]}" "$1-$i"
    pubsub "${ports[$(((i + 1) % n))]}" "${ports[$i]}" "$1-$i-to-next"
  done
  echo "$n brokers served clients"
}

step "up: 3 placement, 3 journal, 2 brokers ($ROBUSTMQ_IMAGE)"
"${compose[@]}" up -d --scale broker=2
for s in placement-1 placement-2 placement-3 journal-1 journal-2 journal-3; do wait_healthy "$s" 1; done
wait_healthy broker 2
ctl cluster status
ctl node list

step "MQTT through every broker, and across brokers"
every_broker_serves up 2

step "Kafka: Metadata through a published port, then the advertised container addresses"
kafka_port=$(docker port "$("${compose[@]}" ps -q broker | head -1)" 9092/tcp | head -1 | sed 's/.*://')
kcat -b "127.0.0.1:$kafka_port" -L -m 20 | tee "$work/kafka-metadata"
[[ $(grep -c '^  broker .* at .*:9092' "$work/kafka-metadata") -eq 2 ]] || fail "Kafka Metadata does not list 2 brokers at their :9092 addresses"
echo hello-kafka | kcat -b "127.0.0.1:$kafka_port" -P -t compose-kafka
[[ $(kcat -b "127.0.0.1:$kafka_port" -C -t compose-kafka -o beginning -c 1 -q -m 20) == hello-kafka ]] \
  || fail "kcat did not read back what it produced"

step "scale brokers 2 -> 4 with a subscriber connected"
first_port=$(broker_ports | head -1)
first_id=$("${compose[@]}" ps -q broker | head -1)
mosquitto_sub -h 127.0.0.1 -p "$first_port" -t compose/steady -q 1 -i steady-sub >"$work/steady" &
sub_pid=$!
pubsub "$first_port" "$first_port" steady-ready
sleep 1
mosquitto_pub -h 127.0.0.1 -p "$first_port" -t compose/steady -q 1 -m before-scale
"${compose[@]}" up -d --no-recreate --scale broker=4 broker
wait_healthy broker 4
every_broker_serves up4 4
# Published on a new broker, delivered to the subscriber on the first one.
new_port=$(broker_ports | grep -vx "$first_port" | tail -1)
mosquitto_pub -h 127.0.0.1 -p "$new_port" -t compose/steady -q 1 -m after-scale-up

step "scale brokers 4 -> 2"
"${compose[@]}" up -d --no-recreate --scale broker=2 broker
for _ in $(seq 1 30); do [[ $(broker_ports | wc -l) -eq 2 ]] && break; sleep 1; done
ctl node list --kind broker
every_broker_serves down2 2
if "${compose[@]}" ps -q broker | grep -q "^$first_id"; then
  other_port=$(broker_ports | grep -vx "$first_port" | head -1)
  mosquitto_pub -h 127.0.0.1 -p "$other_port" -t compose/steady -q 1 -m after-scale-down
  want=3
else
  echo "the subscriber's broker was one of those removed; its client was disconnected"
  want=2
fi
for _ in $(seq 1 30); do [[ $(wc -l <"$work/steady") -ge $want ]] && break; sleep 0.5; done
echo "steady subscriber received:"; cat "$work/steady"
[[ $(wc -l <"$work/steady") -ge $want ]] || fail "the subscriber kept across scaling got $(wc -l <"$work/steady") messages, want $want"
kill "$sub_pid" 2>/dev/null || true
sub_pid=""

step "journal: writes continue with one journal container stopped"
ctl stream create compose-demo --partitions 3 --replicas 3
ctl bench produce --stream compose-demo --count "$records" --size 100 --verifiable --timeout 2m
"${compose[@]}" stop journal-2
ctl node list
ctl bench produce --stream compose-demo --count "$records" --size 100 --verifiable --timeout 2m \
  || fail "writes did not continue with journal-2 stopped"
ctl bench consume --stream compose-demo --expect $((2 * records)) --timeout 2m
ctl stream describe compose-demo
"${compose[@]}" start journal-2
wait_healthy journal-2 1

step "passed"
echo "1 passed, 0 failed"
