# shellcheck shell=bash
# A benchmark's private stack (quality.sh, scale.sh, scale-serving-ab.sh): sourced after STACK_RUN_DIR and the
# ports are exported and `log` is defined. private_stack_up records in `started` the components that were not
# running, starts the stack, loads its env, and defines psql_app; private_stack_down (the caller's EXIT trap)
# stops exactly those.
started=()
private_stack_up() {
  local component
  for component in redis postgres kafka; do
    bash scripts/stack.sh status "$component" > /dev/null 2>&1 || started+=("$component")
  done
  log "starting the private stack in $STACK_RUN_DIR"
  bash scripts/stack.sh start >&2
  # shellcheck disable=SC1091
  source "$STACK_RUN_DIR/env"
  export PGPASSWORD="$STREAMREC_POSTGRES_PASSWORD"
}

psql_app() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U "$STREAMREC_POSTGRES_USER" -d "$STREAMREC_POSTGRES_DATABASE" "$@"; }

private_stack_down() {
  if [ "${#started[@]}" -gt 0 ]; then
    log "stopping ${started[*]}"
    bash scripts/stack.sh stop "${started[@]}" >&2 || true
  fi
}
