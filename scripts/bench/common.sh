# Shared by the benchmark scripts (sourced, not run). They all use their own stack in .run/bench on
# private ports, so they can run beside `make run` and `make test`.
export STACK_RUN_DIR=.run/bench REDIS_PORT="${BENCH_REDIS_PORT:-46380}" PG_PORT="${BENCH_PG_PORT:-45433}" KAFKA_PORT="${BENCH_KAFKA_PORT:-49093}"
# Ports of the services a benchmark starts (beside `make run`'s 8080–8082).
GATEWAY_PORT="${BENCH_GATEWAY_PORT:-18090}" PROCESSOR_PORT="${BENCH_PROCESSOR_PORT:-18091}" API_PORT="${BENCH_API_PORT:-18092}"

# A random secret with a readable prefix (producer keys, admin tokens): bench_secret PREFIX
bench_secret() { printf '%s-%s' "$1" "$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"; }

# Release builds of what bench_pipeline_up starts, plus loadgen.
bench_pipeline_build() {
  local product
  # BENCH_SKIP_BUILD=1: use the release binaries as they are (e.g. a profile while another build holds the machine).
  [ "${BENCH_SKIP_BUILD:-0}" = 1 ] && return 0
  for product in trainer inference-api ingest-gateway stream-processor loadgen; do swift build -c release --product "$product" >&2; done
}

# A fresh broker (memory only) and Redis (no persistence), PostgreSQL as it is; exports the stack's
# connection variables (STREAMREC_*).
bench_stack_up() {
  bash scripts/stack.sh restart redis kafka >&2
  bash scripts/stack.sh start postgres >&2
  # shellcheck disable=SC1091
  source "$STACK_RUN_DIR/env"
  export PGPASSWORD="$STREAMREC_POSTGRES_PASSWORD"
}

bench_stack_down() { bash scripts/stack.sh stop redis postgres kafka >&2 || true; }

# The gateway as the gateway benchmarks run it (the bench broker, the producer key in BENCH_API_KEY, no rate
# limit, kafka.linger from LINGER, default 1 ms), in the background, ready before this returns:
# bench_gateway_start BINARY PORT; its pid is left in $started_gateway_pid.
bench_gateway_start() {
  STREAMREC_KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT" STREAMREC_GATEWAY_API_KEYS="bench:$BENCH_API_KEY" \
    STREAMREC_GATEWAY_RATE_LIMIT=0 STREAMREC_HTTP_PORT="$2" STREAMREC_LOG_LEVEL=warning \
    STREAMREC_KAFKA_LINGER="${LINGER:-1ms}" "$1" >&2 &
  started_gateway_pid=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$2/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
}

# psql against the bench database, quiet, unaligned: bench_psql -c "SQL"
bench_psql() { psql -q -tA -h 127.0.0.1 -p "$PG_PORT" -U "$STREAMREC_POSTGRES_USER" "$STREAMREC_POSTGRES_DATABASE" "$@"; }

# wrk --latency output → "req/s p50 p99 non2xx"
wrk_summary() {
  awk '/Requests\/sec/ { rps = $2 } / 50%/ { p50 = $2 } / 99%/ { p99 = $2 } /Non-2xx/ { bad = $4 } END { printf "%s %s %s %s\n", rps, p50, p99, bad + 0 }'
}

# bench_ab_table ROUNDS "UNIT" RUN PORT_A PID_A PORT_B PID_B: ROUNDS rounds of RUN against A then B (RUN PORT
# PID prints "rate p99 cpu-per-unit"), as a markdown table with the ratios B / A; the labels are $A and $B.
bench_ab_table() {
  local rounds=$1 unit=$2 run=$3 port_a=$4 pid_a=$5 port_b=$6 pid_b=$7 round a_rate a_p99 a_cpu b_rate b_p99 b_cpu
  echo "| round | A: $A ($unit/s, p99, CPU µs/$unit) | B: $B ($unit/s, p99, CPU µs/$unit) | B / A $unit/s | B / A CPU per $unit |"
  echo "| --- | ---: | ---: | ---: | ---: |"
  for round in $(seq "$rounds"); do
    read -r a_rate a_p99 a_cpu <<< "$("$run" "$port_a" "$pid_a")"
    read -r b_rate b_p99 b_cpu <<< "$("$run" "$port_b" "$pid_b")"
    awk -v r="$round" -v a="$a_rate" -v b="$b_rate" -v ap="$a_p99" -v bp="$b_p99" -v ac="$a_cpu" -v bc="$b_cpu" \
      'BEGIN { if (a == 0 || ac == 0) { printf "| %d | %d, %s, %s | %d, %s, %s | – | – |\n", r, a, ap, ac, b, bp, bc; exit }
               printf "| %d | %d, %s, %s | %d, %s, %s | %.2f | %.2f |\n", r, a, ap, ac, b, bp, bc, b / a, bc / ac }'
  done
}

# bench_ab_figures PID T0 RATE P99 → "rate p99 µs-of-CPU-per-unit" for a 10 s run that started when PID had
# used T0 ticks (RATE in units per second: the line bench_ab_table's RUN prints).
bench_ab_figures() {
  awk -v r="$3" -v p="$4" -v d="$(($(ticks "$1") - $2))" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f %s %.1f\n", r, p, d / hz * 1e6 / (r * 10) }'
}

