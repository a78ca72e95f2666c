"""The key and certificate options shared by every command that signs or checks (one place).

``--certs`` (public certificates, default the settings' ``certs_dir``), ``--keys`` (private
keys, default ``<data_dir>/keys``), ``--station`` and ``--passphrase-file``, and `load_signer`,
which turns them into the station's signer, asking for the passphrase on a terminal when the
key is encrypted and no file was given. Light on purpose: the ``consignment`` and
``destinations`` commands import it without the PDF stack.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from sanitiser.cli.context import cli_context
from sanitiser.cli.text import TypedText
from sanitiser.errors import CertificateError, SanitiserError

if TYPE_CHECKING:
    from sanitiser.certificate.keys import StationSigner

DEFAULT_CERTS = Path("certs")


def default_certs_dir() -> Path:
    """The settings' `certs_dir` (SANITISER_CERTS_DIR), or ./certs if settings are bad."""
    try:
        return Path(cli_context().settings.certs_dir)
    except SanitiserError:
        return DEFAULT_CERTS


def keys_dir_or_default(option: Path | None) -> Path:
    """The ``--keys`` directory, else ``<data_dir>/keys``."""
    return option if option is not None else Path(cli_context().settings.data_dir) / "keys"


def read_passphrase(path: Path | None) -> bytes | None:
    """A passphrase file's content without its line ending (None: no file, or empty)."""
    if path is None:
        return None
    data = path.read_bytes().rstrip(b"\r\n")
    return data or None


def load_signer(
    certs: Path, keys_dir: Path | None, station: str | None, passphrase_file: Path | None
) -> StationSigner:
    """The station's signer from the options; prompts for the passphrase on a terminal.

    Raises:
        CertificateError: no key or certificate, a wrong passphrase, or an encrypted key with
            no passphrase and no terminal to ask on.
    """
    from sanitiser.certificate.keys import load_station_signer  # noqa: PLC0415 - import cost

    name = station or str(cli_context().settings.station)
    kdir = keys_dir_or_default(keys_dir)
    passphrase = read_passphrase(passphrase_file)
    try:
        return load_station_signer(certs, kdir, name, passphrase)
    except CertificateError as e:
        if "passphrase is needed" not in e.msg or not sys.stdin.isatty():
            raise
    text: str = click.prompt(f"Passphrase for station {name}", hide_input=True)
    return load_station_signer(certs, kdir, name, text.encode("utf-8"))


certs_option = click.option(
    "--certs",
    "certs",
    type=click.Path(path_type=Path, file_okay=False),
    default=default_certs_dir,
    show_default="settings certs_dir: DATA_DIR/certs",
    help="Directory of public certificates (org-ca.pem, station-*.pem, org-ca.crl).",
)
keys_option = click.option(
    "--keys",
    "keys_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Directory of private keys [default: <data_dir>/keys].",
)
station_option = click.option(
    "--station", type=TypedText("station"), default=None, help="Station name [default: settings]."
)
passphrase_option = click.option(
    "--passphrase-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="File holding the station key passphrase (else asked for when needed).",
)
