"""Click commands: ``sanitiser audit``, ``sanitiser destinations`` and ``sanitiser consignment``.

The store is the one in the settings (``SANITISER_DATABASE_URL`` or SQLite in the data
directory); events are written to this station's audit chain (``SANITISER_STATION``).
``audit verify`` exits 0 when every chain is intact, 1 when one is broken, 2 on an error.
"""

from __future__ import annotations

import dataclasses
import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from sanitiser.cli.context import cli_context
from sanitiser.cli.errors import EXIT_NOT_DONE, user_errors
from sanitiser.cli.options import (
    certs_option,
    keys_option,
    load_signer,
    passphrase_option,
)
from sanitiser.cli.text import TypedText
from sanitiser.config import Settings
from sanitiser.custody.anchors import CHECKPOINTS_FILE, check_anchors, gather_anchors
from sanitiser.errors import SanitiserError
from sanitiser.routing.destinations import DestinationView
from sanitiser.store import Store
from sanitiser.store.audit import AuditEntryView, entries, verify_chain
from sanitiser.store.consignments import (
    CANCELLED,
    ConsignmentView,
    add_certificates,
    cancel_consignment,
    close_consignment,
    consignment_items,
    get_consignment,
    list_consignments,
    open_consignment,
)
from sanitiser.store.destinations import add_destination, list_destinations, remove_destination

EXIT_BROKEN = EXIT_NOT_DONE


@contextmanager
def _errors() -> Iterator[None]:
    """A SanitiserError becomes its one line on stderr and exit status 2 (`report_error`)."""
    with user_errors():
        yield


def _context() -> tuple[Settings, Store]:
    cli = cli_context()
    return cli.settings, cli.store()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


operator_option = click.option(
    "--operator",
    type=TypedText("operator", required=True),
    default=None,
    help="Who is doing this [default: the login name].",
)


# --- audit ---------------------------------------------------------------------------------


def _entry_line(e: AuditEntryView) -> str:
    facts = ", ".join(f"{k}={v}" for k, v in sorted(e.data.items()) if k not in ("serial",))
    who = f" by {e.actor}" if e.actor else ""
    return (
        f"{e.station}#{e.seq:<5} {e.at}  {e.kind:<19} {e.subject}"
        f"{f' [{e.ref}]' if e.ref and e.ref != e.subject else ''}{who}  {facts}"
    )


def _entry_json(e: AuditEntryView) -> dict[str, Any]:
    return {
        "station": e.station,
        "seq": e.seq,
        "at": e.at,
        "kind": e.kind,
        "subject": e.subject,
        "ref": e.ref,
        "actor": e.actor,
        "data": dict(e.data),
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    }


@click.group("audit")
def audit() -> None:
    """The hash-chained audit log: chain of custody and registry changes, per station."""


@audit.command("verify")
@click.option("--station", default=None, help="Check only this station's chain.")
@click.option(
    "--certs",
    "certs_dir",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="Also check the chain positions recorded in these certificates and consignment "
    "manifests (.json/.pdf) and copies of checkpoints files (.jsonl).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def audit_verify(station: str | None, certs_dir: Path | None, as_json: bool) -> None:
    """Recompute every chain; report the first broken link (exit 1) if rows were edited,
    deleted or reordered in the database. Then check the chains against what was signed
    about them: the chain position every certificate recorded at issuance (the store's own,
    and those in --certs) and the stations' signed checkpoints (kept in the store, and in
    DATA_DIR/custody-checkpoints.jsonl beside it; in a fleet each also vouches for the other
    stations' heads). Each certificate or checkpoint whose anchored entry is missing or
    different is reported: the chain was cut short or rewritten (exit 1)."""
    with _errors():
        settings, store = _context()
        report = verify_chain(store, station)
        anchors = [
            a
            for a in gather_anchors(store, certs_dir, settings.data_dir / CHECKPOINTS_FILE)
            if station is None or a.station == station
        ]
        cut = check_anchors(store, anchors)
    if cut and report.ok:
        report = dataclasses.replace(report, ok=False)
    if as_json:
        broken = report.first_broken
        click.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "entries": report.entries,
                    "stations": dict(report.stations),
                    "first_broken": None
                    if broken is None
                    else {"station": broken.station, "seq": broken.seq, "reason": broken.reason},
                    "anchors_checked": len(anchors),
                    "anchor_problems": cut,
                },
                indent=2,
            )
        )
    elif report.first_broken is None and not cut:
        chains = ", ".join(f"{name}: {n}" for name, n in report.stations) or "no entries yet"
        click.echo(
            f"audit log intact: {report.entries} entries ({chains}); "
            f"{len(anchors)} signed anchor(s) agree"
        )
    elif report.first_broken is None:
        for problem in cut:
            click.echo(f"audit log CUT SHORT OR REWRITTEN: {problem}")
    else:
        b = report.first_broken
        click.echo(
            f"audit log BROKEN: station {b.station}, entry {b.seq}: {b.reason} "
            f"({report.entries} entries checked)"
        )
    if not report.ok:
        sys.exit(EXIT_BROKEN)


