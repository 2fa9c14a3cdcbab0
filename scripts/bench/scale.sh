#!/usr/bin/env bash
# Cost curves (issue 22): how training, serving, Redis and the feature writer grow with events, users and items.
#
# For each size, MovieLens-100K-shaped synthetic ratings (`trainer bootstrap --synthetic-movies`,
# Shared/Datasets/SyntheticMovies.swift) are loaded into a fresh PostgreSQL schema by the trainer's one
# loading path (COPY); then, for each set of top-N candidates, `trainer train --domain movies` runs under
# /usr/bin/time -v. One line per size and candidate set:
#
#   events=… users=… items=… candidates=… bootstrap_s=… train_s=… train_peak_mib=… artifact_mib=… model=<top-N kind that won> rating_model=…
#     [load_s=… api_p50_ms=… api_p99_ms=… api_failed=… api_rss_mib=…]   (the first candidate set's line)
#     [backfill_events_per_s=… redis_bytes_per_user=… redis_bytes_per_item=… redis_bytes_per_event=…]   (the size's last line)
#
# train_s is the whole command's wall time (read the store, fit and validate every candidate, the rating
# models too, write the artifact, register, announce); train_peak_mib its peak RSS; artifact_mib the
# artifact written. Serving (SCALE_SERVING=1): the inference API (release) started on the stack with the
# model just trained in production: load_s is its artifact read, check and decode (its `serving model` log
# line), then loadgen's open-loop mix (50 % known users 1…943, 20 % new users, 30 % anonymous; as
# scripts/bench/inference.sh) at SCALE_API_RATE requests/s for 10 s: api_p50_ms, api_p99_ms from each
# request's due time, api_failed; api_rss_mib the API's peak RSS after it. loadgen runs on the same 2 cores.
# Redis (SCALE_REDIS=1, after training and serving): the size's ratings moved into the last 6 days (same
# order and spacing, in this size's schema only) and applied to Redis under a key prefix of their own by
# `trainer backfill-features --since 7d` (the processor's feature writer, read from PostgreSQL instead of
# Kafka): backfill_events_per_s is its rate; redis_bytes_per_user the MEMORY USAGE of the users' keys
# ({u:…}) over the users, redis_bytes_per_item that of the popularity keys ({pop:…}) over the items,
# redis_bytes_per_event that of the event-id keys ({ids:…}, kept for deduplication) over the events.
# Past SCALE_REDIS_MAX_EVENTS events, only a hashed sample of users' ratings is moved and backfilled
# (redis_sample_users=… redis_sample_events=… on the line), per user and per event over that sample.
# The wall time of each training stage (the report's `stage:` lines) goes to standard error
# and .run/scale/<size>/<candidates>/stages.txt.
# Processor (SCALE_PROCESSOR=1, last): the release stream-processor through Kafka, as scripts/bench/processor.sh
# runs it, on topics filled by `streamrec-bench processor-fill` with the catalog of this size's items and
# SCALE_PROCESSOR_EVENTS events of the realistic mix (movie and poll events, 6 partitions) spread over this
# size's users and items; a Redis key prefix and PostgreSQL schema of its own. processor_events_per_s is
# `processor-wait`'s rate (from the first committed batch until everything is committed, in Redis and
# PostgreSQL), appended to the size's last line as processor_events_per_s=… processor_events=…. The same
# event count at every size, so that what changes is the state it lands in (users, items, keys).
# Plots: scripts/bench/scale_plot.py.
#
# Sizes (SCALE_SIZES, default "1 10"): multiples of MovieLens 100K, or EVENTSxUSERSxITEMS for any other.
#   1   →    100 000 events,   943 users,  1 682 items (MovieLens 100K's dimensions)
#   10  →  1 000 000 events, 6 040 users,  3 706 items (MovieLens 1M's dimensions)
#   100 → 10 000 000 events, 69 878 users, 60 000 items (MovieLens 10M's users; the issue's ~60k items;
#         long here: ask for it explicitly)
# Candidates (SCALE_CANDIDATES, default "auto implicit-als"): auto is the trainer's default choice
# (sequence-aware EASE against implicit ALS on validation); implicit-als pins ALS, the cost of the model
# that serves past the item-item cut-over. Sequence-aware EASE needs 3 × items² floats; past
# training.item_item_memory_limit_mib (4096 by default: ~18 900 items) the trainer leaves it out.
#
# Run it alone on the machine, under the build lock, so that no build disturbs the timings:
#   flock /tmp/swiftbuild.lock bash scripts/bench/scale.sh        (make bench-scale)
#
# Environment (defaults in brackets):
#   SCALE_SIZES   sizes to run                                               [1 10]
#   SCALE_CANDIDATES  top-N candidate sets to train with, per size           [auto implicit-als]
#   SEED          the generator's seed                                       [100]
#   BIN_DIR       where trainer is; built with swift build -c release only
#                 when this is the default and it is missing                 [.build/release]
#   SCALE_SERVING 1: after the first candidate set's training, serve its model (below)      [1]
#   SCALE_API_PORT  the inference API's port while it is measured            [23081]
#   SCALE_API_RATE  requests/s offered to it, open loop                      [2000]
#   SCALE_REDIS   1: the Redis figures (below)                               [1]
#   SCALE_REDIS_MAX_EVENTS  past this many events, the Redis figures come from a sample of users
#                 holding about this many events (the backfill runs at ~15k events/s)  [1000000]
#   SCALE_TRAINING 0: no bootstrap, training, serving or Redis figures; the line holds the size's
#                 dimensions and whatever else is asked (the processor's figures alone)    [1]
#   SCALE_PROCESSOR  1: the processor's events/s (above)                      [1]
#   SCALE_PROCESSOR_EVENTS  events per size for it                           [1000000]
#   SCALE_REDIS_PORT, SCALE_PG_PORT, SCALE_KAFKA_PORT  the private stack     [23379, 23432, 23092]
#   SCALE_PROCESSOR_PORT  the processor's HTTP port while it is measured     [23091]
# Work files: .run/scale/<size>/ (the bootstrap's log and /usr/bin/time -v; per candidate set
# the train log, its /usr/bin/time -v, artifacts and report).
set -euo pipefail
cd "$(dirname "$0")/../.."

