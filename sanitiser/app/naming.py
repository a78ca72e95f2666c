"""Who is operating, and which drive a name on the command line means (the CLI's and the
device desk's one reading of both)."""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sanitiser.domain import Drive
from sanitiser.text import clean_text

if TYPE_CHECKING:  # annotations only: who operates is asked where no store is (the agent)
    from sanitiser.app.services import DriveStatus


def session_operator(given: str | None) -> str:
    """Who is operating: ``--operator``, else ``SANITISER_OPERATOR``, else the login name.

    Raises:
        TextInputError: the name given carries characters a record may not (or is too long).
    """
    if given is not None:
        return clean_text(given, "--operator", kind="operator", required=True)
    env = os.environ.get("SANITISER_OPERATOR", "")
    if env:
        return clean_text(env, "SANITISER_OPERATOR", kind="operator", required=True)
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def names_drive(drive: Drive, wanted: str) -> bool:
    """True when `wanted` is one of the drive's non-empty identifiers (path, kernel name, by-id
    link, serial), or a /dev path that resolves to the drive's node."""
    names = {n for n in (drive.path, drive.name, drive.by_id, drive.serial) if n.strip()}
    real = os.path.realpath(wanted) if wanted.startswith("/dev/") else ""
    return wanted in names or (bool(real) and real == drive.path)


def match_drive(statuses: Sequence[DriveStatus], wanted: str) -> DriveStatus | str:
    """The one drive `wanted` names, or why it names none.

    A blank name never matches (a script's unset variable must not pick a drive whose serial is
    empty), and a name that fits more than one drive is refused rather than guessed.
    """
    if not wanted.strip():
        return "an empty name matches no drive (an unset variable?)"
    found = [st for st in statuses if names_drive(st.drive, wanted)]
    paths = sorted({st.drive.path for st in found})
    if len(paths) > 1:
        return f"{wanted!r} names more than one drive ({', '.join(paths)}): use the device path"
    return found[0] if found else "no such drive (see 'sanitiser scan')"
