#!/usr/bin/env bash
# Start/stop StreamRec's local backing services on 127.0.0.1 (no systemd, no Docker).
#
#   scripts/stack.sh start   [redis|postgres|kafka ...]   start (no list = all three)
#   scripts/stack.sh stop    [redis|postgres|kafka ...]   stop
#   scripts/stack.sh restart [redis|postgres|kafka ...]   stop, then start
#   scripts/stack.sh status  [redis|postgres|kafka ...]   "running (pid N)" / "stopped";
#                                                         exit 0 if all listed are running, else 3
#   scripts/stack.sh clean   [redis|postgres|kafka ...]   stop, then delete their state (postgres
#                                                         cluster, logs); no list = also $RUN/env
#
# Everything lives under the run dir; several stacks can run side by side when
# they use different STACK_RUN_DIR and ports.
#
#   $RUN/pids/{redis,postgres,kafka}.pid   pids of the server processes
#   $RUN/pids/{redis,postgres,kafka}.port  ports they were started with
#   $RUN/redis/redis.log                   redis log (redis --dir is $RUN/redis)
#   $RUN/postgres/postgres.log             postgres log; cluster in $RUN/postgres/data,
#                                          unix socket in $RUN/postgres (*)
#   $RUN/kafka/tansu.log                   tansu log
#   $RUN/env                               written after every start, sourceable:
#       export STREAMREC_REDIS_HOST=127.0.0.1
#       export STREAMREC_REDIS_PORT=$REDIS_PORT
#       export STREAMREC_POSTGRES_HOST=127.0.0.1
#       export STREAMREC_POSTGRES_PORT=$PG_PORT
#       export STREAMREC_POSTGRES_DATABASE=$PG_DATABASE
#       export STREAMREC_POSTGRES_USER=$PG_USER
#       export STREAMREC_POSTGRES_PASSWORD=$PG_PASSWORD
#       export STREAMREC_KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
#       export STREAMREC_RDKAFKA_LIB_DIR=$STREAMREC_PREFIX/lib
#       export STACK_RUN_DIR=$RUN
#       export STREAMREC_REDIS_CLUSTER_SEED=127.0.0.1:$REDIS_CLUSTER_PORT  (only while a cluster of
#              REDIS_CLUSTER≥3 masters runs: run a service against it with STREAMREC_REDIS_HOST/PORT
#              set to the seed and STREAMREC_REDIS_CLUSTER=true)
#   $RUN/pids/redis-cluster-<i>.pid        pids of the cluster's masters (i = 0, 1, …)
#   $RUN/redis-cluster/<port>/             each master's dir (nodes.conf, redis.log)
#
# (*) When run as root, postgres runs as user `postgres`; if that user cannot
#     reach $RUN/postgres (e.g. the repo is under /root), or the socket path would
#     be too long for a unix socket, the cluster and socket go to
#     ${TMPDIR:-/tmp}/streamrec-pg-<hash of $RUN> instead (the log stays in $RUN/postgres).
#
# Environment (defaults in brackets):
#   STACK_RUN_DIR     run dir, relative paths are taken from the repo root  [.run/stack]
#   STACK_TIMEOUT     seconds to wait for each component to become healthy [30]
#   REDIS_PORT        redis port                                           [16379]
#   REDIS_CLUSTER     1: redis as a one-node cluster owning every slot (tests) [0]
#                     3 (or more): besides that redis, a Redis Cluster of that many masters (no
#                     replicas) on REDIS_CLUSTER_PORT, +1, …; started and stopped with `redis`
#   REDIS_CLUSTER_PORT  REDIS_CLUSTER=1: its cluster bus port [REDIS_PORT ± 10000]
#                     REDIS_CLUSTER≥3: the first master's port [REDIS_PORT + 1]; each master's
#                     cluster bus port is its port + 10000
#   REDIS_TLS_PORT    also listen with TLS on this port (tests); needs REDIS_TLS_CERT, REDIS_TLS_KEY
#                     (server certificate and key, PEM) and REDIS_TLS_CA (CA of client certificates,
#                     which are optional)                                  [unset: no TLS]
#   PG_PORT           postgres port                                        [15432]
#   PG_DATABASE       database created for the app                         [streamrec]
#   PG_USER           app role (LOGIN, owner of PG_DATABASE)               [streamrec]
#   PG_PASSWORD       app role password (scram-sha-256 over TCP)           [streamrec]
#   PG_SSL_CERT, PG_SSL_KEY  server certificate and key (PEM): postgres starts with ssl=on, plaintext
#                     still accepted (tests choose sslmode)                [unset: no TLS]
#   PG_BINDIR         postgres binaries  [highest /usr/lib/postgresql/*/bin, else pg_config --bindir]
#   KAFKA_PORT        tansu (Kafka protocol) port                          [19092]
#   STREAMREC_PREFIX  where scripts/setup.sh installed tansu + librdkafka  [/opt/streamrec]
#                     (tansu binary: $STREAMREC_PREFIX/bin/tansu)
#
# Notes:
#   - postgres runs with fsync=off, synchronous_commit=off, full_page_writes=off:
#     this is a throwaway test database; a crash can lose or corrupt data.
#   - pg_hba: local socket = trust (admin as `postgres`), TCP 127.0.0.1/::1 =
#     scram-sha-256, so TCP clients must use PG_USER/PG_PASSWORD.
#   - tansu uses its in-memory storage engine (memory://tansu/): stopping or
#     restarting kafka loses all topics and messages.
#   - Talking to tansu needs librdkafka >= 2.2: use $STREAMREC_PREFIX/lib (e.g.
#     LD_LIBRARY_PATH=$STREAMREC_PREFIX/lib kcat -b 127.0.0.1:19092 -L); Debian's
#     librdkafka 2.0.2 fails with "ApiVersionRequest failed: Local: Read underflow".
#   - tansu auto-creates topics on first produce (4 partitions) and answers a
#     consumer-group JoinGroup only after about session.timeout.ms/2 (librdkafka's
#     default 45 s => ~23 s before the first assignment): tests that use consumer
#     groups should set session.timeout.ms=2000..6000 (=> ~1..3 s).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"

