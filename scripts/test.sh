#!/usr/bin/env bash
# Builds, starts a private stack (ports from the environment, see the Makefile), runs every test
# against it, and stops exactly the servers it started, also when the tests fail or are interrupted.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "test: building (debug, with tests)"
swift build --build-tests

started=0
cleanup() {
  if [ "$started" = 1 ]; then
    echo "test: stopping the test stack"
    bash scripts/stack.sh stop || true
  fi
}
trap cleanup EXIT INT TERM

echo "test: starting the test stack in ${STACK_RUN_DIR:-.run/test}"
bash scripts/stack.sh start
started=1
# shellcheck disable=SC1091
source "${STACK_RUN_DIR:-.run/test}/env"

echo "test: running swift test"
swift test --skip-build "$@"
