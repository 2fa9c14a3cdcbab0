#!/usr/bin/env bash
# Does the processor's lag gauge return to 0 once a load stops? Runs the whole pipeline (release builds, the
# bench stack), sends RATE movie events/s for SECONDS through the gateway (loadgen), waits, then prints per
# partition the committed offset and the lag gauge, beside the number of events the gateway accepted: if the
# committed offsets add up to the accepted events, everything was processed and the lag gauges must read 0.
# Usage: scripts/bench/lag.sh [RATE] [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
RATE="${1:-1000}" SECONDS_OF_LOAD="${2:-60}"
# shellcheck source=scripts/bench/common.sh
source scripts/bench/common.sh
bench_pipeline_build
RUN_ID="lag_$(date +%s)" API_KEY="$(bench_secret lag-key)" pids=()
trap bench_pipeline_down EXIT
bench_pipeline_up
# Per series of histogram NAME in the metrics text: "labels over-1s total" (the 1 s bucket vs +Inf).
over_one_second() {  # METRICS-TEXT NAME
  awk -v name="$2" '
    index($0, name "_bucket{") == 1 {
      key = $0; sub(/le="[^"]*",?/, "", key); sub(/ .*/, "", key)
      if ($0 ~ /le="1(\.0)?"/) under[key] = $2
      if ($0 ~ /le="\+Inf"/) total[key] = $2
    }
    END { for (k in total) printf "%s %d %d\n", k, total[k] - under[k], total[k] }' <<< "$1"
}
# The processor's freshness histogram (occurred_at → applied in Redis): "over-1s total" so far.
freshness_over_one_second() {
  over_one_second "$(curl -s "http://127.0.0.1:$PROCESSOR_PORT/metrics")" streamrec_processor_freshness_seconds | awk '{ print $2, $3 }'
}
# Warm-up, as in the soak: the processor joins its consumer group (seconds on Tansu) before anything counts.
.build/release/loadgen --gateway "127.0.0.1:$GATEWAY_PORT" --api "127.0.0.1:$API_PORT" --api-key "$API_KEY" \
  --rate "$RATE" --seconds 10 --probes-per-second 1 > /dev/null
sleep 5
read -r warm_over warm_total <<< "$(freshness_over_one_second)"
.build/release/loadgen --gateway "127.0.0.1:$GATEWAY_PORT" --api "127.0.0.1:$API_PORT" --api-key "$API_KEY" \
  --rate "$RATE" --seconds "$SECONDS_OF_LOAD" --probes-per-second 2
sleep 15  # three lag refreshes after the last batch
metrics="$(curl -s "http://127.0.0.1:$PROCESSOR_PORT/metrics")"
echo "partition committed_offset lag_gauge"
paste -d' ' \
  <(grep '^streamrec_processor_committed_offset{' <<< "$metrics" | sort | sed -E 's/.*partition="([0-9]+)"\} ([0-9.]+)/\1 \2/') \
  <(grep '^streamrec_processor_lag_records{' <<< "$metrics" | sort | awk '{ print $2 }')
accepted="$(curl -s "http://127.0.0.1:$GATEWAY_PORT/metrics" | awk '/^streamrec_gateway_events_accepted_total\{type="movie\./ { s += $2 } END { printf "%d", s }')"
committed="$(grep '^streamrec_processor_committed_offset{' <<< "$metrics" | awk '{ s += $2 } END { printf "%d", s }')"
lag="$(grep '^streamrec_processor_lag_records{' <<< "$metrics" | awk '{ s += $2 } END { printf "%d", s }')"
echo "events accepted by the gateway: $accepted; sum of committed offsets: $committed; sum of lag gauges: $lag"
read -r over total <<< "$(freshness_over_one_second)"
echo "after the warm-up: $((over - warm_over)) of $((total - warm_total)) events applied over 1 s after occurred_at"
# Where the freshness tail comes from: how many observations of each stage took over 1 s.
echo "whole run, over 1 s (freshness = occurred_at → applied in Redis; stages inside the processor; produce = gateway → broker ack):"
{
  for name in streamrec_processor_freshness_seconds streamrec_processor_stage_duration_seconds streamrec_processor_batch_duration_seconds; do
    over_one_second "$metrics" "$name"
  done
  over_one_second "$(curl -s "http://127.0.0.1:$GATEWAY_PORT/metrics")" streamrec_gateway_produce_duration_seconds
} | awk '{ printf "  %s: %d of %d over 1 s\n", $1, $2, $3 }'
