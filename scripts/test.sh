#!/usr/bin/env bash
# Builds, starts a private stack (ports from the environment, see the Makefile), runs every test
# against it, and stops exactly the servers it started, also when the tests fail or are interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."
# The test stack's own run directory and ports (also when run without make), apart from `make run`'s.
export STACK_RUN_DIR="${STACK_RUN_DIR:-.run/test}" REDIS_PORT="${REDIS_PORT:-26379}" PG_PORT="${PG_PORT:-25432}" KAFKA_PORT="${KAFKA_PORT:-29092}"

echo "test: building (debug, with tests)"
swift build --build-tests

# Stop on exit only what this run started: servers already running (make test-stack-up) stay up.
started=()
cleanup() {
  if [ "${#started[@]}" -gt 0 ]; then
    echo "test: stopping ${started[*]}"
    bash scripts/stack.sh stop "${started[@]}" || true
  fi
}
trap cleanup EXIT INT TERM

for component in redis postgres kafka; do
  bash scripts/stack.sh status "$component" > /dev/null 2>&1 || started+=("$component")
done
echo "test: starting the test stack in $STACK_RUN_DIR"
bash scripts/stack.sh start
# shellcheck disable=SC1091
source "$STACK_RUN_DIR/env"

# MovieLens 100K for the bootstrap test (once; data/ is gitignored and kept between runs).
bash scripts/fetch-data.sh

echo "test: running swift test"
swift test --skip-build "$@"

# Served quality, measured the way a user gets it: trainer bootstrap and trainer train on a split of
# MovieLens 100K (and of the synthetic polls), then every test user asked through the real API binary; it must reach 95 % of what
# `trainer evaluate` scores on the same files and beat popularity (scripts/bench/quality.sh; its own stack).
if [ "$#" -eq 0 ]; then
  echo "test: served quality through the API (MovieLens temporal and random splits, synthetic polls)"
  CHECK=1 BIN_DIR=.build/debug bash scripts/bench/quality.sh
fi

# Every HTTP route fuzzed from the OpenAPI files against the real binaries (scripts/fuzz.sh), unless only
# some tests were asked for (arguments such as --filter).
if [ "$#" -eq 0 ]; then
  echo "test: fuzzing the HTTP APIs from their OpenAPI files"
  bash scripts/fuzz.sh
fi
