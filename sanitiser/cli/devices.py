"""``sanitiser device``: devices (laptops, desktops, tablets, monitors, docks) taken in, their
drives linked, their facts and grades recorded, their readiness shown and exported.

Every command is a thin shell over `sanitiser.app.devices.DeviceDesk` (the TUI's intake and
grading screens use the same desk); ``--json`` prints what scripts rely on.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from sanitiser.app.devices import DeviceDesk, DeviceReport, write_issued
from sanitiser.app.naming import session_operator
from sanitiser.app.services import station_signer
from sanitiser.assets.export import export_csv, export_json, export_row
from sanitiser.assets.facts import (
    Typed,
    drives_summary,
    from_captures,
    spec_lines,
    typed_inventory,
)
from sanitiser.assets.model import CHECKS, COSMETIC_GRADES, LOCKS, DeviceKind
from sanitiser.cli.context import cli_context
from sanitiser.cli.text import TypedText

_KINDS = [k.value for k in DeviceKind] + ["dock"]

operator_option = click.option(
    "--operator",
    type=TypedText("operator", required=True),
    default=None,
    help="Who does it (default: SANITISER_OPERATOR, else the login name).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
policy_option = click.option(
    "--policy",
    default=None,
    help="The policy whose [devices] rules decide readiness [default: settings device_policy].",
)


def _desk(operator: str | None = None, policy: str | None = None) -> DeviceDesk:
    cli = cli_context()
    return DeviceDesk(
        cli.services(cli.lab_choice(False, None)), session_operator(operator), policy=policy
    )


def _show(report: DeviceReport, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2, sort_keys=True))
        return
    d, r = report.device, report.readiness
    i = d.intake
    click.echo(f"{d.tag}  {i.kind.value}  {i.make} {i.model}".rstrip())
    for label, value in (
        ("service tag", i.service_tag),
        ("serial", i.serial),
        ("lot", i.lot),
        ("state", d.state.value),
        ("received", f"{d.received_at:%Y-%m-%d %H:%M} by {d.received_by} at {d.station}"),
        ("grade", d.cosmetic or "not graded"),
    ):
        if value:
            click.echo(f"  {label + ':':13}{value}")
    if d.inventory is not None:
        click.echo(f"  facts ({d.inventory_source}):")
        for label, value in spec_lines(d.inventory):
            click.echo(f"    {label + ':':14}{value}")
    for name, check in sorted(d.checks.items()):
        click.echo(f"  check {name}: {check.result} ({check.operator}, {check.at})")
    for name, state in sorted(d.locks.items()):
        click.echo(f"  lock {name}: {state}")
    if not d.holds_data:
        click.echo("  drives:      none (holds no data-bearing media)")
    for drive in d.drives:
        cert = drive.certificate_id or "no certificate yet"
        sim = " [SIMULATED]" if drive.simulated else ""
        click.echo(
            f"  drive {drive.serial or drive.drive_key} {drive.model}: {cert} {drive.outcome}{sim}"
        )
    click.echo(f"  readiness ({r.policy}):")
    for line in r.explain().splitlines():
        click.echo(f"    {line}")
    for note in r.notes:
        click.echo(f"  note: {note}")


@click.group("device")
def device() -> None:
    """Devices (laptops, desktops, tablets, monitors ...): intake, drives, grades, readiness."""


@device.command("add")
@click.option("--kind", type=click.Choice(_KINDS, case_sensitive=False), required=True)
@click.option(
    "--tag",
    type=TypedText("tag", required=True),
    required=True,
    help="Asset tag (typed or scanned).",
)
@click.option("--service-tag", type=TypedText("tag"), default="", help="The maker's service tag.")
@click.option("--make", type=TypedText("name"), default="")
@click.option("--model", type=TypedText("model"), default="")
@click.option("--serial", type=TypedText("tag"), default="")
@click.option("--lot", type=TypedText("name"), default="", help="Collection or lot it came in.")
@click.option("--notes", type=TypedText("notes"), default="")
@operator_option
@json_option
def add(  # noqa: PLR0917 - click passes each option as an argument
    kind: str,
    tag: str,
    service_tag: str,
    make: str,
    model: str,
    serial: str,
    lot: str,
    notes: str,
    operator: str | None,
    as_json: bool,
) -> None:
    """Take a device in: its record opens and the custody chain records ``received``."""
    desk = _desk(operator)
    dev = desk.intake(
        kind=kind,
        tag=tag,
        service_tag=service_tag,
        make=make,
        model=model,
        serial=serial,
        lot=lot,
        notes=notes,
    )
    if as_json:
        click.echo(json.dumps(dev.as_json(), indent=2, sort_keys=True))
    else:
        click.echo(f"{dev.tag}: {dev.kind.value} received")


@device.command("show")
@click.argument("tag")
@policy_option
@json_option
def show(tag: str, policy: str | None, as_json: bool) -> None:
    """A device: its record, drives with their certificates, readiness and destination."""
    _show(_desk(policy=policy).report(tag), as_json)


@device.command("list")
@click.option("--kind", type=click.Choice(_KINDS, case_sensitive=False), default=None)
@click.option("--state", default=None, help="Only devices in this state (received, ready ...).")
@json_option
def list_cmd(kind: str | None, state: str | None, as_json: bool) -> None:
    """Devices taken in, oldest first."""
    found = _desk().list(kind="docking-station" if kind == "dock" else kind, state=state)
    if as_json:
        click.echo(json.dumps([d.as_json() for d in found], indent=2, sort_keys=True))
        return
    for d in found:
        drives = drives_summary(d)
        click.echo(
            f"{d.tag:20} {d.kind.value:15} {d.state.value:10} {d.cosmetic or '-':2} {drives:22} "
            f"{d.destination or '-':10} {d.intake.make} {d.intake.model}".rstrip()
        )


@device.command("link")
@click.argument("tag")
@click.argument("drives", nargs=-1, required=True)
@operator_option
@json_option
def link(tag: str, drives: tuple[str, ...], operator: str | None, as_json: bool) -> None:
    """Link drives (path, kernel name, serial or drive key) to the device they came out of."""
    desk = _desk(operator)
    dev, lines = desk.link(tag, drives)
    if as_json:
        click.echo(json.dumps(dev.as_json(), indent=2, sort_keys=True))
    else:
        click.echo("\n".join(lines))


@device.command("grade")
@click.argument("tag")
@click.option("--cosmetic", type=click.Choice(COSMETIC_GRADES, case_sensitive=False), default=None)
@click.option(
    "--check", "checks", multiple=True, help=f"NAME=pass|fail|n/a; NAME: {', '.join(CHECKS)}."
)
@click.option(
    "--lock", "locks", multiple=True, help=f"NAME=present|cleared|none; NAME: {', '.join(LOCKS)}."
)
@operator_option
@policy_option
@json_option
def grade(  # noqa: PLR0917 - click passes each option as an argument
    tag: str,
    cosmetic: str | None,
    checks: tuple[str, ...],
    locks: tuple[str, ...],
    operator: str | None,
    policy: str | None,
    as_json: bool,
) -> None:
    """Record the cosmetic grade, functional checks and locks (each with operator and time)."""
    report = _desk(operator, policy).grade(tag, cosmetic=cosmetic, checks=checks, locks=locks)
    _show(report, as_json)


@device.command("inventory")
@click.argument("tag")
@click.option(
    "--dmidecode",
    "dmidecode",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    default=None,
    help="A dmidecode dump captured on the device (our USB agent's, or 'dmidecode > file').",
)
@click.option(
    "--battery-uevent",
    "uevents",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="A /sys/class/power_supply/BAT*/uevent captured on the device (repeatable).",
)
@click.option("--ram-gb", type=click.FloatRange(0.25, 65536), default=None, help="Memory, typed.")
@click.option("--cpu", type=TypedText("model"), default=None, help="Processor model, typed.")
@click.option("--bios-date", default=None, help="BIOS release date YYYY-MM-DD, typed.")
@click.option(
    "--battery-health", type=click.FloatRange(0, 150), default=None, help="Percent, typed."
)
@click.option("--tpm", type=click.Choice(["2.0", "1.2", "none"]), default=None)
@click.option(
    "--secure-boot",
    type=click.Choice(["enabled", "disabled", "unsupported", "unknown"]),
    default=None,
)
@operator_option
@policy_option
@json_option
def inventory(  # noqa: PLR0917 - click passes each option as an argument
    tag: str,
    dmidecode: Path | None,
    uevents: tuple[Path, ...],
    ram_gb: float | None,
    cpu: str | None,
    bios_date: str | None,
    battery_health: float | None,
    tpm: str | None,
    secure_boot: str | None,
    operator: str | None,
    policy: str | None,
    as_json: bool,
) -> None:
    """Record the computer's own facts: from a captured dmidecode dump (and battery files), or
    typed; typed values complete or correct a dump. One ``inventoried`` custody entry."""
    desk = _desk(operator, policy)
    typed = Typed(ram_gb, cpu, bios_date, battery_health, tpm, secure_boot)
    if dmidecode is not None:
        facts = from_captures(
            dmidecode.read_text(encoding="utf-8", errors="replace"),
            uevents=[(p.parent.name or p.name, p.read_text(encoding="utf-8")) for p in uevents],
            typed=typed,
        )
        source = "dmidecode" + (" + typed" if typed != Typed() else "")
    elif uevents:
        raise click.UsageError("--battery-uevent needs --dmidecode (or type --battery-health)")
    elif typed == Typed():
        raise click.UsageError("give --dmidecode FILE, or type at least one fact")
    else:
        facts = typed_inventory(desk.report(tag).device.intake, typed)
        source = "typed"
    _show(desk.record_inventory(tag, facts, source=source), as_json)


@device.command("certificate")
@click.argument("tag")
@click.option("--pdf", "pdf_path", type=click.Path(path_type=Path, dir_okay=False), default=None)
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the signed device record (canonical JSON) here.",
)
@click.option(
    "--label",
    "label_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the device's QR label here (PNG, 300 dpi, 1-bit).",
)
@click.option(
    "--label-format",
    type=click.Choice(["62x29", "62mm", "29x90"]),
    default="62x29",
    show_default=True,
)
@operator_option
@policy_option
def certificate(  # noqa: PLR0917 - click passes each option as an argument
    tag: str,
    pdf_path: Path | None,
    json_path: Path | None,
    label_path: Path | None,
    label_format: str,
    operator: str | None,
    policy: str | None,
) -> None:
    """Issue the device's signed certificate (every drive's certificate verified and named by
    id and SHA-256) and write its PDF, signed record and QR label."""
    desk = _desk(operator, policy)
    issued = desk.certify(tag, station_signer(desk.services.settings))
    written = write_issued(
        issued, pdf=pdf_path, json=json_path, label=label_path, label_format=label_format
    )
    route = issued.record["destination"]["route"]
    click.echo(f"{tag}: device certificate {issued.signed.certificate_id} ({route})")
    for path in written:
        click.echo(f"  wrote {path}")
    if desk.services.settings.printers.auto_print:  # after the certificate, never failing it
        from sanitiser.app.labels import LabelDesk  # noqa: PLC0415 - only when printing

        said = LabelDesk(desk.services.settings, desk.store, desk.operator).auto_print(tag)
        if said:
            click.echo(said, err=True)


@device.command("release")
@click.argument("tag")
@click.option(
    "--as",
    "outcome",
    type=click.Choice(["handed-over", "recycled", "destroyed"]),
    required=True,
    help="How it leaves: handed over (a ready, certified device, for reuse), recycled, destroyed.",
)
@click.option(
    "--to", "to", type=TypedText("name", required=True), required=True, help="Who takes it."
)
@click.option("--reason", type=TypedText("reason"), default="", help="Why, for the record.")
@operator_option
@json_option
def release(  # noqa: PLR0917 - click passes each option as an argument
    tag: str, outcome: str, to: str, reason: str, operator: str | None, as_json: bool
) -> None:
    """The device leaves our custody (its last custody entry)."""
    dev = _desk(operator).release(tag, outcome=outcome, to=to, reason=reason)
    if as_json:
        click.echo(json.dumps(dev.as_json(), indent=2, sort_keys=True))
    else:
        click.echo(f"{dev.tag}: {dev.state.value} ({to})")


@device.command("export")
@click.option(
    "--format", "fmt", type=click.Choice(["json", "csv"]), default="json", show_default=True
)
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write here instead of stdout.",
)
@policy_option
def export(fmt: str, output: Path | None, policy: str | None) -> None:
    """Every device for a reuse or ITAD system (schema sanitiser.device-export/1)."""
    desk = _desk(policy=policy)
    rows = [export_row(d, desk.readiness(d)) for d in desk.list()]
    if fmt == "json":
        text = json.dumps(export_json(rows, at=datetime.now(UTC)), indent=2, sort_keys=True) + "\n"
    else:
        text = export_csv(rows)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"{len(rows)} devices written to {output}")
