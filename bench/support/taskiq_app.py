"""taskiq's peer of the pipeline bench: a Redis stream broker and the same no-op task.

The worker runs as ``taskiq worker bench.support.taskiq_app:broker --workers 1`` with
``BENCH_REDIS_URL`` set. ``noop(sent)`` notes its start when ``sent`` is given (the
latency phase); in the throughput phase it does nothing at all.
"""

from __future__ import annotations

import os
import time
import uuid

from redis.asyncio import Redis
from taskiq import TaskiqMessage
from taskiq_redis import RedisStreamBroker

URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379")
STREAM = "taskiq"
LATENCIES = "taskiq:latency"

broker = RedisStreamBroker(URL, queue_name=STREAM, consumer_id="0", xread_block=2000)
_noter: list[Redis] = []


@broker.task(task_name="bench_noop")  # one name in the bench and the worker
async def noop(sent: float = 0.0) -> None:
    """No work; with ``sent``, push how late it started (seconds) for the bench to read."""
    if sent:
        started = time.time()
        if not _noter:
            _noter.append(Redis.from_url(URL))
        await _noter[0].rpush(LATENCIES, started - sent)


def message() -> bytes:
    """One ``noop()`` message as ``noop.kiq()`` would send it (for pipelined bursts)."""
    msg = TaskiqMessage(task_id=uuid.uuid4().hex, task_name="bench_noop", labels={},
                        args=[], kwargs={})  # fmt: skip
    return broker.formatter.dumps(msg).message