RUN="${STACK_RUN_DIR:-.run/stack}"
case "$RUN" in /*) ;; *) RUN="$REPO_ROOT/$RUN" ;; esac
STACK_TIMEOUT="${STACK_TIMEOUT:-30}"
REDIS_PORT="${REDIS_PORT:-16379}"
PG_PORT="${PG_PORT:-15432}"
PG_DATABASE="${PG_DATABASE:-streamrec}"
PG_USER="${PG_USER:-streamrec}"
PG_PASSWORD="${PG_PASSWORD:-streamrec}"
KAFKA_PORT="${KAFKA_PORT:-19092}"
PREFIX="${STREAMREC_PREFIX:-/opt/streamrec}"
TANSU="$PREFIX/bin/tansu"

ALL_COMPONENTS=(redis postgres kafka)

log() { printf 'stack: %s\n' "$*"; }
warn() { printf 'stack: %s\n' "$*" >&2; }
die() { printf 'stack: ERROR: %s\n' "$*" >&2; exit 1; }

usage() {
  sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

is_root() { [ "$(id -u)" -eq 0 ]; }

for v in REDIS_PORT PG_PORT KAFKA_PORT STACK_TIMEOUT; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a number (got '${!v}')"
done

# ---------------------------------------------------------------------------
# generic helpers
# ---------------------------------------------------------------------------
pid_file() { printf '%s/pids/%s.pid\n' "$RUN" "$1"; }

# Process name (/proc/PID/comm) each component's pid must have.
expected_comm() {
  case "$1" in
    redis | redis-cluster-*) echo redis-server ;;
    postgres) echo postgres ;;
    kafka) echo tansu ;;
  esac
}

component_port() {
  case "$1" in
    redis) echo "$REDIS_PORT" ;;
    redis-cluster-*) cluster_master_port "${1#redis-cluster-}" ;;
    postgres) echo "$PG_PORT" ;;
    kafka) echo "$KAFKA_PORT" ;;
  esac
}

component_log() {
  case "$1" in
    redis) echo "$RUN/redis/redis.log" ;;
    redis-cluster-*) echo "$RUN/redis-cluster/$(cluster_master_port "${1#redis-cluster-}")/redis.log" ;;
    postgres) echo "$RUN/postgres/postgres.log" ;;
    kafka) echo "$RUN/kafka/tansu.log" ;;
  esac
}

# pid_alive PID COMPONENT: the pid exists and is that component's server (guards against pid reuse).
pid_alive() {
  local pid="$1" comp="$2" comm
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  [ -d "/proc/$pid" ] || return 1
  comm="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
  [ "$comm" = "$(expected_comm "$comp")" ] || return 1
  # A zombie is as good as dead.
  local state; state="$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)"
  [ "$state" != Z ]
}

# Prints the pid of the running component, or fails.
running_pid() {
  local f pid; f="$(pid_file "$1")"
  [ -f "$f" ] || return 1
  pid="$(tr -dc '0-9' < "$f")"
  pid_alive "$pid" "$1" || return 1
  printf '%s\n' "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# spawn LOGFILE PIDFILE CMD...: start CMD detached (own session, stdin from
# /dev/null, stdout+stderr appended to LOGFILE, no other inherited fds) and
# write its pid. CMD must exec the server (the pid is the server's pid).
spawn() {
  local logf="$1" pidf="$2"; shift 2
  (
    # Close every inherited fd above 2 (e.g. the caller's pipes, our lock fd),
    # so that callers capturing our output do not wait for the servers.
    for fd in "/proc/$BASHPID/fd/"*; do
      fd="${fd##*/}"
      if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
    cd /
    # Not a process-group leader here (no job control), so setsid does not fork.
    # The servers must get a clean signal mask and default dispositions: a caller running on a thread
    # that blocks signals (Swift concurrency, libdispatch) passes its mask on, and background jobs of a
    # non-interactive shell ignore SIGINT/SIGQUIT. Either would make a graceful stop impossible.
    # perl-base is Essential in Debian, so this adds no dependency. exec keeps the pid.
    exec setsid perl -e 'use POSIX (); POSIX::sigprocmask(POSIX::SIG_SETMASK(), POSIX::SigSet->new());
      $SIG{$_} = "DEFAULT" for qw(INT QUIT TERM HUP PIPE); exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!\n"' \
      "$@" </dev/null >>"$logf" 2>&1
  ) &
  local pid=$!
  SPAWN_NS="$(date +%s%N)"
  printf '%s\n' "$pid" > "$pidf.tmp"
  mv -f "$pidf.tmp" "$pidf"
  SPAWNED_PID="$pid"
}

