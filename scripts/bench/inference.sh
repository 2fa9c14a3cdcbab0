#!/usr/bin/env bash
# Inference API benchmark (release build, own stack in .run/bench, wrk on the same 2 cores):
#   1. ceiling: GET /healthz of the same binary, wrk -c32
#   2. GET /v1/users/{id}/recommendations?domain=movies&k=20, 70 % users known to the model (personalised:
#      Redis history + fold-in + top-k over 1682 movies), 30 % unknown (popular), wrk -c32 flat out
#   3. the same paced to about 2k req/s (32 connections, 16 ms pause each): p50/p99
#   4. the API's RSS after the runs
# The model: MovieLens 100K, implicit ALS 64 factors (trainer defaults). DURATION (default 10s) per run.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${DURATION:-10s}"
# shellcheck source=scripts/bench/common.sh
source scripts/bench/common.sh
PORT="${BENCH_API_PORT:-18092}"
RUN_ID="api_$(date +%s)"

echo "bench: release builds" >&2
for product in trainer inference-api; do swift build -c release --product "$product" >&2; done
api_pid=""
cleanup() {
  [ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null && wait "$api_pid" 2>/dev/null
  rm -rf "var/bench-$RUN_ID"
  bench_stack_down
}
trap cleanup EXIT
bench_stack_up
bench_psql -c "CREATE SCHEMA $RUN_ID" >&2
export STREAMREC_POSTGRES_SCHEMA="$RUN_ID" STREAMREC_TRAINER_ARTIFACTS_DIR="var/bench-$RUN_ID" STREAMREC_LOG_LEVEL=warning
bash scripts/fetch-data.sh >&2
.build/release/trainer bootstrap --dataset ml-100k >&2
.build/release/trainer train --domain movies >&2
STREAMREC_HTTP_PORT="$PORT" .build/release/inference-api >&2 &
api_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

ceiling=$(wrk -t2 -c32 -d"$DURATION" --latency "http://127.0.0.1:$PORT/healthz" | wrk_summary)
flat=$(wrk -t2 -c32 -d"$DURATION" --latency -s scripts/bench/wrk-recommend.lua "http://127.0.0.1:$PORT" | wrk_summary)
paced=$(BENCH_DELAY_MS=16 wrk -t2 -c32 -d"$DURATION" --latency -s scripts/bench/wrk-recommend.lua "http://127.0.0.1:$PORT" | wrk_summary)
rss_mib=$(peak_rss_mib "$api_pid")
bench_psql -c "DROP SCHEMA $RUN_ID CASCADE" >&2

read -r c_rps c_p50 c_p99 _ <<< "$ceiling"
read -r f_rps f_p50 f_p99 f_bad <<< "$flat"
read -r p_rps p_p50 p_p99 p_bad <<< "$paced"
echo
echo "| run | req/s | p50 | p99 | non-2xx | figure | target |"
echo "| --- | ---: | ---: | ---: | ---: | --- | --- |"
echo "| GET /healthz (ceiling), c32 | $c_rps | $c_p50 | $c_p99 | – | – | – |"
echo "| recommendations k=20, c32 | $f_rps | $f_p50 | $f_p99 | $f_bad | $(awk -v a="$f_rps" -v b="$c_rps" 'BEGIN { printf "%.0f%% of ceiling", 100 * a / b }') | ≥ 10k req/s |"
echo "| recommendations k=20, paced (c32, 16 ms pause) | $p_rps | $p_p50 | $p_p99 | $p_bad | p99 at this rate | p99 < 5 ms at 2k req/s |"
echo
echo "inference API peak RSS: $rss_mib MiB"
