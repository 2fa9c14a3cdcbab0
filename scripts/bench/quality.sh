#!/usr/bin/env bash
# Recommendation quality through the real HTTP API, the way a user gets it.
#
# For each protocol (PROTOCOLS, default "temporal random polls") MovieLens 100K (or the synthetic polls) is split into train and test
# (scripts/bench/quality.py split); only the training rows are bootstrapped into PostgreSQL and trained on
# by the real trainer; the real inference API then serves every test user with a rating >= 4, and its
# answers are scored against the test file. Beside it: `trainer evaluate` on the same files (what the
# offline pipeline claims), popularity (the floor), RMSE of POST /v1/predict on the test pairs. One line
# per protocol:
#
#   protocol=temporal served_ndcg10=… evaluate_ndcg10=… popularity_ndcg10=… served_rmse=… served_seen_share=… users=N
#
# A served nDCG far below evaluate's means serving differs from what was evaluated (e.g. another model,
# seen items not excluded), not that the model is poor.
#
# Environment (defaults in brackets):
#   PROTOCOLS   protocols to run: temporal (each user's latest 20 %), random (a random 20 %) of MovieLens
#               100K; polls (each user's latest 20 % of the synthetic polls, held out by
#               `trainer bootstrap --polls --hold-out-dir`, written as 5 = vote or share, 2 = expand)
#                                                                                            [temporal random polls]
#   SEED        seed of the random split                                                     [7]
#   BIN_DIR     where trainer and inference-api are                                          [.build/release]
#               (built with `swift build -c release` only when this is the default and they are missing)
#   CHECK       1: exit 1 if served < 0.95 × evaluate or served <= popularity (a gate)       [0]
#   CONNECTIONS concurrent keep-alive connections to the API                                 [4]
#   QUALITY_REDIS_PORT, QUALITY_PG_PORT, QUALITY_KAFKA_PORT, QUALITY_API_PORT
#               the private stack's and the API's ports [22379, 22432, 22092, 18192], apart from
#               `make test` (26379/25432/29092), `make run` (16379/15432/19092, 8080-8082) and the
#               other benchmarks (46380/45433/49093, 18090-18092)
# Work files: .run/quality/<protocol>/ (split, bootstrap dir, artifacts, logs, evaluate report).
set -euo pipefail
cd "$(dirname "$0")/../.."

PROTOCOLS="${PROTOCOLS:-temporal random polls}"
SEED="${SEED:-7}"
BIN_DIR="${BIN_DIR:-.build/release}"
CHECK="${CHECK:-0}"
CONNECTIONS="${CONNECTIONS:-4}"
K=10
# The private stack: its own run dir and ports, so this runs beside `make run`, `make test` and the other
# benchmarks. Set unconditionally (as scripts/bench/common.sh does) so a STACK_RUN_DIR exported for
# another stack is never touched.
# Below the kernel's ephemeral range (32768–60999): a port there can be taken at random by any outgoing
# connection on the machine (a make test run failed that way).
export STACK_RUN_DIR=.run/quality/stack REDIS_PORT="${QUALITY_REDIS_PORT:-22379}" PG_PORT="${QUALITY_PG_PORT:-22432}" KAFKA_PORT="${QUALITY_KAFKA_PORT:-22092}"
API_PORT="${QUALITY_API_PORT:-18192}"

log() { printf 'quality: %s\n' "$*" >&2; }
die() { printf 'quality: ERROR: %s\n' "$*" >&2; exit 1; }

for protocol in $PROTOCOLS; do
  case "$protocol" in temporal|random|polls) ;; *) die "unknown protocol '$protocol' (temporal, random, polls)" ;; esac
done
[[ "$SEED" =~ ^[0-9]+$ ]] || die "SEED must be a number (got '$SEED')"

# Binaries: release by default. A BIN_DIR given by the caller is used as it is (never built here), so a
# benchmark of other binaries cannot silently rebuild the tree's.
if [ ! -x "$BIN_DIR/trainer" ] || [ ! -x "$BIN_DIR/inference-api" ]; then
  [ "$BIN_DIR" = .build/release ] || die "no trainer or inference-api in BIN_DIR=$BIN_DIR"
  log "release build of trainer and inference-api"
  for product in trainer inference-api; do swift build -c release --product "$product" >&2; done
fi
TRAINER="$BIN_DIR/trainer" API="$BIN_DIR/inference-api"

