"""A real CUPS scheduler for the tests: its own configuration, spool and log under a private
directory, listening on a private port (no system CUPS is touched), with file-backed queues
(``FileDevice Yes``): what a printer would receive lands in a file."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.labels.printers import BOUND

CUPSD = "/usr/sbin/cupsd"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Cupsd:
    """One running cupsd; `server` is its ``HOST:PORT``."""

    def __init__(self) -> None:
        # filters run as the lp user: the directory must be reachable by it (pytest's own
        # temporary directories are not)
        self.root = Path(tempfile.mkdtemp(prefix="sanitiser-cupsd-"))
        self.root.chmod(0o755)
        for sub in ("spool", "cache", "state", "log", "out"):
            (self.root / sub).mkdir()
        (self.root / "spool").chmod(0o777)
        (self.root / "out").chmod(0o777)
        self.port = _free_port()
        self.server = f"127.0.0.1:{self.port}"
        policy = "  Order allow,deny\n  Allow all\n"
        (self.root / "cupsd.conf").write_text(
            f"Listen 127.0.0.1:{self.port}\nLogLevel info\nErrorPolicy abort-job\n"
            "Browsing No\nDefaultAuthType None\nWebInterface No\n"
            f"<Location />\n{policy}</Location>\n<Location /admin>\n{policy}</Location>\n"
            f"<Policy default>\n  <Limit All>\n  {policy}  </Limit>\n</Policy>\n"
        )
        r = self.root
        (self.root / "cups-files.conf").write_text(
            f"FileDevice Yes\nServerRoot {r}\nRequestRoot {r}/spool\nCacheDir {r}/cache\n"
            f"StateDir {r}/state\nTempDir {r}/spool\nAccessLog {r}/log/access_log\n"
            f"ErrorLog {r}/log/error_log\nPageLog {r}/log/page_log\nPrintcap {r}/printcap\n"
        )
        self.proc = subprocess.Popen(
            [CUPSD, "-f", "-c", str(r / "cupsd.conf"), "-s", str(r / "cups-files.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + BOUND
        while self.lp("lpstat", "-r").stdout.strip() != "scheduler is running":
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"cupsd exited: {self.proc.stderr and self.proc.stderr.read()}"
                )
            assert time.monotonic() < deadline, "cupsd did not start"
            time.sleep(0.1)

    def lp(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a CUPS client tool against this scheduler."""
        return subprocess.run(
            [tool, "-h", self.server, *args], capture_output=True, text=True, check=False
        )

    def add_queue(self, name: str, device_uri: str, ppd: str) -> None:
        """Add an enabled queue."""
        made = self.lp("lpadmin", "-p", name, "-E", "-v", device_uri, "-m", ppd)
        assert made.returncode == 0, made.stderr

    def log(self) -> str:
        """The scheduler's error log."""
        path = self.root / "log" / "error_log"
        return path.read_text() if path.exists() else ""

    def stop(self) -> None:
        """Stop the scheduler and remove its directory."""
        self.proc.terminate()
        try:
            self.proc.wait(timeout=BOUND)
        finally:
            if self.proc.stderr:
                self.proc.stderr.close()
            shutil.rmtree(self.root, ignore_errors=True)


def cups_installed() -> bool:
    """cupsd, lp and ipptool are there (scripts/install-system.sh --test installs them)."""
    return os.path.exists(CUPSD) and all(shutil.which(t) for t in ("lp", "ipptool", "lpadmin"))
