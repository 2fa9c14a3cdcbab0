# Shared by the benchmark scripts (sourced, not run). They all use their own stack in .run/bench on
# private ports, so they can run beside `make run` and `make test`.
export STACK_RUN_DIR=.run/bench REDIS_PORT="${BENCH_REDIS_PORT:-46380}" PG_PORT="${BENCH_PG_PORT:-45433}" KAFKA_PORT="${BENCH_KAFKA_PORT:-49093}"

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

# psql against the bench database, quiet, unaligned: bench_psql -c "SQL"
bench_psql() { psql -q -tA -h 127.0.0.1 -p "$PG_PORT" -U "$STREAMREC_POSTGRES_USER" "$STREAMREC_POSTGRES_DATABASE" "$@"; }

# wrk --latency output → "req/s p50 p99 non2xx"
wrk_summary() {
  awk '/Requests\/sec/ { rps = $2 } / 50%/ { p50 = $2 } / 99%/ { p99 = $2 } /Non-2xx/ { bad = $4 } END { printf "%s %s %s %s\n", rps, p50, p99, bad + 0 }'
}

# Peak resident memory of a process, in MiB.
peak_rss_mib() { awk '/VmHWM/ { printf "%d", $2 / 1024 }' "/proc/$1/status"; }
