#!/usr/bin/env bash
# Fuzzes every HTTP route of the ingest gateway and the inference API from their OpenAPI files with
# Schemathesis (positive, negative, coverage and stateful phases; all checks except the 405-for-undeclared-
# method one, see below): no 5xx, no response outside its schema, no schema-violating request accepted,
# no schema-valid request refused (with the exceptions in scripts/fuzz/*.toml, each explained there).
#
# Runs against the real binaries (debug build, as `make test` builds them) on the running test stack
# ($STACK_RUN_DIR/env): a PostgreSQL schema, Kafka topics and a Redis key prefix of its own; MovieLens 100K
# and part of the synthetic polls loaded and both models trained first, so no answer is a 503 for a missing
# model. Schemathesis (pinned) is installed into a venv under .run/ on first use.
#
# Not checked: 405 for methods a route does not declare (Hummingbird answers 404 for those).
# FUZZ_SECONDS (default 45) per API.
# One worker: with two, Schemathesis generates in two threads, and CPython 3.11's ast.parse (which Hypothesis
# calls to describe lambdas) keeps its recursion depth in shared state, so two threads parsing at once abort
# with "SystemError: AST constructor recursion depth mismatch" — an error of the fuzzer, not of our APIs
# (seen in CI on Python 3.11.7; CPython issue gh-106905).
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS="${FUZZ_SECONDS:-45}"
SCHEMATHESIS_VERSION="4.32.5"
STACK_RUN_DIR="${STACK_RUN_DIR:-.run/test}"
# shellcheck disable=SC1091
source "$STACK_RUN_DIR/env"
export PGPASSWORD="$STREAMREC_POSTGRES_PASSWORD"

venv=".run/venv-schemathesis-$SCHEMATHESIS_VERSION"
if [ ! -x "$venv/bin/st" ]; then
  echo "fuzz: installing schemathesis $SCHEMATHESIS_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --disable-pip-version-check -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

run_id="fuzz_$(date +%s)_$$"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
gateway_port="$(free_port)" processor_port="$(free_port)" api_port="$(free_port)"
gateway_key="fuzz-key-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
admin_token="fuzz-admin-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
logs="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  psql -q -h 127.0.0.1 -p "$STREAMREC_POSTGRES_PORT" -U "$STREAMREC_POSTGRES_USER" "$STREAMREC_POSTGRES_DATABASE" \
    -c "DROP SCHEMA IF EXISTS $run_id CASCADE" >/dev/null 2>&1 || true
  # One key per line, taken literally: fuzzed ids put quotes and spaces into key names.
  redis-cli -p "$STREAMREC_REDIS_PORT" --scan --pattern "$run_id:*" | xargs -r -d '\n' -n 500 redis-cli -p "$STREAMREC_REDIS_PORT" DEL >/dev/null || true
  rm -rf "$logs" "var/$run_id"
}
trap cleanup EXIT

psql -q -h 127.0.0.1 -p "$STREAMREC_POSTGRES_PORT" -U "$STREAMREC_POSTGRES_USER" "$STREAMREC_POSTGRES_DATABASE" -c "CREATE SCHEMA $run_id"
export STREAMREC_POSTGRES_SCHEMA="$run_id" STREAMREC_TRAINER_ARTIFACTS_DIR="$PWD/var/$run_id" STREAMREC_LOG_LEVEL=warning \
  STREAMREC_TOPICS_MOVIE="$run_id.movie" STREAMREC_TOPICS_POLL="$run_id.poll" STREAMREC_TOPICS_DEAD_LETTER="$run_id.dlq" \
  STREAMREC_TOPICS_MODEL_UPDATED="$run_id.model-updated" STREAMREC_FEATURES_KEY_PREFIX="$run_id:v1" \
  STREAMREC_TRAINING_ALS_FACTORS=16 STREAMREC_TRAINING_ALS_ITERATIONS=4
echo "fuzz: loading data and training both models (schema $run_id)"
.build/debug/trainer bootstrap --dataset ml-100k > "$logs/trainer.log" 2>&1
.build/debug/trainer bootstrap --polls --limit 30000 >> "$logs/trainer.log" 2>&1
.build/debug/trainer train --domain movies >> "$logs/trainer.log" 2>&1
.build/debug/trainer train --domain polls >> "$logs/trainer.log" 2>&1

STREAMREC_HTTP_PORT="$gateway_port" STREAMREC_GATEWAY_API_KEYS="fuzz:$gateway_key" STREAMREC_GATEWAY_CATALOG_PRODUCERS=fuzz .build/debug/ingest-gateway > "$logs/gateway.log" 2>&1 &
pids+=($!)
STREAMREC_HTTP_PORT="$processor_port" STREAMREC_KAFKA_GROUP_ID="$run_id" .build/debug/stream-processor > "$logs/processor.log" 2>&1 &
pids+=($!)
STREAMREC_HTTP_PORT="$api_port" STREAMREC_INFERENCE_ADMIN_TOKEN="$admin_token" .build/debug/inference-api > "$logs/api.log" 2>&1 &
pids+=($!)
for url in "http://127.0.0.1:$gateway_port/readyz" "http://127.0.0.1:$api_port/readyz"; do
  for _ in $(seq 150); do curl -fs "$url" 2>/dev/null | grep -q '"ready"' && break; sleep 0.2; done
  curl -fs "$url" | grep -q '"ready"' || { echo "fuzz: $url is not ready" >&2; tail -20 "$logs"/*.log >&2; exit 1; }
done

status=0
fuzz() {  # fuzz NAME SPEC PORT CONFIG HEADER
  echo "fuzz: $1 for ${FUZZ_SECONDS}s ($2)"
  if ! "$venv/bin/st" --config-file "$4" run "$2" --url "http://127.0.0.1:$3" --max-time "$FUZZ_SECONDS" --workers 1 \
      --checks all --exclude-checks unsupported_method --header "$5" --seed 20261122 > "$logs/$1.txt" 2>&1; then
    status=1
    echo "fuzz: $1 FAILED:" >&2
    cat "$logs/$1.txt" >&2
  fi
  grep -E "^ *[0-9]+ generated" "$logs/$1.txt" | sed "s/^ */fuzz: $1: /" || true
}
fuzz ingest-gateway configs/openapi/ingest-gateway.yaml "$gateway_port" scripts/fuzz/ingest-gateway.toml "X-API-Key: $gateway_key"
fuzz inference-api configs/openapi/inference-api.yaml "$api_port" scripts/fuzz/inference-api.toml "Authorization: Bearer $admin_token"
# No request may have taken a service down.
for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null || { echo "fuzz: a service exited during the run" >&2; status=1; }; done
exit "$status"