# wait_healthy COMPONENT PID CHECK_FN: poll CHECK_FN every 50 ms until it
# succeeds, the process dies, or STACK_TIMEOUT expires.
wait_healthy() {
  local comp="$1" pid="$2" check="$3"
  local deadline=$((SECONDS + STACK_TIMEOUT)) start_ns="${SPAWN_NS:-$(date +%s%N)}" now_ns
  while :; do
    if "$check"; then
      now_ns="$(date +%s%N)"
      log "$comp running (pid $pid, port $(component_port "$comp"), healthy after $(( (now_ns - start_ns) / 1000000 )) ms)"
      return 0
    fi
    if proc_gone "$pid"; then
      fail_start "$comp" "$pid" "process $pid exited during startup"
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      fail_start "$comp" "$pid" "not healthy after ${STACK_TIMEOUT}s"
    fi
    sleep 0.05
  done
}

# fail_start COMPONENT PID REASON: report, show the log tail, kill what we spawned, exit 1.
fail_start() {
  local comp="$1" pid="$2" why="$3" logf i
  logf="$(component_log "$comp")"
  warn "ERROR: $comp failed to start: $why"
  if [ -f "$logf" ]; then
    warn "---- last 20 lines of $logf ----"
    tail -n 20 "$logf" >&2 || true
    warn "----"
  fi
  # Do not leave a half-started server behind (this is the pid we just spawned).
  if kill -0 "$pid" 2>/dev/null; then
    if [ "$comp" = postgres ]; then kill -INT "$pid" 2>/dev/null || true; else kill -TERM "$pid" 2>/dev/null || true; fi
    for ((i = 0; i < 100; i++)); do proc_gone "$pid" && break; sleep 0.05; done
    proc_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$(pid_file "$comp")" "$(port_file "$comp")"
  exit 1
}

# The pid no longer exists, or is a zombie.
proc_gone() {
  [ -d "/proc/$1" ] || return 0
  [ "$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null)" = Z ]
}

# Common pre-start checks. Returns 1 if the component is already running.
prestart() {
  local comp="$1" pid port f
  if pid="$(running_pid "$comp")"; then
    adopt_running_port "$comp"
    log "$comp already running (pid $pid, port $(component_port "$comp"))"
    return 1
  fi
  f="$(pid_file "$comp")"
  if [ -f "$f" ]; then rm -f "$f"; fi
  port="$(component_port "$comp")"
  if port_open "$port"; then
    die "cannot start $comp: port 127.0.0.1:$port is already in use by another process (set a different port, see the top of $0)"
  fi
  printf '%s\n' "$port" > "$(port_file "$comp")"
  return 0
}

port_file() { printf '%s/pids/%s.port\n' "$RUN" "$1"; }

# Port a running component was started with (falls back to the configured one).
recorded_port() {
  local p=""
  [ -f "$(port_file "$1")" ] && p="$(tr -dc '0-9' < "$(port_file "$1")")"
  printf '%s\n' "${p:-$(component_port "$1")}"
}

# For a component that is already running, use the port it really listens on
# (so that $RUN/env stays right when the caller's *_PORT differs).
adopt_running_port() {
  local comp="$1" p; p="$(recorded_port "$comp")"
  if [ "$p" != "$(component_port "$comp")" ]; then
    warn "note: $comp is already running on port $p (not $(component_port "$comp")); using $p"
  fi
  case "$comp" in
    redis) REDIS_PORT="$p" ;;
    postgres) PG_PORT="$p" ;;
    kafka) KAFKA_PORT="$p" ;;
  esac
}

