#!/usr/bin/env bash
# `make run`: install what is missing (done by the Makefile's setup step), start the local stack,
# build the services in release mode and start them.
#
# Current stage (foundation): the four services load their configuration, connect to their
# dependencies, report what they found and exit; later stages keep them running. The stack stays up
# until Ctrl-C, which stops exactly the servers this script started.
set -euo pipefail
cd "$(dirname "$0")/.."
export STACK_RUN_DIR="${STACK_RUN_DIR:-.run/stack}"

echo "run: building release binaries"
swift build -c release

started=0
sleeper=""
stop_stack() {
  [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null
  if [ "$started" = 1 ]; then
    echo
    echo "run: stopping the local stack"
    bash scripts/stack.sh stop || true
  fi
}
trap stop_stack EXIT
trap 'exit 130' INT TERM

echo "run: starting Redis, PostgreSQL and the Kafka-protocol broker in $STACK_RUN_DIR"
bash scripts/stack.sh start
started=1
# shellcheck disable=SC1090
source "$STACK_RUN_DIR/env"

status=0
for service in ingest-gateway stream-processor trainer inference-api; do
  echo "run: $service"
  if ! ".build/release/$service"; then
    echo "run: $service could not reach a dependency (see above)" >&2
    status=1
  fi
done

cat <<MSG

run: the local stack is up (Ctrl-C stops it):
  redis      127.0.0.1:$STREAMREC_REDIS_PORT      (redis-cli -p $STREAMREC_REDIS_PORT)
  postgres   127.0.0.1:$STREAMREC_POSTGRES_PORT      (PGPASSWORD=$STREAMREC_POSTGRES_PASSWORD psql -h 127.0.0.1 -p $STREAMREC_POSTGRES_PORT -U $STREAMREC_POSTGRES_USER $STREAMREC_POSTGRES_DATABASE)
  kafka      $STREAMREC_KAFKA_BROKERS      (LD_LIBRARY_PATH=$STREAMREC_RDKAFKA_LIB_DIR kcat -b $STREAMREC_KAFKA_BROKERS -L)
MSG
[ "$status" = 0 ] || exit "$status"
# Block until interrupted; the EXIT trap stops the stack.
while true; do sleep 3600 & sleeper=$!; wait "$sleeper"; done
