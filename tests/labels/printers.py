"""Label printers on real TCP sockets for the tests: a Brother QL that answers status requests
and confirms each page, as the raster command reference describes (its replies built here byte
by byte, not with the code under test), and a Zebra that answers ``~HS``.

Each keeps what it received (`jobs`); `wait_for` waits for a condition with a generous bound.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.labels.decoders import BrotherPage, decode_brother

BOUND = 120.0
"""Seconds a test waits for a condition before it fails."""


def wait_for(condition: Callable[[], bool], what: str) -> None:
    """Wait until `condition` holds (at most `BOUND` s)."""
    deadline = time.monotonic() + BOUND
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


@dataclass
class Media:
    """The roll loaded: width (mm), type (0x0A continuous, 0x0B die-cut), length (mm)."""

    width: int
    kind: int
    length: int = 0


DK_11209 = Media(62, 0x0B, 29)
DK_22205 = Media(62, 0x0A)
DK_11201 = Media(29, 0x0B, 90)


def brother_status(
    media: Media | None, *, status_type: int = 0, error_1: int = 0, error_2: int = 0
) -> bytes:
    """A 32-byte QL status reply: print head mark 0x80, size 0x20, 'B', series and model codes,
    fixed '0', error information 1 and 2, media width, media type, ..., media length, status
    type, phase."""
    out = bytearray(32)
    out[0:8] = bytes([0x80, 0x20, 0x42, 0x34, 0x38, 0x30, 0x00, 0x00])
    out[8], out[9] = error_1, error_2
    if media is not None:
        out[10], out[11], out[17] = media.width, media.kind, media.length
    out[18] = status_type
    return bytes(out)


class _Server:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.jobs: list[bytes] = []
        self.connections = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._stop = True
        self.sock.close()


@dataclass
class BrotherBehaviour:
    """How the printer behaves."""

    media: Media | None = field(default_factory=lambda: DK_11209)
    error_1: int = 0
    error_2: int = 0
    answer_after: float = 0.0
    """Seconds before it answers the status request."""
    answers: bool = True
    confirms: bool = True
    """Sends "printing completed" for each page."""
    fails_printing: bool = False
    """Sends an error status (cover opened) instead of completing."""


class BrotherPrinter(_Server):
    """A QL printer on raw TCP."""

    def __init__(self, behaviour: BrotherBehaviour | None = None) -> None:
        self.behaviour = behaviour or BrotherBehaviour()
        self.pages: list[list[BrotherPage]] = []
        super().__init__()

    def _talk(self, conn: socket.socket) -> None:
        b = self.behaviour
        buffer = b""
        answered = False
        with conn:
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                buffer += chunk
                if not answered and b"\x1b\x69\x53" in buffer:
                    if not b.answers:
                        continue
                    time.sleep(b.answer_after)
                    conn.sendall(brother_status(b.media, error_1=b.error_1, error_2=b.error_2))
                    answered = True
                    buffer = buffer[buffer.index(b"\x1b\x69\x53") + 3 :]
                    continue
                if answered and buffer.endswith(b"\x1a"):
                    try:
                        pages = decode_brother(buffer)
                    except (AssertionError, IndexError, ValueError):
                        continue  # not the end yet: 0x1A inside a raster line
                    self.jobs.append(buffer)
                    self.pages.append(pages)
                    for _ in pages:
                        if b.fails_printing:
                            conn.sendall(brother_status(b.media, status_type=2, error_2=0x10))
                            break
                        if b.confirms:
                            conn.sendall(brother_status(b.media, status_type=6))  # printing
                            conn.sendall(brother_status(b.media, status_type=1))
                    buffer = b""


class ZebraPrinter(_Server):
    """A ZPL printer on raw TCP: answers ``~HS``, keeps the rest."""

    def __init__(self, *, paper_out: bool = False, head_open: bool = False) -> None:
        self.paper_out = paper_out
        self.head_open = head_open
        super().__init__()

    def _talk(self, conn: socket.socket) -> None:
        received = b""
        with conn:
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    break
                if not chunk:
                    break
                received += chunk
                if b"~HS" in received:
                    received = received.replace(b"~HS\r\n", b"").replace(b"~HS", b"")
                    paper, head = int(self.paper_out), int(self.head_open)
                    conn.sendall(
                        b"\x02030,%d,0,1245,000,0,0,0,000,0,0,0\x03\r\n" % paper
                        + b"\x02001,0,%d,0,0,2,4,0,00000000,1,000\x03\r\n" % head
                        + b"\x021234,0\x03\r\n"
                    )
        if received.strip():
            self.jobs.append(received)


class OfflinePrinter:
    """A host that takes no connection: its one-place queue is full, so the kernel drops the
    next connection attempt, which times out (as an unplugged printer's address does)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self._filler = socket.create_connection(("127.0.0.1", self.port), timeout=5)

    def close(self) -> None:
        self._filler.close()
        self.sock.close()


def closed_port() -> int:
    """A port nothing listens on (connections are refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


class _PtyConnection:
    """The printer's end of a pty, with the calls `_talk` makes of a socket."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def recv(self, size: int) -> bytes:
        try:
            return os.read(self.fd, size)
        except OSError:  # EIO: the bench closed its end (the job is over)
            return b""

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]

    def __enter__(self) -> _PtyConnection:
        return self

    def __exit__(self, *_: object) -> None:
        return None


USB_DIR = Path("/dev/usb")
"""Where usblp's nodes are (the test's stand-in is linked there: root only)."""


class UsbNode:
    """A USB printer node (``/dev/usb/lp0``) stood in for by a pseudo-terminal in raw mode: a
    real character device the bench opens, writes and reads as it does usblp's; `printer`'s
    conversation (a `BrotherPrinter` or `ZebraPrinter`, its TCP side unused) runs on the other
    end, once: one job per node. The node is held open until `unplug`, so that the printer
    does not read the end of the conversation before the bench has opened it."""

    def __init__(self, printer: BrotherPrinter | ZebraPrinter) -> None:
        self.printer = printer
        self._master, self._held = os.openpty()
        tty.setraw(self._held)  # bytes as they are: no echo, no CR/LF translation
        # named as usblp names its nodes (the address accepts /dev/usb/lpN only): a link
        self._made_dir = not USB_DIR.exists()
        USB_DIR.mkdir(exist_ok=True)
        self.link = USB_DIR / f"lp{90000 + os.getpid() % 10000}"
        self.link.unlink(missing_ok=True)
        self.link.symlink_to(os.ttyname(self._held))
        self.path = str(self.link)
        self._thread = threading.Thread(
            target=printer._talk,
            args=(_PtyConnection(self._master),),
            daemon=True,
        )
        self._thread.start()

    def unplug(self) -> None:
        """End the conversation: the node's last holder lets go (the printer keeps its job)."""
        if self._held >= 0:
            os.close(self._held)  # with the bench's end closed too, the printer reads EIO
            self._held = -1
        self._thread.join(timeout=60)

    def close(self) -> None:
        self.unplug()
        os.close(self._master)
        self.printer.close()
        self.link.unlink(missing_ok=True)
        if self._made_dir:
            USB_DIR.rmdir()