@audit.command("show")
@click.option("--station", default=None, help="Only this station's chain.")
@click.option("--subject", default=None, help="Only entries about this drive key or name.")
@click.option("--ref", default=None, help="Only entries citing this certificate/consignment id.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one list).")
def audit_show(
    station: str | None, subject: str | None, ref: str | None, limit: int, as_json: bool
) -> None:
    """Show the newest audit entries, oldest first."""
    with _errors():
        _, store = _context()
        found = entries(store, station=station, subject=subject, ref=ref, limit=limit)
    if as_json:
        click.echo(json.dumps([_entry_json(e) for e in found], indent=2))
        return
    if not found:
        click.echo("No audit entries.")
    for e in found:
        click.echo(_entry_line(e))


# --- destinations --------------------------------------------------------------------------


def _destination_line(d: DestinationView) -> str:
    retired = "" if d.active else "  (removed)"
    scheme = f"  scheme: {d.scheme}" if d.scheme else ""
    accepts = ",".join(k.value for k in d.accepts)
    return (
        f"{d.name:<28} {d.kind.value:<8} accepts {accepts}  contact: {d.contact}{scheme}{retired}"
    )


@click.group("destinations")
def destinations() -> None:
    """The destinations registry: reuse schemes, recyclers, destruction providers."""


@destinations.command("add")
@click.argument("name", type=TypedText("name", required=True))
@click.option(
    "--kind",
    required=True,
    type=click.Choice(["reuse", "recycle", "destroy"]),
    help="What it does.",
)
@click.option(
    "--contact",
    type=TypedText("contact", required=True),
    required=True,
    help="Who collects and how to reach them.",
)
@click.option(
    "--accepts", required=True, help="Device kinds it takes, e.g. hdd,ssd,nvme,usb-flash."
)
@click.option(
    "--scheme",
    type=TypedText("scheme"),
    default="",
    help="Scheme or accreditation (WEEE scheme, ISO 21964 ...).",
)
@click.option("--notes", type=TypedText("notes"), default="", help="Free text.")
@operator_option
def destinations_add(  # noqa: PLR0917 - click passes each option as an argument
    name: str, kind: str, contact: str, accepts: str, scheme: str, notes: str, operator: str | None
) -> None:
    """Register a destination NAME."""
    with _errors():
        settings, store = _context()
        view = add_destination(
            store,
            name,
            kind=kind,
            contact=contact,
            accepts=accepts,
            scheme=scheme,
            notes=notes,
            station=settings.station,
            actor=operator or _user(),
        )
    click.echo(f"added {_destination_line(view)}")


@destinations.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include removed destinations.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def destinations_list(show_all: bool, as_json: bool) -> None:
    """List the registered destinations."""
    with _errors():
        _, store = _context()
        found = list_destinations(store, include_removed=show_all)
    if as_json:
        click.echo(json.dumps([d.as_json() for d in found], indent=2))
        return
    if not found:
        click.echo("No destinations; add one with 'sanitiser destinations add'.")
    for d in found:
        click.echo(_destination_line(d))