# bench_open_loop NAME LOADGEN-ARGS...: runs .build/release/loadgen with the arguments (an open-loop run of at
# least 7 s), its key=value summary left in .run/bench/NAME.txt; sets loadgen_cores to the cores loadgen itself
# used (sampled over 5 s: it shares the machine with what it measures). A failed loadgen stops the script with
# its errors shown.
bench_open_loop() {
  local name=$1 pid l0 l1; shift
  .build/release/loadgen "$@" > ".run/bench/$name.txt" 2> ".run/bench/$name.err" &
  pid=$!
  sleep 2; l0=$(ticks "$pid" 2>/dev/null || echo 0); sleep 5; l1=$(ticks "$pid" 2>/dev/null || echo 0)
  wait "$pid" || { echo "bench: loadgen failed:" >&2; cat ".run/bench/$name.err" >&2; exit 1; }
  loadgen_cores=$(awk -v t=$((l1 - l0)) -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz / 5 }')
}

# bench_open_loop_fields NAME KEY...: the values of those keys in NAME's summary, space-separated.
bench_open_loop_fields() {
  local name=$1; shift
  tr ' ' '\n' < ".run/bench/$name.txt" | awk -F= -v keys="$*" '{ v[$1] = $2 } END { n = split(keys, k, " "); for (i = 1; i <= n; i++) printf "%s%s", v[k[i]], (i < n ? " " : "\n") }'
}

# CPU time (user + system clock ticks) of a process, to see who uses the two cores during a run.
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# Peak resident memory of a process, in MiB.
# CPU ticks of every PostgreSQL process (postmaster and backends; on a machine running other PostgreSQL
# servers, theirs are counted too).
pg_ticks() { local total=0 p; for p in $(pgrep -f "postgres.*$PG_PORT|postgres:" || true); do total=$((total + $(ticks "$p" 2>/dev/null || echo 0))); done; echo "$total"; }

peak_rss_mib() { awk '/VmHWM/ { printf "%d", $2 / 1024 }' "/proc/$1/status"; }

# The whole pipeline on the bench stack, release builds, for the benchmarks that need all of it: a schema,
# topics and a key prefix named RUN_ID, MovieLens 100K bootstrapped and a movies model trained, then the
# gateway (producer key API_KEY), the processor and the API started on GATEWAY_PORT, PROCESSOR_PORT and
# API_PORT and waited for. Sets gateway_pid, processor_pid, api_pid and appends them to pids; the caller's
# EXIT trap stops them (bench_pipeline_down) and the stack.
bench_pipeline_up() {
  bench_stack_up
  bench_psql -c "CREATE SCHEMA $RUN_ID" >&2
  export STREAMREC_POSTGRES_SCHEMA="$RUN_ID" STREAMREC_TRAINER_ARTIFACTS_DIR="var/bench-$RUN_ID" STREAMREC_LOG_LEVEL=warning \
    STREAMREC_TOPICS_MOVIE="$RUN_ID.movie" STREAMREC_TOPICS_POLL="$RUN_ID.poll" STREAMREC_TOPICS_DEAD_LETTER="$RUN_ID.dlq" \
    STREAMREC_FEATURES_KEY_PREFIX="$RUN_ID:v1"
  bash scripts/fetch-data.sh >&2
  .build/release/trainer bootstrap --dataset ml-100k >&2
  .build/release/trainer train --domain movies >&2
  STREAMREC_GATEWAY_API_KEYS="bench:$API_KEY" STREAMREC_GATEWAY_RATE_LIMIT=0 STREAMREC_HTTP_PORT="$GATEWAY_PORT" .build/release/ingest-gateway >&2 &
  gateway_pid=$!
  STREAMREC_KAFKA_GROUP_ID="$RUN_ID" STREAMREC_HTTP_PORT="$PROCESSOR_PORT" .build/release/stream-processor >&2 &
  processor_pid=$!
  STREAMREC_HTTP_PORT="$API_PORT" .build/release/inference-api >&2 &
  api_pid=$!
  pids+=("$gateway_pid" "$processor_pid" "$api_pid")
  local port
  for port in "$GATEWAY_PORT" "$PROCESSOR_PORT" "$API_PORT"; do
    for _ in $(seq 150); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
  done
}

# Stops what bench_pipeline_up started (and anything else in pids), removes the artifacts, stops the stack.
bench_pipeline_down() {
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  rm -rf "var/bench-$RUN_ID"
  bench_stack_down
}

# Where a record's time goes inside the processor (from its /metrics): batches, mean records per batch,
# mean wall time per stage, and how many batches took over 1 s. Prints one line.
processor_stage_summary() {  # PORT
  curl -fs "http://127.0.0.1:$1/metrics" | awk -F'[{}" ]+' '
    /^streamrec_processor_stage_duration_seconds_sum/ { sum[$3] = $NF }
    /^streamrec_processor_stage_duration_seconds_count/ { count[$3] = $NF }
    /^streamrec_processor_batch_duration_seconds_sum/ { bsum = $NF }
    /^streamrec_processor_batch_duration_seconds_count/ { bcount = $NF }
    /^streamrec_processor_batch_duration_seconds_bucket/ && /le="1.0"|le="1"/ { bunder = $NF }
    /^streamrec_processor_events_total/ { events += $NF }
    END {
      if (bcount == 0) { print "processor: no batch"; exit }
      printf "processor: %d batches, %.0f records per batch, %d over 1 s; mean per batch: whole %.1f ms", bcount, events / bcount, bcount - bunder, 1000 * bsum / bcount
      for (s in sum) if (count[s] > 0) printf ", %s %.1f ms", s, 1000 * sum[s] / count[s]
      print ""
    }'
}