SCALE_SIZES="${SCALE_SIZES:-1 10}"
SCALE_CANDIDATES="${SCALE_CANDIDATES:-auto implicit-als}"
SEED="${SEED:-100}"
SCALE_SERVING="${SCALE_SERVING:-1}"
SCALE_API_PORT="${SCALE_API_PORT:-23081}"
SCALE_API_RATE="${SCALE_API_RATE:-2000}"
SCALE_REDIS="${SCALE_REDIS:-1}"
SCALE_REDIS_MAX_EVENTS="${SCALE_REDIS_MAX_EVENTS:-1000000}"
SCALE_TRAINING="${SCALE_TRAINING:-1}"
SCALE_PROCESSOR="${SCALE_PROCESSOR:-1}"
SCALE_PROCESSOR_EVENTS="${SCALE_PROCESSOR_EVENTS:-1000000}"
SCALE_PROCESSOR_PORT="${SCALE_PROCESSOR_PORT:-23091}"
BIN_DIR="${BIN_DIR:-.build/release}"
export STACK_RUN_DIR=.run/scale/stack REDIS_PORT="${SCALE_REDIS_PORT:-23379}" PG_PORT="${SCALE_PG_PORT:-23432}" KAFKA_PORT="${SCALE_KAFKA_PORT:-23092}"

log() { printf 'scale: %s\n' "$*" >&2; }
die() { printf 'scale: ERROR: %s\n' "$*" >&2; exit 1; }

# size → "events users items"
dimensions() {
  case "$1" in
    1) echo "100000 943 1682" ;;
    10) echo "1000000 6040 3706" ;;
    100) echo "10000000 69878 60000" ;;
    *x*x*) [[ "$1" =~ ^[0-9]+x[0-9]+x[0-9]+$ ]] && tr x ' ' <<< "$1" ;;
    *) return 1 ;;
  esac
}
for size in $SCALE_SIZES; do dimensions "$size" > /dev/null || die "unknown size '$size' (1, 10, 100 or EVENTSxUSERSxITEMS)"; done
for candidates in $SCALE_CANDIDATES; do
  case "$candidates" in auto|implicit-als|sequence-aware-ease) ;; *) die "unknown candidates '$candidates' (auto, implicit-als, sequence-aware-ease)" ;; esac
