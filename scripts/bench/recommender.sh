#!/usr/bin/env bash
# Recommender core benchmark: quality on MovieLens 100K (both protocols, hyper-parameters chosen on
# validation) and ALS fit time side by side with the `implicit` library (PyPI, installed into a
# throwaway venv here) at equal factors, iterations, CG steps (3) and threads. Figures go to
# docs/benchmarks.md. Environment: FACTORS (64), ITERATIONS (15), THREADS (2).
set -euo pipefail
cd "$(dirname "$0")/../.."
FACTORS="${FACTORS:-64}" ITERATIONS="${ITERATIONS:-15}" THREADS="${THREADS:-2}"
bash scripts/fetch-data.sh >&2
echo "bench: release build of streamrec-bench" >&2
swift build -c release --product streamrec-bench >&2
BENCH=.build/release/streamrec-bench

venv="$(mktemp -d)"
trap 'rm -rf "$venv"' EXIT
python3 -m venv --system-site-packages "$venv" >&2
"$venv/bin/pip" install --quiet --only-binary=:all: implicit numpy scipy >&2

echo "## quality (validation-chosen hyper-parameters)"
"$BENCH" recommender-eval --data data/ml-100k/ml-100k.inter --als-search 1 --mf-search 1
echo "## POST /v1/predict for new people: fold-in of their first 1-20 ratings, RMSE on their later ones (5 user folds)"
"$BENCH" predict-eval --data data/ml-100k/ml-100k.inter
echo "## the same, the fold-in priors chosen per fold on validation users (the defaults came from this)"
"$BENCH" predict-eval --data data/ml-100k/ml-100k.inter --select 1
echo "## ALS fit time, same data, factors $FACTORS, iterations $ITERATIONS, threads $THREADS"
ours=$("$BENCH" als-fit --data data/ml-100k/ml-100k.inter --factors "$FACTORS" --iterations "$ITERATIONS" --threads "$THREADS")
theirs=$(OPENBLAS_NUM_THREADS=1 "$venv/bin/python" scripts/bench/implicit_als_fit.py data/ml-100k/ml-100k.inter "$FACTORS" "$ITERATIONS" "$THREADS")
echo "$ours"
echo "$theirs"
seconds() { sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<< "$1"; }
awk -v a="$(seconds "$ours")" -v b="$(seconds "$theirs")" \
  'BEGIN { printf "ours (portable x86-64 build) / implicit fit time: %.2f (target: <= 1.00)\n", a / b }'
# No second build for AVX2 here: the ALS kernels (Shared/CRecommenderKernels) pick AVX2 + FMA at load time
# in the default build; STREAMREC_TARGET_CPU only changes the remaining Swift loops (see Package.swift).
