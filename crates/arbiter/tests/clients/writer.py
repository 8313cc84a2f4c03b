"""An application writing through redis-py's Sentinel client.

    python writer.py --sentinels 127.0.0.1:26379,127.0.0.1:26380 \
        --master mymaster --duration 30

Writes SET k1 1, SET k2 2, ... to the master of `--master` as the
Sentinels (or arbiter's Sentinel ports) name it, one write at a time, as
fast as they are acknowledged. A failed write is retried, the same key,
after 50 ms: the stock client's reconnect behaviour (it asks the Sentinels
for the master again on every new connection) plus the smallest retry loop
an application would write. The client is never re-created.

Prints {"ready": LIBRARY} once the first write is acknowledged, and on
exit (after --duration seconds, or on SIGTERM) one JSON summary line:
README.md beside this file describes it; the test harness reads it
(arbiter_testkit::clients).
"""

import argparse
import json
import signal
import sys
import time

import redis
from redis.sentinel import Sentinel


class Stopped(BaseException):
    """SIGTERM: leave whatever call is blocking and print the summary."""


class Log:
    """What the application saw: acknowledged writes by address, errors."""

    def __init__(self, library):
        self.library = library
        self.start = time.monotonic()
        self.acked = 0
        self.errors = 0
        self.error_kinds = {}
        self.segments = []
        self.last_ack_ms = None
        self.longest_gap = None

    def ms(self):
        return int((time.monotonic() - self.start) * 1000)

    def ack(self, i, addr):
        now = self.ms()
        self.acked = i
        if self.last_ack_ms is not None:
            gap = now - self.last_ack_ms
            if self.longest_gap is None or gap > self.longest_gap["ms"]:
                self.longest_gap = {"after": i - 1, "ms": gap}
        self.last_ack_ms = now
        if not self.segments or self.segments[-1]["addr"] != addr:
            self.segments.append({"addr": addr, "first": i, "first_ms": now})
        self.segments[-1].update(last=i, last_ms=now)

    def error(self, e):
        self.errors += 1
        kind = self.error_kinds.setdefault(type(e).__name__, {"count": 0, "first": str(e)})
        kind["count"] += 1

    def summary(self):
        return {
            "library": self.library,
            "acked": self.acked,
            "errors": self.errors,
            "error_kinds": self.error_kinds,
            "segments": self.segments,
            "longest_gap": self.longest_gap,
            "elapsed_ms": self.ms(),
        }


def stop(_signum, _frame):
    raise Stopped()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sentinels", required=True, help="host:port,host:port,...")
    parser.add_argument("--master", default="mymaster")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--prefix", default="k")
    args = parser.parse_args()
    sentinels = [(h, int(p)) for h, p in (a.rsplit(":", 1) for a in args.sentinels.split(","))]

    log = Log("redis-py " + redis.__version__)
    signal.signal(signal.SIGTERM, stop)
    try:
        sentinel = Sentinel(sentinels, socket_timeout=0.5)
        master = sentinel.master_for(args.master, socket_timeout=0.5)
        i = 1
        while log.ms() < args.duration * 1000:
            try:
                master.set(f"{args.prefix}{i}", i)
            except redis.RedisError as e:
                log.error(e)
                time.sleep(0.05)
                continue
            host, port = master.connection_pool.master_address or ("?", 0)
            log.ack(i, f"{host}:{port}")
            if i == 1:
                print(json.dumps({"ready": log.library}), flush=True)
            i += 1
    except Stopped:
        pass
    print(json.dumps(log.summary()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
