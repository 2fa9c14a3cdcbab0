#!/usr/bin/env bash
# End-to-end freshness: a steady RATE events/s (default 10000) through the ingest gateway
# (POST /v1/events/batch, 10 events per request, 32 connections, each event stamped with its send time
# in ms) to the stream processor; freshness = wall clock when the processor committed the event's
# batch − occurred_at, from the processor's own histogram (streamrec_processor_freshness_seconds),
# over RUN_SECONDS (default 30) after a 5 s warm-up. Release builds, real broker, Redis and PostgreSQL.
# Percentiles are read off the histogram's buckets, so each is an upper bound at bucket resolution.
set -euo pipefail
cd "$(dirname "$0")/../.."
RATE="${RATE:-10000}"
SECONDS_RUN="${RUN_SECONDS:-30}"
# shellcheck source=scripts/bench/common.sh
source scripts/bench/common.sh
RUN_ID="fresh_$(date +%s)"
API_KEY="$(bench_secret bench-key)"

echo "bench: release builds" >&2
for product in ingest-gateway stream-processor streamrec-bench; do swift build -c release --product "$product" >&2; done

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  bench_stack_down
}
trap cleanup EXIT
bench_stack_up
bench_psql -c "CREATE SCHEMA $RUN_ID" >&2

common=(STREAMREC_KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT" STREAMREC_TOPICS_MOVIE="$RUN_ID.movie" STREAMREC_TOPICS_POLL="$RUN_ID.poll" STREAMREC_LOG_LEVEL=warning)
env "${common[@]}" STREAMREC_GATEWAY_API_KEYS="bench:$API_KEY" STREAMREC_GATEWAY_RATE_LIMIT=0 STREAMREC_HTTP_PORT="$GATEWAY_PORT" \
  .build/release/ingest-gateway >&2 &
pids+=($!)
env "${common[@]}" STREAMREC_KAFKA_GROUP_ID="$RUN_ID" STREAMREC_TOPICS_DEAD_LETTER="$RUN_ID.dlq" STREAMREC_FEATURES_KEY_PREFIX="$RUN_ID:v1" \
  STREAMREC_POSTGRES_SCHEMA="$RUN_ID" STREAMREC_HTTP_PORT="$PROCESSOR_PORT" .build/release/stream-processor >&2 &
pids+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$GATEWAY_PORT/readyz" >/dev/null 2>&1 && curl -fs "http://127.0.0.1:$PROCESSOR_PORT/readyz" >/dev/null 2>&1 && break; sleep 0.2; done

load() { .build/release/streamrec-bench gateway-load --port "$GATEWAY_PORT" --api-key "$API_KEY" --rate "$RATE" --batch 10 --connections 32 --seconds "$1"; }
buckets() { curl -fs "http://127.0.0.1:$PROCESSOR_PORT/metrics" | sed -n 's/^streamrec_processor_freshness_seconds_bucket{le="\([^"]*\)"} \([0-9.e+]*\)$/\1 \2/p'; }
echo "bench: warm-up (5 s; the processor joins its group meanwhile)" >&2
load 5 >&2
sleep 3
before="$(buckets)"
result=$(load "$SECONDS_RUN")
sleep 2  # the last batches commit
after="$(buckets)"
echo "$result"
join <(sort <<< "$before") <(sort <<< "$after") | awk '{ le = ($1 == "+Inf") ? 1e9 : $1; print le, $3 - $2 }' | sort -g | awk -v result="$result" '
  { le[NR] = $1; cum[NR] = $2 } END {
    total = cum[NR]
    for (i = 1; i <= NR; i++) {
      if (!p50 && cum[i] >= 0.50 * total) p50 = le[i]
      if (!p99 && cum[i] >= 0.99 * total) p99 = le[i]
      if (!p999 && cum[i] >= 0.999 * total) p999 = le[i]
    }
    printf "\n| figure | value |\n| --- | ---: |\n"
    split(result, parts, /[ =]/)
    for (i = 1; i in parts; i++) if (parts[i] == "rate") rate = parts[i + 1]; else if (parts[i] == "non2xx") bad = parts[i + 1]
    printf "| events/s accepted by the gateway (2xx) | %s |\n| non-2xx responses | %s |\n| events applied in the window | %d |\n", rate, bad, total
    printf "| freshness p50 (≤ bucket) | %s s |\n| freshness p99 (≤ bucket) | %s s |\n| freshness p99.9 (≤ bucket) | %s s |\n", p50, p99, p999 }'
echo
echo "peak RSS: gateway $(peak_rss_mib "${pids[0]}") MiB, processor $(peak_rss_mib "${pids[1]}") MiB"
bench_psql -c "DROP SCHEMA $RUN_ID CASCADE" >&2
