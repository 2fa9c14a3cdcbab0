#!/usr/bin/env bash
# Ingest gateway benchmark (release build, real broker on loopback, wrk on the same machine):
#   1. ceiling: GET /healthz, a trivial route of the same binary, wrk -c64
#   2. POST /v1/events, one event per request, flat out, wrk -c64: req/s and p50/p99 (each 2xx waited
#      for the broker's acknowledgement)
#   3. POST /v1/events paced to about 5k req/s (50 connections, 7 ms pause per request): p50/p99
#      (wrk is closed-loop: this paces requests, it does not correct for coordinated omission)
#   4. POST /v1/events/batch, 100 NDJSON events per request, wrk -c16: durable events/s
#   4b. POST /v1/events open loop at 5 000/s (loadgen --single 1): p50/p99 from each request's due time
#   5. the gateway's RSS after the runs
#   6. the same work in one process without HTTP (streamrec-bench gateway-stages): producer alone, codec,
#      ingest path, with the process's and the broker's CPU per event
# Prints markdown tables; docs/benchmarks.md records its output. DURATION (default 10s) per run;
# LINGER (default 1ms: kafka.linger for the latency runs) the producer linger of the gateway under test.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${DURATION:-10s}"
# shellcheck source=scripts/bench/common.sh
source scripts/bench/common.sh
PORT="$GATEWAY_PORT"
export BENCH_API_KEY="$(bench_secret bench-key)"

echo "bench: release build of ingest-gateway" >&2
swift build -c release --product ingest-gateway >&2

gateway_pid=""
cleanup() {
  [ -n "$gateway_pid" ] && kill "$gateway_pid" 2>/dev/null && wait "$gateway_pid" 2>/dev/null
  bash scripts/stack.sh stop kafka >&2 || true
}
trap cleanup EXIT
bash scripts/stack.sh restart kafka >&2

bench_gateway_start .build/release/ingest-gateway "$PORT"
gateway_pid=$started_gateway_pid

broker_pid=$(cat "$STACK_RUN_DIR/pids/kafka.pid")
ticks_per_second=$(getconf CLK_TCK)
ceiling=$(wrk -t2 -c64 -d"$DURATION" --latency "http://127.0.0.1:$PORT/healthz" | wrk_summary)
g0=$(ticks "$gateway_pid"); b0=$(ticks "$broker_pid"); t0=$(date +%s%N)
single=$(wrk -t2 -c64 -d"$DURATION" --latency -s scripts/bench/wrk-event.lua "http://127.0.0.1:$PORT/v1/events" | wrk_summary)
g1=$(ticks "$gateway_pid"); b1=$(ticks "$broker_pid"); t1=$(date +%s%N)
paced=$(BENCH_DELAY_MS=7 wrk -t2 -c50 -d"$DURATION" --latency -s scripts/bench/wrk-event.lua "http://127.0.0.1:$PORT/v1/events" | wrk_summary)
# BENCH_PERF=1: a CPU profile of the gateway during the batch run (perf report -i .run/bench/gateway-batch.perf).
perf_pid=""
if [ "${BENCH_PERF:-0}" = 1 ]; then
  perf record -F 999 -g -o .run/bench/gateway-batch.perf -p "$gateway_pid" -- sleep 6 >/dev/null 2>&1 &
  perf_pid=$!
fi
g2=$(ticks "$gateway_pid"); b2=$(ticks "$broker_pid"); t2=$(date +%s%N)
batch=$(wrk -t1 -c16 -d"$DURATION" --latency -s scripts/bench/wrk-batch.lua "http://127.0.0.1:$PORT/v1/events/batch" | wrk_summary)
g3=$(ticks "$gateway_pid"); b3=$(ticks "$broker_pid"); t3=$(date +%s%N)
[ -n "$perf_pid" ] && wait "$perf_pid"
# Open loop: loadgen posts single events on a fixed schedule of 5 000 per second over 64 connections and
# times each request from when it was due (a stalled gateway is charged for what it delayed; wrk's paced
# run above is closed-loop). loadgen's own CPU shares the two cores and is printed too. Its events are the
# synthetic polls interactions (no dataset needed), not wrk-event.lua's movie likes.
swift build -c release --product loadgen >&2
bench_open_loop gateway-open-loop --source polls --rate 5000 --single 1 --connections 64 --seconds 10 --probes-per-second 0 \
  --gateway "127.0.0.1:$PORT" --api-key "$BENCH_API_KEY"
