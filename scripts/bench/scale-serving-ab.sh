#!/usr/bin/env bash
# Serving A against B on a cost-curve size's model, without training again: the private stack and the schema
# that scripts/bench/scale.sh left (scale_<size>: its registry's production model and the artifact under
# .run/scale/<size>/), two inference-api binaries serving that model side by side, each measured as scale.sh
# measures serving (loadgen's open-loop mix: 50 % known users 1…943, 20 % new users, 30 % anonymous, at
# SCALE_API_RATE requests/s for 10 s), alternating A, B for ROUNDS rounds so that the machine's drift hits both
# alike. First, both are asked for the same AB_COMPARE_USERS known users' top 20 and the answers compared
# (items and scores), so that a faster B is known to answer as A does.
#   cp .build/release/inference-api /tmp/api-A      # before the change
#   swift build -c release --product inference-api
#   flock /tmp/swiftbuild.lock bash scripts/bench/scale-serving-ab.sh /tmp/api-A .build/release/inference-api
# Prints, per run: p50, p99 and max latency (ms, from each request's due time), requests/s answered, failed,
# and the API's CPU per request (µs, from /proc: user + system over requests answered); then each side's
# median. Needs a scale.sh run of that size first (any SCALE_CANDIDATES; SCALE_SERVING is not needed).
#
# Environment (defaults in brackets):
#   SCALE_SIZE       the size whose schema and artifact are served                      [100]
#   SCALE_API_PORT   A's port; B's is the next one                                       [23081]
#   SCALE_API_RATE   requests/s offered, open loop                                       [2000]
#   SCALE_REDIS_PORT, SCALE_PG_PORT, SCALE_KAFKA_PORT  scale.sh's private stack          [23379, 23432, 23092]
#   LOADGEN          the loadgen binary                                                  [.build/release/loadgen]
#   AB_COMPARE_USERS known users compared before the runs                               [200]
#   A_ENV / B_ENV    extra environment for one side (NAME=value words)
#   AB_PERF          1: then one more run per side under `perf record -g` (not in the figures); the profiles'
#                    top symbols in .run/scale/<size>/ab/perf-<side>.txt
set -euo pipefail
cd "$(dirname "$0")/../.."
A="${1:?usage: scale-serving-ab.sh BINARY_A BINARY_B [ROUNDS]}"
B="${2:?usage: scale-serving-ab.sh BINARY_A BINARY_B [ROUNDS]}"
ROUNDS="${3:-3}"
SCALE_SIZE="${SCALE_SIZE:-100}"
SCALE_API_PORT="${SCALE_API_PORT:-23081}"
SCALE_API_RATE="${SCALE_API_RATE:-2000}"
LOADGEN="${LOADGEN:-.build/release/loadgen}"
AB_COMPARE_USERS="${AB_COMPARE_USERS:-200}"
export STACK_RUN_DIR=.run/scale/stack REDIS_PORT="${SCALE_REDIS_PORT:-23379}" PG_PORT="${SCALE_PG_PORT:-23432}" KAFKA_PORT="${SCALE_KAFKA_PORT:-23092}"

log() { printf 'scale-ab: %s\n' "$*" >&2; }
die() { printf 'scale-ab: ERROR: %s\n' "$*" >&2; exit 1; }
for binary in "$A" "$B" "$LOADGEN"; do [ -x "$binary" ] || die "no executable $binary"; done
[ -d ".run/scale/$SCALE_SIZE" ] || die "no .run/scale/$SCALE_SIZE: run scripts/bench/scale.sh with SCALE_SIZES=$SCALE_SIZE first"

# shellcheck source=scripts/bench/private-stack.sh
source scripts/bench/private-stack.sh
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  private_stack_down
}
trap cleanup EXIT
trap 'exit 130' INT TERM
private_stack_up
psql_app -At -c "SELECT 1 FROM information_schema.schemata WHERE schema_name = 'scale_$SCALE_SIZE'" | grep -q 1 \
  || die "no schema scale_$SCALE_SIZE in the stack's PostgreSQL"
export STREAMREC_POSTGRES_SCHEMA="scale_$SCALE_SIZE" STREAMREC_TOPICS_MODEL_UPDATED="scale-$SCALE_SIZE.model-updated" STREAMREC_LOG_LEVEL=info

