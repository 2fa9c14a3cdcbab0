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
gateway=""
processor=""
api=""
stop_stack() {
  if [ -n "$api" ]; then
    kill -TERM "$api" 2>/dev/null && wait "$api" 2>/dev/null
    echo "run: inference API stopped"
  fi
  [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null
  if [ -n "$gateway" ]; then
    kill -TERM "$gateway" 2>/dev/null && wait "$gateway" 2>/dev/null
    echo "run: ingest gateway stopped"
  fi
  if [ -n "$processor" ]; then
    kill -TERM "$processor" 2>/dev/null && wait "$processor" 2>/dev/null
    echo "run: stream processor stopped"
  fi
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


# A producer key for this machine, kept across runs, readable by root only.
key_file="$STACK_RUN_DIR/gateway-api-key"
if [ ! -s "$key_file" ]; then
  (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$key_file")
fi
GATEWAY_KEY="$(cat "$key_file")"
GATEWAY_PORT="${GATEWAY_PORT:-8080}"
echo "run: starting the ingest gateway on 127.0.0.1:$GATEWAY_PORT"
STREAMREC_GATEWAY_API_KEYS="local:$GATEWAY_KEY" STREAMREC_HTTP_PORT="$GATEWAY_PORT" \
  .build/release/ingest-gateway > "$STACK_RUN_DIR/ingest-gateway.log" 2>&1 &
gateway=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$GATEWAY_PORT/readyz" > /dev/null 2>&1 && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$GATEWAY_PORT/readyz" > /dev/null || { echo "run: the gateway did not become ready; see $STACK_RUN_DIR/ingest-gateway.log" >&2; status=1; }
PROCESSOR_PORT="${PROCESSOR_PORT:-8081}"
echo "run: starting the stream processor (metrics on 127.0.0.1:$PROCESSOR_PORT)"
STREAMREC_HTTP_PORT="$PROCESSOR_PORT" .build/release/stream-processor > "$STACK_RUN_DIR/stream-processor.log" 2>&1 &
processor=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PROCESSOR_PORT/readyz" > /dev/null 2>&1 && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$PROCESSOR_PORT/readyz" > /dev/null || { echo "run: the processor did not become ready; see $STACK_RUN_DIR/stream-processor.log" >&2; status=1; }
admin_file="$STACK_RUN_DIR/admin-token"
if [ ! -s "$admin_file" ]; then
  (umask 077; head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$admin_file")
fi
API_PORT="${API_PORT:-8082}"
echo "run: starting the inference API on 127.0.0.1:$API_PORT"
STREAMREC_HTTP_PORT="$API_PORT" STREAMREC_INFERENCE_ADMIN_TOKEN_FILE="$admin_file" \
  .build/release/inference-api > "$STACK_RUN_DIR/inference-api.log" 2>&1 &
api=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$API_PORT/healthz" > /dev/null 2>&1 && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$API_PORT/healthz" > /dev/null || { echo "run: the inference API did not start; see $STACK_RUN_DIR/inference-api.log" >&2; status=1; }
now="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

cat <<MSG

run: the ingest gateway is up: http://127.0.0.1:$GATEWAY_PORT (log: $STACK_RUN_DIR/ingest-gateway.log)
  curl -s -X POST http://127.0.0.1:$GATEWAY_PORT/v1/events -H 'Content-Type: application/json' \\
    -H 'X-API-Key: $GATEWAY_KEY' \\
    -d '{"type":"movie.rating","user_id":"u1","item_id":"1","value":4.5,"occurred_at":"$now"}'
  curl -s http://127.0.0.1:$GATEWAY_PORT/readyz;  curl -s http://127.0.0.1:$GATEWAY_PORT/metrics | grep streamrec_

run: recommendations from the inference API (log: $STACK_RUN_DIR/inference-api.log)
  curl -s 'http://127.0.0.1:$API_PORT/v1/users/1/recommendations?domain=movies&k=5'
  curl -s 'http://127.0.0.1:$API_PORT/v1/users/u1/recommendations?domain=polls&k=5'
  curl -s 'http://127.0.0.1:$API_PORT/v1/popular?domain=movies&window=1h'
  curl -s http://127.0.0.1:$API_PORT/v1/models

run: the stream processor applies events to Redis and PostgreSQL (log: $STACK_RUN_DIR/stream-processor.log)
  curl -s http://127.0.0.1:$PROCESSOR_PORT/metrics | grep streamrec_processor_events_total
  redis-cli -p $STREAMREC_REDIS_PORT ZRANGE 'sr:v1:{u:u1}:history:movie' 0 -1

run: the local stack is up (Ctrl-C stops it):
  redis      127.0.0.1:$STREAMREC_REDIS_PORT      (redis-cli -p $STREAMREC_REDIS_PORT)
  postgres   127.0.0.1:$STREAMREC_POSTGRES_PORT      (PGPASSWORD=$STREAMREC_POSTGRES_PASSWORD psql -h 127.0.0.1 -p $STREAMREC_POSTGRES_PORT -U $STREAMREC_POSTGRES_USER $STREAMREC_POSTGRES_DATABASE)
  kafka      $STREAMREC_KAFKA_BROKERS      (LD_LIBRARY_PATH=$STREAMREC_RDKAFKA_LIB_DIR kcat -b $STREAMREC_KAFKA_BROKERS -L)
MSG
[ "$status" = 0 ] || exit "$status"
# Block until interrupted; the EXIT trap stops the stack.
while true; do sleep 3600 & sleeper=$!; wait "$sleeper"; done
