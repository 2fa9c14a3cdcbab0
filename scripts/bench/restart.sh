#!/usr/bin/env bash
# Processor recovery after a crash: during a steady event load through the gateway (RATE events/s, default
# 2000), the processor is killed with SIGKILL and started again at once, ROUNDS times (default 3). Printed per
# round: the seconds from the restart until the new process has applied its first event (its own
# streamrec_processor_events_total{outcome="applied"} above zero), then one line
#   restart_to_applied_seconds=max session_timeout=… group_instance_id=…
# Consumer-group settings come from the environment as for the service (STREAMREC_KAFKA_SESSION_TIMEOUT,
# STREAMREC_KAFKA_HEARTBEAT_INTERVAL, STREAMREC_KAFKA_GROUP_INSTANCE_ID).
set -euo pipefail
cd "$(dirname "$0")/../.."
RATE="${RATE:-2000}"
ROUNDS="${ROUNDS:-3}"
# shellcheck source=scripts/bench/common.sh
source scripts/bench/common.sh
RUN_ID="restart_$(date +%s)"
BENCH_API_KEY="$(bench_secret bench-key)"
[ "${SKIP_BUILD:-0}" = 1 ] || for product in ingest-gateway stream-processor loadgen; do swift build -c release --product "$product" >&2; done
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  bench_stack_down
}
trap cleanup EXIT
bench_stack_up
bench_psql -c "CREATE SCHEMA $RUN_ID" >&2
export STREAMREC_POSTGRES_SCHEMA="$RUN_ID" STREAMREC_LOG_LEVEL=warning \
  STREAMREC_TOPICS_MOVIE="$RUN_ID.movie" STREAMREC_TOPICS_POLL="$RUN_ID.poll" STREAMREC_TOPICS_DEAD_LETTER="$RUN_ID.dlq" \
  STREAMREC_FEATURES_KEY_PREFIX="$RUN_ID:v1"
bench_gateway_start .build/release/ingest-gateway "$GATEWAY_PORT"
pids+=("$started_gateway_pid")
start_processor() {
  STREAMREC_KAFKA_GROUP_ID="$RUN_ID" STREAMREC_HTTP_PORT="$PROCESSOR_PORT" .build/release/stream-processor >&2 &
  processor_pid=$!
}
applied() {
  curl -fs "http://127.0.0.1:$PROCESSOR_PORT/metrics" 2>/dev/null |
    awk '/^streamrec_processor_events_total\{.*outcome="applied"/ { sum += $NF } END { print sum + 0 }'
}
start_processor
for _ in $(seq 150); do curl -fs "http://127.0.0.1:$PROCESSOR_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
seconds=$(( ROUNDS * 20 + 20 ))
.build/release/loadgen --gateway "127.0.0.1:$GATEWAY_PORT" --api-key "$BENCH_API_KEY" --rate "$RATE" \
  --seconds "$seconds" --probes-per-second 0 >/dev/null 2>&1 &
loadgen_pid=$!
pids+=("$loadgen_pid")
worst=0
for round in $(seq "$ROUNDS"); do
  sleep 12
  before=$(applied)
  kill -9 "$processor_pid"; wait "$processor_pid" 2>/dev/null || true
  t0=$(date +%s%N)
  start_processor
  result="none within 60 s"
  while [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 60000 ]; do
    if [ "$(applied)" -gt 0 ] 2>/dev/null; then
      ms=$(( ($(date +%s%N) - t0) / 1000000 ))
      result=$(awk -v ms="$ms" 'BEGIN { printf "%.2f", ms / 1000 }')
      [ "$ms" -gt "$worst" ] && worst=$ms
      break
    fi
    sleep 0.05
  done
  [ "$result" = "none within 60 s" ] && worst=60000
  echo "round $round: applied before the kill $before; first event applied by the new process after $result s"
done
pids+=("$processor_pid")
echo "restart_to_applied_seconds=$(awk -v ms="$worst" 'BEGIN { printf "%.2f", ms / 1000 }') session_timeout=${STREAMREC_KAFKA_SESSION_TIMEOUT:-10s} group_instance_id=${STREAMREC_KAFKA_GROUP_INSTANCE_ID:-none}"
