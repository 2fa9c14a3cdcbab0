"""Fit time of the `implicit` library's ALS on MovieLens 100K positives (rating >= 4), median of 3 runs,
at the factors / iterations / threads given; for scripts/bench/recommender.sh (benchmark only)."""
import statistics
import sys
import time

import numpy as np
import scipy.sparse as sparse
from implicit.cpu.als import AlternatingLeastSquares

path, factors, iterations, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
users, items, rows, cols = {}, {}, [], []
with open(path) as handle:
    next(handle)  # RecBole header
    for line in handle:
        user, item, rating, _ = line.split("\t")
        if float(rating) >= 4:
            rows.append(users.setdefault(user, len(users)))
            cols.append(items.setdefault(item, len(items)))
matrix = sparse.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(users), len(items)))
times = []
for _ in range(3):
    model = AlternatingLeastSquares(factors=factors, iterations=iterations, use_cg=True, num_threads=threads,
                                    calculate_training_loss=False, random_state=42)
    started = time.perf_counter()
    model.fit(matrix, show_progress=False)
    times.append(time.perf_counter() - started)
print(f"result name=implicit-als-fit factors={factors} iterations={iterations} threads={threads} "
      f"positives={len(rows)} seconds={statistics.median(times):.3f}")
