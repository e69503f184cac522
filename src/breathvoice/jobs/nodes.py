"""Names of the processes that render job lines, and whether one of them is gone.

A runner leases lines under its node name, ``<host>:<pid>:<random>``. When a server
starts, lines leased by a process of the same host that no longer runs can go back to
the queue at once (a lone server restarting after a crash resumes its jobs right away).
Leases held by live processes, or by other hosts sharing the database (whose processes
cannot be seen from here), are left alone: they lapse when not renewed.
"""

from __future__ import annotations

import os
import socket
import uuid

_HOST_CHARS = 32


def node_name() -> str:
    return f"{socket.gethostname()[:_HOST_CHARS]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def is_dead_here(owner: str) -> bool:
    """Whether ``owner`` is a process of this host that has ended (or a name from before
    node names said where they ran, left by a lone server)."""
    parts = owner.split(":")
    if len(parts) != 3:
        return owner.startswith("node-")
    host, pid, _ = parts
    if host != socket.gethostname()[:_HOST_CHARS] or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