# ---------------------------------------------------------------------------
# redis
# ---------------------------------------------------------------------------
redis_healthy() {
  [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
}

start_redis() {
  command -v redis-server >/dev/null 2>&1 || die "redis-server not found (run scripts/setup.sh)"
  command -v redis-cli >/dev/null 2>&1 || die "redis-cli not found (run scripts/setup.sh)"
  prestart redis || return 0
  mkdir -p "$RUN/redis"
  local logf="$RUN/redis/redis.log"
  # REDIS_PERSIST=1 keeps data across restarts (an append-only file, fsync per write): tests that stop
  # and start Redis use it; the default stack is a cache that a restart empties.
  local persistence=(--save '' --appendonly no)
  [ "${REDIS_PERSIST:-0}" = 1 ] && persistence=(--save '' --appendonly yes --appendfsync always)
  # Least privilege: one ACL user per Redis client service, limited to the feature keys (`features.key_prefix`
  # starts with "sr:") — the processor reads, writes and runs the feature script (MULTI/EXEC too: fields leave a
  # user's state together with the fields set); the API reads (MULTI/EXEC too: it reads two windows as of one
  # instant; queued writes are still refused); neither
  # may run dangerous commands (FLUSHALL, CONFIG, KEYS, …). The API's one write: a user's stated preferences
  # (`…}:prefs:<domain>`: after the user's hash tag, so no id can forge it), through an ACL selector. Locally with the stack's password (PG_PASSWORD),
  # in a file only we can read (not on the command line). The default user stays open on this loopback-only
  # server, so `make run` and the tests need no password; FeatureACLTests connects as these users.
  local acl="$RUN/redis/users.acl"
  (umask 077; cat > "$acl" <<ACL
user default on nopass ~* &* +@all
user streamrec_processor on >$PG_PASSWORD ~sr:* resetchannels -@all +@read +@write +@scripting +@connection -@dangerous -script|flush +select +multi +exec +discard
user streamrec_api on >$PG_PASSWORD ~sr:* resetchannels -@all +@read +@connection -@dangerous +select +multi +exec +discard (~sr:*}:prefs:* +hset +del +expire)
ACL
  )
  # REDIS_CLUSTER=1: a one-node Redis Cluster owning all 16 384 slots. Cluster mode refuses any command or
  # script whose keys span hash slots (CROSSSLOT), so the feature writer's per-slot batching is tested for real.
  local cluster=()
  # The cluster bus port defaults to port + 10 000, invalid above 55 535 (tests pick ports up to 60 999).
  local bus="${REDIS_CLUSTER_PORT:-$((REDIS_PORT > 55535 ? REDIS_PORT - 10000 : REDIS_PORT + 10000))}"
  [ "${REDIS_CLUSTER:-0}" = 1 ] && cluster=(--cluster-enabled yes --cluster-config-file "$RUN/redis/nodes.conf" --cluster-port "$bus")
  # REDIS_TLS_PORT: a TLS listener beside the plain one (which the health check keeps using); client
  # certificates optional, so a test can connect with or without one.
  local tls=()
  if [ -n "${REDIS_TLS_PORT:-}" ]; then
    tls=(--tls-port "$REDIS_TLS_PORT" --tls-cert-file "$REDIS_TLS_CERT" --tls-key-file "$REDIS_TLS_KEY"
      --tls-ca-cert-file "$REDIS_TLS_CA" --tls-auth-clients optional)
  fi
  spawn "$logf" "$(pid_file redis)" redis-server \
    --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$RUN/redis" --aclfile "$acl" \
    "${persistence[@]}" "${cluster[@]}" "${tls[@]}" --daemonize no --logfile "$logf"
  wait_healthy redis "$SPAWNED_PID" redis_healthy
  if [ "${REDIS_CLUSTER:-0}" = 1 ]; then
    # Slots survive a restart in nodes.conf; assigning them again would fail, so only when unassigned.
    if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" cluster info | grep -q '^cluster_slots_assigned:16384'; then
      redis-cli -h 127.0.0.1 -p "$REDIS_PORT" cluster addslotsrange 0 16383 >/dev/null
    fi
    local waited=0
    until redis-cli -h 127.0.0.1 -p "$REDIS_PORT" cluster info | grep -q '^cluster_state:ok'; do
      [ "$waited" -ge 100 ] && die "redis cluster state not ok after 10 s"
      sleep 0.1; waited=$((waited + 1))
    done
  fi
}

# ---------------------------------------------------------------------------
# redis cluster (REDIS_CLUSTER ≥ 3)
# ---------------------------------------------------------------------------
# How many masters the multi-master cluster has (0: none asked for; REDIS_CLUSTER=1 is the one-node
# cluster above, which is the `redis` server itself).
cluster_master_count() {
  local n="${REDIS_CLUSTER:-0}"
  if [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 3 ]; then echo "$n"; else echo 0; fi
}
cluster_base_port() { echo "${REDIS_CLUSTER_PORT:-$((REDIS_PORT + 1))}"; }
cluster_master_port() { echo "$(( $(cluster_base_port) + $1 ))"; }

