"""A Redis broker for django-q2 that does not lose jobs when a worker dies.

django-q2's stock Redis broker takes a job with ``BLPOP``: once taken, the job exists only in
the memory of the cluster that took it, so a node killed mid-job (OOM, a lost host, SIGKILL)
loses it. This broker leases instead, like the ORM broker does:

* ``enqueue`` appends the signed job to the list ``django_q:<name>:q``.
* ``dequeue`` moves one job, atomically (a Lua script), from the list into a lease: the payload
  goes to the hash ``…:payload`` under a fresh lease id, the lease's deadline (now + ``retry``)
  to the sorted set ``…:leases`` and the taking process (host:pid) to ``…:owner``. Leases past
  their deadline are first put back at the head of the list, so a dead node's jobs run again.
* ``acknowledge`` (called by the cluster's monitor once the result is saved) drops the lease.

Delivery is at-least-once: a job runs again only when no result was saved within ``retry``
seconds, which is why ``retry`` must exceed the job timeout (settings.py) and jobs must be
idempotent (ingest is: the writer skips what it already holds; retention resumes its run).
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from typing import Any

from django_q.brokers.redis_broker import Redis
from django_q.conf import Conf

# KEYS: queue, leases, payload, owner. ARGV: now, deadline, lease id, owner.
_TAKE = """
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, id in ipairs(expired) do
  local payload = redis.call('HGET', KEYS[3], id)
  if payload then redis.call('LPUSH', KEYS[1], payload) end
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
end
local task = redis.call('LPOP', KEYS[1])
if not task then return false end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[3], task)
redis.call('HSET', KEYS[4], ARGV[3], ARGV[4])
return task
"""


class ReliableRedisBroker(Redis):
    def __init__(self, list_key: str | None = None) -> None:
        super().__init__(list_key)
        self.leases_key = f"{self.list_key}:leases"
        self.payload_key = f"{self.list_key}:payload"
        self.owner_key = f"{self.list_key}:owner"
        self._take = self.connection.register_script(_TAKE)

    def __setstate__(self, state: Any) -> None:
        super().__setstate__(state)
        self._take = self.connection.register_script(_TAKE)

    def dequeue(self) -> list[tuple[str, bytes]] | None:
        lease = uuid.uuid4().hex
        now = time.time()
        task = self._take(
            keys=[self.list_key, self.leases_key, self.payload_key, self.owner_key],
            args=[now, now + Conf.RETRY, lease, f"{socket.gethostname()}:{os.getpid()}"],
        )
        if task:
            return [(lease, task)]
        time.sleep(Conf.POLL)
        return None

    def acknowledge(self, task_id: str) -> None:
        pipe = self.connection.pipeline()
        pipe.zrem(self.leases_key, task_id)
        pipe.hdel(self.payload_key, task_id)
        pipe.hdel(self.owner_key, task_id)
        pipe.execute()

    def fail(self, task_id: str) -> None:
        self.acknowledge(task_id)

    def delete(self, task_id: str) -> None:
        self.acknowledge(task_id)

    def lock_size(self) -> int:
        return int(self.connection.zcard(self.leases_key))

    def leases(self) -> dict[str, str]:
        """Lease id -> the process (host:pid) holding it; for operators and tests."""
        raw = self.connection.hgetall(self.owner_key)
        return {k.decode(): v.decode() for k, v in raw.items()}

    def delete_queue(self) -> int:
        return int(self.connection.delete(self.list_key, self.leases_key, self.payload_key, self.owner_key))

    def purge_queue(self) -> Any:
        self.connection.delete(self.leases_key, self.payload_key, self.owner_key)
        return self.connection.ltrim(self.list_key, 1, 0)
