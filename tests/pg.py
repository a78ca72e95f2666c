"""A real, throwaway PostgreSQL server for the tests, and a cuttable TCP link to it.

`PostgresServer` runs the Debian PostgreSQL binaries (``initdb``, ``pg_ctl``) on 127.0.0.1 and a
free port, in a temporary directory outside pytest's root-only tmp tree, as the ``postgres``
user when we are root (the server refuses to run as root). One server serves a whole test
session (per xdist worker); each test gets its own database (`new_database`).

`Link` is a TCP proxy in front of it: benches connect through it, and a test can `cut` it
(every connection is reset, new ones are refused, as when a network goes down) and `restore`
it on the same port.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path

import psycopg


def pg_bin() -> Path | None:
    """The directory of the PostgreSQL server binaries, or None when not installed."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    """A PostgreSQL server in a temporary directory, trusting local connections as ``bench``."""

    def __init__(self, binaries: Path) -> None:
        self.bin = binaries
        self.base = Path(tempfile.mkdtemp(prefix="sanitiser-pg-"))
        self.data = self.base / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            self.as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.base, "postgres")
        self._names = itertools.count(1)

    def start(self) -> None:
        """initdb and start the server; wait until it accepts connections."""
        subprocess.run(
            [
                *self.as_user,
                *(str(self.bin / "initdb"), "-D", str(self.data)),
                *("-U", "bench", "-A", "trust", "--no-sync"),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        subprocess.run(  # the server's output goes to a log file, else it holds our pipes
            [
                *self.as_user,
                *(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.base / "log")),
                *("-o", options, "-w", "start"),
            ],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )

    def stop(self) -> None:
        """Stop the server at once and remove its directory."""
        subprocess.run(
            [
                *self.as_user,
                *(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"),
            ],
            check=False,
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(self.base, ignore_errors=True)

    def url(self, database: str, *, port: int | None = None) -> str:
        """SQLAlchemy URL of `database` (through another port, e.g. a `Link`, if given)."""
        return f"postgresql+psycopg://bench@127.0.0.1:{port or self.port}/{database}"

    def new_database(self, prefix: str = "t") -> str:
        """Create an empty database; its name."""
        name = f"{prefix}_{os.getpid()}_{next(self._names)}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=bench dbname=postgres", autocommit=True
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name


class Link:
    """A TCP proxy 127.0.0.1:`port` -> 127.0.0.1:`target`, which a test can cut and restore."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.restore()

    def restore(self) -> None:
        """Listen again (on the same port) and forward new connections."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._thread = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._thread.start()

    def cut(self) -> None:
        """Reset every connection and stop listening: the database is unreachable."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            for s in self._sockets:
                with contextlib.suppress(OSError):
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                    s.close()
            self._sockets.clear()

    close = cut

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