# Masters started by an earlier `start` (their pid files), whatever REDIS_CLUSTER says now.
cluster_started_indexes() {
  local f
  for f in "$RUN"/pids/redis-cluster-*.pid; do
    [ -e "$f" ] || continue
    f="${f##*/redis-cluster-}"; echo "${f%.pid}"
  done | sort -n
}

cluster_info() { redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null | tr -d '\r'; }

# A cluster of REDIS_CLUSTER masters on loopback: every master started (its own dir, nodes.conf, log;
# no persistence: a restart comes back empty but keeps its slots), the slots spread over them by
# `redis-cli --cluster create` on first start, and ready once every master says cluster_state:ok.
start_redis_cluster() {
  local n i port bus comp dir pid pids=() addresses=() waited
  n="$(cluster_master_count)"
  [ "$n" -gt 0 ] || return 0
  [[ "$(cluster_base_port)" =~ ^[0-9]+$ ]] || die "REDIS_CLUSTER_PORT must be a number (got '$(cluster_base_port)')"
  [ "$(( $(cluster_master_port $((n - 1))) + 10000 ))" -le 65535 ] || die "REDIS_CLUSTER_PORT too high: cluster bus ports are port + 10000"
  for ((i = 0; i < n; i++)); do
    comp="redis-cluster-$i"; port="$(cluster_master_port "$i")"; bus=$((port + 10000))
    addresses+=("127.0.0.1:$port")
    if pid="$(running_pid "$comp")"; then
      log "$comp already running (pid $pid, port $(recorded_port "$comp"))"
      continue
    fi
    rm -f "$(pid_file "$comp")"
    port_open "$port" && die "cannot start $comp: port 127.0.0.1:$port is already in use (set REDIS_CLUSTER_PORT)"
    port_open "$bus" && die "cannot start $comp: cluster bus port 127.0.0.1:$bus is already in use (set REDIS_CLUSTER_PORT)"
    dir="$RUN/redis-cluster/$port"
    mkdir -p "$dir"
    printf '%s\n' "$port" > "$(port_file "$comp")"
    spawn "$dir/redis.log" "$(pid_file "$comp")" redis-server \
      --port "$port" --bind 127.0.0.1 --dir "$dir" --save '' --appendonly no \
      --cluster-enabled yes --cluster-config-file "$dir/nodes.conf" --cluster-port "$bus" --cluster-node-timeout 5000 \
      --cluster-require-full-coverage no \
      --daemonize no --logfile "$dir/redis.log"
    pids+=("$SPAWNED_PID")
    REDIS_CHECK_PORT="$port" wait_healthy "$comp" "$SPAWNED_PID" redis_port_healthy
  done
  # First start: no slot assigned anywhere yet. Later starts keep what nodes.conf says (a resharded
  # layout included).
  if cluster_info "$(cluster_master_port 0)" | grep -q '^cluster_slots_assigned:0$'; then
    log "redis cluster: creating ($n masters: ${addresses[*]})"
    redis-cli --cluster create "${addresses[@]}" --cluster-replicas 0 --cluster-yes >"$RUN/redis-cluster/create.log" 2>&1 \
      || { cat "$RUN/redis-cluster/create.log" >&2; die "redis-cli --cluster create failed"; }
  fi
  waited=0
  for ((i = 0; i < n; i++)); do
    port="$(cluster_master_port "$i")"
    until cluster_info "$port" | grep -q '^cluster_state:ok$' && cluster_info "$port" | grep -q "^cluster_known_nodes:$n\$"; do
      [ "$waited" -ge $((STACK_TIMEOUT * 10)) ] && die "redis cluster: 127.0.0.1:$port not cluster_state:ok after ${STACK_TIMEOUT}s"
      sleep 0.1; waited=$((waited + 1))
    done
  done
  log "redis cluster ok: ${addresses[*]} (seed 127.0.0.1:$(cluster_master_port 0))"
}

redis_port_healthy() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_CHECK_PORT" ping 2>/dev/null)" = PONG ]; }

stop_redis_cluster() {
  local i
  for i in $(cluster_started_indexes); do stop_component "redis-cluster-$i"; done
}

status_redis_cluster() {
  local i rc=0
  for i in $(cluster_started_indexes); do status_component "redis-cluster-$i" || rc=3; done
  return "$rc"
}

# ---------------------------------------------------------------------------
# postgres
# ---------------------------------------------------------------------------
PG_BIN=""
find_pg_bindir() {
  [ -n "$PG_BIN" ] && return 0
  if [ -n "${PG_BINDIR:-}" ]; then
    [ -x "$PG_BINDIR/postgres" ] || die "PG_BINDIR=$PG_BINDIR has no postgres binary"
    PG_BIN="$PG_BINDIR"; return 0
  fi
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | while read -r x; do if [ -x "$x/postgres" ]; then echo "$x"; fi; done | tail -n 1)"
  if [ -z "$d" ] && command -v pg_config >/dev/null 2>&1; then
    d="$(pg_config --bindir 2>/dev/null || true)"
    [ -x "$d/postgres" ] || d=""
  fi
  if [ -z "$d" ] && command -v postgres >/dev/null 2>&1; then
    d="$(dirname "$(command -v postgres)")"
  fi
  [ -n "$d" ] || die "postgres binaries not found (run scripts/setup.sh, or set PG_BINDIR)"
  PG_BIN="$d"
}

