"""Progress of jobs as events, for the ``/events`` stream: one per ended line, plus status.

Subscribers are asyncio queues on the server's event loop; the runner publishes there too.
A slow subscriber misses nothing (the queues are unbounded, and a job's events are few).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

Event = tuple[str, dict[str, Any]]
"""``(kind, data)``: kind is ``line`` or ``status``."""


class JobEvents:
    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[Event]]] = defaultdict(set)

    def subscribe(self, job_id: str) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._queues[job_id].add(queue)
        return queue

    def unsubscribe(self, job_id: str, queue: asyncio.Queue[Event]) -> None:
        listeners = self._queues.get(job_id)
        if listeners is not None:
            listeners.discard(queue)
            if not listeners:
                del self._queues[job_id]

    def publish(self, job_id: str, kind: str, data: dict[str, Any]) -> None:
        for queue in self._queues.get(job_id, ()):
            queue.put_nowait((kind, data))
