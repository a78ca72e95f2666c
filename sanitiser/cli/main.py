"""The `sanitiser` command: the TUI by default, and headless commands for automation and audit.

Errors meet the user in one place: `report_error`, called by the command group for any error
that escapes a command (and by `user_errors` and the thread hook), prints one plain line on
stderr and gives the exit status from `exit_status`; the traceback only with ``--verbose``.
"""

from __future__ import annotations

import importlib
import json
import sys
import threading
from pathlib import Path
from typing import Any

import click

from sanitiser import __version__
from sanitiser.cli.context import CliContext, cli_context
from sanitiser.cli.errors import (
    EXIT_STATUS_HELP,
    log_to_stderr,
    report_error,
    report_thread_error,
    user_errors,
    verbose_requested,
)
from sanitiser.units import human_size


class LazyGroup(click.Group):
    """A group whose heavier subcommands are imported only when used (pyHanko costs ~1 s)."""

    lazy: dict[str, str] = {  # noqa: RUF012 - class-level registry
        "keys": "sanitiser.cli.certificates:keys",
        "verify": "sanitiser.cli.certificates:verify",
        "verify-page": "sanitiser.cli.verify_page:verify_page",
        "label": "sanitiser.cli.labels:label",
        "cert": "sanitiser.cli.main:cert_group",
        "wipe": "sanitiser.cli.jobs:wipe",
        "jobs": "sanitiser.cli.jobs:jobs",
        "audit": "sanitiser.cli.custody:audit",
        "destinations": "sanitiser.cli.custody:destinations",
        "consignment": "sanitiser.cli.custody:consignment",
        "db": "sanitiser.cli.store:db",
        "sync": "sanitiser.cli.store:sync",
        "report": "sanitiser.cli.report:report",
        "device": "sanitiser.cli.devices:device",
        "agent": "sanitiser.cli.agent:agent",
    }

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; any error that escapes it becomes one line and its exit status.

        The one place where errors meet the user (`report_error`): `SanitiserError` as its
        message, an operating system error (a full disk, a directory that cannot be made) as
        what the system said, anything else as an internal error; Ctrl-C as "interrupted"
        (130). The traceback is shown only with ``--verbose``.
        """
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except BrokenPipeError:
            raise  # the reader went away (`| head`): click ends quietly
        except (Exception, KeyboardInterrupt) as e:  # noqa: BLE001 - every command's last line of defence
            sys.exit(report_error(e, verbose_requested()))

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Eager and lazy commands, sorted."""
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import a lazy command on first use."""
        if cmd_name in self.lazy:
            module_name, attr = self.lazy[cmd_name].split(":")
            obj = getattr(importlib.import_module(module_name), attr)
            return obj() if attr == "cert_group" else obj  # type: ignore[no-any-return]
        return super().get_command(ctx, cmd_name)


def cert_group() -> click.Command:
    """`sanitiser cert`, wired to the store for `cert export ID`."""
    from sanitiser.cli.certificates import make_cert_group

    return make_cert_group(_lookup_certificate)


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EXIT_STATUS_HELP,
)
@click.option("--lab", is_flag=True, help="Use the simulated lab bench (file-backed drives).")
@click.option("--verbose", "-v", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(__version__, prog_name="sanitiser")
@click.pass_context
def main(ctx: click.Context, lab: bool, verbose: bool) -> None:
    """Secure data-sanitisation workstation (NIST SP 800-88 Clear/Purge, signed proof).

    With no command, opens the bench TUI. The lab bench (simulated drives, every record marked
    SIMULATED) is used with --lab, or when no real drive can safely be used.

    Settings come from /etc/sanitiser/config.toml (or SANITISER_CONFIG_FILE) and SANITISER_*
    environment variables, e.g. SANITISER_DATA_DIR and SANITISER_DATABASE_URL.
    """
    ctx.ensure_object(dict)
    ctx.obj = CliContext(lab=lab, verbose=verbose)
    threading.excepthook = report_thread_error
    log_to_stderr(verbose)  # the TUI too: a warning's traceback only with --verbose
    if ctx.invoked_subcommand is None:
        ctx.invoke(tui)


@main.command()
@click.option("--lab", "lab_flag", is_flag=True, help="Use the simulated lab bench.")
@click.option(
    "--serve-agents",
    "interface",
    default=None,
    metavar="IF",
    help="Also network-boot donor computers on interface IF into the agent (dnsmasq proxy-DHCP"
    " + TFTP, iPXE, HTTP); they appear on the bench with their drives. Stopped on quit.",
)
@click.option(
    "--agent-image",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("build/agent"),
    show_default=True,
    help="The boot image to serve (sanitiser agent build).",
)
@click.pass_context
def tui(ctx: click.Context, lab_flag: bool, interface: str | None, agent_image: Path) -> None:
    """Open the bench TUI (the default command)."""
    from sanitiser.tui.app import SanitiserApp

    cli = cli_context()
    with user_errors(cli.verbose):
        services = cli.services(cli.lab_choice(lab_flag, default=None))
        settings = cli.settings
        _ensure_signing_identity(settings)
        if interface is None:
            SanitiserApp(services).run()
            return
        from sanitiser.agent.serving import AgentServing
        from sanitiser.app.jobs import make_orchestrator
        from sanitiser.runner import SubprocessRunner
        from sanitiser.tui.bench import Bench

        serving = AgentServing(
            services,
            image=agent_image,
            work=settings.data_dir / "netboot",
            runner=SubprocessRunner(),
            interface=interface,
        )
        agent = serving.start()
        try:
            bench = Bench(services, make_orchestrator(services), agent=agent, serving=serving)
            SanitiserApp(services, bench=bench).run()
        finally:
            serving.stop()


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (for scripts).")
@click.option("--lab", "lab_flag", is_flag=True, help="List the simulated lab drives too.")
@click.pass_context
def scan(ctx: click.Context, as_json: bool, lab_flag: bool) -> None:
    """List the attached drives with health and the safety guard's verdict.

    Protected drives (system/boot disk, mounted, swap, device-mapper/MD/LVM, read-only) are
    listed with the reason; they can never be selected for sanitisation.
    """
    from sanitiser.app.services import assess_drives

    cli = cli_context()
    with user_errors(cli.verbose):
        services = cli.services(cli.lab_choice(lab_flag, default=False))
        statuses = assess_drives(services, services.source.list())
        if as_json:
            click.echo(json.dumps([s.as_json() for s in statuses], indent=2))
            return
        if not statuses:
            click.echo("No drives found.")
        for s in statuses:
            d = s.drive
            sim = " [SIMULATED]" if d.simulated else ""
            verdict = f"PROTECTED: {s.protection.reason}" if s.protection.protected else "usable"
            click.echo(
                f"{d.path:<24} {d.transport.value:<7} {human_size(d.size_bytes):>9}  "
                f"{d.model or '-'} / {d.serial or '(no serial)'}  health {s.health.grade.value}"
                f"  {verdict}{sim}"
            )


def _ensure_signing_identity(settings: Any) -> None:
    """First use: create a DEVELOPMENT organisation CA and station key (said on every record)."""
    from sanitiser.certificate.keys import ensure_development_identity

    ensure_development_identity(
        settings.certs_dir, settings.data_dir / "keys", settings.organisation, settings.station
    )


def _lookup_certificate(cert_id: str) -> bytes | None:
    """The stored signed record for `cert_id` (for `cert export ID`)."""

    return cli_context().store().certificate_record(cert_id)
