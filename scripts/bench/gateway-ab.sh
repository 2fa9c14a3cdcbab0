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
# Per run: durable events/s, p99, and the gateway's CPU per event (user + system time over the run / events
# acknowledged): CPU per event moves less with the machine's drift than throughput does.
pid_a=${pids[0]}; pid_b=${pids[1]}
# run_batch PORT PID → "events/s p99 µs-per-event" (100 events per request)
run_batch() {
  local t0 rps p99
  t0=$(ticks "$2")
  read -r rps _ p99 _ <<< "$(wrk -t1 -c16 -d10s --latency -s scripts/bench/wrk-batch.lua "http://127.0.0.1:$1/v1/events/batch" | wrk_summary)"
  bench_ab_figures "$2" "$t0" "$(awk -v r="$rps" 'BEGIN { printf "%.0f", 100 * r }')" "$p99"
}
bench_ab_table "$ROUNDS" event run_batch "$PORT_A" "$pid_a" "$PORT_B" "$pid_b"