# Run a command as the postgres OS user when we are root (PostgreSQL refuses
# to run as root); as ourselves otherwise.
as_pg() {
  if is_root; then
    setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
  else
    "$@"
  fi
}

PG_DIR=""
# Directory holding the cluster (data/) and the unix socket.
choose_pg_dir() {
  [ -n "$PG_DIR" ] && return 0
  local d="$RUN/postgres"
  mkdir -p "$d"
  if is_root; then
    id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' OS user (run scripts/setup.sh)"
    chown postgres:postgres "$d"
  fi
  local sock="$d/.s.PGSQL.$PG_PORT"
  if [ "${#sock}" -gt 100 ] || ! as_pg test -w "$d" -a -x "$d" 2>/dev/null; then
    local h; h="$(printf '%s' "$RUN" | cksum | cut -d' ' -f1)"
    d="${TMPDIR:-/tmp}/streamrec-pg-$h"
    mkdir -p "$d"
    if is_root; then chown postgres:postgres "$d"; fi
    chmod 700 "$d"
    printf '%s\n' "$d" > "$RUN/postgres/location"
  fi
  PG_DIR="$d"
}

pg_sql_admin() {
  # Admin connection: OS user postgres over the unix socket (trust).
  "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_DIR" -p "$PG_PORT" -U postgres -d postgres "$@"
}

pg_init_cluster() {
  local data="$PG_DIR/data"
  if [ -f "$data/PG_VERSION" ]; then return 0; fi
  if [ -d "$data" ] && [ -n "$(ls -A "$data" 2>/dev/null)" ]; then
    die "$data is not empty but has no PG_VERSION; remove it to re-initialise"
  fi
  log "postgres: initdb $data"
  mkdir -p "$data"
  if is_root; then chown postgres:postgres "$data"; fi
  chmod 700 "$data"
  local logf; logf="$(component_log postgres)"
  if ! (cd / && as_pg "$PG_BIN/initdb" -D "$data" -U postgres -E UTF8 --locale=C \
          --auth-local=trust --auth-host=scram-sha-256 >>"$logf" 2>&1); then
    warn "---- last 20 lines of $logf ----"; tail -n 20 "$logf" >&2 || true
    die "initdb failed"
  fi
  as_pg sh -c 'cat > "$1"' sh "$data/pg_hba.conf" <<'EOF'
# Written by scripts/stack.sh: socket = trust (admin), TCP = password (scram).
local   all   all                   trust
host    all   all   127.0.0.1/32    scram-sha-256
host    all   all   ::1/128         scram-sha-256
EOF
  as_pg sh -c 'cat >> "$1"' sh "$data/postgresql.conf" <<'EOF'

# Added by scripts/stack.sh
password_encryption = scram-sha-256
EOF
}

# Create/refresh the app role and database (idempotent; also applies changed
# PG_USER/PG_PASSWORD/PG_DATABASE to an existing cluster).
pg_bootstrap() {
  pg_sql_admin -v u="$PG_USER" -v p="$PG_PASSWORD" -v d="$PG_DATABASE" >/dev/null <<'EOF'
SET password_encryption = 'scram-sha-256';
SELECT format('CREATE ROLE %I LOGIN', :'u') WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'u') \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', :'u', :'p') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'d', :'u') WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'d') \gexec
-- One login role per service for least privilege (grants: configs/postgres/least-privilege.sql, run by the
-- schema's owner); locally with the same password. The services still use the owner role by default.
SELECT format('CREATE ROLE %I LOGIN', r) FROM unnest(ARRAY['streamrec_processor', 'streamrec_trainer', 'streamrec_api']) AS r
  WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) \gexec
SELECT format('ALTER ROLE %I WITH LOGIN PASSWORD %L', r, :'p') FROM unnest(ARRAY['streamrec_processor', 'streamrec_trainer', 'streamrec_api']) AS r \gexec
EOF
}

pg_ready() {
  "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -d postgres >/dev/null 2>&1
}

pg_app_query() {
  [ "$(PGPASSWORD="$PG_PASSWORD" PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -q -tA -h 127.0.0.1 -p "$PG_PORT" \
    -U "$PG_USER" -d "$PG_DATABASE" -c 'SELECT 1' 2>/dev/null)" = 1 ]
}

