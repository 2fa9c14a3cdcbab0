#!/usr/bin/env python3
# The broker's share of freshness, measured without any StreamRec consumer: reads the movie topic(s)
# matching TOPIC_REGEX in a consumer group of its own (librdkafka through confluent-kafka) for SECONDS,
# and prints how long after each event's occurred_at it became consumable (p50, p99, max, count over 1 s,
# and the 5-second windows where the slow ones were received).
#
#   python3 -m venv /tmp/ck && /tmp/ck/bin/pip install confluent-kafka==2.16.1
#   /tmp/ck/bin/python scripts/bench/topic-delay.py 127.0.0.1:49093 '^lag_.*\.movie$' 130 &
#   bash scripts/bench/lag.sh 1000 90
import datetime
import json
import sys
import time

from confluent_kafka import Consumer

brokers, topic_regex, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3])
consumer = Consumer({
    "bootstrap.servers": brokers, "group.id": f"topic-delay-{time.time()}", "auto.offset.reset": "latest",
    "fetch.wait.max.ms": "50", "enable.auto.commit": False, "topic.metadata.refresh.interval.ms": "1000",
})
consumer.subscribe([topic_regex])
started = time.time()
delays = []
while time.time() - started < seconds:
    message = consumer.poll(0.1)
    if message is None or message.error():
        continue
    occurred = json.loads(message.value())["occurred_at"].replace("Z", "+00:00")
    now = time.time()
    delays.append((now - started, now - datetime.datetime.fromisoformat(occurred).timestamp()))
consumer.close()
ordered = sorted(d for _, d in delays)
if not ordered:
    sys.exit("topic-delay: no records read")
n = len(ordered)
print(f"topic-delay: {n} records, p50 {ordered[n // 2] * 1000:.1f} ms, p99 {ordered[int(n * 0.99)] * 1000:.1f} ms, "
      f"max {ordered[-1] * 1000:.1f} ms, over 1 s: {sum(1 for d in ordered if d > 1)}")
windows = {}
for received, delay in delays:
    if delay > 1:
        windows[int(received // 5) * 5] = windows.get(int(received // 5) * 5, 0) + 1
print("topic-delay: over 1 s by 5-second window of receive time:", sorted(windows.items()))
