"""Click commands for keys, verification, labels and certificate export.

The lead registers them on the main group::

    from sanitiser.cli.certificates import keys, verify, label, make_cert_group
    main.add_command(keys); main.add_command(verify); main.add_command(label)
    main.add_command(make_cert_group(lookup))   # lookup(id) -> envelope bytes or None

Defaults: public certificates in ``./certs`` (``--certs``), private keys in
``<data_dir>/keys`` (``--keys``), organisation and station names from the settings.
"""

from __future__ import annotations

import json
import logging
import sys
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from sanitiser.certificate import keys as keymod
from sanitiser.certificate.issue import sign_and_render
from sanitiser.certificate.label import label_format, labels_pdf, labels_png
from sanitiser.certificate.qr import DEFAULT_BASE_URL
from sanitiser.certificate.record import UnusableInputError
from sanitiser.certificate.sign import SignedRecord, parse_envelope
from sanitiser.certificate.verify import (
    embedded_record,
    format_verdict,
    load_trust,
    read_input,
    require_verified,
    verify_device_drives,
    verify_input,
)
from sanitiser.cli.context import cli_context
from sanitiser.cli.errors import fail
from sanitiser.cli.options import (
    certs_option,
    keys_dir_or_default,
    keys_option,
    load_signer,
    passphrase_option,
    read_passphrase,
    station_option,
)
from sanitiser.cli.text import TypedText
from sanitiser.errors import CertificateError, SanitiserError
from sanitiser.runner import SubprocessRunner

RecordLookup = Callable[[str], bytes | None]
"""Finds a signed record envelope (bytes) by certificate id; None when unknown."""


def _new_passphrase(encrypt: bool, what: str) -> bytes | None:
    if not encrypt:
        return None
    text: str = click.prompt(
        f"Passphrase for the {what} key", hide_input=True, confirmation_prompt=True
    )
    return text.encode("utf-8")


base_url_option = click.option(
    "--base-url",
    type=TypedText("url", required=True),
    default=DEFAULT_BASE_URL,
    show_default=True,
    help="Verification URL base.",
)


@click.group("keys")
def keys() -> None:
    """Manage the trust chain: organisation CA, station keys, revocation."""


@keys.command("init-org")
@click.option(
    "--organisation",
    type=TypedText("organisation", required=True),
    default=None,
    help="Organisation name [default: settings].",
)
@click.option("--development", is_flag=True, help="Mark it DEVELOPMENT KEY (not for real use).")
@click.option(
    "--encrypt/--no-encrypt",
    default=True,
    show_default=True,
    help="Protect the CA key with a passphrase (asked for).",
)
@click.option("--force", is_flag=True, help="Replace an existing organisation CA.")
@certs_option
@keys_option
def init_org(  # noqa: PLR0917 - click passes each option as an argument
    organisation: str | None,
    development: bool,
    encrypt: bool,
    force: bool,
    certs: Path,
    keys_dir: Path | None,
) -> None:
    """Create the organisation CA (certs/org-ca.pem; private key 0600 under the data dir)."""
    try:
        org = organisation or str(cli_context().settings.organisation)
        kdir = keys_dir_or_default(keys_dir)
        passphrase = _new_passphrase(encrypt, "organisation CA")
        cert, key = keymod.init_org(
            certs, kdir, org, development=development, passphrase=passphrase, force=force
        )
    except SanitiserError as e:
        fail(e)
    click.echo(f"organisation CA: {cert}\nprivate key:     {key} (keep it offline)")


@keys.command("new-station")
@click.argument("name", type=TypedText("station"), required=False)
@click.option(
    "--encrypt/--no-encrypt",
    default=False,
    show_default=True,
    help="Protect the station key with a passphrase (asked for).",
)
@click.option(
    "--org-passphrase-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="File holding the CA key passphrase.",
)
@click.option("--force", is_flag=True, help="Replace an existing station certificate.")
@certs_option
@keys_option
def new_station(  # noqa: PLR0917 - click passes each option as an argument
    name: str | None,
    encrypt: bool,
    org_passphrase_file: Path | None,
    force: bool,
    certs: Path,
    keys_dir: Path | None,
) -> None:
    """Create a station key and certificate signed by the organisation CA."""
    try:
        station = name or str(cli_context().settings.station)
        kdir = keys_dir_or_default(keys_dir)
        org_pass = read_passphrase(org_passphrase_file)
        if org_pass is None and _org_key_encrypted(kdir):
            org_pass = click.prompt("Organisation CA passphrase", hide_input=True).encode()
        passphrase = _new_passphrase(encrypt, f"station {station}")
        cert, key = keymod.new_station(
            certs, kdir, station, org_passphrase=org_pass, passphrase=passphrase, force=force
        )
    except SanitiserError as e:
        fail(e)
    click.echo(f"station certificate: {cert}\nprivate key:         {key}")


