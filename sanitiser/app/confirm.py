"""The typed confirmation before an erase, one for the TUI and the CLI: the phrase names what
will be destroyed (a drive's serial tail, or how many drives), and what was typed is compared
without regard to case or spacing."""

from __future__ import annotations

from collections.abc import Sequence

from sanitiser.domain import Drive


def serial_tail(drive: Drive, length: int = 4) -> str:
    """The last characters of the serial (of the kernel name for a drive without one)."""
    text = drive.serial or drive.name
    return text[-length:]


def confirmation_phrase(drives: Sequence[Drive]) -> str:
    """What the technician must type to erase `drives`: it names what will be destroyed.

    One drive: ``ERASE <last 4 of its serial>``; several: ``ERASE <n> DRIVES``.

    Raises:
        ValueError: no drive is given.
    """
    if not drives:
        raise ValueError("no drive to confirm")
    if len(drives) == 1:
        return f"ERASE {serial_tail(drives[0])}"
    return f"ERASE {len(drives)} DRIVES"


def phrase_matches(typed: str, phrase: str) -> bool:
    """The typed text is the phrase (case and surrounding/double spaces do not matter)."""
    return " ".join(typed.split()).upper() == " ".join(phrase.split()).upper()


def taken_by_all(drive: Drive, *, lab_on: bool) -> bool:
    """Whether "all" (``wipe --all``, the TUI's ``a``) takes `drive`: with the lab bench on,
    the simulated drives only; a real drive beside the lab is never taken by "all" (it can
    still be chosen by name, and confirmed)."""
    return drive.simulated or not lab_on