done
[[ "$SEED" =~ ^[0-9]+$ ]] || die "SEED must be a number (got '$SEED')"
if [ "$SCALE_TRAINING" = 0 ]; then SCALE_SERVING=0 SCALE_REDIS=0 SCALE_CANDIDATES=""; fi
[[ "$SCALE_PROCESSOR_EVENTS" =~ ^[1-9][0-9]*$ ]] || die "SCALE_PROCESSOR_EVENTS must be a positive number (got '$SCALE_PROCESSOR_EVENTS')"
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install time)"

if [ "$SCALE_TRAINING" = 1 ] && [ ! -x "$BIN_DIR/trainer" ]; then
  [ "$BIN_DIR" = .build/release ] || die "no trainer in BIN_DIR=$BIN_DIR"
  log "release build of trainer"
  swift build -c release --product trainer >&2
fi
TRAINER="$BIN_DIR/trainer"
if [ "$SCALE_SERVING" = 1 ]; then
  for binary in inference-api loadgen; do
    if [ ! -x "$BIN_DIR/$binary" ]; then
      [ "$BIN_DIR" = .build/release ] || die "no $binary in BIN_DIR=$BIN_DIR"
      log "release build of $binary"
      swift build -c release --product "$binary" >&2
    fi
  done
fi

if [ "$SCALE_PROCESSOR" = 1 ]; then
  for binary in stream-processor streamrec-bench; do
    if [ ! -x "$BIN_DIR/$binary" ]; then
      [ "$BIN_DIR" = .build/release ] || die "no $binary in BIN_DIR=$BIN_DIR"
      log "release build of $binary"
      swift build -c release --product "$binary" >&2
    fi
  done
fi

# Stop on exit exactly the stack components this run started (and the API or processor being measured).
# shellcheck source=scripts/bench/private-stack.sh
source scripts/bench/private-stack.sh
api_pid=""
processor_pid=""
cleanup() {
  [ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null && wait "$api_pid" 2>/dev/null
  [ -n "$processor_pid" ] && kill "$processor_pid" 2>/dev/null && wait "$processor_pid" 2>/dev/null
  private_stack_down
}
trap cleanup EXIT
trap 'exit 130' INT TERM

private_stack_up

# From a /usr/bin/time -v log: wall seconds, peak RSS in MiB.
wall_seconds() {
  sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$1" \
    | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.1f", s }'
}
peak_mib() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1" | awk '{ printf "%.0f", $1 / 1024 }'; }

# serve DIR sets served to " load_s=… api_p50_ms=… api_p99_ms=… api_failed=… api_rss_mib=…": the production model served
# by a fresh inference API, measured as the header says (its log and loadgen's summary left in DIR).
serve() {
  local dir=$1 load_s="" summary
  STREAMREC_LOG_LEVEL=info STREAMREC_HTTP_PORT="$SCALE_API_PORT" "$BIN_DIR/inference-api" > "$dir/api.log" 2>&1 &
  api_pid=$!
  for _ in $(seq 600); do
    # The line as text (load_seconds=0.639) or JSON ("load_seconds":"0.639"), whichever the log format is.
    load_s="$(grep -oE 'load_seconds"?[=:]"?[0-9.]+' "$dir/api.log" | head -n 1 | grep -oE '[0-9.]+$' || true)"
    [ -n "$load_s" ] && curl -fs "http://127.0.0.1:$SCALE_API_PORT/readyz" > /dev/null 2>&1 && break
    kill -0 "$api_pid" 2>/dev/null || { cat "$dir/api.log" >&2; die "inference-api exited"; }
    sleep 0.2
  done
  [ -n "$load_s" ] || die "inference-api served no model in 120 s (see $dir/api.log)"
  "$BIN_DIR/loadgen" --api "127.0.0.1:$SCALE_API_PORT" --rate 0 --probes-per-second 0 --api-rate "$SCALE_API_RATE" --seconds 10 \
    > "$dir/loadgen.txt" 2> "$dir/loadgen.err" || { cat "$dir/loadgen.err" >&2; die "loadgen failed"; }
  summary="$(tr ' ' '\n' < "$dir/loadgen.txt" | grep -E '^api_(p50_ms|p99_ms|failed)=' | tr '\n' ' ')"
  served="$(printf ' load_s=%s %sapi_rss_mib=%s' "$load_s" "$summary" "$(awk '/VmHWM/ { printf "%d", $2 / 1024 }' "/proc/$api_pid/status")")"
  kill "$api_pid" && wait "$api_pid" 2>/dev/null || true
  api_pid=""
}