start_postgres() {
  find_pg_bindir
  prestart postgres || return 0
  mkdir -p "$RUN/postgres"
  choose_pg_dir
  pg_init_cluster
  # A postmaster that was SIGKILLed leaves data/postmaster.pid behind; if that pid
  # is gone, a zombie (some container inits reap late) or not a postgres, the
  # lock is stale and would make postgres refuse to start.
  # Same for the socket lock file.
  local pmf pm
  for pmf in "$PG_DIR/data/postmaster.pid" "$PG_DIR/.s.PGSQL.$PG_PORT.lock"; do
    [ -f "$pmf" ] || continue
    pm="$(head -n 1 "$pmf" | tr -dc '0-9')"
    if [ -z "$pm" ] || proc_gone "$pm" || [ "$(cat "/proc/$pm/comm" 2>/dev/null)" != postgres ]; then
      log "postgres: removing stale $pmf (pid ${pm:-?} is gone)"
      rm -f "$pmf"
    fi
  done
  local logf; logf="$(component_log postgres)"
  # PG_SSL_CERT/PG_SSL_KEY: TLS (tests). Copied beside the cluster, owned by the server's user and the key
  # readable by it alone: postgres refuses a key file others can read.
  local ssl=()
  if [ -n "${PG_SSL_CERT:-}" ]; then
    cp "$PG_SSL_CERT" "$PG_DIR/server.crt"
    cp "$PG_SSL_KEY" "$PG_DIR/server.key"
    chmod 600 "$PG_DIR/server.key"
    if is_root; then chown postgres:postgres "$PG_DIR/server.crt" "$PG_DIR/server.key"; fi
    ssl=(-c ssl=on -c "ssl_cert_file=$PG_DIR/server.crt" -c "ssl_key_file=$PG_DIR/server.key")
  fi
  # fsync/synchronous_commit/full_page_writes off: throwaway test cluster, speed over durability.
  if is_root; then
    spawn "$logf" "$(pid_file postgres)" setpriv --reuid=postgres --regid=postgres --init-groups -- \
      "$PG_BIN/postgres" -D "$PG_DIR/data" -p "$PG_PORT" -k "$PG_DIR" \
      -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
      -c full_page_writes=off -c max_connections=200 "${ssl[@]}"
  else
    spawn "$logf" "$(pid_file postgres)" "$PG_BIN/postgres" -D "$PG_DIR/data" -p "$PG_PORT" -k "$PG_DIR" \
      -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
      -c full_page_writes=off -c max_connections=200 "${ssl[@]}"
  fi
  local pid="$SPAWNED_PID"
  wait_healthy_pg "$pid"
}

wait_healthy_pg() {
  local pid="$1"
  # Phase 1: server accepts connections; phase 2: role/db exist; phase 3: app login over TCP.
  wait_healthy_quiet postgres "$pid" pg_ready
  pg_bootstrap || fail_start postgres "$pid" "creating role '$PG_USER' / database '$PG_DATABASE' failed"
  wait_healthy postgres "$pid" pg_app_query
}

# Like wait_healthy but without the "running" line.
wait_healthy_quiet() {
  local comp="$1" pid="$2" check="$3" deadline=$((SECONDS + STACK_TIMEOUT))
  until "$check"; do
    if proc_gone "$pid"; then
      fail_start "$comp" "$pid" "process $pid exited during startup"
    fi
    [ "$SECONDS" -lt "$deadline" ] || fail_start "$comp" "$pid" "not healthy after ${STACK_TIMEOUT}s"
    sleep 0.05
  done
}

# ---------------------------------------------------------------------------
# kafka (tansu)
# ---------------------------------------------------------------------------
kafka_healthy() { port_open "$KAFKA_PORT"; }

start_kafka() {
  [ -x "$TANSU" ] || die "$TANSU not found (run scripts/setup.sh, or set STREAMREC_PREFIX)"
  prestart kafka || return 0
  mkdir -p "$RUN/kafka"
  # In-memory storage: a restart of kafka loses all topics and messages.
  # Tansu also reads these from the environment; make sure the caller's don't leak in.
  spawn "$RUN/kafka/tansu.log" "$(pid_file kafka)" \
    env -u CLUSTER_ID -u LISTENER_URL -u ADVERTISED_LISTENER_URL -u STORAGE_ENGINE \
        -u SCHEMA_REGISTRY -u OTEL_EXPORTER_OTLP_ENDPOINT \
    "$TANSU" broker \
      --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
      --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
      --storage-engine memory://tansu/
  wait_healthy kafka "$SPAWNED_PID" kafka_healthy
}

