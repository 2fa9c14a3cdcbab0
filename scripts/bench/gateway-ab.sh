#!/usr/bin/env bash
# Two ingest-gateway binaries side by side on one broker: batch runs (100 NDJSON events per request, wrk -c16,
# 10 s) alternating A, B for ROUNDS rounds, so machine drift hits both alike. For comparing a change with its
# baseline, e.g. a worktree of an older commit:
#   git worktree add /tmp/old <commit> && (cd /tmp/old && swift build -c release --product ingest-gateway)
#   swift build -c release --product ingest-gateway
#   bash scripts/bench/gateway-ab.sh /tmp/old/.build/release/ingest-gateway .build/release/ingest-gateway
set -euo pipefail
cd "$(dirname "$0")/../.."
A="${1:?usage: gateway-ab.sh BINARY_A BINARY_B [ROUNDS]}"
B="${2:?usage: gateway-ab.sh BINARY_A BINARY_B [ROUNDS]}"
ROUNDS="${3:-3}"
# shellcheck source=scripts/bench/common.sh
source scripts/bench/common.sh
export BENCH_API_KEY="$(bench_secret bench-key)"
bash scripts/stack.sh restart kafka >&2
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  bash scripts/stack.sh stop kafka >&2 || true
}
trap cleanup EXIT
PORT_A=$((GATEWAY_PORT + 10)); PORT_B=$((GATEWAY_PORT + 11))
bench_gateway_start "$A" "$PORT_A"
pids+=("$started_gateway_pid")
bench_gateway_start "$B" "$PORT_B"
pids+=("$started_gateway_pid")
echo "| round | A: $A (events/s, p99) | B: $B (events/s, p99) | B / A |"
echo "| --- | ---: | ---: | ---: |"
for round in $(seq "$ROUNDS"); do
  read -r a_rps _ a_p99 _ <<< "$(wrk -t1 -c16 -d10s --latency -s scripts/bench/wrk-batch.lua "http://127.0.0.1:$PORT_A/v1/events/batch" | wrk_summary)"
  read -r b_rps _ b_p99 _ <<< "$(wrk -t1 -c16 -d10s --latency -s scripts/bench/wrk-batch.lua "http://127.0.0.1:$PORT_B/v1/events/batch" | wrk_summary)"
  awk -v r="$round" -v a="$a_rps" -v b="$b_rps" -v ap="$a_p99" -v bp="$b_p99" \
    'BEGIN { printf "| %d | %.0f, %s | %.0f, %s | %.2f |\n", r, 100 * a, ap, 100 * b, bp, b / a }'
done