open_loop=$(bench_open_loop_fields gateway-open-loop requests_per_second request_p50_ms request_p99_ms failed_requests)
rss_kb=$(awk '/VmRSS/ { print $2 }' "/proc/$gateway_pid/status")
# The gateway is done: stopped, so its background traffic (metadata refreshes, reconnects to the restarted
# broker) cannot add to the stages' figures.
kill "$gateway_pid" && wait "$gateway_pid" 2>/dev/null || true
gateway_pid=""
# The same work without HTTP and without wrk, in one process on a fresh broker (streamrec-bench
# gateway-stages): the producer alone with the records made beforehand, the codec alone, and the gateway's
# ingest path (codec + idempotency + publish + delivery reports); single events with 64 in flight as wrk
# has connections, batches of 100 with 16. These are the floors the HTTP figures above sit on.
bash scripts/stack.sh restart kafka >&2
broker_pid=$(cat "$STACK_RUN_DIR/pids/kafka.pid")
swift build -c release --product streamrec-bench >&2
stages() {
  local label=$1; shift
  STREAMREC_KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT" STREAMREC_KAFKA_LINGER="${LINGER:-1ms}" STREAMREC_GATEWAY_AUTH_MODE=open \
    STREAMREC_LOG_LEVEL=warning .build/release/streamrec-bench gateway-stages --broker-pid "$broker_pid" "$@" 2>/dev/null |
    awk -v what="$label" '/^result/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      sub("gateway-stage-", "", v["name"])
      printf "| %s, %s | %d | %s | %s | %s |\n", what, v["name"], v["rate"], v["cpu_us_per_event"], v["broker_cpu_us_per_event"], v["failures"] }'
}
stage_rows=$(stages "1 event, 64 in flight" --events 1 --requests 30000 --window 64
  stages "100 events, 16 in flight" --events 100 --requests 3000 --window 16)

read -r c_rps c_p50 c_p99 _ <<< "$ceiling"
read -r s_rps s_p50 s_p99 s_bad <<< "$single"
read -r p_rps p_p50 p_p99 p_bad <<< "$paced"
read -r b_rps b_p50 b_p99 b_bad <<< "$batch"
read -r o_rps o_p50 o_p99 o_bad <<< "$open_loop"
echo
echo "| run | req/s | p50 | p99 | non-2xx | figure | target |"
echo "| --- | ---: | ---: | ---: | ---: | --- | --- |"
echo "| GET /healthz (ceiling), c64 | $c_rps | $c_p50 | $c_p99 | – | – | – |"
echo "| POST /v1/events, c64 | $s_rps | $s_p50 | $s_p99 | $s_bad | $(awk -v a="$s_rps" -v b="$c_rps" 'BEGIN { printf "%.0f%% of ceiling", 100 * a / b }') | ≥ 50% |"
echo "| POST /v1/events, paced (c50, 7 ms pause) | $p_rps | $p_p50 | $p_p99 | $p_bad | p99 at this rate | p99 < 10 ms at 5k req/s |"
echo "| POST /v1/events, open loop at 5 000/s (loadgen, 64 connections) | $o_rps | ${o_p50}ms | ${o_p99}ms | $o_bad | p99 at 5k req/s offered | p99 < 10 ms at 5k req/s |"
echo "| POST /v1/events/batch (100 events), c16 | $b_rps | $b_p50 | $b_p99 | $b_bad | $(awk -v a="$b_rps" 'BEGIN { printf "%.0f durable events/s", 100 * a }') | ≥ 200k events/s |"
echo
echo "gateway RSS after the runs: $(( rss_kb / 1024 )) MiB; loadgen used $loadgen_cores cores during the open-loop run"
awk -v g=$((g1 - g0)) -v b=$((b1 - b0)) -v ns=$((t1 - t0)) -v hz="$ticks_per_second" -v rps="$s_rps" 'BEGIN {
  seconds = ns / 1e9
  printf "during POST /v1/events c64: gateway %.2f cores (%.0f µs CPU per request), broker %.2f cores\n",
    g / hz / seconds, 1e6 * g / hz / seconds / rps, b / hz / seconds }'
awk -v g=$((g3 - g2)) -v b=$((b3 - b2)) -v ns=$((t3 - t2)) -v hz="$ticks_per_second" -v rps="$b_rps" 'BEGIN {
  seconds = ns / 1e9
  printf "during the batch run: gateway %.2f cores (%.1f µs CPU per event), broker %.2f cores (%.1f µs per event)\n",
    g / hz / seconds, 1e6 * g / hz / seconds / (100 * rps), b / hz / seconds, 1e6 * b / hz / seconds / (100 * rps) }'
echo
echo "In process, no HTTP, no wrk (streamrec-bench gateway-stages, linger ${LINGER:-1ms}):"
echo
echo "| requests, stage | events/s | process CPU µs per event | broker CPU µs per event | events failed |"
echo "| --- | ---: | ---: | ---: | ---: |"
echo "$stage_rows"