# ---------------------------------------------------------------------------
# stop / status
# ---------------------------------------------------------------------------
stop_component() {
  local comp="$1" f pid sig=TERM i
  f="$(pid_file "$comp")"
  if [ ! -f "$f" ]; then
    log "$comp not running"
    return 0
  fi
  pid="$(tr -dc '0-9' < "$f")"
  if ! pid_alive "$pid" "$comp"; then
    rm -f "$f" "$(port_file "$comp")"
    log "$comp not running (removed stale pid file)"
    return 0
  fi
  # postgres: SIGINT = fast shutdown (disconnect clients, no waiting).
  [ "$comp" = postgres ] && sig=INT
  kill -"$sig" "$pid" 2>/dev/null || true
  for ((i = 0; i < 200; i++)); do   # up to 10 s
    pid_alive "$pid" "$comp" || break
    sleep 0.05
  done
  if pid_alive "$pid" "$comp"; then
    warn "$comp (pid $pid) did not exit after SIG$sig within 10s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do pid_alive "$pid" "$comp" || break; sleep 0.05; done
  fi
  rm -f "$f" "$(port_file "$comp")"
  log "$comp stopped (pid $pid)"
}

status_component() {
  local pid
  if pid="$(running_pid "$1")"; then
    printf '%-9s running (pid %s, 127.0.0.1:%s)\n' "$1" "$pid" "$(recorded_port "$1")"
    return 0
  fi
  printf '%-9s stopped\n' "$1"
  return 1
}

clean_component() {
  local comp="$1" loc
  stop_component "$comp"
  case "$comp" in
    redis) stop_redis_cluster; rm -rf "$RUN/redis" "$RUN/redis-cluster" ;;
    kafka) rm -rf "$RUN/kafka" ;;
    postgres)
      if [ -f "$RUN/postgres/location" ]; then
        loc="$(cat "$RUN/postgres/location")"
        case "$loc" in */streamrec-pg-[0-9]*) rm -rf "$loc" ;; esac
      fi
      rm -rf "$RUN/postgres"
      ;;
  esac
  log "$comp state removed"
}

write_env() {
  local f="$RUN/env"
  {
    echo "# Written by scripts/stack.sh; source this file."
    printf 'export STREAMREC_REDIS_HOST=%q\n' 127.0.0.1
    printf 'export STREAMREC_REDIS_PORT=%q\n' "$REDIS_PORT"
    printf 'export STREAMREC_POSTGRES_HOST=%q\n' 127.0.0.1
    printf 'export STREAMREC_POSTGRES_PORT=%q\n' "$PG_PORT"
    printf 'export STREAMREC_POSTGRES_DATABASE=%q\n' "$PG_DATABASE"
    printf 'export STREAMREC_POSTGRES_USER=%q\n' "$PG_USER"
    printf 'export STREAMREC_POSTGRES_PASSWORD=%q\n' "$PG_PASSWORD"
    printf 'export STREAMREC_KAFKA_BROKERS=%q\n' "127.0.0.1:$KAFKA_PORT"
    printf 'export STREAMREC_RDKAFKA_LIB_DIR=%q\n' "$PREFIX/lib"
    printf 'export STACK_RUN_DIR=%q\n' "$RUN"
    if [ -n "$(cluster_started_indexes)" ]; then
      printf 'export STREAMREC_REDIS_CLUSTER_SEED=%q\n' "127.0.0.1:$(recorded_port redis-cluster-0)"
    fi
  } > "$f.tmp"
  mv -f "$f.tmp" "$f"
}

# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------
main() {
  [ $# -ge 1 ] || usage
  local cmd="$1"; shift
  local comps=("$@") c
  [ ${#comps[@]} -gt 0 ] || comps=("${ALL_COMPONENTS[@]}")
  for c in "${comps[@]}"; do
    case "$c" in redis|postgres|kafka) ;; *) warn "unknown component '$c' (expected redis, postgres, kafka)"; usage ;; esac
  done
  case "$cmd" in start|stop|restart|status|clean) ;; -h|--help|help) usage ;; *) warn "unknown command '$cmd'"; usage ;; esac

  mkdir -p "$RUN/pids"
  # Serialise concurrent invocations on the same run dir.
  exec 9>"$RUN/.lock"
  flock 9

  case "$cmd" in
    start)
      for c in "${comps[@]}"; do "start_$c"; if [ "$c" = redis ]; then start_redis_cluster; fi; done
      write_env
      log "env: $RUN/env"
      ;;
    stop)
      for c in "${comps[@]}"; do stop_component "$c"; if [ "$c" = redis ]; then stop_redis_cluster; fi; done
      ;;
    restart)
      for c in "${comps[@]}"; do stop_component "$c"; if [ "$c" = redis ]; then stop_redis_cluster; fi; done
      for c in "${comps[@]}"; do "start_$c"; if [ "$c" = redis ]; then start_redis_cluster; fi; done
      write_env
      log "env: $RUN/env"
      ;;
    clean)
      for c in "${comps[@]}"; do clean_component "$c"; done
      if [ $# -eq 0 ]; then rm -f "$RUN/env"; rmdir "$RUN/pids" 2>/dev/null || true; fi
      ;;
    status)
      local rc=0
      for c in "${comps[@]}"; do
        status_component "$c" || rc=3
        if [ "$c" = redis ]; then status_redis_cluster || rc=3; fi
      done
      return "$rc"
      ;;
  esac
}

main "$@"
