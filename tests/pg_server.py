"""A throwaway PostgreSQL server for the tests: ``initdb`` + ``pg_ctl`` in a temporary dir.

It listens on 127.0.0.1 only (on a free port) and on a Unix socket inside its own dir,
trusts local connections, and skips fsync. It lives in memory (``/dev/shm``) when it can,
and its cluster is a copy of one made by ``initdb`` on the first run on this machine (kept
in the temporary dir), so it starts in about a second. PostgreSQL
refuses to run as root: as root (CI), the server runs as ``nobody``.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Any

import psycopg

USER = "breathvoice"


def find_bin_dir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: Debian's versioned dir, else the PATH."""
    for found in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(found, "initdb").exists() and Path(found, "pg_ctl").exists():
            return Path(found)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb and shutil.which("pg_ctl") else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _scratch() -> Path:
    """Memory (tmpfs) when the machine has it: no disk I/O for a server thrown away."""
    shm = Path("/dev/shm")
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())


def _trusted(cache: Path, owner: int) -> bool:
    """A cached cluster only the user who runs the server can have written."""
    try:
        st = cache.lstat()
    except FileNotFoundError:
        return False
    return (stat.S_ISDIR(st.st_mode) and st.st_uid == owner and not st.st_mode & 0o077
            and (cache / "PG_VERSION").is_file())


class PostgresServer:
    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="breathvoice-pg-", dir=_scratch()))
        self.data = self.root / "data"
        self.port = free_port()
        self._as: dict[str, Any] = {}
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
            self._as = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}

    def _run(self, program: str, *args: str) -> None:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C",
               "HOME": str(self.root)}
        command = str(self.bin_dir / program) if (self.bin_dir / program).exists() else program
        done = subprocess.run([command, *args], env=env, cwd=self.root, capture_output=True,
                              text=True, **self._as)
        if done.returncode != 0:
            log = self.root / "server.log"
            raise RuntimeError(f"{program} failed:\n{done.stdout}{done.stderr}"
                               f"{log.read_text() if log.exists() else ''}")

    def init(self) -> None:
        """A new cluster: a copy of this machine's cached one when there is a trustworthy
        one (``initdb`` takes seconds, a copy a fraction of one), else ``initdb``."""
        runs_as = self._as.get("user", os.geteuid())
        cache = Path(tempfile.gettempdir()) / (
            f"breathvoice-pg{self.bin_dir.parent.name}-template-{runs_as}")
        if not _trusted(cache, runs_as):
            self._run("initdb", "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8",
                      "--no-sync", "--no-instructions", "--wal-segsize=1")
            fresh = Path(f"{cache}.{uuid.uuid4().hex[:8]}")
            try:
                self._run("cp", "-a", str(self.data), str(fresh))
                fresh.rename(cache)
            except (OSError, RuntimeError):  # no room, or another run made it first
                shutil.rmtree(fresh, ignore_errors=True)
            return
        self._run("cp", "-a", str(cache), str(self.data))

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -F -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"),
                  "-w", "-t", "60", "-o", options, "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}"

    def fresh_url(self) -> str:
        """The URL of a new, empty schema (one per test, so tests never see each other's
        rows); much faster to make than a database."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user={USER} dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{name}"')
        return f"{self.url()}?options=-csearch_path%3D{name}"

    def remove(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
