#!/usr/bin/env bash
# Soak (docs/reliability.md; not in CI): the whole pipeline in release builds on its own stack
# (.run/bench) under a steady event load (loadgen, RATE events/s, default 1000, with 2 freshness probes/s)
# and a steady request load (wrk, ~REQUESTS req/s of recommendations, default 500) for SOAK_SECONDS
# (default 600), after a 10 s warm-up. Every 30 s: RSS of the gateway, the processor and the API, and the processor's lag. At the
# end: RSS after warm-up (first sample after 60 s) vs last and max, request latency, freshness, errors.
set -euo pipefail
cd "$(dirname "$0")/.."
SOAK_SECONDS="${SOAK_SECONDS:-600}"
RATE="${RATE:-1000}"
REQUESTS="${REQUESTS:-500}"
# shellcheck source=scripts/bench/common.sh
source scripts/bench/common.sh
RUN_ID="soak_$(date +%s)"
API_KEY="$(bench_secret soak-key)"

echo "soak: release builds" >&2
bench_pipeline_build
pids=()
trap bench_pipeline_down EXIT
bench_pipeline_up

rss() { awk '/VmRSS/ { printf "%d", $2 / 1024 }' "/proc/$1/status"; }
lag() { curl -fs "http://127.0.0.1:$PROCESSOR_PORT/metrics" | awk '/^streamrec_processor_lag_records/ { sum += $2 } END { printf "%d", sum }'; }
samples="$(mktemp)"
# Warm-up: the processor joins its consumer group (a few seconds) before anything is measured.
echo "soak: warm-up (10 s of events)" >&2
.build/release/loadgen --gateway "127.0.0.1:$GATEWAY_PORT" --api "127.0.0.1:$API_PORT" --api-key "$API_KEY" \
  --rate "$RATE" --seconds 10 --probes-per-second 1 >&2
echo "soak: $SOAK_SECONDS s at $RATE events/s and ~$REQUESTS req/s" >&2
.build/release/loadgen --gateway "127.0.0.1:$GATEWAY_PORT" --api "127.0.0.1:$API_PORT" --api-key "$API_KEY" \
  --rate "$RATE" --seconds "$SOAK_SECONDS" --probes-per-second 2 > "$samples.loadgen" &
loadgen_pid=$!
# Paced requests: 8 connections, each pausing 1000*8/REQUESTS ms between requests.
BENCH_DELAY_MS=$((8000 / REQUESTS)) wrk -t1 -c8 -d"${SOAK_SECONDS}s" --latency -s scripts/bench/wrk-recommend.lua "http://127.0.0.1:$API_PORT" > "$samples.wrk" &
wrk_pid=$!
started=$(date +%s)
while kill -0 "$loadgen_pid" 2>/dev/null; do
  sleep 30
  now=$(($(date +%s) - started))
  echo "$now $(rss "$gateway_pid") $(rss "$processor_pid") $(rss "$api_pid") $(lag)" | tee -a "$samples" >&2
done
wait "$loadgen_pid" "$wrk_pid" || true

echo
echo "| t (s) | gateway RSS (MiB) | processor RSS (MiB) | API RSS (MiB) | processor lag (records) |"
echo "| ---: | ---: | ---: | ---: | ---: |"
awk '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' "$samples"
echo
awk 'NR == 1 { next } !base { g = $2; p = $3; a = $4; base = 1 } { gl = $2; pl = $3; al = $4; if ($2 > gm) gm = $2; if ($3 > pm) pm = $3; if ($4 > am) am = $4; if ($5 > lm) lm = $5 }
  END {
    printf "RSS after warm-up → last (max): gateway %d → %d (%d) MiB, %+.1f%%; processor %d → %d (%d) MiB, %+.1f%%; API %d → %d (%d) MiB, %+.1f%%; max lag %d records\n",
      g, gl, gm, 100 * (gl - g) / g, p, pl, pm, 100 * (pl - p) / p, a, al, am, 100 * (al - a) / a, lm
  }' "$samples"
echo "requests: $(wrk_summary < "$samples.wrk" | awk '{ printf "%s req/s, p50 %s, p99 %s, non-2xx %s", $1, $2, $3, $4 }')"
echo "events: $(cat "$samples.loadgen")"
rm -f "$samples" "$samples.loadgen" "$samples.wrk"