dir=".run/scale/$SCALE_SIZE/ab"
mkdir -p "$dir"
PORT_A=$SCALE_API_PORT
PORT_B=$((SCALE_API_PORT + 1))
# shellcheck disable=SC2086 # A_ENV/B_ENV are lists of NAME=value words
env ${A_ENV:-} STREAMREC_HTTP_PORT="$PORT_A" "$A" > "$dir/api-a.log" 2>&1 &
pid_a=$!
pids+=("$pid_a")
# shellcheck disable=SC2086
env ${B_ENV:-} STREAMREC_HTTP_PORT="$PORT_B" "$B" > "$dir/api-b.log" 2>&1 &
pid_b=$!
pids+=("$pid_b")
for side in a b; do
  port=$PORT_A; pid=$pid_a
  [ "$side" = b ] && { port=$PORT_B; pid=$pid_b; }
  for _ in $(seq 600); do
    grep -q 'serving model' "$dir/api-$side.log" && curl -fs "http://127.0.0.1:$port/readyz" > /dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || { cat "$dir/api-$side.log" >&2; die "inference-api $side exited"; }
    sleep 0.2
  done
  grep -q 'serving model' "$dir/api-$side.log" || die "inference-api $side served no model in 120 s (see $dir/api-$side.log)"
  log "$side: $(grep -m1 'serving model' "$dir/api-$side.log")"
done

# The same answers: known users' top 20 from both (items and scores as JSON numbers).
differ=0
for user in $(seq 1 "$AB_COMPARE_USERS"); do
  a="$(curl -fs "http://127.0.0.1:$PORT_A/v1/users/$user/recommendations?domain=movies&k=20" | jq -c '[.strategy, [.items[] | [.item_id, .score]]]')"
  b="$(curl -fs "http://127.0.0.1:$PORT_B/v1/users/$user/recommendations?domain=movies&k=20" | jq -c '[.strategy, [.items[] | [.item_id, .score]]]')"
  [ "$a" = "$b" ] || { differ=$((differ + 1)); [ "$differ" -le 3 ] && log "user $user differs: A $a, B $b"; }
done
log "answers compared for users 1…$AB_COMPARE_USERS (k = 20): $differ differ"

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# run SIDE PORT PID → one line of figures
run() {
  local side=$1 port=$2 pid=$3 t0 t1 out
  t0=$(ticks "$pid")
  out="$("$LOADGEN" --api "127.0.0.1:$port" --rate 0 --probes-per-second 0 --api-rate "$SCALE_API_RATE" --seconds 10 2> "$dir/loadgen-$side.err")" \
    || { cat "$dir/loadgen-$side.err" >&2; die "loadgen failed"; }
  t1=$(ticks "$pid")
  awk -v side="$side" -v ticks="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" '{
      for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
      printf "%s p50_ms=%s p99_ms=%s max_ms=%s answered_per_s=%s failed=%s cpu_us_per_request=%.0f\n", side, f["api_p50_ms"], f["api_p99_ms"],
        f["api_max_ms"], f["api_requests_per_second"], f["api_failed"], ticks / hz * 1e6 / (f["api_requests"] > 0 ? f["api_requests"] : 1)
    }' <<< "$out"
}
results=()
for round in $(seq "$ROUNDS"); do
  for side in A B; do
    if [ "$side" = A ]; then line="$(run A "$PORT_A" "$pid_a")"; else line="$(run B "$PORT_B" "$pid_b")"; fi
    log "round $round: $line"
    results+=("$line")
    sleep 2
  done
done
if [ "${AB_PERF:-0}" = 1 ]; then
  for side in a b; do
    pid=$pid_a; port=$PORT_A
    [ "$side" = b ] && { pid=$pid_b; port=$PORT_B; }
    perf record -F 999 -g -o "$dir/perf-$side.data" -p "$pid" -- sleep 10 > /dev/null 2>&1 &
    perf_pid=$!
    log "profiled: $(run "$side" "$port" "$pid")"
    wait "$perf_pid" || true
    perf report -i "$dir/perf-$side.data" --no-children --percent-limit 0.8 --stdio 2> /dev/null | grep -E '^ +[0-9.]+%' > "$dir/perf-$side.txt" || true
    log "perf $side: $(head -n 8 "$dir/perf-$side.txt" | awk '{ printf "%s %s; ", $1, $NF }')"
  done
fi
printf '%s\n' "${results[@]}"
printf '%s\n' "${results[@]}" | awk '
  { side = $1; for (i = 2; i <= NF; i++) { split($i, kv, "="); v[side, kv[1], ++n[side, kv[1]]] = kv[2] } }
  function median(side, key,   k, m, a, i, j, t) {
    m = n[side, key]; for (i = 1; i <= m; i++) a[i] = v[side, key, i] + 0
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return m % 2 ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
  }
  END {
    for (s = 0; s < 2; s++) { side = s ? "B" : "A"
      printf "%s median: p50_ms=%s p99_ms=%s cpu_us_per_request=%s\n", side, median(side, "p50_ms"), median(side, "p99_ms"), median(side, "cpu_us_per_request") }
    printf "B/A medians: p99 %.2f, CPU per request %.2f\n", median("B", "p99_ms") / median("A", "p99_ms"), median("B", "cpu_us_per_request") / median("A", "cpu_us_per_request")
  }'
