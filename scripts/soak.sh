#!/usr/bin/env bash
# Soak (docs/reliability.md; not in CI): the whole pipeline in release builds on its own stack
# (.run/bench) under a steady event load (loadgen, RATE events/s, default 1000, with 2 freshness probes/s)
# and a steady request load (wrk, ~REQUESTS req/s of recommendations, default 500) for SOAK_SECONDS
# (default 600), after a 10 s warm-up. Every 30 s: RSS of the gateway, the processor and the API, the processor's lag,
# the CPU of each process and the processor's batches. At the end: RSS after warm-up (first sample after 60 s) vs last
# and max, request latency, freshness, errors, where the processor's time went, and (first, BROKER_ALONE_SECONDS) the
# broker alone at the same rate.
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
# The broker alone first, at the same event rate, on a fresh broker of the same stack (BROKER_ALONE_SECONDS,
# default 240; 0 skips it): one producer and one consumer, no StreamRec process. Its delay and CPU per 30 s
# say how much of the soak's freshness tail the broker sets by itself (docs/reliability.md, "Soak").
BROKER_ALONE_SECONDS="${BROKER_ALONE_SECONDS:-240}"
if [ "$BROKER_ALONE_SECONDS" -gt 0 ]; then
  venv=".run/bench/peer-venv"
  [ -x "$venv/bin/python" ] || { python3 -m venv "$venv" >&2 && "$venv/bin/pip" install -q confluent-kafka==2.16.1 redis==8.1.0 hiredis >&2; }
  bash scripts/stack.sh restart kafka >&2
  echo "soak: the broker alone, $BROKER_ALONE_SECONDS s at $RATE records/s" >&2
  "$venv/bin/python" scripts/bench/broker-alone.py "127.0.0.1:$KAFKA_PORT" "$(cat "$STACK_RUN_DIR/pids/kafka.pid")" "$RATE" "$BROKER_ALONE_SECONDS" \
    > "${TMPDIR:-/tmp}/soak-broker-alone.$$" || echo "broker-alone: failed" > "${TMPDIR:-/tmp}/soak-broker-alone.$$"
fi
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
# Per 30 s, also where the two cores went (percent of one core per process over the interval) and the
# processor's batches in the interval (count, mean wall ms): a freshness tail that grows with the run
# shows here as a process taking more of the machine, or batches slowing down.
redis_pid=$(cat "$STACK_RUN_DIR/pids/redis.pid"); broker_pid=$(cat "$STACK_RUN_DIR/pids/kafka.pid")
cpu_sample() { echo "$(ticks "$gateway_pid") $(ticks "$processor_pid") $(ticks "$api_pid") $(ticks "$redis_pid") $(pg_ticks) $(ticks "$broker_pid") $(date +%s%N)"; }
batch_sample() { curl -fs "http://127.0.0.1:$PROCESSOR_PORT/metrics" | awk '/^streamrec_processor_batch_duration_seconds_sum/ { s = $NF } /^streamrec_processor_batch_duration_seconds_count/ { c = $NF } END { printf "%d %.3f", c, s }'; }
read -r -a cpu0 <<< "$(cpu_sample)"; read -r b0 s0 <<< "$(batch_sample)"
hz=$(getconf CLK_TCK)
echo "t(s) gateway/processor/API RSS MiB, lag | CPU % of a core: gateway processor API redis postgres broker | batches, mean ms" >&2
while kill -0 "$loadgen_pid" 2>/dev/null; do
  sleep 30
  now=$(($(date +%s) - started))
  read -r -a cpu1 <<< "$(cpu_sample)"; read -r b1 s1 <<< "$(batch_sample)"
  cpu=$(awk -v hz="$hz" -v a="${cpu0[*]}" -v b="${cpu1[*]}" 'BEGIN { split(a, x, " "); split(b, y, " "); dt = (y[7] - x[7]) / 1e9
    for (i = 1; i <= 6; i++) printf "%s%.0f", (i > 1 ? " " : ""), 100 * (y[i] - x[i]) / hz / dt }')
  batches=$(awk -v b0="$b0" -v b1="$b1" -v s0="$s0" -v s1="$s1" 'BEGIN { n = b1 - b0; printf "%d %.1f", n, (n > 0 ? 1000 * (s1 - s0) / n : 0) }')
  echo "$now $(rss "$gateway_pid") $(rss "$processor_pid") $(rss "$api_pid") $(lag) | $cpu | $batches" | tee -a "$samples.cpu" >&2
  echo "$now $(rss "$gateway_pid") $(rss "$processor_pid") $(rss "$api_pid") $(lag)" >> "$samples"
  cpu0=("${cpu1[@]}"); b0=$b1; s0=$s1
done
wait "$loadgen_pid" "$wrk_pid" || true
stages="$(processor_stage_summary "$PROCESSOR_PORT")"

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
echo "$stages"
if [ -f "${TMPDIR:-/tmp}/soak-broker-alone.$$" ]; then
  echo "the broker alone before the soak (per 30 s: t(s) broker CPU % of a core, produced, consumed, delay p50/p99/max ms):"
  cat "${TMPDIR:-/tmp}/soak-broker-alone.$$"
  rm -f "${TMPDIR:-/tmp}/soak-broker-alone.$$"
fi
echo "per 30 s: t(s) RSS gateway processor API (MiB) lag | CPU % of a core: gateway processor API redis postgres broker | batches, mean batch ms"
cat "$samples.cpu"
rm -f "$samples" "$samples.loadgen" "$samples.wrk" "$samples.cpu"
