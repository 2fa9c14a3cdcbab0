#!/usr/bin/env bash
# Two streamrec-bench binaries side by side on processor-stages (the processor's sinks alone and together on
# in-memory events: see Benchmarks/StreamRecBench/ProcessorStages.swift), alternated A then B for ROUNDS
# rounds, each under /usr/bin/time (CPU seconds of the whole run). Uses a running stack (scripts/stack.sh):
#   source .run/test/env; bash scripts/bench/processor-stages-ab.sh /tmp/base/streamrec-bench .build/release/streamrec-bench
# Copy the base binary aside before changing the code. ROUNDS (2) and EVENTS (300000) from the environment.
# Run it under the build lock (flock /tmp/swiftbuild.lock) so no build shares the machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
A="$1" B="$2"
ROUNDS="${ROUNDS:-2}" EVENTS="${EVENTS:-300000}"
for round in $(seq "$ROUNDS"); do
  for side in A B; do
    binary="$A"; [ "$side" = B ] && binary="$B"
    started=$(date -u +%H:%M:%S)
    out=$(/usr/bin/time -f "cpu_user=%U cpu_sys=%S wall=%e" "$binary" processor-stages --events "$EVENTS" \
      --redis-port "$STREAMREC_REDIS_PORT" --postgres-port "$STREAMREC_POSTGRES_PORT" \
      --postgres-database "$STREAMREC_POSTGRES_DATABASE" --postgres-user "$STREAMREC_POSTGRES_USER" 2>&1 | grep -E "^result|cpu_user" | tr '\n' ' ')
    echo "round=$round side=$side start=$started $out"
  done
done
