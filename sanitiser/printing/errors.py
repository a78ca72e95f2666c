"""Printer faults, each saying whether any of the label reached the printer."""

from __future__ import annotations

from enum import StrEnum

from sanitiser.errors import SanitiserError


class Fault(StrEnum):
    """What went wrong at the printer."""

    OFFLINE = "offline"
    """Unreachable, switched off, unplugged, or the connection was not answered in time."""
    REFUSED = "refused"
    """It said no: connection refused, node busy or not permitted, CUPS queue refusing."""
    SLOW = "slow"
    """Connected, but did not answer in time."""
    NOT_READY = "not-ready"
    """It answered and cannot print now: paper out, cover or head open, paused."""
    WRONG_MEDIA = "wrong-media"
    """Another roll is loaded than the label is laid out for (Brother reports its media)."""
    JOB_FAILED = "job-failed"
    """The printer or CUPS took the job and reported it failed."""
    UNCONFIRMED = "unconfirmed"
    """The label was sent and its printing was not confirmed (it may have printed)."""


class PrinterError(SanitiserError):
    """A label that did not print, or was not confirmed."""

    def __init__(self, message: str, fault: Fault, *, delivered: bool = False) -> None:
        super().__init__(message, title="Printer")
        self.fault = fault
        self.delivered = delivered
        """True when label data reached the printer: it may have printed, so it is never
        sent again on its own (only by an explicit reprint)."""