@destinations.command("remove")
@click.argument("name", type=TypedText("name", required=True))
@operator_option
def destinations_remove(name: str, operator: str | None) -> None:
    """Remove destination NAME (its past consignments keep naming it)."""
    with _errors():
        settings, store = _context()
        remove_destination(store, name, station=settings.station, actor=operator or _user())
    click.echo(f"removed {name}")


# --- consignments --------------------------------------------------------------------------


def _consignment_line(c: ConsignmentView) -> str:
    if c.state == CANCELLED:
        when = f" {c.closed_at:%Y-%m-%d %H:%M}" if c.closed_at else ""
        return f"{c.id}  {c.state} {c.destination}{when} by {c.closed_by}: nothing left"
    closed = (
        f", handed over {c.closed_at:%Y-%m-%d %H:%M} to {c.collector} by {c.closed_by}"
        if c.closed_at
        else ""
    )
    manifest = "manifest ready" if c.manifest_sha256 else "no manifest"
    return f"{c.id}  {c.state:<6} {c.destination}  {c.items} device(s), {manifest}{closed}"


@click.group("consignment")
def consignment() -> None:
    """Hand devices over: open a consignment, add certificates, make the manifest, close (or
    cancel one opened by mistake)."""


@consignment.command("open")
@click.argument("destination", type=TypedText("name", required=True))
@operator_option
@click.option("--json", "as_json", is_flag=True, help="Print the consignment as JSON.")
def consignment_open(destination: str, operator: str | None, as_json: bool) -> None:
    """Open a consignment for DESTINATION; prints its id."""
    with _errors():
        settings, store = _context()
        view = open_consignment(
            store, destination, station=settings.station, operator=operator or _user()
        )
    click.echo(json.dumps(view.as_json(), indent=2) if as_json else view.id)


@consignment.command("add")
@click.argument("consignment_id")
@click.argument("certificate_ids", nargs=-1, required=True)
@operator_option
def consignment_add(
    consignment_id: str, certificate_ids: tuple[str, ...], operator: str | None
) -> None:
    """Add drives and devices to open consignment CONSIGNMENT_ID (all or none): each by a
    drive certificate id, a device certificate id, or a device tag (its current certificate)."""
    with _errors():
        settings, store = _context()
        added = add_certificates(
            store,
            consignment_id,
            list(certificate_ids),
            station=settings.station,
            operator=operator or _user(),
        )
    for item in added:
        click.echo(f"added {item.certificate_id} ({item.media_kind} {item.serial})")


