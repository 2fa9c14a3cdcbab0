#!/usr/bin/env bash
# Inference API benchmark: the whole pipeline in release builds on its own stack (.run/bench), wrk and
# loadgen on the same 2 cores.
#   0. MovieLens 100K bootstrapped and a movies model trained (implicit ALS 64 factors, trainer defaults);
#      gateway, processor and API started; Redis warmed through the gateway by loadgen: MovieLens users
#      (known to the model) and the same users prefixed new- (unknown to it: fold-in)
#   1. ceiling: GET /healthz of the same binary, wrk -c32
#   2. GET /v1/users/{id}/recommendations?domain=movies&k=20 for a mix: 50 % known users with fresh events
#      (personalised), 20 % new users with events (fold-in), 30 % anonymous (popular); wrk -c32 flat out
#   3. the same paced to about 2k req/s (35 connections, 16 ms pause each): p50/p99; and open loop at
#      2 000 requests/s (loadgen --api-rate 2000): p50/p99 from each request's due time
#   4. freshness: loadgen at a steady RATE events/s (default 1000) with 10 probes/s for FRESH_SECONDS
#      (default 30): a new user's like posted → their recommendations no longer popular, p50/p99
#   5. the API's peak RSS
# DURATION (default 10s) per wrk run; FRESH_SECONDS=0 skips step 4.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${DURATION:-10s}"
RATE="${RATE:-1000}"
FRESH_SECONDS="${FRESH_SECONDS:-30}"
# shellcheck source=scripts/bench/common.sh
source scripts/bench/common.sh
RUN_ID="api_$(date +%s)"
API_KEY="$(bench_secret bench-key)"

echo "bench: release builds" >&2
bench_pipeline_build
pids=()
trap bench_pipeline_down EXIT
bench_pipeline_up
loadgen() { .build/release/loadgen --gateway "127.0.0.1:$GATEWAY_PORT" --api "127.0.0.1:$API_PORT" --api-key "$API_KEY" "$@"; }
echo "bench: warming Redis through the gateway (known users, then new- users)" >&2
loadgen --rate 5000 --seconds 6 --probes-per-second 2 >&2
loadgen --rate 5000 --seconds 4 --probes-per-second 2 --user-prefix new- >&2
sleep 2
echo "bench: warm: $(redis-cli -p "$REDIS_PORT" dbsize) Redis keys" >&2

ceiling=$(wrk -t2 -c32 -d"$DURATION" --latency "http://127.0.0.1:$API_PORT/healthz" | wrk_summary)
# BENCH_PERF=1: a CPU profile of the API during the flat run (perf report -i .run/bench/inference.perf).
perf_pid=""
if [ "${BENCH_PERF:-0}" = 1 ]; then
  perf record -F 999 -g -o .run/bench/inference.perf -p "$api_pid" -- sleep 6 >/dev/null 2>&1 &
  perf_pid=$!
fi
redis_pid=$(cat "$STACK_RUN_DIR/pids/redis.pid")
a0=$(ticks "$api_pid"); r0=$(ticks "$redis_pid"); t0=$(date +%s%N)
flat=$(wrk -t2 -c32 -d"$DURATION" --latency -s scripts/bench/wrk-recommend.lua "http://127.0.0.1:$API_PORT" | wrk_summary)
a1=$(ticks "$api_pid"); r1=$(ticks "$redis_pid"); t1=$(date +%s%N)
[ -n "$perf_pid" ] && wait "$perf_pid"
paced=$(BENCH_DELAY_MS=16 wrk -t2 -c35 -d"$DURATION" --latency -s scripts/bench/wrk-recommend.lua "http://127.0.0.1:$API_PORT" | wrk_summary)
# Open loop: loadgen asks for the same mix on a fixed schedule of 2 000 requests/s over 32 connections and
# times each request from when it was due (wrk's paced run above is closed loop); its own CPU is printed too.
bench_open_loop inference-open-loop --api "127.0.0.1:$API_PORT" --rate 0 --probes-per-second 0 --api-rate 2000 --seconds 10
open_loop=$(bench_open_loop_fields inference-open-loop api_requests_per_second api_p50_ms api_p99_ms api_failed)
# The floor of that p99 on this machine: the same generator at the same rate on the trivial route, same run.
bench_open_loop inference-open-loop-floor --api "127.0.0.1:$API_PORT" --rate 0 --probes-per-second 0 --api-rate 2000 --seconds 10 --api-path /healthz
floor_loop=$(bench_open_loop_fields inference-open-loop-floor api_requests_per_second api_p50_ms api_p99_ms api_failed)
strategies=$(for user in 1 2 new-1 new-2 visitor-1; do curl -fs "http://127.0.0.1:$API_PORT/v1/users/$user/recommendations?domain=movies&k=20" | sed -n 's/.*"strategy":"\([^"]*\)".*/\1/p'; echo; done | tr '\n' ' ')
echo "bench: freshness at $RATE events/s for $FRESH_SECONDS s" >&2
fresh=""
[ "$FRESH_SECONDS" != 0 ] && fresh=$(loadgen --rate "$RATE" --seconds "$FRESH_SECONDS" --probes-per-second 10)
rss_mib=$(peak_rss_mib "$api_pid")

