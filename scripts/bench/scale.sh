#!/usr/bin/env bash
# Cost curves (issue 22), first slice: how training grows with events, users and items.
#
# For each size, MovieLens-100K-shaped synthetic ratings (`trainer bootstrap --synthetic-movies`,
# Shared/Datasets/SyntheticMovies.swift) are loaded into a fresh PostgreSQL schema by the trainer's one
# loading path (COPY); then, for each set of top-N candidates, `trainer train --domain movies` runs under
# /usr/bin/time -v. One line per size and candidate set:
#
#   events=… users=… items=… candidates=… bootstrap_s=… train_s=… train_peak_mib=… artifact_mib=… model=<top-N kind that won> rating_model=…
#
# train_s is the whole command's wall time (read the store, fit and validate every candidate, the rating
# models too, write the artifact, register, announce); train_peak_mib its peak RSS; artifact_mib the
# artifact written; the wall time of each training stage (the report's `stage:` lines) goes to standard error
# and .run/scale/<size>/<candidates>/stages.txt. Not measured yet (so not printed): serving (artifact load time, API p50/p99 and RSS),
# Redis bytes per user and item, the processor's events/s.
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
#   SCALE_REDIS_PORT, SCALE_PG_PORT, SCALE_KAFKA_PORT  the private stack     [23379, 23432, 23092]
# Work files: .run/scale/<size>/ (the bootstrap's log and /usr/bin/time -v; per candidate set
# the train log, its /usr/bin/time -v, artifacts and report).
set -euo pipefail
cd "$(dirname "$0")/../.."

SCALE_SIZES="${SCALE_SIZES:-1 10}"
SCALE_CANDIDATES="${SCALE_CANDIDATES:-auto implicit-als}"
SEED="${SEED:-100}"
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
[ -x /usr/bin/time ] || die "/usr/bin/time is missing (apt-get install time)"

if [ ! -x "$BIN_DIR/trainer" ]; then
  [ "$BIN_DIR" = .build/release ] || die "no trainer in BIN_DIR=$BIN_DIR"
  log "release build of trainer"
  swift build -c release --product trainer >&2
fi
TRAINER="$BIN_DIR/trainer"

# Stop on exit exactly the stack components this run started.
started=()
cleanup() {
  if [ "${#started[@]}" -gt 0 ]; then
    log "stopping ${started[*]}"
    bash scripts/stack.sh stop "${started[@]}" >&2 || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck source=scripts/bench/private-stack.sh
source scripts/bench/private-stack.sh
private_stack_up

# From a /usr/bin/time -v log: wall seconds, peak RSS in MiB.
wall_seconds() {
  sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$1" \
    | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.1f", s }'
}
peak_mib() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1" | awk '{ printf "%.0f", $1 / 1024 }'; }

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

  log "${size}x: bootstrap of $events events, $users users, $items items (seed $SEED)"
  /usr/bin/time -v -o "$work/bootstrap.time" "$TRAINER" bootstrap --synthetic-movies --events "$events" --users "$users" --items "$items" --seed "$SEED" \
    > "$work/bootstrap.log" 2>&1 || { cat "$work/bootstrap.log" >&2; die "${size}x: trainer bootstrap failed"; }
  grep '^shape:' "$work/bootstrap.log" | sed "s/^/scale: ${size}x: /" >&2 || true

  bootstrap_s="$(wall_seconds "$work/bootstrap.time")"

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
    results+=("$line")
    log "${size}x: $line"
  done
done

printf '%s\n' "${results[@]}"