# redis_bytes PATTERN → the summed MEMORY USAGE of the keys matching PATTERN.
redis_bytes() {
  redis-cli -p "$REDIS_PORT" --scan --pattern "$1" | awk '{ print "MEMORY USAGE " $0 " SAMPLES 0" }' \
    | redis-cli -p "$REDIS_PORT" | awk '{ s += $1 } END { printf "%.0f", s }'
}

# redis_figures SIZE EVENTS USERS ITEMS DIR sets redis_line to " backfill_events_per_s=… redis_bytes_per_user=…
# redis_bytes_per_item=… redis_bytes_per_event=…" as the header says.
redis_figures() {
  local size=$1 events=$2 users=$3 items=$4 dir=$5 prefix="scale-$1:v2" rate user_bytes pop_bytes id_bytes modulus=1 counts
  # Past SCALE_REDIS_MAX_EVENTS, only a sample of users is moved and applied: those whose id hashes to 0
  # modulo ceil(events / SCALE_REDIS_MAX_EVENTS) (all their ratings); the others keep the generator's 1998
  # times, outside the backfill's 7 days. Bytes per user and per event id are then over the sample's users
  # and events; bytes per item over the items (each item's popularity keys hold the sample's counts).
  if [ "$events" -gt "$SCALE_REDIS_MAX_EVENTS" ]; then modulus=$(( (events + SCALE_REDIS_MAX_EVENTS - 1) / SCALE_REDIS_MAX_EVENTS )); fi
  psql_app -c "SET search_path TO $schema" -c "UPDATE interactions SET occurred_at = now() - interval '6 days'
      + (occurred_at - b.lo) * (extract(epoch FROM interval '6 days' - interval '2 minutes') / greatest(1, extract(epoch FROM b.hi - b.lo)))
      FROM (SELECT min(occurred_at) AS lo, max(occurred_at) AS hi FROM interactions) AS b
      WHERE abs(hashtext(user_id)::bigint) % $modulus = 0"
  counts="$(psql_app -At -F ' ' -c "SET search_path TO $schema" -c "SELECT count(*), count(DISTINCT user_id) FROM interactions WHERE occurred_at > now() - interval '7 days'")"
  read -r events users <<< "$counts"
  [ "$modulus" = 1 ] || log "${size}x: Redis figures on a sample of users (user id hash modulo $modulus = 0): $users users, $events events"
  STREAMREC_FEATURES_KEY_PREFIX="$prefix" /usr/bin/time -v -o "$dir/backfill.time" "$TRAINER" backfill-features --domain movies --since 7d \
    > "$dir/backfill.log" 2>&1 || { cat "$dir/backfill.log" >&2; die "${size}x: backfill-features failed"; }
  grep '^backfill-features: read' "$dir/backfill.log" | sed "s/^/scale: ${size}x: /" >&2 || true
  rate="$(sed -n 's/^backfill-features: read.*; \([0-9]*\) events\/s$/\1/p' "$dir/backfill.log" | tail -n 1)"
  user_bytes="$(redis_bytes "$prefix:{u:*")"
  pop_bytes="$(redis_bytes "$prefix:{pop:*")"
  id_bytes="$(redis_bytes "$prefix:{ids:*")"
  redis_line="$(awk -v r="$rate" -v u="$user_bytes" -v p="$pop_bytes" -v i="$id_bytes" -v nu="$users" -v ni="$items" -v ne="$events" \
    'BEGIN { printf " backfill_events_per_s=%s redis_bytes_per_user=%.0f redis_bytes_per_item=%.0f redis_bytes_per_event=%.1f", r, u / nu, p / ni, i / ne }')"
  [ "$modulus" = 1 ] || redis_line+=" redis_sample_users=$users redis_sample_events=$events"
}

# processor_figures SIZE USERS ITEMS DIR sets processor_line to " processor_events_per_s=… processor_events=…",
# measured as the header says (the fill's, the processor's and the wait's output left in DIR).
processor_figures() {
  # Names of this run's own (a stamp), so that a rerun on the same stack starts from empty topics, group and keys.
  local size=$1 users=$2 items=$3 dir=$4 stamp result rate
  stamp="$(date +%s)"
  local run_id="scale_${1}_processor_$stamp" movie_topic="scale-$1-processor-$stamp.movie" poll_topic="scale-$1-processor-$stamp.poll"
  psql_app -c "CREATE SCHEMA $run_id"
  "$BIN_DIR/streamrec-bench" processor-fill --brokers "127.0.0.1:$KAFKA_PORT" --movie-topic "$movie_topic" --poll-topic "$poll_topic" \
    --events "$SCALE_PROCESSOR_EVENTS" --users "$users" --movies "$items" --partitions 6 --ends-file "$dir/processor.ends" \
    > "$dir/processor-fill.txt" 2>&1 || { cat "$dir/processor-fill.txt" >&2; die "${size}x: processor-fill failed"; }
  STREAMREC_KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT" STREAMREC_KAFKA_GROUP_ID="$run_id" STREAMREC_TOPICS_MOVIE="$movie_topic" \
    STREAMREC_TOPICS_POLL="$poll_topic" STREAMREC_TOPICS_DEAD_LETTER="scale-$size-processor-$stamp.dlq" \
    STREAMREC_FEATURES_KEY_PREFIX="scale-$size-processor-$stamp:v2" STREAMREC_POSTGRES_SCHEMA="$run_id" \
    STREAMREC_HTTP_PORT="$SCALE_PROCESSOR_PORT" "$BIN_DIR/stream-processor" > "$dir/processor.log" 2>&1 &
  processor_pid=$!
  result="$("$BIN_DIR/streamrec-bench" processor-wait --brokers "127.0.0.1:$KAFKA_PORT" --group "$run_id" --ends-file "$dir/processor.ends" 2>> "$dir/processor.log")" \
    || { cat "$dir/processor.log" >&2; die "${size}x: the processor did not commit every record: $result"; }
  # Where a batch's time went (the processor's stage histograms), kept beside the run and shown.
  curl -fs "http://127.0.0.1:$SCALE_PROCESSOR_PORT/metrics" | awk -F'[{}" ]+' '
    /^streamrec_processor_stage_duration_seconds_sum/ { sum[$3] = $NF }
    /^streamrec_processor_stage_duration_seconds_count/ { count[$3] = $NF }
    /^streamrec_processor_batch_duration_seconds_sum/ { bsum = $NF } /^streamrec_processor_batch_duration_seconds_count/ { bcount = $NF }
    END { if (bcount > 0) { printf "mean per batch of %d batches: whole %.1f ms", bcount, 1000 * bsum / bcount
          for (s in sum) printf ", %s %.1f ms", s, 1000 * sum[s] / count[s]; print "" } }' > "$dir/processor-stages.txt" || true
  sed "s/^/scale: ${size}x: processor: /" "$dir/processor-stages.txt" >&2
  kill "$processor_pid" && wait "$processor_pid" 2>/dev/null || true
  processor_pid=""
  psql_app -c "SET client_min_messages = warning" -c "DROP SCHEMA $run_id CASCADE"
  rate="$(sed -n 's/.*rate=\([0-9]*\).*/\1/p' <<< "$result")"
  [ -n "$rate" ] || die "${size}x: no rate in processor-wait's output: $result"
  processor_line=" processor_events_per_s=$rate processor_events=$SCALE_PROCESSOR_EVENTS"
}

results=()
for size in $SCALE_SIZES; do
  read -r events users items <<< "$(dimensions "$size")"
  work=".run/scale/$size"
  rm -rf "$work"
  mkdir -p "$work"
  # A clean store per size without restarting the stack: a fresh schema, artifacts dir and model-updated topic.
  schema="scale_$size"
  psql_app -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS $schema CASCADE" -c "CREATE SCHEMA $schema"
  export STREAMREC_POSTGRES_SCHEMA="$schema" STREAMREC_TOPICS_MODEL_UPDATED="scale-$size.model-updated" STREAMREC_LOG_LEVEL=warning

  if [ "$SCALE_TRAINING" = 1 ]; then
    log "${size}x: bootstrap of $events events, $users users, $items items (seed $SEED)"
    /usr/bin/time -v -o "$work/bootstrap.time" "$TRAINER" bootstrap --synthetic-movies --events "$events" --users "$users" --items "$items" --seed "$SEED" \
      > "$work/bootstrap.log" 2>&1 || { cat "$work/bootstrap.log" >&2; die "${size}x: trainer bootstrap failed"; }
    grep '^shape:' "$work/bootstrap.log" | sed "s/^/scale: ${size}x: /" >&2 || true
    bootstrap_s="$(wall_seconds "$work/bootstrap.time")"
  else
    results+=("events=$events users=$users items=$items")
  fi

  for candidates in $SCALE_CANDIDATES; do
    run="$work/$candidates"
    mkdir -p "$run"
    pinned=()
    [ "$candidates" = auto ] || pinned=(env STREAMREC_TRAINING_TOP_N_CANDIDATES="$candidates")
    log "${size}x: trainer train --domain movies (candidates: $candidates)"
    STREAMREC_TRAINER_ARTIFACTS_DIR="$run/artifacts" /usr/bin/time -v -o "$run/train.time" "${pinned[@]}" "$TRAINER" train --domain movies \
      > "$run/train.log" 2>&1 || { cat "$run/train.log" >&2; die "${size}x: trainer train ($candidates) failed"; }
    log "${size}x: $(tail -n 1 "$run/train.log")"

    artifact="$(find "$run/artifacts" -name '*.srmodel' -printf '%T@ %p\n' | sort -n | tail -n 1 | cut -d' ' -f2-)"
    [ -n "$artifact" ] || die "${size}x: no artifact in $run/artifacts"
    report="${artifact%.srmodel}.report.md"
    model="$(grep -o 'top_n\.kind=[a-z-]*' "$report" | head -n 1 | cut -d= -f2)"
    rating_model="$(grep -oE 'ratings\.kind=[a-z-]*' "$report" | head -n 1 | cut -d= -f2 || true)"
    artifact_mib="$(stat -c %s "$artifact" | awk '{ printf "%.1f", $1 / 1048576 }')"
    # The run's wall time by stage (the report's `stage:` lines), kept beside the run and shown.
    grep '^stage: ' "$report" > "$run/stages.txt" || true
    sed "s/^/scale: ${size}x: /" "$run/stages.txt" >&2

    line="events=$events users=$users items=$items candidates=$candidates bootstrap_s=$bootstrap_s train_s=$(wall_seconds "$run/train.time")"
    line+=" train_peak_mib=$(peak_mib "$run/train.time") artifact_mib=$artifact_mib model=${model:-unknown}"
    [ -n "$rating_model" ] && line+=" rating_model=$rating_model"
    # The first candidate set's model is production (the first one registered in this schema).
    if [ "$SCALE_SERVING" = 1 ] && [ "$candidates" = "${SCALE_CANDIDATES%% *}" ]; then
      log "${size}x: serving it: inference-api, loadgen at $SCALE_API_RATE requests/s"
      serve "$run"
      line+="$served"
    fi
    results+=("$line")
    log "${size}x: $line"
  done
  if [ "$SCALE_REDIS" = 1 ]; then
    log "${size}x: Redis: the ratings moved into the last 6 days and backfilled"
    redis_figures "$size" "$events" "$users" "$items" "$work"
    results[${#results[@]}-1]+="$redis_line"
    log "${size}x: ${results[${#results[@]}-1]}"
  fi
  if [ "$SCALE_PROCESSOR" = 1 ]; then
    log "${size}x: the processor on $SCALE_PROCESSOR_EVENTS events over $users users and $items items"
    processor_figures "$size" "$users" "$items" "$work"
    results[${#results[@]}-1]+="$processor_line"
    log "${size}x: ${results[${#results[@]}-1]}"
  fi
done

printf '%s\n' "${results[@]}"
