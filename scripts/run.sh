#!/usr/bin/env bash
# `make run`: install what is missing (done by the Makefile's setup step), start the local stack,
# build the services in release mode and start them.
#
# Current stage: MovieLens 100K and the synthetic polls are loaded and a first model per domain is
# trained; the ingest gateway (with a local API key generated into the run directory) and the stream
# processor and the inference API run. Ctrl-C stops the services and exactly
# the servers this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
export STACK_RUN_DIR="${STACK_RUN_DIR:-.run/stack}"

echo "run: building release binaries"
swift build -c release

started=()
sleeper=""
services=()  # "pid:name", in start order; stopped in reverse
stop_stack() {
  [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null
  for ((i = ${#services[@]} - 1; i >= 0; i--)); do
    kill -TERM "${services[i]%%:*}" 2>/dev/null && wait "${services[i]%%:*}" 2>/dev/null
    echo "run: ${services[i]#*:} stopped"
  done
  if [ "${#started[@]}" -gt 0 ]; then
    echo
    echo "run: stopping ${started[*]}"
    bash scripts/stack.sh stop "${started[@]}" || true
  fi
}
trap stop_stack EXIT
trap 'exit 130' INT TERM

echo "run: starting Redis, PostgreSQL and the Kafka-protocol broker in $STACK_RUN_DIR"
# Stop on exit only what this run started: servers already up (make stack-up) stay up.
for component in redis postgres kafka; do
  bash scripts/stack.sh status "$component" > /dev/null 2>&1 || started+=("$component")
done
bash scripts/stack.sh start
# shellcheck disable=SC1090
source "$STACK_RUN_DIR/env"

status=0
# Data and first models: MovieLens 100K and the synthetic polls into PostgreSQL (idempotent: a second run
# adds nothing), then a model per domain unless one is already in production.
bash scripts/fetch-data.sh
.build/release/trainer bootstrap --dataset ml-100k
.build/release/trainer bootstrap --polls
for domain in movies polls; do
  if .build/release/trainer list --domain "$domain" | grep -q $'\tproduction\t'; then
    echo "run: $domain model already in production (trainer list --domain $domain)"
  else
    echo "run: training the first $domain model"
    .build/release/trainer train --domain "$domain"
  fi
done

# Least privilege: the trainer (above) runs as the schema's owner and applied the migrations; the processor
# and the API connect as their own PostgreSQL roles and Redis ACL users (both made by scripts/stack.sh, with
# the stack's password), holding only the grants of configs/postgres/least-privilege.sql (idempotent).
PGPASSWORD="$STREAMREC_POSTGRES_PASSWORD" psql -h "$STREAMREC_POSTGRES_HOST" -p "$STREAMREC_POSTGRES_PORT" \
  -U "$STREAMREC_POSTGRES_USER" -d "$STREAMREC_POSTGRES_DATABASE" -v ON_ERROR_STOP=1 -q -f configs/postgres/least-privilege.sql
# They only check the schema (postgres.apply_migrations=false): a missing migration stops the processor and keeps
# the API unready, naming it, instead of a half-privileged attempt to apply it.
processor_role=(STREAMREC_POSTGRES_USER=streamrec_processor STREAMREC_REDIS_USERNAME=streamrec_processor STREAMREC_REDIS_PASSWORD="$STREAMREC_POSTGRES_PASSWORD" STREAMREC_POSTGRES_APPLY_MIGRATIONS=false)
api_role=(STREAMREC_POSTGRES_USER=streamrec_api STREAMREC_REDIS_USERNAME=streamrec_api STREAMREC_REDIS_PASSWORD="$STREAMREC_POSTGRES_PASSWORD" STREAMREC_POSTGRES_APPLY_MIGRATIONS=false)

# A secret of this machine's (24 random bytes, hex), kept across runs, readable by root only.
secret_file() {
  local file="$STACK_RUN_DIR/$1"
  [ -s "$file" ] || (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$file")
  echo "$file"
}
# start_service NAME URL [VAR=value ...]: starts .build/release/NAME with the variables, logs to the run
# directory, and waits until URL answers.
start_service() {
  local name="$1" url="$2"
  shift 2
  env "$@" ".build/release/$name" > "$STACK_RUN_DIR/$name.log" 2>&1 &
  services+=("$!:$name")
  for _ in $(seq 100); do curl -fs "$url" > /dev/null 2>&1 && return 0; sleep 0.1; done
  echo "run: $name did not become ready at $url; see $STACK_RUN_DIR/$name.log" >&2
  status=1
}

GATEWAY_KEY="$(cat "$(secret_file gateway-api-key)")"
# A second producer key, handed to the web page's visitors (a local demo: the page posts from the browser).
WEB_KEY_FILE="$(secret_file web-api-key)"
GATEWAY_PORT="${GATEWAY_PORT:-8080}" PROCESSOR_PORT="${PROCESSOR_PORT:-8081}" API_PORT="${API_PORT:-8082}"
# Started processor first and gateway before the API, so Ctrl-C stops the API, then the gateway (no new
# events), then the processor (which commits what it applied).
echo "run: starting the stream processor (metrics on 127.0.0.1:$PROCESSOR_PORT)"
# One processor on the local broker: a session (1 s) shorter than a restart, so that after a crash the dead
# member is gone before the new one joins and events flow again within about 2 s (`make bench-restart`).
# Static membership (kafka.group_instance_id) is the way on Apache Kafka, whose brokers refuse sessions
# under 6 s; the local broker holds a static member's join and sync 3 s each (docs/reliability.md).
start_service stream-processor "http://127.0.0.1:$PROCESSOR_PORT/readyz" STREAMREC_HTTP_PORT="$PROCESSOR_PORT" STREAMREC_OUTCOMES_ENABLED=true "${processor_role[@]}" \
  STREAMREC_KAFKA_SESSION_TIMEOUT=1s STREAMREC_KAFKA_HEARTBEAT_INTERVAL=250ms
echo "run: starting the ingest gateway on 127.0.0.1:$GATEWAY_PORT"
start_service ingest-gateway "http://127.0.0.1:$GATEWAY_PORT/readyz" STREAMREC_HTTP_PORT="$GATEWAY_PORT" \
  STREAMREC_GATEWAY_API_KEYS="local:$GATEWAY_KEY,web:$(cat "$WEB_KEY_FILE")" STREAMREC_GATEWAY_CATALOG_PRODUCERS=local \
  STREAMREC_GATEWAY_CORS_ORIGINS="http://127.0.0.1:$API_PORT,http://localhost:$API_PORT"
echo "run: starting the inference API on 127.0.0.1:$API_PORT"
start_service inference-api "http://127.0.0.1:$API_PORT/healthz" STREAMREC_HTTP_PORT="$API_PORT" "${api_role[@]}" \
  STREAMREC_INFERENCE_ADMIN_TOKEN_FILE="$(secret_file admin-token)" \
  STREAMREC_INFERENCE_UI_GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT" STREAMREC_INFERENCE_UI_GATEWAY_API_KEY_FILE="$WEB_KEY_FILE"
# Warm Redis once (a fresh or restarted Redis is empty): the latest interactions of both domains replayed
# through the gateway as live events, so popular lists, histories and seen-sets are there from the start.
if [ "$status" = 0 ] && [ "$(redis-cli -p "$STREAMREC_REDIS_PORT" DBSIZE)" -lt 1000 ]; then
  echo "run: warming Redis: replaying the latest interactions through the gateway"
  .build/release/trainer bootstrap --dataset ml-100k --limit 20000 --replay "http://127.0.0.1:$GATEWAY_PORT" --api-key "$GATEWAY_KEY"
  .build/release/trainer bootstrap --polls --limit 20000 --replay "http://127.0.0.1:$GATEWAY_PORT" --api-key "$GATEWAY_KEY"
fi
now="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

cat <<MSG

run: the web page: http://127.0.0.1:$API_PORT/  (pick a user, like a movie or vote on a poll, watch the lists change)

run: the ingest gateway is up: http://127.0.0.1:$GATEWAY_PORT (log: $STACK_RUN_DIR/ingest-gateway.log)
  curl -s -X POST http://127.0.0.1:$GATEWAY_PORT/v1/events -H 'Content-Type: application/json' \\
    -H 'X-API-Key: $GATEWAY_KEY' \\
    -d '{"type":"movie.rating","user_id":"u1","item_id":"1","value":4.5,"occurred_at":"$now"}'
  curl -s http://127.0.0.1:$GATEWAY_PORT/readyz;  curl -s http://127.0.0.1:$GATEWAY_PORT/metrics | grep streamrec_

run: recommendations from the inference API (log: $STACK_RUN_DIR/inference-api.log)
  curl -s 'http://127.0.0.1:$API_PORT/v1/users/1/recommendations?domain=movies&k=5'
  curl -s 'http://127.0.0.1:$API_PORT/v1/users/u1/recommendations?domain=polls&k=5'
  curl -s 'http://127.0.0.1:$API_PORT/v1/popular?domain=movies&window=1h'
  curl -s 'http://127.0.0.1:$API_PORT/v1/similar?title=toy%20story&k=5'
  curl -s -X POST http://127.0.0.1:$API_PORT/v1/predict -H 'Content-Type: application/json' -d '[["Toy Story","Star Wars"],[5,4]]'
  curl -s http://127.0.0.1:$API_PORT/v1/models
  .build/release/loadgen --gateway 127.0.0.1:$GATEWAY_PORT --api 127.0.0.1:$API_PORT --api-key-file $STACK_RUN_DIR/gateway-api-key --rate 500 --seconds 20

run: the stream processor applies events to Redis and PostgreSQL (log: $STACK_RUN_DIR/stream-processor.log)
  curl -s http://127.0.0.1:$PROCESSOR_PORT/metrics | grep streamrec_processor_events_total
  redis-cli -p $STREAMREC_REDIS_PORT HGETALL 'sr:v2:{u:u1}:state:movie'

run: the local stack is up (Ctrl-C stops it):
  redis      127.0.0.1:$STREAMREC_REDIS_PORT      (redis-cli -p $STREAMREC_REDIS_PORT)
  postgres   127.0.0.1:$STREAMREC_POSTGRES_PORT      (PGPASSWORD=$STREAMREC_POSTGRES_PASSWORD psql -h 127.0.0.1 -p $STREAMREC_POSTGRES_PORT -U $STREAMREC_POSTGRES_USER $STREAMREC_POSTGRES_DATABASE)
  kafka      $STREAMREC_KAFKA_BROKERS      (LD_LIBRARY_PATH=$STREAMREC_RDKAFKA_LIB_DIR kcat -b $STREAMREC_KAFKA_BROKERS -L)
MSG
[ "$status" = 0 ] || exit "$status"
# Block until interrupted; the EXIT trap stops the stack.
while true; do sleep 3600 & sleeper=$!; wait "$sleeper"; done
