"""Cores for the simulated nodes of ``bench/scale.py``, and the CPU time each process spent.

- :func:`pinned` runs a block on the given cores: Linux's CPU affinity belongs to the
  calling thread, and a process it starts (a node's raylet, GCS, agents) inherits it, as
  do the workers that raylet starts later (the Serve controller, proxy and replicas).
- :func:`allowed_cores` reads ``Cpus_allowed_list`` of ``/proc/<pid>/status``: the cores a
  process may run on, to check that each replica landed where its node is.
- :class:`CpuLedger` records the CPU time (user + system) of this process and of every
  process it started, by component (``raylet``, ``gcs_server``, ``ServeController``,
  ``ProxyActor``, each deployment's replicas, ...), and each core's busy time, between two
  snapshots. A core's busy time not spent by these processes was spent by other users of
  the machine.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPLICA = re.compile(r"ray::ServeReplica:[^:]+:([A-Za-z]+)")
RAY_WORKER = re.compile(r"ray::([A-Za-z]+)")
SCRIPTS = ("dashboard.py", "log_monitor.py", "monitor.py", "agent.py")


@contextlib.contextmanager
def pinned(cores: Iterable[int]) -> Iterator[None]:
    """This thread, and every process it starts meanwhile, on ``cores`` only."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(cores))
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def allowed_cores(pid: int) -> str:
    """``Cpus_allowed_list`` of the process, as the kernel states it (``"0"``, ``"0-1"``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Cpus_allowed_list:"):
            return line.split(":", 1)[1].strip()
    raise RuntimeError(f"no Cpus_allowed_list for pid {pid}")


def component(process: psutil.Process) -> str:
    """What the process is, in a few words: ``Engine replica``, ``raylet``, ``bench client``."""
    if process.pid == os.getpid():
        return "bench client + driver"
    words = process.cmdline() or [process.name()]
    title = " ".join(words)
    if "breathvoice" in words and "serve" in words:
        return "breathvoice serve"
    if match := REPLICA.search(title):
        return f"{match.group(1)} replica"
    if match := RAY_WORKER.search(title):
        return match.group(1)
    for script in SCRIPTS:
        if any(word.endswith(script) for word in words):
            return script
    return Path(words[0]).name


@dataclass
class Usage:
    """CPU seconds between two snapshots, by component and by core."""

    wall: float
    by_component: dict[str, float] = field(default_factory=dict)
    cores_busy: list[float] = field(default_factory=list)

    @property
    def ours(self) -> float:
        return sum(self.by_component.values())

    def report(self, audio_seconds: float, cores: dict[str, str]) -> str:
        """A table: CPU seconds and milliseconds per audio second of each component."""
        lines = [f"    {'component':<26}{'cores':>6}{'CPU s':>8}{'ms/audio s':>12}"]
        for name, seconds in sorted(self.by_component.items(), key=lambda kv: -kv[1]):
            if seconds >= 0.005:
                lines.append(f"    {name:<26}{cores.get(name, ''):>6}{seconds:>8.2f}"
                             f"{seconds * 1000 / max(audio_seconds, 1e-9):>12.0f}")
        busy = ", ".join(f"core {i} {b / self.wall:.0%}" for i, b in enumerate(self.cores_busy))
        others = max(0.0, sum(self.cores_busy) - self.ours)
        lines.append(f"    over {self.wall:.1f} s: {busy} busy; other users of the machine "
                     f"{others:.1f} CPU s")
        return "\n".join(lines)


class CpuLedger:
    """CPU time of this process and its descendants, by component, between snapshots."""

    def __init__(self) -> None:
        self._start: dict[int, float] = {}
        self._cores: list[float] = []
        self._wall = 0.0

    def processes(self) -> list[psutil.Process]:
        me = psutil.Process()
        return [me, *me.children(recursive=True)]

    def start(self) -> None:
        self._start = dict(self._times())
        self._cores = [busy(times) for times in psutil.cpu_times(percpu=True)]
        self._wall = time.monotonic()

    def stop(self) -> tuple[Usage, dict[str, str]]:
        """Usage since :meth:`start`, and the cores each component may run on."""
        usage = Usage(wall=time.monotonic() - self._wall)
        usage.cores_busy = [busy(times) - before for times, before
                            in zip(psutil.cpu_times(percpu=True), self._cores, strict=True)]
        spent: dict[str, float] = defaultdict(float)
        cores: dict[str, set[str]] = defaultdict(set)
        for process in self.processes():
            with contextlib.suppress(psutil.Error, OSError):
                name = component(process)
                times = process.cpu_times()
                spent[name] += times.user + times.system - self._start.get(process.pid, 0.0)
                cores[name].add(allowed_cores(process.pid))
        usage.by_component = dict(spent)
        return usage, {name: "/".join(sorted(allowed)) for name, allowed in cores.items()}

    def _times(self) -> Iterator[tuple[int, float]]:
        for process in self.processes():
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                yield process.pid, times.user + times.system


def busy(times: tuple[float, ...]) -> float:
    """Seconds a core was busy: all but idle and I/O wait."""
    return float(sum(times) - getattr(times, "idle", 0.0) - getattr(times, "iowait", 0.0))


def placement(names: Iterable[str]) -> str:
    """Where each process of the named components may run: ``Engine replica 1234: 1``."""
    found = []
    for process in CpuLedger().processes():
        with contextlib.suppress(psutil.Error, OSError):
            name = component(process)
            if name in names:
                found.append(f"{name} {process.pid}: core {allowed_cores(process.pid)}")
    return "; ".join(sorted(found))