def _org_key_encrypted(keys_dir: Path) -> bool:
    path = keys_dir / keymod.ORG_KEY_FILE
    return path.is_file() and b"ENCRYPTED" in path.read_bytes()[:64]


@keys.command("revoke")
@click.argument("name", type=TypedText("station"))
@click.option(
    "--reason",
    type=click.Choice([keymod.RETIRED, keymod.COMPROMISED]),
    required=True,
    help="retired: the station is taken out of service (its key destroyed); records it signed "
    "before the revocation stay valid. compromised: its key may be in other hands; no record "
    "it ever signed is trusted any more.",
)
@click.option(
    "--at",
    "at",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]),
    default=None,
    help="When the station stopped being allowed to sign (UTC; default now).",
)
@click.option(
    "--org-passphrase-file",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="File holding the CA key passphrase.",
)
@certs_option
@keys_option
def revoke(  # noqa: PLR0917 - click passes each option as an argument
    name: str,
    reason: str,
    at: datetime | None,
    org_passphrase_file: Path | None,
    certs: Path,
    keys_dir: Path | None,
) -> None:
    """Revoke a station certificate (adds it to certs/org-ca.crl, with its time and reason).

    From then on the station signs nothing (a running bench checks the list before every
    signature). Publish the new org-ca.crl wherever certificates are verified.
    """
    try:
        kdir = keys_dir_or_default(keys_dir)
        org_pass = read_passphrase(org_passphrase_file)
        if org_pass is None and _org_key_encrypted(kdir):
            org_pass = click.prompt("Organisation CA passphrase", hide_input=True).encode()
        when = at.replace(tzinfo=UTC) if at is not None else None
        path = keymod.revoke_station(
            certs, kdir, name, reason=reason, at=when, org_passphrase=org_pass
        )
    except SanitiserError as e:
        fail(e)
    click.echo(f"revocation list: {path} ({name}: {reason})")


@click.command("verify")
@click.argument("path_or_token")
@click.option(
    "--trust",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="PEM file of the organisation CA to trust (instead of certs/).",
)
@click.option(
    "--crl",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="A revocation list to apply as well.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@click.option(
    "--drives",
    "drives",
    multiple=True,
    type=click.Path(path_type=Path, exists=True),
    help="For a device certificate: its drives' certificates (files or a directory); each it "
    "names must verify and be the one it names.",
)
@certs_option
def verify(  # noqa: PLR0917 - click passes each option as an argument
    path_or_token: str,
    trust: Path | None,
    crl: Path | None,
    as_json: bool,
    drives: tuple[Path, ...],
    certs: Path,
) -> None:
    """Verify a certificate PDF, signed JSON record, QR token/URL, QR image, or a signed
    consignment manifest (PDF or JSON).

    Exit status: 0 valid, 1 invalid (the reason is printed: altered, untrusted, revoked,
    malformed), 2 unusable input (not a certificate, no trust anchor, or too big to check: a
    file over 64 MiB, an image over 64 megapixels, a PDF that expands past what a certificate
    holds; such input is never read whole).
    """
    logging.getLogger("pyhanko").setLevel(logging.CRITICAL)  # verdict says it; no log noise
    logging.getLogger("pyhanko_certvalidator").setLevel(logging.CRITICAL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # hostile input makes parsers warn; the verdict decides
        try:
            trust_store = load_trust(certs, trust, crl)
        except CertificateError as e:
            _emit_unusable(e.msg, as_json)
            sys.exit(2)
        verdict = verify_input(path_or_token, trust_store, SubprocessRunner())
        if drives:
            verdict = verify_device_drives(
                verdict, path_or_token, drives, trust_store, SubprocessRunner()
            )
    if as_json:
        click.echo(json.dumps(verdict.to_dict(), indent=2, sort_keys=True, ensure_ascii=True))
    else:
        click.echo(format_verdict(verdict))
    sys.exit(verdict.exit_code)


def _emit_unusable(reason: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"validity": "unusable", "valid": False, "reason": reason}))
    else:
        click.echo(f"CANNOT VERIFY: {reason}", err=True)


