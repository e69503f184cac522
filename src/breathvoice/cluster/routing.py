"""How an ingress picks the engine replica for a request: the one it keeps least busy.

Serve's default router tries two replicas at random and takes the one with the shorter
queue, as last reported. When a burst of contexts opens at once (20 sockets, a script
job's lines), the reports lag behind and the burst splits unevenly: one replica speaks
five contexts while the other speaks three, and the wave takes as long as the busier one.

:class:`LeastBusyRouter` counts the requests this caller has sent to each replica and not
seen finish, counting a request from the moment it is chosen (so a burst spreads evenly),
and sends the next one to the replica with the fewest, then the shortest reported queue.
A replica that refuses (its ``max_ongoing_requests`` reached) is passed over as usual.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from ray.serve.request_router import (
    FIFOMixin,
    PendingRequest,
    ReplicaID,
    RequestRouter,
    RunningReplica,
)

if TYPE_CHECKING:
    from ray.serve._private.replica_result import ReplicaResult

CHOSEN_SECONDS = 30.0
"""How long a chosen request that was never sent (its caller went away) still counts."""


class LeastBusyRouter(FIFOMixin, RequestRouter):
    def initialize_state(self, **kwargs: Any) -> None:
        self._requests: dict[str, tuple[ReplicaID, float | None]] = {}
        """Request id -> its replica, and when it was chosen (None once sent there)."""

    async def choose_replicas(self, candidate_replicas: list[RunningReplica],
                              pending_request: PendingRequest | None = None,
                              ) -> list[list[RunningReplica]]:
        load = self._load()
        queues = self.replica_queue_len_cache
        ranked = sorted(candidate_replicas, key=lambda replica: (
            load[replica.replica_id], queues.get(replica.replica_id) or 0, random.random()))
        if pending_request is not None and ranked:
            self._requests[pending_request.metadata.internal_request_id] = (
                ranked[0].replica_id, time.monotonic())
        return [[replica] for replica in ranked]

    def on_request_routed(self, pending_request: PendingRequest, replica_id: ReplicaID,
                          result: ReplicaResult) -> None:
        self._requests[pending_request.metadata.internal_request_id] = (replica_id, None)

    def on_request_completed(self, replica_id: ReplicaID, internal_request_id: str) -> None:
        entry = self._requests.get(internal_request_id)
        if entry is not None and entry[0] == replica_id:  # not a refused try before a retry
            del self._requests[internal_request_id]

    def _load(self) -> Counter[ReplicaID]:
        now = time.monotonic()
        for request, (_, chosen) in list(self._requests.items()):
            if chosen is not None and now - chosen > CHOSEN_SECONDS:
                del self._requests[request]
        return Counter(replica for replica, _ in self._requests.values())
