#!/usr/bin/env bash
# Foundation benchmarks, measured side by side in one run on one broker/server (figures are ratios,
# since these machines are noisy):
#   1. Kafka producer: our Swift producer vs kcat, both linked to the same librdkafka, producing the same
#      N 100-byte records to fresh 6-partition topics with the same settings (idempotent, acks=all,
#      linger 5 ms, batch 10k, queue 100k, no compression). Rounds alternate; medians are compared.
#   2. Redis: pipelined INCR and ZINCRBY through our client vs redis-benchmark -P 16 (same server).
# Prints a markdown table; the figures in docs/benchmarks.md come from this script.
#
# Environment: ROUNDS (default 7), MESSAGES (default 500000), REDIS_OPS (default 1000000),
# STREAMREC_PREFIX (default /opt/streamrec). Uses its own stack in .run/bench on private ports.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS="${ROUNDS:-7}"
MESSAGES="${MESSAGES:-500000}"
REDIS_OPS="${REDIS_OPS:-1000000}"
PREFIX="${STREAMREC_PREFIX:-/opt/streamrec}"
export STACK_RUN_DIR=.run/bench REDIS_PORT="${BENCH_REDIS_PORT:-46380}" KAFKA_PORT="${BENCH_KAFKA_PORT:-49093}"
BROKER="127.0.0.1:$KAFKA_PORT"

echo "bench: release build of streamrec-bench" >&2
swift build -c release --product streamrec-bench >&2
BENCH=.build/release/streamrec-bench

trap 'bash scripts/stack.sh stop redis kafka >&2 || true; rm -f "$input"' EXIT
bash scripts/stack.sh start redis kafka >&2

input="$(mktemp)"
python3 - "$input" "$MESSAGES" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    f.write(("x" * 100 + "\n") * int(sys.argv[2]))
PY

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
rate_of() { sed -n 's/.*rate=\([0-9]*\).*/\1/p'; }

kcat_rates=() swift_rates=() warm_rates=()
# The local broker keeps everything in memory; restarting it before each measurement gives every run
# the same empty broker, so neither side pays for the data the other left behind.
fresh_broker() { bash scripts/stack.sh restart kafka >&2; }
for round in $(seq "$ROUNDS"); do
  fresh_broker
  topic="bench-kcat-$round-$RANDOM"
  "$BENCH" create-topic --brokers "$BROKER" --name "$topic" --partitions 6
  start=$(date +%s%N)
  LD_LIBRARY_PATH="$PREFIX/lib" kcat -P -b "$BROKER" -t "$topic" -X enable.idempotence=true -X acks=all \
    -X linger.ms=5 -X compression.codec=none -X batch.num.messages=10000 -X queue.buffering.max.messages=100000 < "$input"
  end=$(date +%s%N)
  kcat_rates+=("$(( MESSAGES * 1000000000 / (end - start) ))")

  fresh_broker
  topic="bench-swift-$round-$RANDOM"
  "$BENCH" create-topic --brokers "$BROKER" --name "$topic" --partitions 6
  # Timed from outside, exactly like kcat: process start, producer start-up (metadata, idempotent
  # producer id), producing, and waiting for the last acknowledgement.
  start=$(date +%s%N)
  "$BENCH" kafka-producer --brokers "$BROKER" --topic "$topic" --messages "$MESSAGES" --size 100 >/dev/null 2>&1
  end=$(date +%s%N)
  swift_rates+=("$(( MESSAGES * 1000000000 / (end - start) ))")
  # The same again with a warm-up record first, timed inside the process: steady-state throughput once
  # the producer is connected (no kcat equivalent; reported for information).
  fresh_broker
  topic="bench-swift-warm-$round-$RANDOM"
  "$BENCH" create-topic --brokers "$BROKER" --name "$topic" --partitions 6
  warm_rates+=("$("$BENCH" kafka-producer --brokers "$BROKER" --topic "$topic" --messages "$MESSAGES" --size 100 --warmup 1 2>/dev/null | rate_of)")
  echo "bench: round $round kcat ${kcat_rates[-1]}/s swift ${swift_rates[-1]}/s swift-warm ${warm_rates[-1]}/s" >&2
done
kcat_median=$(printf '%s\n' "${kcat_rates[@]}" | median)
swift_median=$(printf '%s\n' "${swift_rates[@]}" | median)
warm_median=$(printf '%s\n' "${warm_rates[@]}" | median)

redis_benchmark() {
  redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -P 16 -n "$REDIS_OPS" -q "$@" | tr '\r' '\n' \
    | sed -n 's/.*: \([0-9.]*\) requests per second.*/\1/p' | tail -1 | cut -d. -f1
}
# 50 concurrent callers (redis-benchmark's default -c 50) each pipelining 16 commands; our client runs
# them over its default 4 connections and coalesces what queues up (automatic pipelining).
rb_incr=$(redis_benchmark -t incr)
rb_zincrby=$(redis_benchmark -r 10000 ZINCRBY bench:zset 1 member:__rand_int__)
ours_incr=$("$BENCH" redis --port "$REDIS_PORT" --concurrency 50 --connections 4 --pipeline 16 --ops "$REDIS_OPS" --command incr 2>/dev/null | rate_of)
ours_zincrby=$("$BENCH" redis --port "$REDIS_PORT" --concurrency 50 --connections 4 --pipeline 16 --ops "$REDIS_OPS" --command zincrby 2>/dev/null | rate_of)
# One caller, one connection, pipelines of 16 back to back: nothing to coalesce, pure per-call cost.
rb_single=$(redis_benchmark -c 1 -t incr -n $(( REDIS_OPS / 4 )))
ours_single=$("$BENCH" redis --port "$REDIS_PORT" --concurrency 1 --connections 1 --pipeline 16 --ops $(( REDIS_OPS / 4 )) --command incr 2>/dev/null | rate_of)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f%%", 100 * a / b }'; }
echo
echo "| what | ours | reference | ours / reference | target |"
echo "| --- | ---: | ---: | ---: | ---: |"
echo "| Kafka producer, $MESSAGES × 100 B, whole process, median of $ROUNDS (msg/s) | $swift_median | kcat $kcat_median | $(ratio "$swift_median" "$kcat_median") | ≥ 80% |"
echo "| Kafka producer, same, after a warm-up record, in-process (msg/s) | $warm_median | – | – | (information) |"
echo "| Redis INCR, 50 callers × pipeline 16 (ops/s) | $ours_incr | redis-benchmark -c 50 -P 16: $rb_incr | $(ratio "$ours_incr" "$rb_incr") | ≥ 50% |"
echo "| Redis ZINCRBY, 50 callers × pipeline 16 (ops/s) | $ours_zincrby | redis-benchmark -c 50 -P 16: $rb_zincrby | $(ratio "$ours_zincrby" "$rb_zincrby") | ≥ 50% |"
echo "| Redis INCR, 1 caller × pipeline 16 (ops/s) | $ours_single | redis-benchmark -c 1 -P 16: $rb_single | $(ratio "$ours_single" "$rb_single") | (no coalescing) |"
echo
echo "per-round Kafka rates (msg/s): kcat ${kcat_rates[*]}; swift ${swift_rates[*]}; swift warm ${warm_rates[*]}"