def read_signed(source: str, lookup: RecordLookup | None = None) -> tuple[SignedRecord, str | None]:
    """A signed record from a JSON envelope file, a PDF certificate, or an id via `lookup`;
    and the id it was looked up by (None for a file), which `require_verified` checks.

    Raises:
        CertificateError: not found, or not a signed record.
    """
    path = Path(source)
    if path.is_file():
        data = read_input(path)
        if data.startswith(b"%PDF-"):
            try:
                data = embedded_record(data)
            except CertificateError:
                raise
            except Exception as e:  # hostile PDF: any parser error means "damaged"
                raise CertificateError(f"{source}: cannot read the embedded record ({e})") from e
        return parse_envelope(data), None
    found = lookup(source) if lookup is not None else None
    if found is None:
        raise UnusableInputError(f"{source}: no such file or certificate id")
    return parse_envelope(found), source


def _write_labels(path: Path, items: list[tuple[dict[str, Any], str]], fmt_name: str) -> None:
    fmt = label_format(fmt_name)
    if path.suffix.lower() == ".png":
        pages = labels_png(items, fmt)
        for i, png in enumerate(pages):
            target = path if i == 0 else path.with_name(f"{path.stem}-{i + 1}{path.suffix}")
            target.write_bytes(png)
    else:
        path.write_bytes(labels_pdf(items, fmt))


@click.command("label")
@click.argument("records", nargs=-1, required=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["62mm", "29x90", "a4"]),
    default="62mm",
    show_default=True,
    help="Label stock.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Output file: .pdf, or .png (one image per page).",
)
@certs_option
@keys_option
@station_option
@passphrase_option
@base_url_option
def label(  # noqa: PLR0917 - click passes each option as an argument
    records: tuple[str, ...],
    fmt: str,
    out: Path,
    certs: Path,
    keys_dir: Path | None,
    station: str | None,
    passphrase_file: Path | None,
    base_url: str,
) -> None:
    """Render QR labels for signed records (JSON or PDF files) as PDF or PNG."""
    try:
        signer = load_signer(certs, keys_dir, station, passphrase_file)
        items = []
        for source in records:
            signed, looked_up = read_signed(source)
            issued = sign_and_render(signed, signer, base_url, certificate_id=looked_up)
            items.append((issued.signed.record, issued.url))
        _write_labels(out, items, fmt)
    except SanitiserError as e:
        fail(e)
    click.echo(f"labels: {out}")


def make_cert_group(lookup: RecordLookup | None = None) -> click.Group:
    """The ``cert`` command group; `lookup` finds a stored record envelope by certificate id."""

    @click.group("cert")
    def cert() -> None:
        """Export certificates."""

    @cert.command("export")
    @click.argument("id_or_file")
    @click.option(
        "--pdf",
        "pdf_out",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="Write the signed PDF certificate here.",
    )
    @click.option(
        "--json",
        "json_out",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="Write the signed JSON record here.",
    )
    @click.option(
        "--label",
        "label_out",
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        help="Write a label (.pdf or .png) here.",
    )
    @click.option(
        "--label-format",
        type=click.Choice(["62mm", "29x90", "a4"]),
        default="62mm",
        show_default=True,
    )
    @certs_option
    @keys_option
    @station_option
    @passphrase_option
    @base_url_option
    def export(  # noqa: PLR0917 - click passes each option as an argument
        id_or_file: str,
        pdf_out: Path | None,
        json_out: Path | None,
        label_out: Path | None,
        label_format: str,
        certs: Path,
        keys_dir: Path | None,
        station: str | None,
        passphrase_file: Path | None,
        base_url: str,
    ) -> None:
        """Export a certificate (by id, or from a signed JSON/PDF file) as PDF, JSON, label.

        The record must verify first (signature, chain to the organisation CA in --certs,
        revocation): an altered or foreign record is refused and nothing is written or signed.
        """
        if pdf_out is None and json_out is None and label_out is None:
            fail(
                UnusableInputError(
                    "nothing to export: give --pdf FILE, --json FILE and/or --label FILE"
                )
            )
        try:
            signed, looked_up = read_signed(id_or_file, lookup)
            # never pass on an altered, foreign or swapped-in record
            verified = require_verified(signed, load_trust(certs), certificate_id=looked_up)
            if json_out is not None:
                json_out.write_bytes(verified.signed.to_bytes())
                click.echo(f"record: {json_out}")
            if pdf_out is not None or label_out is not None:
                signer = load_signer(certs, keys_dir, station, passphrase_file)
                issued = sign_and_render(signed, signer, base_url, certificate_id=looked_up)
                if pdf_out is not None:
                    pdf_out.write_bytes(issued.pdf)
                    click.echo(f"certificate: {pdf_out}")
                if label_out is not None:
                    _write_labels(label_out, [(signed.record, issued.url)], label_format)
                    click.echo(f"label: {label_out}")
        except SanitiserError as e:
            fail(e)

    return cert


cert = make_cert_group()
"""The ``cert`` group with file-only export (the lead re-creates it with a store lookup)."""
