#!/usr/bin/env python3
# The broker alone at the soak's event rate: no StreamRec process. Produces RATE records/s of the size of
# our events (keyed by user, like the gateway, linger 5 ms) to a fresh 6-partition topic for SECONDS,
# while one consumer (fetch.wait.max.ms 50, like the processor) reads them back. Every 30 s it prints the
# broker's CPU (percent of one core, from /proc/BROKER_PID/stat) and the delay from produce to consume
# (p50, p99, max) in that interval: if the delay or the CPU grows with the log, the broker is the floor
# of the soak's freshness, whatever StreamRec does.
#
#   bash scripts/stack.sh start kafka   (or the bench stack)
#   .run/bench/peer-venv/bin/python scripts/bench/broker-alone.py 127.0.0.1:49093 BROKER_PID 1000 240
# CONSUME=0 leaves the consumer out (the produce path alone); FETCH_WAIT_MS and FETCH_MIN_BYTES set its
# fetch.wait.max.ms (default 50) and fetch.min.bytes (default 1).
import json
import os
import random
import sys
import threading
import time
import uuid

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

brokers, broker_pid, rate, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
topic = f"broker_alone_{int(time.time())}"
admin = AdminClient({"bootstrap.servers": brokers})
admin.create_topics([NewTopic(topic, 6, 1)])[topic].result()
hz = os.sysconf("SC_CLK_TCK")


def broker_ticks():
    with open(f"/proc/{broker_pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


delays = []  # (received at, delay s)
lock = threading.Lock()
done = threading.Event()
assigned = threading.Event()


def consume():
    consumer = Consumer({
        "bootstrap.servers": brokers, "group.id": f"{topic}-reader", "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": os.environ.get("FETCH_WAIT_MS", "50"), "fetch.min.bytes": os.environ.get("FETCH_MIN_BYTES", "1"),
        "enable.auto.commit": False,
    })
    consumer.subscribe([topic], on_assign=lambda _consumer, _partitions: assigned.set())
    while not done.is_set():
        message = consumer.poll(0.1)
        if message is None or message.error():
            continue
        sent = float(message.headers()[0][1])
        now = time.time()
        with lock:
            delays.append((now, now - sent))
    consumer.close()


consuming = os.environ.get("CONSUME", "1") != "0"
reader = threading.Thread(target=consume)
if consuming:
    reader.start()
    # Production starts once the reader owns its partitions: a group join takes seconds on the local
    # broker, and records waiting for it would count as the broker's delay.
    if not assigned.wait(60):
        sys.exit("broker-alone: the consumer got no partitions within 60 s")
    time.sleep(1)
producer = Producer({"bootstrap.servers": brokers, "linger.ms": 5, "acks": "all", "enable.idempotence": True})
template = {"schema_version": "1", "type": "movie.rating", "item_id": "m1", "value": 4.0}
started = time.time()
window_start, ticks0 = started, broker_ticks()
sent = 0
print("t(s) broker_cpu_pct produced consumed p50_ms p99_ms max_ms", flush=True)
while time.time() - started < seconds:
    due = started + sent / rate
    pause = due - time.time()
    if pause > 0:
        time.sleep(pause)
    user = f"user-{random.randrange(50_000)}"
    value = dict(template, event_id=str(uuid.uuid4()), user_id=user)
    producer.produce(topic, key=user, value=json.dumps(value), headers=[("sent", str(time.time()))])
    producer.poll(0)
    sent += 1
    now = time.time()
    if now - window_start >= 30:
        ticks1 = broker_ticks()
        with lock:
            window = sorted(d for at, d in delays if at >= window_start)
        cpu = 100 * (ticks1 - ticks0) / hz / (now - window_start)
        if window:
            n = len(window)
            print(f"{now - started:.0f} {cpu:.0f} {sent} {len(delays)} {window[n // 2] * 1000:.1f} {window[int(n * 0.99)] * 1000:.1f} {window[-1] * 1000:.1f}", flush=True)
        else:
            print(f"{now - started:.0f} {cpu:.0f} {sent} {len(delays)} - - -", flush=True)
        window_start, ticks0 = now, ticks1
producer.flush(10)
time.sleep(2)
done.set()
if not consuming:
    sys.exit(print(f"broker-alone: {sent} produced, no consumer"))
reader.join()
ordered = sorted(d for _, d in delays)
n = len(ordered)
print(f"broker-alone: {sent} produced, {n} consumed, delay p50 {ordered[n // 2] * 1000:.1f} ms, p99 {ordered[int(n * 0.99)] * 1000:.1f} ms, "
      f"max {ordered[-1] * 1000:.1f} ms, over 1 s: {sum(1 for d in ordered if d > 1)}")
