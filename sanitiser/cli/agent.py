"""``sanitiser agent``: the network-boot agent (``run``, on the computer itself) and the bench's
side of it (``import``, ``sessions``, ``reports``), and the boot path (``build``, ``serve``,
``inventory``: `sanitiser.cli.agent_boot`). Every command is a thin shell over
`sanitiser.agent` and `sanitiser.netboot`."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import click

from sanitiser.app.naming import session_operator
from sanitiser.cli.agent_boot import BOOT_COMMANDS
from sanitiser.cli.context import cli_context
from sanitiser.cli.text import TypedText


@click.group()
def agent() -> None:
    """The agent that erases a computer's own drives where it stands, under the bench."""


BOOT_DEVICE = Path("/run/sanitiser/boot-device")
"""Where the boot image's /init writes the disk it booted from (the stick): never erased."""


def _boot_device() -> Path | None:
    """The disk the boot image says it booted from, if it wrote one."""
    try:
        named = BOOT_DEVICE.read_text().strip()
    except OSError:
        return None
    return Path(named) if named.startswith("/dev/") else None


def _seams(own: tuple[Path | None, ...]) -> Any:
    from sanitiser.agent.device import DeviceSeams, own_medium_paths  # noqa: PLC0415
    from sanitiser.devices.discover import UdevDriveSource  # noqa: PLC0415
    from sanitiser.devices.host import collect_inventory  # noqa: PLC0415
    from sanitiser.runner import SubprocessRunner  # noqa: PLC0415

    runner = SubprocessRunner()
    source = UdevDriveSource()
    return DeviceSeams(
        runner=runner,
        list_drives=source.list,
        inventory=lambda: collect_inventory(runner),
        own_medium=own_medium_paths(*own, _boot_device()),
    )


@agent.command("run")
@click.option("--bench", "bench_url", default=None, help="The bench's https://HOST:PORT.")
@click.option(
    "--credentials",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="The session's credentials (ca.pem, agent.pem, agent.key, session.json).",
)
@click.option(
    "--offline",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="No bench: keep signed evidence in DIR (on the stick; it holds the credentials).",
)
def run(bench_url: str | None, credentials: Path | None, offline: Path | None) -> None:
    """On the computer: report to the bench and run its orders (or, offline, erase what is
    confirmed here and keep the evidence on the stick)."""
    from sanitiser.agent.agent import Agent  # noqa: PLC0415
    from sanitiser.agent.credentials import AgentCredentials  # noqa: PLC0415
    from sanitiser.agent.link import BenchLink, Reporter, new_agent_id  # noqa: PLC0415
    from sanitiser.agent.offline import run_offline  # noqa: PLC0415

    if offline is not None:
        seams = _seams((offline,))

        def confirm(entry: dict[str, Any]) -> bool:
            drive = entry["drive"]
            click.echo(
                f"{drive['path']}  {drive['model']}  serial {drive['serial']}  "
                f"plan: {entry['shown']}"
            )
            typed = click.prompt("Type its serial to erase it (empty: skip)", default="")
            return bool(typed) and typed == drive["serial"]

        path = run_offline(seams, offline, confirm)
        click.echo(f"evidence kept in {path}: bring it to the bench (sanitiser agent import)")
        return
    if bench_url is None or credentials is None:
        raise click.UsageError("give --bench URL and --credentials DIR, or --offline DIR")
    creds = AgentCredentials.load(credentials)
    link = BenchLink(bench_url, creds)
    reporter = Reporter(link, creds.session_id, new_agent_id())
    stop = threading.Event()
    try:
        Agent(_seams((credentials,)), reporter, lambda: link.orders(reporter.agent)).run(stop)
    finally:
        reporter.close()
    if reporter.refused:
        raise click.ClickException(reporter.refused)


@agent.command("import")
@click.argument("directory", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--operator", type=TypedText("operator", required=True), default=None)
def import_(directory: Path, operator: str | None) -> None:
    """Check a stick's offline evidence, then certify it (captured off-bench)."""
    from sanitiser.agent.evidence import import_evidence  # noqa: PLC0415
    from sanitiser.agent.service import AgentService  # noqa: PLC0415

    cli = cli_context()
    service = AgentService(cli.services(cli.lab_choice(False, None)))
    try:
        jobs = import_evidence(service, directory, operator=session_operator(operator))
        service.jobs.wait(jobs)
        for job_id in jobs:
            outcome = service.jobs.outcome(job_id)
            click.echo(f"{job_id}  {outcome.status if outcome else '?'}")
    finally:
        service.stop()


@agent.command("sessions")
def sessions() -> None:
    """The agent sessions this bench minted."""
    from sanitiser.agent.service import saved_sessions  # noqa: PLC0415

    cli = cli_context()
    for session in saved_sessions(cli.services(cli.lab_choice(False, None))):
        click.echo(f"{session.session_id}  {session.created}")


@agent.command("reports")
@click.option("--refused", is_flag=True, help="Only the refused ones.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def reports(refused: bool, as_json: bool) -> None:
    """The agent channel's log: every report received, accepted or refused, and why."""
    from sanitiser.store.agents import agent_reports  # noqa: PLC0415

    cli = cli_context()
    store = cli.services(cli.lab_choice(False, None)).store
    for r in agent_reports(store, accepted=False if refused else None):
        if as_json:
            click.echo(
                json.dumps(
                    {
                        "session": r.session,
                        "agent": r.agent,
                        "seq": r.seq,
                        "kind": r.kind,
                        "accepted": r.accepted,
                        "reason": r.reason,
                        "peer": r.peer,
                        "received_at": r.received_at.isoformat(),
                    },
                    sort_keys=True,
                )
            )
        else:
            verdict = "accepted" if r.accepted else f"REFUSED: {r.reason}"
            click.echo(f"{r.received_at:%Y-%m-%d %H:%M:%S}  {r.session[:12]}  #{r.seq}  {verdict}")


for _command in BOOT_COMMANDS:
    agent.add_command(_command)