# Stop on exit exactly what this run started: the API (by pid) and the stack components that were not
# already running (as scripts/test.sh does), also on failure or Ctrl-C.
# shellcheck source=scripts/bench/private-stack.sh
source scripts/bench/private-stack.sh
api_pid=""
stop_api() {
  if [ -n "$api_pid" ]; then
    kill -TERM "$api_pid" 2>/dev/null && wait "$api_pid" 2>/dev/null || true
    api_pid=""
  fi
}
cleanup() {
  stop_api
  private_stack_down
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port_open "$API_PORT" && die "port $API_PORT is in use (set QUALITY_API_PORT)"

bash scripts/fetch-data.sh >&2
private_stack_up

# field KEY: the value of KEY in $served, quality.py serve's line
# ("served_ndcg10=… popularity_ndcg10=… served_rmse=… served_seen_share=… users=N").
field() { tr ' ' '\n' <<< "$served" | sed -n "s/^$1=//p"; }
# The production model of the domain is loaded (GET /v1/models lists it).
serves() { curl -fs "http://127.0.0.1:$API_PORT/v1/models" 2>/dev/null | grep -Eq "\"domain\" *: *\"$1\""; }

results=()
failed_checks=()
for protocol in $PROTOCOLS; do
  t0=$SECONDS
  work=".run/quality/$protocol"
  rm -rf "$work"
  mkdir -p "$work"
  domain=movies
  [ "$protocol" = polls ] && domain=polls
  [ "$domain" = movies ] && python3 scripts/bench/quality.py split --protocol "$protocol" --seed "$SEED" --inter data/ml-100k/ml-100k.inter --out "$work"

  # A clean database per protocol without restarting the stack: a fresh schema (dropped and re-created)
  # for the training store, catalog and registry; a fresh artifacts dir; and a model-updated topic and
  # Redis key prefix of its own, so the API never hears of (or reads features of) another protocol's run.
  schema="quality_$protocol"
  psql_app -c "SET client_min_messages = warning" -c "DROP SCHEMA IF EXISTS $schema CASCADE" -c "CREATE SCHEMA $schema"
  export STREAMREC_POSTGRES_SCHEMA="$schema" STREAMREC_TRAINER_ARTIFACTS_DIR="$work/artifacts" \
    STREAMREC_TOPICS_MODEL_UPDATED="quality-$protocol.model-updated" STREAMREC_FEATURES_KEY_PREFIX="quality-$protocol:v1" \
    STREAMREC_LOG_LEVEL=warning

  log "$protocol: bootstrap of the training rows and training (logs in $work)"
  if [ "$domain" = movies ]; then
    "$TRAINER" bootstrap --dataset ml-100k --dir "$work/ml-100k" > "$work/bootstrap.log" 2>&1 || { cat "$work/bootstrap.log" >&2; die "$protocol: trainer bootstrap failed"; }
  else
    "$TRAINER" bootstrap --polls --hold-out-dir "$work" > "$work/bootstrap.log" 2>&1 || { cat "$work/bootstrap.log" >&2; die "$protocol: trainer bootstrap failed"; }
  fi
  # The trainer is asked the same question as `trainer evaluate --validation` below: each user's latest
  # interactions for the temporal split (the default: what a feed asks), a random share for the random one.
  holdout=latest; [ "$protocol" = random ] && holdout=random
  STREAMREC_TRAINING_HOLDOUT=$holdout "$TRAINER" train --domain "$domain" > "$work/train.log" 2>&1 || { cat "$work/train.log" >&2; die "$protocol: trainer train failed"; }
  log "$protocol: $(tail -n 1 "$work/train.log")"

  # The API as run.sh starts it, minus what a benchmark does not use (gateway for the web page, admin
  # token): the stack's Redis, PostgreSQL (this protocol's schema) and broker from the environment.
  # The predict rate limit (an abuse guard) is off: this asks for every test user as fast as it can.
  STREAMREC_HTTP_PORT="$API_PORT" STREAMREC_INFERENCE_PREDICT_RATE_LIMIT=0 "$API" > "$work/inference-api.log" 2>&1 &
  api_pid=$!
  ready=0
  for _ in $(seq 300); do
    curl -fs "http://127.0.0.1:$API_PORT/readyz" > /dev/null 2>&1 && { ready=1; break; }
    kill -0 "$api_pid" 2>/dev/null || break
    sleep 0.2
  done
  [ "$ready" = 1 ] || { tail -n 20 "$work/inference-api.log" >&2; die "$protocol: inference-api not ready on port $API_PORT"; }
  # /readyz says the dependencies answer; the production model must be loaded too before scoring.
  for _ in $(seq 100); do serves "$domain" && break; sleep 0.2; done
  serves "$domain" || die "$protocol: the API serves no $domain model (see $work/inference-api.log)"

  log "$protocol: asking the API"
  served="$(python3 scripts/bench/quality.py serve --api "http://127.0.0.1:$API_PORT" --train "$work/train.tsv" --test "$work/test.tsv" \
    --k "$K" --connections "$CONNECTIONS" --domain "$domain")"
  stop_api

  # The offline claim on the same files; `latest` validation for the temporal split (its test is each
  # user's latest ratings), `random` for the random one.
  validation=$([ "$protocol" = random ] && echo random || echo latest)
  log "$protocol: trainer evaluate --validation $validation"
  "$TRAINER" evaluate --train "$work/train.tsv" --test "$work/test.tsv" --k "$K" --validation "$validation" > "$work/evaluate.txt" 2> "$work/evaluate.err" \
    || { cat "$work/evaluate.err" >&2; die "$protocol: trainer evaluate failed"; }
  sed 's/^/quality:   evaluate: /' "$work/evaluate.txt" >&2
  evaluate_ndcg="$(python3 scripts/bench/quality.py evaluate-ndcg "$work/evaluate.txt")"

  served_ndcg="$(field served_ndcg10)" popularity_ndcg="$(field popularity_ndcg10)"
  results+=("protocol=$protocol served_ndcg10=$served_ndcg evaluate_ndcg10=$evaluate_ndcg popularity_ndcg10=$popularity_ndcg served_rmse=$(field served_rmse) served_seen_share=$(field served_seen_share) users=$(field users)")
  log "$protocol: done in $((SECONDS - t0)) s: ${results[-1]}"

  if awk -v s="$served_ndcg" -v e="$evaluate_ndcg" 'BEGIN { exit !(s < 0.95 * e) }'; then
    failed_checks+=("$protocol: served_ndcg10 $served_ndcg < 0.95 x evaluate_ndcg10 $evaluate_ndcg")
  fi
  if awk -v s="$served_ndcg" -v p="$popularity_ndcg" 'BEGIN { exit !(s <= p) }'; then
    failed_checks+=("$protocol: served_ndcg10 $served_ndcg <= popularity_ndcg10 $popularity_ndcg")
  fi
done

printf '%s\n' "${results[@]}"
if [ "$CHECK" = 1 ] && [ "${#failed_checks[@]}" -gt 0 ]; then
  printf 'quality: CHECK failed: %s\n' "${failed_checks[@]}" >&2
  exit 1
fi
