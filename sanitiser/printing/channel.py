"""Byte channels to a printer: a TCP connection (raw port 9100) or a USB printer node
(``/dev/usb/lp0``, the kernel's usblp driver, which reads the printer's replies back)."""

from __future__ import annotations

import errno
import os
import select
import socket
import time
from typing import Protocol

from sanitiser.printing.errors import Fault, PrinterError


class Channel(Protocol):
    """Bytes to and from one printer."""

    where: str

    def send(self, data: bytes) -> None:
        """Send all of `data` (raises `PrinterError`)."""
        ...

    def receive(self, timeout: float) -> bytes:
        """Whatever the printer says next, waiting up to `timeout` s; b"" when it said
        nothing in that time or closed the connection."""
        ...

    def close(self) -> None:
        """Let the printer go."""
        ...


class TcpChannel:
    """A raw TCP connection."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.where = f"{host}:{port}"
        self._timeout = timeout
        try:
            self._sock = socket.create_connection((host, port), timeout=timeout)
        except ConnectionRefusedError as e:
            raise PrinterError(
                f"printer {self.where} refused the connection (switched on, but nothing "
                "listens on that port: the wrong port, or raw printing is off)",
                Fault.REFUSED,
            ) from e
        except TimeoutError as e:
            raise PrinterError(
                f"printer {self.where} did not answer within {timeout:g} s (offline?)",
                Fault.OFFLINE,
            ) from e
        except OSError as e:  # no route, unknown host name, network down
            raise PrinterError(
                f"printer {self.where} cannot be reached: {e.strerror or e} (offline?)",
                Fault.OFFLINE,
            ) from e

    def send(self, data: bytes) -> None:
        """Send all of `data`."""
        try:
            self._sock.settimeout(self._timeout)
            self._sock.sendall(data)
        except TimeoutError as e:
            raise PrinterError(
                f"printer {self.where} stopped taking data for {self._timeout:g} s",
                Fault.SLOW,
            ) from e
        except OSError as e:
            raise PrinterError(
                f"printer {self.where} dropped the connection: {e.strerror or e}", Fault.OFFLINE
            ) from e

    def receive(self, timeout: float) -> bytes:
        """The next bytes, or b"" after `timeout` s of silence or when closed."""
        self._sock.settimeout(max(timeout, 0.001))
        try:
            return self._sock.recv(4096)
        except TimeoutError:
            return b""
        except OSError as e:
            raise PrinterError(
                f"printer {self.where} dropped the connection: {e.strerror or e}", Fault.OFFLINE
            ) from e

    def close(self) -> None:
        """Close the connection."""
        self._sock.close()


class DeviceChannel:
    """A USB printer node."""

    def __init__(self, path: str, timeout: float) -> None:
        self.where = path
        self._timeout = timeout
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError as e:
            raise PrinterError(
                f"no printer at {path} (unplugged or switched off?)", Fault.OFFLINE
            ) from e
        except PermissionError as e:
            raise PrinterError(
                f"no permission to use {path}: add the udev rule in the README (printer set-up)",
                Fault.REFUSED,
            ) from e
        except OSError as e:
            fault = Fault.REFUSED if e.errno == errno.EBUSY else Fault.OFFLINE
            raise PrinterError(f"cannot open {path}: {e.strerror or e}", fault) from e

    def send(self, data: bytes) -> None:
        """Write all of `data`, waiting while the printer's buffer is full."""
        view = memoryview(data)
        deadline = time.monotonic() + self._timeout
        while view:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [self._fd], [], left)[1]:
                raise PrinterError(
                    f"printer {self.where} stopped taking data for {self._timeout:g} s",
                    Fault.SLOW,
                )
            try:
                view = view[os.write(self._fd, view) :]
            except BlockingIOError:
                continue
            except OSError as e:
                raise PrinterError(
                    f"printer {self.where} failed: {e.strerror or e}", Fault.OFFLINE
                ) from e

    def receive(self, timeout: float) -> bytes:
        """The next bytes the printer sends back, or b"" after `timeout` s."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return b""
            ready = select.select([self._fd], [], [], min(left, 0.2))[0]
            try:
                data = os.read(self._fd, 4096) if ready else b""
            except BlockingIOError:
                data = b""
            except OSError as e:
                raise PrinterError(
                    f"printer {self.where} failed: {e.strerror or e}", Fault.OFFLINE
                ) from e
            if data:
                return data
            if not ready:
                continue
            time.sleep(0.05)  # usblp reads 0 bytes while the printer has nothing to say

    def close(self) -> None:
        """Close the node."""
        os.close(self._fd)
