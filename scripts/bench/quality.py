#!/usr/bin/env python3
"""Recommendation quality through the real HTTP API: the helper of scripts/bench/quality.sh.

Standard library only, so the benchmark needs nothing installed beyond python3.

  quality.py split --protocol temporal|random --seed N --inter data/ml-100k/ml-100k.inter --out DIR
      DIR/train.tsv, DIR/test.tsv (user<TAB>item<TAB>rating<TAB>timestamp, no header) and DIR/ml-100k/
      (ml-100k.inter with the original typed header but only the training rows, plus a copy of
      ml-100k.item) for `trainer bootstrap --dataset ml-100k --dir DIR/ml-100k`.
  quality.py serve --api http://127.0.0.1:PORT --train DIR/train.tsv --test DIR/test.tsv [--k 10] [--connections 4]
      Asks the inference API for every evaluated test user's recommendations and for the test pairs'
      predicted ratings; prints one line of key=value figures (served_ndcg10, popularity_ndcg10,
      served_rmse, served_seen_share, users).
  quality.py evaluate-ndcg REPORT
      The top-N model's nDCG from a `trainer evaluate` report (Shared/Recommender/ExternalEvaluation.swift).
"""
import argparse
import http.client
import json
import math
import random
import re
import shutil
import sys
import threading
import time
import urllib.parse
from collections import defaultdict
from pathlib import Path

# A rating >= this is a relevant (positive) test item, as in ExternalEvaluation and the trainer.
RELEVANT_RATING = 4.0
# POST /v1/predict takes at most 500 rated movies (PredictRoutes.maximumRatings, the OpenAPI maxItems).
MAX_PREDICT_RATINGS = 500
# ... and predicts at most 500 asked-for items (`items`, maxItems in configs/openapi/inference-api.yaml); a
# MovieLens 100K user has at most ~150 test items, so this is one request per user, chunked if ever longer.
MAX_PREDICT_ITEMS = 500


def log(message):
    print(f"quality: {message}", file=sys.stderr, flush=True)


def sort_key(token):
    """Ids are numeric in MovieLens; compare them as numbers so the order is the natural one."""
    return (0, int(token), "") if token.isdigit() else (1, 0, token)


