#!/usr/bin/env bash
# The long fault run (docs/reliability.md): FAULT_EVENTS (default 1 000 000) unique events through the
# gateway binary while the processor binary is SIGKILLed and restarted 5 times, a second instance joins and
# leaves, and a persistent Redis is restarted; then Kafka, PostgreSQL and Redis are audited against the
# accepted events and a clean pass. `make test` runs the same test with 50 000 events.
set -euo pipefail
cd "$(dirname "$0")/.."
FAULT_EVENTS="${FAULT_EVENTS:-1000000}" bash scripts/test.sh --filter FaultRunTests 2>&1 | grep -E "fault run|✔|✘"