read -r c_rps c_p50 c_p99 _ <<< "$ceiling"
read -r f_rps f_p50 f_p99 f_bad <<< "$flat"
read -r p_rps p_p50 p_p99 p_bad <<< "$paced"
read -r o_rps o_p50 o_p99 o_bad <<< "$open_loop"
read -r h_rps h_p50 h_p99 h_bad <<< "$floor_loop"
field() { tr ' ' '\n' <<< "$fresh" | sed -n "s/^$1=//p"; }
echo
echo "strategies of users 1, 2, new-1, new-2, visitor-1: $strategies"
echo
echo "| run | req/s | p50 | p99 | non-2xx | figure | target |"
echo "| --- | ---: | ---: | ---: | ---: | --- | --- |"
echo "| GET /healthz (ceiling), c32 | $c_rps | $c_p50 | $c_p99 | – | – | – |"
echo "| recommendations k=20, mix, c32 | $f_rps | $f_p50 | $f_p99 | $f_bad | $(awk -v a="$f_rps" -v b="$c_rps" 'BEGIN { printf "%.0f%% of ceiling", 100 * a / b }') | ≥ 10k req/s |"
echo "| recommendations k=20, mix, paced (c35, 16 ms pause) | $p_rps | $p_p50 | $p_p99 | $p_bad | p99 at this rate | p99 < 5 ms at 2k req/s |"
echo "| recommendations k=20, mix, open loop at 2 000/s (loadgen, 32 connections) | $o_rps | ${o_p50}ms | ${o_p99}ms | $o_bad | p99 at 2k req/s offered | p99 < 5 ms at 2k req/s |"
echo "| GET /healthz, open loop at 2 000/s (the floor: same generator, same rate) | $h_rps | ${h_p50}ms | ${h_p99}ms | $h_bad | – | – |"
awk -v a=$((a1 - a0)) -v r=$((r1 - r0)) -v ns=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v rps="$f_rps" 'BEGIN {
  s = ns / 1e9; api = a / hz / s; redis = r / hz / s
  printf "\nduring the flat run: API %.2f cores (%.0f µs of CPU per request), Redis %.2f cores; wrk and the rest: the remainder of 2\n", api, api * 1e6 / rps, redis
}'
echo
echo "| freshness (loadgen, $RATE events/s background, 10 probes/s, ${FRESH_SECONDS} s) | value | target |"
echo "| --- | ---: | --- |"
echo "| events/s accepted | $(field accepted_per_second) | – |"
echo "| failed requests | $(field failed_requests) | none |"
echo "| probes visible / timed out / refused | $(field probes_visible) / $(field probes_timed_out) / $(field probes_failed) | – |"
echo "| freshness p50 | $(field freshness_p50_ms) ms | – |"
echo "| freshness p99 | $(field freshness_p99_ms) ms | < 1000 ms |"
echo "| freshness max | $(field freshness_max_ms) ms | – |"
echo
echo "inference API peak RSS: $rss_mib MiB; loadgen used $loadgen_cores cores during the open-loop run"
