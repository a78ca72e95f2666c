"""Printing straight to a Brother QL or a Zebra printer (TCP 9100 or a USB node).

Brother: ask for the status first (``ESC i S``); a printer with an error (no media, cover open)
or another roll loaded than the label needs is refused before any label data is sent; then the
raster job, and a "printing completed" status for each copy confirms it. Zebra: ``~HS`` first
(paper out, head open, paused refuse the job); the printer acknowledges nothing after the
label, so the job is done once the printer has taken every byte.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sanitiser.labels.address import Language, PrinterAddress
from sanitiser.labels.brother import (
    INITIALISE,
    INVALIDATE,
    STATUS_LENGTH,
    STATUS_REQUEST,
    BrotherError,
    BrotherStatus,
    parse_status,
)
from sanitiser.labels.jobs import Prepared
from sanitiser.labels.zpl import HOST_STATUS, ZplError, parse_host_status, status_strings
from sanitiser.printing.channel import Channel, DeviceChannel, TcpChannel
from sanitiser.printing.errors import Fault, PrinterError

Opener = Callable[[PrinterAddress, float], Channel]


def open_channel(address: PrinterAddress, timeout: float) -> Channel:
    """A channel to the printer at `address` (TCP or its USB node)."""
    if address.device:
        return DeviceChannel(address.device, timeout)
    return TcpChannel(address.host, address.port, timeout)


def _read_until(
    channel: Channel, done: Callable[[bytes], bool], timeout: float, what: str
) -> bytes:
    """Bytes from the printer until `done` says they are complete, for up to `timeout` s."""
    data = b""
    deadline = time.monotonic() + timeout
    while not done(data):
        left = deadline - time.monotonic()
        chunk = channel.receive(left) if left > 0 else b""
        if not chunk:
            raise PrinterError(
                f"printer {channel.where} did not answer {what} within {timeout:g} s "
                "(busy, asleep, or not the printer the address says)",
                Fault.SLOW,
            )
        data += chunk
    return data


def _brother_status(data: bytes, where: str) -> list[BrotherStatus]:
    try:
        return [
            parse_status(data[i : i + STATUS_LENGTH]) for i in range(0, len(data), STATUS_LENGTH)
        ]
    except BrotherError as e:
        raise PrinterError(f"printer {where}: {e}", Fault.JOB_FAILED, delivered=False) from e


def print_brother(channel: Channel, prepared: Prepared, copies: int, timeout: float) -> str:
    """Print a Brother raster job; what the printer confirmed, for people.

    Raises:
        PrinterError: not ready, wrong media, no answer, or a failure reported while printing.
    """
    media = prepared.media
    if media is None:  # pragma: no cover - prepare() sets it for every Brother job
        raise PrinterError("a Brother job without its media", Fault.JOB_FAILED)
    channel.send(INVALIDATE + INITIALISE + STATUS_REQUEST)
    reply = _read_until(channel, lambda d: len(d) >= STATUS_LENGTH, timeout, "the status request")
    status = _brother_status(reply[:STATUS_LENGTH], channel.where)[0]
    if status.failed:
        raise PrinterError(
            f"printer {channel.where} cannot print: {', '.join(status.errors) or 'error'}",
            Fault.NOT_READY,
        )
    if not status.fits(media):
        raise PrinterError(
            f"printer {channel.where} has {status.media_text} loaded; this label is laid out "
            f"for {media.description}: load that roll (or set label= in its address)",
            Fault.WRONG_MEDIA,
        )
    channel.send(prepared.data)
    done = 0
    buffer = b""
    deadline = time.monotonic() + timeout * copies
    while done < copies:
        left = deadline - time.monotonic()
        chunk = channel.receive(left) if left > 0 else b""
        if not chunk:
            raise PrinterError(
                f"printer {channel.where} took the label but did not confirm printing "
                f"({done} of {copies} confirmed): check it before printing again",
                Fault.UNCONFIRMED,
                delivered=True,
            )
        buffer += chunk
        whole = len(buffer) - len(buffer) % STATUS_LENGTH
        for reply_status in _brother_status(buffer[:whole], channel.where):
            if reply_status.failed:
                raise PrinterError(
                    f"printer {channel.where} failed while printing: "
                    f"{', '.join(reply_status.errors) or 'error'} ({done} of {copies} printed)",
                    Fault.JOB_FAILED,
                    delivered=True,
                )
            done += reply_status.completed
        buffer = buffer[whole:]
    return f"printed {copies} on {status.media_text}"


def print_zpl(channel: Channel, prepared: Prepared, timeout: float) -> str:
    """Print a ZPL job once the printer's host status says it can.

    Raises:
        PrinterError: not ready, no answer, or the data not taken.
    """
    channel.send(HOST_STATUS)
    reply = _read_until(
        channel, lambda d: len(status_strings(d)) >= 3, timeout, "the host status query (~HS)"
    )
    try:
        status = parse_host_status(reply)
    except ZplError as e:
        raise PrinterError(f"printer {channel.where}: {e}", Fault.JOB_FAILED) from e
    if status.problems:
        raise PrinterError(
            f"printer {channel.where} cannot print: {', '.join(status.problems)}",
            Fault.NOT_READY,
        )
    try:
        channel.send(prepared.data)
    except PrinterError as e:
        raise PrinterError(str(e), e.fault, delivered=True) from e
    return "sent to the printer"


def print_direct(
    address: PrinterAddress,
    prepared: Prepared,
    copies: int,
    timeout: float,
    opener: Opener = open_channel,
) -> str:
    """Print to a Brother or Zebra printer; what it confirmed, for people.

    Raises:
        PrinterError: the fault, and whether label data reached the printer.
    """
    channel = opener(address, timeout)
    try:
        if address.language is Language.BROTHER:
            return print_brother(channel, prepared, copies, timeout)
        return print_zpl(channel, prepared, timeout)
    finally:
        channel.close()
