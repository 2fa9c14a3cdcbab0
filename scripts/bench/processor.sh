#!/usr/bin/env bash
# Stream-processor benchmark (release build, real broker, Redis and PostgreSQL on this machine):
#   1. fill fresh topics (6 partitions each) with the catalog and EVENTS interactions of the realistic
#      mix (50k users, 1682 movies, 707 polls, occurred in the last SPAN_MINUTES, default 10: a live
#      stream; a longer span, as in a replay, means more distinct popularity buckets per batch)
#   2. start the stream-processor binary on an empty Redis key prefix and a fresh Postgres schema, and
#      time it from its first committed batch until everything is committed (applied to Redis and
#      Postgres): events/s
#   3. Redis commands the processor caused per event (INFO commandstats, which counts the commands run
#      inside scripts), and the Redis commands/s that implies, beside redis-benchmark -P 16 ZINCRBY on
#      the same server right after (the ceiling of one Redis core)
#   4. the processor's peak RSS, and how the two cores were shared during the run
#   5. the Python peer (PEER_DIR, default ../shared/peers/python-processor: confluent-kafka + redis-py, 5
#      commands per event, fewer features, no PostgreSQL) on the same movie topic contents and a flushed
#      Redis database of its own, right after; skipped with a note if PEER_DIR is absent. Its venv is made
#      once in .run/bench/peer-venv (pip: confluent-kafka, redis, hiredis).
# Prints a markdown table and ends with one line:
#   processor_events_per_second=N peer_events_per_second=M redis_commands_per_event=C rss_mib=R
# docs/benchmarks.md records its output. EVENTS defaults to 1000000.
set -euo pipefail
cd "$(dirname "$0")/../.."
EVENTS="${EVENTS:-1000000}"
# shellcheck source=scripts/bench/common.sh
source scripts/bench/common.sh
BROKER="127.0.0.1:$KAFKA_PORT"
RUN_ID="bench_$(date +%s)"
ENDS="$(mktemp)"

# PROCESSOR_BINARY: another stream-processor binary to time (an A/B: a base build copied aside), default this
# tree's release build. BENCH_SKIP_BUILD=1: use the release binaries as they are.
PROCESSOR_BINARY="${PROCESSOR_BINARY:-.build/release/stream-processor}"
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  echo "bench: release build of stream-processor and streamrec-bench" >&2
  swift build -c release --product stream-processor >&2
  swift build -c release --product streamrec-bench >&2
fi
BENCH=.build/release/streamrec-bench
echo "bench: processor binary $PROCESSOR_BINARY" >&2

processor_pid=""
cleanup() {
  [ -n "$processor_pid" ] && kill "$processor_pid" 2>/dev/null && wait "$processor_pid" 2>/dev/null
  rm -f "$ENDS"
  bench_stack_down
}
trap cleanup EXIT
bench_stack_up
bench_psql -c "CREATE SCHEMA $RUN_ID" >&2

echo "bench: filling topics with $EVENTS events" >&2
$BENCH processor-fill --brokers "$BROKER" --movie-topic "$RUN_ID.movie" --poll-topic "$RUN_ID.poll" \
  --events "$EVENTS" --span-minutes "${SPAN_MINUTES:-10}" --partitions 6 --ends-file "$ENDS" >&2

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
redis_calls() { redis-cli -p "$REDIS_PORT" INFO commandstats | awk -F'[=,]' '/^cmdstat_/ && !/cmdstat_info/ { sum += $2 } END { print sum + 0 }'; }
redis_pid=$(cat "$STACK_RUN_DIR/pids/redis.pid")
broker_pid=$(cat "$STACK_RUN_DIR/pids/kafka.pid")

calls0=$(redis_calls)
STREAMREC_KAFKA_BROKERS="$BROKER" STREAMREC_KAFKA_GROUP_ID="$RUN_ID" STREAMREC_TOPICS_MOVIE="$RUN_ID.movie" \
  STREAMREC_TOPICS_POLL="$RUN_ID.poll" STREAMREC_TOPICS_DEAD_LETTER="$RUN_ID.dlq" STREAMREC_FEATURES_KEY_PREFIX="$RUN_ID:v1" \
  STREAMREC_POSTGRES_SCHEMA="$RUN_ID" STREAMREC_HTTP_PORT="$PROCESSOR_PORT" STREAMREC_LOG_LEVEL=warning \
  "$PROCESSOR_BINARY" >&2 &
processor_pid=$!
sleep 0.5
# BENCH_PERF=1: a CPU profile of the processor for 10 s from its start (perf report -i .run/bench/processor.perf).
if [ "${BENCH_PERF:-0}" = 1 ]; then
  perf record -F 999 -g -o .run/bench/processor.perf -p "$processor_pid" -- sleep 10 >/dev/null 2>&1 &
