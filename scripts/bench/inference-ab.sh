#!/usr/bin/env bash
# Two inference-api binaries side by side on one warmed pipeline: the request mix of
# scripts/bench/wrk-recommend.lua (k = 20, wrk -c32, 10 s) alternating A, B for ROUNDS rounds, so the
# machine's drift hits both alike. Prints req/s, p99 and the API's CPU per request for each. For comparing
# a change with its baseline:
#   cp .build/release/inference-api /tmp/api-A   # before the change
#   swift build -c release --product inference-api
#   bash scripts/bench/inference-ab.sh /tmp/api-A .build/release/inference-api
# A_ENV / B_ENV: extra environment for one side (e.g. B_ENV="STREAMREC_REDIS_CONNECTIONS=1" with the same
# binary twice, to compare a setting; both sides read configs/inference-api.conf first). AB_MODE: mix (default, as above), open (loadgen's open-loop mix at
# 2 000 requests/s for 10 s: the latency target's measure; its p99 in the table) or healthz (the trivial
# route at c32, the ceiling).
set -euo pipefail
cd "$(dirname "$0")/../.."
A="${1:?usage: inference-ab.sh BINARY_A BINARY_B [ROUNDS]}"
B="${2:?usage: inference-ab.sh BINARY_A BINARY_B [ROUNDS]}"
ROUNDS="${3:-3}"
case "${AB_MODE:=mix}" in
  mix | open | healthz) ;;
  *) echo "inference-ab.sh: AB_MODE is mix, open or healthz, not ${AB_MODE}" >&2; exit 2 ;;
esac
# shellcheck source=scripts/bench/common.sh
source scripts/bench/common.sh
RUN_ID="ab_$(date +%s)"
API_KEY="$(bench_secret bench-key)"
bench_pipeline_build
pids=()
trap bench_pipeline_down EXIT
bench_pipeline_up
# The pipeline's own API is not measured: A and B run beside it on the next two ports, same configuration.
PORT_A=$((API_PORT + 10)); PORT_B=$((API_PORT + 11))
# shellcheck disable=SC2086 # A_ENV/B_ENV are lists of NAME=value words
env ${A_ENV:-} STREAMREC_HTTP_PORT="$PORT_A" "$A" >&2 &
pid_a=$!
# shellcheck disable=SC2086
env ${B_ENV:-} STREAMREC_HTTP_PORT="$PORT_B" "$B" >&2 &
pid_b=$!
pids+=("$pid_a" "$pid_b")
for port in "$PORT_A" "$PORT_B"; do
  for _ in $(seq 150); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
done
echo "bench: warming Redis through the gateway (known users, then new- users)" >&2
loadgen() { .build/release/loadgen --gateway "127.0.0.1:$GATEWAY_PORT" --api "127.0.0.1:$API_PORT" --api-key "$API_KEY" "$@"; }
loadgen --rate 5000 --seconds 6 --probes-per-second 0 >&2
loadgen --rate 5000 --seconds 4 --probes-per-second 0 --user-prefix new- >&2
sleep 2
# run_mix / run_open / run_healthz PORT PID → bench_ab_figures of the mix at c32 (wrk), of loadgen's open-loop mix
# at 2 000 requests/s, of GET /healthz at c32 (wrk).
run_mix() {
  local t0 rps p99
  t0=$(ticks "$2")
  read -r rps _ p99 _ <<< "$(wrk -t2 -c32 -d10s --latency -s scripts/bench/wrk-recommend.lua "http://127.0.0.1:$1" | wrk_summary)"
  bench_ab_figures "$2" "$t0" "$rps" "$p99"
}
run_open() {
  local t0 rps p99
  t0=$(ticks "$2")
  bench_open_loop inference-ab-open --api "127.0.0.1:$1" --rate 0 --probes-per-second 0 --api-rate 2000 --seconds 10
  read -r rps p99 <<< "$(bench_open_loop_fields inference-ab-open api_requests_per_second api_p99_ms)"
  bench_ab_figures "$2" "$t0" "$rps" "${p99}ms"
}
run_healthz() {
  local t0 rps p99
  t0=$(ticks "$2")
  read -r rps _ p99 _ <<< "$(wrk -t2 -c32 -d10s --latency "http://127.0.0.1:$1/healthz" | wrk_summary)"
  bench_ab_figures "$2" "$t0" "$rps" "$p99"
}
bench_ab_table "$ROUNDS" request "run_$AB_MODE" "$PORT_A" "$pid_a" "$PORT_B" "$pid_b"
