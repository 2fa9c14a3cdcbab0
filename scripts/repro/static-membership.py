"""Does the broker honour static group membership (group.instance.id)?

A minimal reproduction with confluent-kafka (the librdkafka wheel the stack uses), against any broker:
    python scripts/repro/static-membership.py 127.0.0.1:19092
For each mode (dynamic membership; static, with a group.instance.id) and session timeout, it prints:
  - cold_join_s: a fresh group's first member, from subscribe to its first record;
  - restart_s: the member killed with SIGKILL (no LeaveGroup) and started again at once, from the
    restart to the first record produced after it.
On a broker that honours static membership, restart_s with a static id does not depend on the session
timeout (the restarted member takes its partitions back without a rebalance). Add `debug=cgrp` to the
consumer configuration (DEBUG=1) to see how long the broker holds each JoinGroup and SyncGroup.
"""
import os
import signal
import subprocess
import sys
import time

from confluent_kafka import Consumer, Producer


def consumer(broker, topic, static, session_ms):
    conf = {"bootstrap.servers": broker, "group.id": "g-" + topic, "session.timeout.ms": session_ms,
            "heartbeat.interval.ms": max(100, session_ms // 4), "auto.offset.reset": "earliest",
            "enable.auto.commit": True, "auto.commit.interval.ms": 200}
    if static:
        conf["group.instance.id"] = "probe-instance-1"
    if os.environ.get("DEBUG"):
        conf["debug"] = "cgrp"
    c = Consumer(conf)
    c.subscribe([topic])
    while True:
        m = c.poll(0.1)
        if m is not None and m.error() is None:
            print("got %s %.3f" % (m.value().decode(), time.time()), flush=True)


def run(broker, static, session_ms):
    topic = "static-probe-%d" % int(time.time() * 1000)
    producer = Producer({"bootstrap.servers": broker})

    def produce(value):
        producer.produce(topic, value.encode(), key=b"k")
        producer.flush(10)

    def start():
        return subprocess.Popen([sys.executable, __file__, "--member", broker, topic, "1" if static else "0", str(session_ms)],
                                stdout=subprocess.PIPE, text=True)

    def wait_for(proc, value, limit=60):
        started = time.time()
        while time.time() - started < limit:
            line = proc.stdout.readline()
            if line.startswith("got " + value + " "):
                return float(line.split()[2])
        return None

    produce("first")
    started = time.time()
    member = start()
    got = wait_for(member, "first")
    cold = got - started if got else None
    time.sleep(3)  # let it commit its offset
    os.kill(member.pid, signal.SIGKILL)
    member.wait()
    restarted = time.time()
    member = start()
    time.sleep(0.5)
    produce("after-restart")
    got = wait_for(member, "after-restart")
    member.kill()
    member.wait()
    fmt = lambda value: "%.2f" % value if value is not None else "none"
    print("membership=%s session_timeout_ms=%d cold_join_s=%s restart_s=%s"
          % ("static" if static else "dynamic", session_ms, fmt(cold), fmt(got - restarted if got else None)), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "--member":
        consumer(sys.argv[2], sys.argv[3], sys.argv[4] == "1", int(sys.argv[5]))
    else:
        for session in [int(v) for v in os.environ.get("SESSIONS_MS", "1500,6000,10000").split(",")]:
            for static in (False, True):
                run(sys.argv[1], static, session)
