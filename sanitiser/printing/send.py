"""One entry for every printer: `print_label` makes the label ready for the printer at an
address (`sanitiser.labels.jobs.prepare`) and sends it the way its language needs."""

from __future__ import annotations

from dataclasses import dataclass

from sanitiser.labels.address import Language, PrinterAddress
from sanitiser.labels.content import Label
from sanitiser.labels.jobs import prepare
from sanitiser.printing.cups import print_cups
from sanitiser.printing.direct import Opener, open_channel, print_direct
from sanitiser.runner import CommandRunner


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long a printer is waited for (seconds)."""

    answer: float = 10.0
    """To connect, to answer a status query, to take data, to confirm each copy."""
    cups_job: float = 120.0
    """For CUPS to finish a job."""


def print_label(
    label: Label,
    address: PrinterAddress,
    copies: int,
    runner: CommandRunner,
    timeouts: Timeouts = Timeouts(),
    *,
    opener: Opener = open_channel,
) -> str:
    """Print `copies` of `label` at `address`; what the printer or CUPS confirmed.

    Raises:
        PrinterError: a printer fault (and whether it may have printed).
        LabelError, BrotherError, ZplError: the label cannot be made for this printer.
    """
    prepared = prepare(label, address, copies)
    if address.language is Language.CUPS:
        title = f"{label.kind.value} {label.subject}"
        return print_cups(
            runner,
            address,
            prepared,
            copies,
            timeout=timeouts.answer,
            wait=timeouts.cups_job,
            title=title,
        )
    return print_direct(address, prepared, copies, timeouts.answer, opener)