fi
p0=$(ticks "$processor_pid"); r0=$(ticks "$redis_pid"); b0=$(ticks "$broker_pid"); q0=$(pg_ticks); t0=$(date +%s%N)
result=$($BENCH processor-wait --brokers "$BROKER" --group "$RUN_ID" --ends-file "$ENDS")
p1=$(ticks "$processor_pid"); r1=$(ticks "$redis_pid"); b1=$(ticks "$broker_pid"); q1=$(pg_ticks); t1=$(date +%s%N)
calls1=$(redis_calls)
rss_mib=$(peak_rss_mib "$processor_pid")
stages=$(curl -fs "http://127.0.0.1:$PROCESSOR_PORT/metrics" | awk -F'[{}" ]+' '
  /^streamrec_processor_stage_duration_seconds_sum/ { sum[$3] = $NF }
  /^streamrec_processor_stage_duration_seconds_count/ { count[$3] = $NF }
  /^streamrec_processor_batch_duration_seconds_sum/ { bsum = $NF } /^streamrec_processor_batch_duration_seconds_count/ { bcount = $NF }
  END { printf "mean per batch of %d batches: whole %.1f ms", bcount, 1000 * bsum / bcount
        for (s in sum) printf ", %s %.1f ms", s, 1000 * sum[s] / count[s]; print "" }')
kill -TERM "$processor_pid"; wait "$processor_pid" || true; processor_pid=""
rows=$(bench_psql -c "SELECT count(*) FROM $RUN_ID.interactions")
ceiling=$(redis-benchmark -p "$REDIS_PORT" -P 16 -n 2000000 -r 100000 -q ZINCRBY "$RUN_ID:ceiling" 1 __rand_int__ | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /requests/) print $(i-1) }' | tail -1)
bench_psql -c "DROP SCHEMA $RUN_ID CASCADE" >&2

# The peer, on the movie topic as it is (catalog records among the events: it counts them as bad).
PEER_DIR="${PEER_DIR:-../shared/peers/python-processor}"
peer_rate="n/a"
if [ -f "$PEER_DIR/processor.py" ]; then
  venv=".run/bench/peer-venv"
  if [ ! -x "$venv/bin/python" ]; then
    echo "bench: making the peer's venv in $venv" >&2
    python3 -m venv "$venv" >&2 && "$venv/bin/pip" install -q confluent-kafka==2.16.1 redis==8.1.0 hiredis >&2
  fi
  movie_records=$(awk -v t="$RUN_ID.movie" '$1 == t { sum += $3 } END { print sum + 0 }' "$ENDS")
  redis-cli -p "$REDIS_PORT" -n 1 FLUSHDB >/dev/null
  echo "bench: the Python peer on $movie_records records of $RUN_ID.movie" >&2
  peer=$("$venv/bin/python" "$PEER_DIR/processor.py" --bootstrap "$BROKER" --topic "$RUN_ID.movie" --group "peer-$RUN_ID" \
    --redis "redis://127.0.0.1:$REDIS_PORT/1" --stop-after "$movie_records" | tail -1)
  echo "bench: peer: $peer" >&2
  peer_rate=$(python3 -c 'import json, sys; print(int(json.loads(sys.argv[1])["events_per_s"]))' "$peer")
  redis-cli -p "$REDIS_PORT" -n 1 FLUSHDB >/dev/null
else
  echo "bench: no peer at $PEER_DIR (set PEER_DIR): peer skipped" >&2
fi

# The processor's sinks alone, on the same Redis and PostgreSQL, on as many in-memory events (no Kafka): which
# of them is the floor (STAGES=0 skips it).
stages_alone=""
if [ "${STAGES:-1}" = 1 ]; then
  echo "bench: the sinks alone (processor-stages, $EVENTS events)" >&2
  stages_alone=$(STREAMREC_POSTGRES_PASSWORD="$STREAMREC_POSTGRES_PASSWORD" $BENCH processor-stages --events "$EVENTS" \
    --redis-port "$REDIS_PORT" --postgres-port "$PG_PORT" --postgres-database "$STREAMREC_POSTGRES_DATABASE" --postgres-user "$STREAMREC_POSTGRES_USER" | tail -1)
fi

rate=$(sed -n 's/.*rate=\([0-9]*\).*/\1/p' <<< "$result")
records=$(sed -n 's/.*ops=\([0-9]*\).*/\1/p' <<< "$result")
hz=$(getconf CLK_TCK)
echo
echo "| figure | value |"
echo "| --- | ---: |"
echo "| events applied (Redis + Postgres) and committed, per second | $rate |"
echo "| records timed (after the first committed batch) | $records |"
echo "| rows in the training store | $rows |"
awk -v c=$((calls1 - calls0)) -v n="$EVENTS" -v rate="$rate" -v ceiling="$ceiling" 'BEGIN {
  per = c / n
  printf "| Redis commands per event (inside scripts included) | %.1f |\n", per
  printf "| Redis commands/s while processing | %.0f |\n", per * rate
  printf "| redis-benchmark -P 16 ZINCRBY, same server (ceiling) | %.0f |\n", ceiling
  printf "| processor Redis load / ceiling | %.0f%% |\n", 100 * per * rate / ceiling }'
echo "| processor peak RSS | $rss_mib MiB |"
awk -v p=$((p1 - p0)) -v r=$((r1 - r0)) -v b=$((b1 - b0)) -v q=$((q1 - q0)) -v ns=$((t1 - t0)) -v hz="$hz" 'BEGIN {
  s = ns / 1e9
  printf "\ncores used while processing: processor %.2f, redis %.2f, postgres %.2f, broker %.2f (of 2)\n", p / hz / s, r / hz / s, q / hz / s, b / hz / s }'
echo "$stages"
echo "| peer (Python, movie topic, 5 commands per event, no PostgreSQL) events/s | $peer_rate |"
[ -n "$stages_alone" ] && echo "$stages_alone"
awk -v c=$((calls1 - calls0)) -v n="$EVENTS" -v rate="$rate" -v peer="$peer_rate" -v rss="$rss_mib" \
  'BEGIN { printf "processor_events_per_second=%d peer_events_per_second=%s redis_commands_per_event=%.2f rss_mib=%s\n", rate, peer, c / n, rss }'