@consignment.command("manifest")
@click.argument("consignment_id")
@click.option("--pdf", "pdf_path", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.option("--csv", "csv_path", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also write the signed manifest record (canonical JSON).",
)
@certs_option
@keys_option
@passphrase_option
@operator_option
def consignment_manifest(  # noqa: PLR0917 - click passes each option as an argument
    consignment_id: str,
    pdf_path: Path | None,
    csv_path: Path | None,
    json_path: Path | None,
    certs: Path,
    keys_dir: Path | None,
    passphrase_file: Path | None,
    operator: str | None,
) -> None:
    """Make the signed manifest of an open consignment (PDF and CSV) for the collector to
    sign off; for a closed one, write the manifest it was closed with."""
    from sanitiser.custody.manifest import issue_manifest, stored_manifest  # noqa: PLC0415

    if pdf_path is None and csv_path is None and json_path is None:
        raise click.UsageError("say where to write the manifest: --pdf, --csv and/or --json")
    with _errors():
        settings, store = _context()
        view = get_consignment(store, consignment_id)
        if view is not None and view.state == CANCELLED:
            raise SanitiserError(f"consignment {consignment_id} was cancelled: it has no manifest")
        if view is not None and not view.is_open:
            issued = stored_manifest(store, consignment_id)
            if issued is None:
                raise SanitiserError(f"consignment {consignment_id} was closed without a manifest")
        else:
            signer = load_signer(certs, keys_dir, settings.station, passphrase_file)
            issued = issue_manifest(
                store,
                consignment_id,
                signer,
                station=settings.station,
                operator=operator or _user(),
            )
        for path, data in (
            (pdf_path, issued.pdf),
            (csv_path, issued.csv),
            (json_path, issued.envelope),
        ):
            if path is not None:
                try:
                    path.write_bytes(data)
                except OSError as e:
                    raise SanitiserError(f"cannot write {path}: {e.strerror}") from e
    click.echo(
        f"manifest of {issued.consignment_id}: {issued.signed.record['count']} device(s), "
        f"SHA-256 {issued.sha256}"
    )


@consignment.command("close")
@click.argument("consignment_id")
@click.option(
    "--collector",
    type=TypedText("collector", required=True),
    required=True,
    help="Who collected and signed the manifest off.",
)
@click.option(
    "--operator",
    type=TypedText("operator", required=True),
    required=True,
    help="Who handed the devices over.",
)
def consignment_close(consignment_id: str, collector: str, operator: str) -> None:
    """Close CONSIGNMENT_ID: its devices are handed over to the collector."""
    with _errors():
        settings, store = _context()
        view = close_consignment(
            store, consignment_id, collector=collector, operator=operator, station=settings.station
        )
    click.echo(f"closed {_consignment_line(view)}")


@consignment.command("cancel")
@click.argument("consignment_id")
@click.option(
    "--reason",
    type=TypedText("reason", required=True),
    required=True,
    help="Why it is called off (kept in the audit chain).",
)
@click.option(
    "--operator",
    type=TypedText("operator", required=True),
    required=True,
    help="Who cancels it.",
)
def consignment_cancel(consignment_id: str, reason: str, operator: str) -> None:
    """Cancel open consignment CONSIGNMENT_ID: nothing is handed over; it is kept as cancelled
    in the audit chain, its drives and devices are taken out (free to be consigned again), and
    its destination can be removed. A closed consignment cannot be cancelled."""
    with _errors():
        settings, store = _context()
        view = cancel_consignment(
            store, consignment_id, reason=reason, operator=operator, station=settings.station
        )
    click.echo(f"cancelled {_consignment_line(view)}")


@consignment.command("list")
@click.option("--state", type=click.Choice(["open", "closed", "cancelled"]), default=None)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def consignment_list(state: str | None, as_json: bool) -> None:
    """List consignments, newest first."""
    with _errors():
        _, store = _context()
        found = list_consignments(store, state=state)
    if as_json:
        click.echo(json.dumps([c.as_json() for c in found], indent=2))
        return
    if not found:
        click.echo("No consignments.")
    for c in found:
        click.echo(_consignment_line(c))


@consignment.command("show")
@click.argument("consignment_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def consignment_show(consignment_id: str, as_json: bool) -> None:
    """Show a consignment and its devices."""
    with _errors():
        _, store = _context()
        view = get_consignment(store, consignment_id)
        if view is None:
            raise SanitiserError(f"no consignment {consignment_id}")
        items = consignment_items(store, consignment_id)
    if as_json:
        facts = view.as_json()
        facts["devices"] = [
            {
                "certificate_id": i.certificate_id,
                "serial": i.serial,
                "model": i.model,
                "media_kind": i.media_kind,
                "method": i.method,
                "outcome": i.outcome,
                "health_grade": i.health_grade,
                "handed_over": i.handed_over,
            }
            for i in items
        ]
        click.echo(json.dumps(facts, indent=2))
        return
    click.echo(_consignment_line(view))
    for i in items:
        state = "handed over" if i.handed_over else "routed"
        click.echo(
            f"  {i.certificate_id}  {i.media_kind:<9} {i.serial:<20} {i.method} "
            f"{i.outcome} grade {i.health_grade}  {state}"
        )