# ---------------------------------------------------------------------------------------------------
# split
# ---------------------------------------------------------------------------------------------------
def read_inter(path):
    """RecBole atomic file: a typed header line, then user item rating timestamp, tab-separated."""
    with open(path, encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n")
        rows = []
        for number, line in enumerate(handle, start=2):
            line = line.rstrip("\n")
            if not line:
                continue
            fields = line.split("\t")
            if len(fields) < 4:
                sys.exit(f"quality: {path}:{number}: expected user, item, rating, timestamp")
            rows.append(tuple(fields[:4]))
    return header, rows


def split(args):
    header, rows = read_inter(args.inter)
    if args.protocol == "temporal":
        # Per user, the latest 20 % by (timestamp, item) is the test: the question "what comes next".
        by_user = defaultdict(list)
        for index, (user, item, _rating, timestamp) in enumerate(rows):
            by_user[user].append((float(timestamp), sort_key(item), index))
        test_indices = set()
        for entries in by_user.values():
            entries.sort()
            held_out = round(len(entries) * 0.2)
            test_indices.update(index for _, _, index in entries[len(entries) - held_out:])
    else:
        # A seeded random 20 % of all rows: the classic protocol (users' pasts leak into training).
        test_indices = set(random.Random(args.seed).sample(range(len(rows)), round(len(rows) * 0.2)))

    out = Path(args.out)
    (out / "ml-100k").mkdir(parents=True, exist_ok=True)
    # Training rows keep the file's original order; only membership changes.
    train = [row for index, row in enumerate(rows) if index not in test_indices]
    test = [row for index, row in enumerate(rows) if index in test_indices]
    with open(out / "train.tsv", "w", encoding="utf-8") as handle:
        handle.writelines("\t".join(row) + "\n" for row in train)
    with open(out / "test.tsv", "w", encoding="utf-8") as handle:
        handle.writelines("\t".join(row) + "\n" for row in test)
    # The directory the trainer bootstraps from: the same layout and header, training rows only, so the
    # served model never sees a test rating.
    with open(out / "ml-100k" / "ml-100k.inter", "w", encoding="utf-8") as handle:
        handle.write(header + "\n")
        handle.writelines("\t".join(row) + "\n" for row in train)
    shutil.copyfile(Path(args.inter).with_name("ml-100k.item"), out / "ml-100k" / "ml-100k.item")
    log(f"{args.protocol} split: {len(train)} training rows, {len(test)} test rows in {out}")


# ---------------------------------------------------------------------------------------------------
# metrics (the formulas of Shared/Recommender/Metrics.swift)
# ---------------------------------------------------------------------------------------------------
def ndcg(ranked, relevant, k):
    """Binary relevance, DCG with 1/log2(rank + 1) for 1-based ranks, ideal DCG over min(k, |relevant|)."""
    dcg = sum(1 / math.log2(rank + 2) for rank, item in enumerate(ranked[:k]) if item in relevant)
    ideal = sum(1 / math.log2(rank + 2) for rank in range(min(k, len(relevant))))
    return dcg / ideal


def read_tsv(path):
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            if len(fields) >= 4:
                rows.append((fields[0], fields[1], float(fields[2]), float(fields[3])))
    return rows


# ---------------------------------------------------------------------------------------------------
# HTTP: a few keep-alive connections, each owned by one thread
# ---------------------------------------------------------------------------------------------------
class Client:
    def __init__(self, host, port):
        self.host, self.port = host, port
        self.connection = None

    def request(self, method, path, body=None):
        """(status, parsed JSON or None). Reconnects once if the kept-alive connection was closed."""
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        for attempt in range(2):
            try:
                if self.connection is None:
                    self.connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
                self.connection.request(method, path, body=payload, headers=headers)
                response = self.connection.getresponse()
                data = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.close()
                try:
                    return response.status, json.loads(data) if data else None
                except ValueError:
                    return response.status, None
            except (http.client.HTTPException, ConnectionError, OSError):
                self.close()
                if attempt == 1:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def run_parallel(host, port, jobs, work, connections):
    """Runs work(client, job) for every job over `connections` threads; results in the jobs' order."""
    results = [None] * len(jobs)
    errors = []
    next_job = iter(range(len(jobs)))
    lock = threading.Lock()

    def worker():
        client = Client(host, port)
        try:
            while True:
                with lock:
                    index = next(next_job, None)
                if index is None or errors:
                    return
                try:
                    results[index] = work(client, jobs[index])
                except Exception as error:  # noqa: BLE001 - reported by the main thread
                    errors.append(f"{jobs[index]!r}: {error}")
                    return
        finally:
            client.close()

    threads = [threading.Thread(target=worker) for _ in range(max(1, connections))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        sys.exit(f"quality: request failed: {errors[0]}")
    return results


# ---------------------------------------------------------------------------------------------------
# serve: what a user gets from the API
# ---------------------------------------------------------------------------------------------------
def serve(args):
    url = urllib.parse.urlsplit(args.api)
    host, port, k = url.hostname, url.port, args.k
    train, test = read_tsv(args.train), read_tsv(args.test)

    history = defaultdict(set)          # user -> training items (what "seen" means here)
    train_ratings = defaultdict(list)   # user -> [(timestamp, item, rating)]
    positives = defaultdict(int)        # item -> training ratings >= 4 (the popularity baseline)
    for user, item, rating, timestamp in train:
        history[user].add(item)
        train_ratings[user].append((timestamp, sort_key(item), item, rating))
        if rating >= RELEVANT_RATING:
            positives[item] += 1
    relevant = defaultdict(set)
    test_pairs = defaultdict(list)      # user -> [(item, rating)]
    for user, item, rating, _timestamp in test:
        test_pairs[user].append((item, rating))
        if rating >= RELEVANT_RATING:
            relevant[user].add(item)
    users = sorted(relevant, key=sort_key)
    if not users:
        sys.exit("quality: no test user has a rating >= 4")

    # Recommendations as a user gets them: seen items excluded by the API itself.
    def recommend(client, user):
        path = f"/v1/users/{urllib.parse.quote(user, safe='')}/recommendations?domain={args.domain}&k={k}&exclude_seen=true"
        status, answer = client.request("GET", path)
        if status != 200 or not isinstance(answer, dict):
            raise RuntimeError(f"GET {path}: HTTP {status} {answer}")
        return [entry["item_id"] for entry in answer.get("items", [])], answer.get("strategy", "?")

    started = time.monotonic()
    answers = run_parallel(host, port, users, recommend, args.connections)
    seconds = time.monotonic() - started
    served = {user: items for user, (items, _) in zip(users, answers)}
    strategies = defaultdict(int)
    for _, strategy in answers:
        strategies[strategy] += 1
    served_ndcg = sum(ndcg(served[user], relevant[user], k) for user in users) / len(users)
    served_count = sum(len(items[:k]) for items in served.values())
    seen_count = sum(1 for user in users for item in served[user][:k] if item in history[user])
    short = sum(1 for user in users if len(served[user]) < k)
    log(f"{len(users)} recommendation requests in {seconds:.1f} s over {args.connections} connections; "
        f"strategies {dict(sorted(strategies.items()))}; {short} answers shorter than k={k}")

    # Popularity: items by training count of ratings >= 4 (ties by id), the user's training items left out.
    popular = sorted(positives, key=lambda item: (-positives[item], sort_key(item)))

    def popular_for(user):
        seen = history[user]
        ranked = []
        for item in popular:
            if item not in seen:
                ranked.append(item)
                if len(ranked) == k:
                    break
        return ranked

    popularity_ndcg = sum(ndcg(popular_for(user), relevant[user], k) for user in users) / len(users)

    # Predicted ratings exist for movies only (polls have no explicit ratings).
    rmse = served_rmse(host, port, train_ratings, test_pairs, args.connections) if args.domain == "movies" else "n/a"
    print(" ".join([
        f"served_ndcg10={served_ndcg:.4f}",
        f"popularity_ndcg10={popularity_ndcg:.4f}",
        f"served_rmse={rmse}",
        f"served_seen_share={seen_count / served_count if served_count else 0:.3f}",
        f"users={len(users)}",
    ]))


def served_rmse(host, port, train_ratings, test_pairs, connections):
    """RMSE of POST /v1/predict over every test pair: each test user's training ratings folded in (the
    latest 500, the route's limit), predictions asked for exactly their test items (`items`). "n/a" while
    the API refuses the `items` member."""
    def body(user, items):
        # Latest ratings last; ties broken by item so the body is reproducible.
        ratings = sorted(train_ratings[user])[-MAX_PREDICT_RATINGS:]
        return {"ratings": [{"item_id": item, "rating": rating} for _, _, item, rating in ratings], "items": items}

    jobs = []
    for user in sorted(test_pairs, key=sort_key):
        if not train_ratings[user]:
            continue  # nothing to fold in (cannot happen with these splits; the route needs >= 1 rating)
        pairs = test_pairs[user]
        for start in range(0, len(pairs), MAX_PREDICT_ITEMS):
            jobs.append((user, pairs[start:start + MAX_PREDICT_ITEMS]))
    if not jobs:
        return "n/a"

    # One probe first: today's route answers 400 unknown_field (field "items") for the new member.
    probe = Client(host, port)
    user, pairs = jobs[0]
    status, answer = probe.request("POST", "/v1/predict", body(user, [item for item, _ in pairs]))
    probe.close()
    if status == 400:
        error = (answer or {}).get("error", {}) if isinstance(answer, dict) else {}
        if error.get("field") == "items" or "items" in str(error.get("message", "")):
            log(f"POST /v1/predict does not take `items` yet ({error.get('code')}: {error.get('message')}): served_rmse=n/a")
            return "n/a"
    if status != 200:
        log(f"POST /v1/predict with items: HTTP {status} {answer}: served_rmse=n/a")
        return "n/a"

    # Asked-for items are predicted whatever their training support (no min_support floor); an item the
    # model does not know (only in the test file) is answered with the user's baseline and in_model=false.
    def predict(client, job):
        user, pairs = job
        status, answer = client.request("POST", "/v1/predict", body(user, [item for item, _ in pairs]))
        if status != 200 or not isinstance(answer, dict):
            raise RuntimeError(f"POST /v1/predict for user {user}: HTTP {status} {answer}")
        predicted = {entry["item_id"]: entry for entry in answer.get("items", []) if entry.get("predicted_rating") is not None}
        return [(rating, predicted.get(item)) for item, rating in pairs]

    started = time.monotonic()
    results = run_parallel(host, port, jobs, predict, connections)
    answered = [(actual, entry) for pairs in results for actual, entry in pairs if entry is not None]
    errors = [(actual - float(entry["predicted_rating"])) ** 2 for actual, entry in answered]
    missing = sum(len(pairs) for pairs in results) - len(answered)
    outside = sum(1 for _, entry in answered if entry.get("in_model") is False)
    log(f"{len(jobs)} predict requests in {time.monotonic() - started:.1f} s; {len(answered)} test pairs answered"
        f" ({outside} for movies not in the model, answered with the user's baseline)"
        + (f", {missing} NOT answered (left out of the RMSE)" if missing else ""))
    if not errors:
        return "n/a"
    return f"{math.sqrt(sum(errors) / len(errors)):.4f}"


# ---------------------------------------------------------------------------------------------------
# evaluate-ndcg
# ---------------------------------------------------------------------------------------------------
def evaluate_ndcg(args):
    """The report lists, under "top-K over N test users", the chosen model's line and popularity's line,
    each "  <name>: nDCG 0.xxxx, precision ..."; the model's is the one that is not popularity's."""
    text = Path(args.report).read_text(encoding="utf-8")
    in_top = False
    for line in text.splitlines():
        if line.startswith("top-"):
            in_top = True
            continue
        match = re.match(r"^\s+(.+?): nDCG ([0-9.]+)", line)
        if in_top and match and match.group(1) != "popularity":
            print(match.group(2))
            return
    sys.exit(f"quality: no top-N nDCG line in {args.report}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("split")
    p.add_argument("--protocol", choices=["temporal", "random"], required=True)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--inter", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(run=split)
    p = commands.add_parser("serve")
    p.add_argument("--api", required=True)
    p.add_argument("--train", required=True)
    p.add_argument("--test", required=True)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--connections", type=int, default=4)
    p.add_argument("--domain", choices=["movies", "polls"], default="movies")
    p.set_defaults(run=serve)
    p = commands.add_parser("evaluate-ndcg")
    p.add_argument("report")
    p.set_defaults(run=evaluate_ndcg)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
