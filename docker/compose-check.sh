#!/usr/bin/env bash
# Runs docker-compose.yml end to end and checks it: up (PostgreSQL, migrations, Kafka, relay-a leading, relay-b standing
# by, the workload), kills the leading relay container with SIGKILL once half the events are committed (the standby
# must take over), waits for the workload's checked summary, and always tears the stack down (down -v).
# Exits 0 only if the workload's verdict is OK: nothing lost, nothing invented, order kept, every effect applied once.
#
# Usage: docker/compose-check.sh [--no-kill-leader] [--events N] [--rate N]
#   --no-kill-leader  leave the leader alone
#   --events N        events the workload commits (default 10000)
#   --rate N          committed events per second (default 500)
# Needs the images of docker/build-images.sh (or the OUTBOX_*_IMAGE variables of docker-compose.yml) and
# docker-compose v1 or "docker compose" v2. Host ports: free ones are picked for PostgreSQL and Kafka.
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KILL_LEADER=true EVENTS=10000 RATE=500
while [ $# -gt 0 ]; do
  case $1 in
    --no-kill-leader) KILL_LEADER=false ;;
    --kill-leader) KILL_LEADER=true ;;
    --events) EVENTS=${2:?--events needs a number}; shift ;;
    --rate) RATE=${2:?--rate needs a number}; shift ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "compose-check.sh: unknown argument '$1'. Fix: use --no-kill-leader, --events N, --rate N or --help." >&2; exit 2 ;;
  esac
  shift
done
[[ $EVENTS =~ ^[1-9][0-9]*$ ]] || { echo "compose-check.sh: --events must be a positive number, got '$EVENTS'" >&2; exit 2; }
[[ $RATE =~ ^[0-9]+$ ]] || { echo "compose-check.sh: --rate must be 0 (flat out) or more events per second, got '$RATE'" >&2; exit 2; }

log() { printf '[compose-check %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf 'compose-check.sh: %s\n' "$*" >&2; exit 1; }

command -v docker > /dev/null || die "the docker command is not installed. Fix: install Docker; the default build and tests do not need it."
docker info > /dev/null 2>&1 || die "the Docker daemon is not running or not reachable. Fix: start it (systemctl start docker, or dockerd &)."
if command -v docker-compose > /dev/null; then
  COMPOSE=(docker-compose)
elif docker compose version > /dev/null 2>&1; then
  COMPOSE=(docker compose)
else
  die "neither docker-compose (v1) nor the docker compose plugin (v2) is installed. Fix: apt-get install docker-compose."
fi
for image in "${OUTBOX_POSTGRES_IMAGE:-outbox-bridge/postgres:17}" "${OUTBOX_KAFKA_IMAGE:-outbox-bridge/kafka:4.3.1}" \
             "${OUTBOX_RELAY_IMAGE:-outbox-bridge/relay:latest}" "${OUTBOX_DEMO_IMAGE:-outbox-bridge/demo:latest}"; do
  docker image inspect "$image" > /dev/null 2>&1 \
    || die "the image $image is missing. Fix: run docker/build-images.sh first (or set the OUTBOX_*_IMAGE variables, docs/docker.md)."
done

# free host ports for the two published servers (several checks can run side by side)
free_port() {
  local port
  for _ in $(seq 1 100); do
    port=$((20000 + RANDOM % 20000))
    if ! (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null; then echo "$port"; return; fi
  done
  die "found no free port on 127.0.0.1"
}
export OUTBOX_POSTGRES_PORT=${OUTBOX_POSTGRES_PORT:-$(free_port)}
export OUTBOX_KAFKA_PORT=${OUTBOX_KAFKA_PORT:-$(free_port)}
export OUTBOX_DEMO_ARGS="--events $EVENTS --rate $RATE"
PROJECT=outboxcheck$$
compose() { "${COMPOSE[@]}" -f "$ROOT/docker-compose.yml" -p "$PROJECT" "$@"; }

started=$SECONDS
teardown() {
  local code=$?
  log "tearing down (${COMPOSE[*]} down -v)"
  compose down -v --remove-orphans > /dev/null 2>&1 || log "down -v failed: remove the containers of project $PROJECT by hand"
  log "total $((SECONDS - started)) s"
  exit $code
}
trap teardown EXIT
trap 'exit 130' INT TERM

log "${COMPOSE[*]} up -d (project $PROJECT; PostgreSQL on 127.0.0.1:$OUTBOX_POSTGRES_PORT, Kafka on 127.0.0.1:$OUTBOX_KAFKA_PORT)"
if ! compose up -d; then
  compose ps || true
  compose logs --no-color --tail=40 || true
  die "the stack did not come up (a service failed its health check or exited); its logs are above."
fi
log "stack up after $((SECONDS - started)) s; the workload runs"
workload=$(compose ps -q workload)
[ -n "$workload" ] || die "no workload container"

# the workload's progress lines: "   12.0 s     5,000     4,990     4,900   p50 ... (leader relay-a)"
if $KILL_LEADER; then
  killed=
  while [ -z "$killed" ]; do
    [ "$(docker inspect -f '{{.State.Running}}' "$workload")" = true ] || break
    line=$(docker logs "$workload" 2>&1 | grep -E '\(leader relay-[ab]\)$' | tail -1 || true)
    committed=$(awk '{gsub(",", "", $3); print $3}' <<< "$line")
    if [ -n "$committed" ] && [ "$committed" -ge $((EVENTS / 2)) ]; then
      leader=$(sed -E 's/.*\(leader (relay-[ab])\)$/\1/' <<< "$line")
      log "$committed of $EVENTS events committed: docker kill -s KILL $leader, the leader"
      compose kill -s SIGKILL "$leader" > /dev/null 2>&1
      killed=$leader
      break
    fi
    sleep 1
  done
  [ -n "$killed" ] || log "the workload ended before half of the events were committed: no relay killed"
fi

log "waiting for the workload's summary"
code=$(timeout 900 docker wait "$workload" || echo timeout)
docker logs "$workload" 2>&1 | grep -v '^Picked up JAVA_TOOL_OPTIONS'
[ "$code" != timeout ] || die "the workload did not finish within 900 s"
took_over=true
if [ -n "${killed:-}" ]; then
  successor=$( [ "$killed" = relay-a ] && echo relay-b || echo relay-a )
  if compose logs --no-color "$successor" 2>/dev/null | grep -q "is the leader for slot"; then
    log "$successor took over after $killed was killed"
  else
    log "FAILED: $successor never reported itself the leader after $killed was killed"
    took_over=false
  fi
fi
if [ "$code" != 0 ] || ! $took_over || ! docker logs "$workload" 2>&1 | grep -q '^  verdict: OK'; then
  compose logs --no-color --tail=30 relay-a relay-b || true
  die "the check FAILED (workload exit code $code): see the summary above"
fi
log "OK: the compose stack delivered every event once, in order$( [ -n "${killed:-}" ] && echo ", across the kill of $killed")"
