"""Headless jobs: ``sanitiser wipe`` runs a batch without the TUI; ``sanitiser jobs`` lists them.

``wipe`` prints one JSON object per line per event with ``--json`` (phase, progress, log) and a
final ``outcome`` object per drive with at least ``method``, ``nist_category``, ``verified``,
``status`` (``sanitised`` | ``failed`` | ``refused`` | ``aborted`` | ``interrupted``, when even
the job's end could not be recorded), ``reason``, ``certificate_id``, and the routing decision:
``destination`` (``reuse`` | ``recycle`` | ``destroy``; ``undecided`` when routing failed; ""
when the job ended before its plan), ``routing_reason`` and ``destruction_level`` (ISO/IEC
21964, for destroy). Its exit status is 0 only when every drive was sanitised, 1 when any was
not, 2 for a usage or setup error (`sanitiser.cli.EXIT_STATUS_HELP`).

Both commands first run recovery: jobs left unfinished by a crash, ``kill -9`` or power loss are
recorded ``interrupted`` (``wipe`` and ``jobs recover`` also continue what can be continued).
On a read-only store (an auditor's copy) ``jobs`` lists the jobs as recorded, writing nothing.
"""

from __future__ import annotations

import functools
import getpass
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any

import click

from sanitiser.certificate.keys import StationSigner, ensure_development_identity
from sanitiser.cli import EXIT_ERROR, EXIT_NOT_DONE
from sanitiser.cli_text import TypedText
from sanitiser.config import Settings, load_settings
from sanitiser.custody.anchors import CHECKPOINTS_FILE
from sanitiser.devices.guard import claim as guard_claim
from sanitiser.devices.health import read_health
from sanitiser.domain import Drive, Health
from sanitiser.errors import SanitiserError, data_directory_full, is_disk_full
from sanitiser.jobs.events import JobEvent, JobLog, JobOutcome, JobPhase, JobProgress
from sanitiser.jobs.orchestrator import (
    JobDependencies,
    Orchestrator,
    RecoveryReport,
    outcome_of,
)
from sanitiser.jobs.states import ACTIVE, JobState
from sanitiser.probe.capabilities import probe
from sanitiser.runner import CommandRunner
from sanitiser.services import DriveStatus, Services, assess_drives, build_services
from sanitiser.store import drive_key
from sanitiser.text import clean_text
from sanitiser.units import human_size

EXIT_NOT_ALL_SANITISED = EXIT_NOT_DONE


# --- wiring --------------------------------------------------------------------------------


def _lab_runner(services: Services) -> CommandRunner:
    from sanitiser.lab.runner import lab_runner  # noqa: PLC0415 - only lab runs need emulators

    assert services.lab is not None  # noqa: S101 - callers check
    return lab_runner(services.lab)


def _health_of(drive: Drive, runner: CommandRunner) -> Health:
    if drive.simulated:
        from sanitiser.lab.bench import lab_health  # noqa: PLC0415 - lab only

        return lab_health(drive)
    return read_health(drive, runner)


def find_attached(services: Services, recorded: Drive) -> Drive | None:
    """The drive attached now that is `recorded` (same serial/WWN, else same path), or None."""
    try:
        drives = services.source.list()
    except SanitiserError:
        return None
    key = drive_key(recorded)
    for drive in drives:
        if drive.simulated == recorded.simulated and drive_key(drive) == key:
            return drive
    return None


def default_dependencies(services: Services) -> JobDependencies:
    """The real seams: the guard, real tools (the lab's emulators for lab drives), the shipped
    policies and methods, and this station's signing identity."""
    from sanitiser.methods.registry import method_for  # noqa: PLC0415 - heavy, wipe only
    from sanitiser.policy.loader import DEFAULT_POLICY, load_policy  # noqa: PLC0415
    from sanitiser.policy.select import select_method  # noqa: PLC0415

    settings = services.settings
    lab_runner = functools.cache(lambda: _lab_runner(services))

    def runner_for(drive: Drive) -> CommandRunner:
        return lab_runner() if drive.simulated and services.lab is not None else services.runner

    def signer() -> StationSigner:
        keys = settings.data_dir / "keys"
        try:
            return ensure_development_identity(
                settings.certs_dir, keys, settings.organisation, settings.station
            )
        except OSError as e:  # making the first identity writes keys and certificates
            if is_disk_full(e):
                raise data_directory_full(e, f"the signing identity ({keys})") from e
            raise

    return JobDependencies(
        claim=guard_claim,
        runner_for=runner_for,
        health_of=_health_of,
        probe=probe,
        load_policy=load_policy,
        select_method=select_method,
        method_for=method_for,
        signer=signer,
        find_drive=lambda d: find_attached(services, d),
        default_policy=DEFAULT_POLICY,
    )


def make_orchestrator(services: Services, *, poll_interval: float | None = None) -> Orchestrator:
    """The orchestrator the CLI and the TUI use, over `services`.

    ``SANITISER_POLL_INTERVAL`` (seconds) overrides the status-poll interval (tests).
    """
    interval = poll_interval
    if interval is None:
        interval = float(os.environ.get("SANITISER_POLL_INTERVAL", "10"))
    return Orchestrator(
        services.store,
        default_dependencies(services),
        station=services.settings.station,
        organisation=services.settings.organisation,
        poll_interval=interval,
        checkpoints=services.settings.data_dir / CHECKPOINTS_FILE,
    )


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


# --- output --------------------------------------------------------------------------------


class Printer:
    """Prints job events: JSON lines (``--json``) or short human lines. Thread-safe."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self._lock = threading.Lock()

    def __call__(self, event: JobEvent) -> None:
        """Print one event."""
        with self._lock:
            if self.as_json:
                click.echo(json.dumps(event.to_json(), sort_keys=True))
            else:
                line = _human(event)
                if line:
                    click.echo(line, err=not isinstance(event, JobOutcome))
            sys.stdout.flush()


def _human(event: JobEvent) -> str:
    if isinstance(event, JobPhase):
        why = f" ({event.reason})" if event.reason else ""
        return f"{event.device}: {event.state}{why}"
    if isinstance(event, JobLog):
        return f"{event.device}: {event.message}" if event.level != "info" else ""
    if isinstance(event, JobProgress):
        return ""
    cert = f" certificate {event.certificate_id}" if event.certificate_id else ""
    level = f" {event.destruction_level}" if event.destruction_level else ""
    to = f" -> {event.destination}{level}" if event.destination else ""
    why = f": {event.reason}" if event.reason and not event.succeeded else ""
    return (
        f"{event.device}: {event.status.upper()} {event.method} {event.nist_category}{cert}{to}"
        f"{why}"
    )


def _refused(device: str, reason: str, serial: str = "") -> JobOutcome:
    return JobOutcome(None, device, serial, "refused", "refused", reason=reason)


# --- selection and confirmation --------------------------------------------------------------


def _matches(drive: Drive, wanted: str) -> bool:
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
    found = [st for st in statuses if _matches(st.drive, wanted)]
    paths = sorted({st.drive.path for st in found})
    if len(paths) > 1:
        return f"{wanted!r} names more than one drive ({', '.join(paths)}): use the device path"
    return found[0] if found else "no such drive (see 'sanitiser scan')"


def _confirm(drives: Sequence[Drive]) -> bool:
    """Ask on stderr for a typed confirmation naming the drives; read one line from stdin."""
    click.echo("About to ERASE every byte of:", err=True)
    for d in drives:
        sim = " [SIMULATED]" if d.simulated else ""
        click.echo(
            f"  {d.path}  {d.model or '-'} / {d.serial or '(no serial)'}  "
            f"{human_size(d.size_bytes)}{sim}",
            err=True,
        )
    phrase = f"ERASE {len(drives)}"
    click.echo(f"Type '{phrase}' to continue: ", err=True, nl=False)
    line = sys.stdin.readline() if sys.stdin is not None else ""
    return line.strip() == phrase


@contextmanager
def _abort_on_signals(orch: Orchestrator) -> Iterator[None]:
    """Ctrl-C / SIGTERM: abort what can be aborted cleanly, and keep waiting for the truth."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        for reply in orch.abort_all():
            click.echo(f"abort: {reply.message}", err=True)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _run_batch(
    orch: Orchestrator, start: Callable[[], list[str]], printer: Printer
) -> list[JobOutcome]:
    """Start jobs, print every event, wait for the end; the outcomes of the started jobs."""
    outcomes: list[JobOutcome] = []

    def collect(event: JobEvent) -> None:
        printer(event)
        if isinstance(event, JobOutcome):
            outcomes.append(event)

    unsubscribe = orch.subscribe(collect)
    with _abort_on_signals(orch):
        ids = start()
        while not orch.wait(ids, timeout=0.5):
            pass
    unsubscribe()
    return [o for o in outcomes if o.job_id in ids]


def _settings() -> Settings:
    return load_settings()


def _echo_recovery(report: RecoveryReport, printer: Printer) -> None:
    for job_id in report.interrupted:
        printer(JobLog(job_id, "", "recorded as interrupted (its process had stopped)", "warning"))
    for job_id in report.restartable:
        printer(JobLog(job_id, "", "interrupted: restart it with 'sanitiser jobs restart ID'"))
    for job_id in report.resumed:
        printer(JobLog(job_id, "", "resumed: the drive was still sanitising on its own"))
    for job_id in report.certified:
        printer(JobLog(job_id, "", "its recorded outcome is now certified"))
    for job_id in report.recorded:
        printer(JobLog(job_id, "", "its signed record (not sanitised) was issued"))


# --- commands ------------------------------------------------------------------------------


@click.command()
@click.argument("devices", nargs=-1)
@click.option("--all", "all_drives", is_flag=True, help="Every usable (unprotected) drive.")
@click.option("--lab", "lab_flag", is_flag=True, help="Use the simulated lab bench drives.")
@click.option(
    "--method",
    default="auto",
    show_default=True,
    help="'auto' (the policy decides) or a technique, e.g. host-overwrite, nvme-sanitize-crypto.",
)
@click.option("--policy", default=None, help="Policy name or file (default: nist-800-88).")
@click.option(
    "--operator",
    type=TypedText("operator", required=True),
    default=None,
    help="Who runs the batch (default: the login name).",
)
@click.option("--yes", is_flag=True, help="Do not ask for the typed confirmation.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per event.")
@click.pass_context
def wipe(  # noqa: PLR0917 - click passes every option as an argument
    ctx: click.Context,
    devices: tuple[str, ...],
    all_drives: bool,
    lab_flag: bool,
    method: str,
    policy: str | None,
    operator: str | None,
    yes: bool,
    as_json: bool,
) -> None:
    """Sanitise DEVICES (paths, kernel names, by-id links or serials), or --all, headless.

    Without --yes a typed confirmation naming the drives is read from stdin; with no input it
    refuses. Protected drives (system disk, mounted, in use) are refused with the reason. Exit
    status: 0 when every drive was sanitised, 1 otherwise, 2 for an error.
    """
    obj = ctx.obj if isinstance(ctx.obj, dict) else {}
    code = _wipe(
        devices,
        all_drives=all_drives,
        lab=bool(lab_flag or obj.get("lab")),
        method=method,
        policy=policy,
        operator=session_operator(operator),
        yes=yes,
        as_json=as_json,
    )
    ctx.exit(code)


def _wipe(
    devices: Sequence[str],
    *,
    all_drives: bool,
    lab: bool,
    method: str,
    policy: str | None,
    operator: str,
    yes: bool,
    as_json: bool,
) -> int:
    if not devices and not all_drives:
        click.echo("sanitiser: name the drives to wipe, or use --all", err=True)
        return EXIT_ERROR
    if any(not d.strip() for d in devices):
        click.echo(
            "sanitiser: an empty drive name was given (an unset variable?): nothing was erased",
            err=True,
        )
        return EXIT_ERROR
    services = build_services(_settings(), lab=lab)
    printer = Printer(as_json)
    statuses = assess_drives(services, services.source.list())
    chosen: list[Drive] = []
    refused: list[JobOutcome] = []
    if all_drives:
        for st in statuses:
            if st.protection.protected:
                printer(JobLog("", st.drive.path, f"skipped: {st.protection.reason}", "info"))
            else:
                chosen.append(st.drive)
    for wanted in devices:
        match = match_drive(statuses, wanted)
        if isinstance(match, str):
            refused.append(_refused(wanted, match))
        elif match.protection.protected:
            refused.append(
                _refused(
                    match.drive.path, f"protected: {match.protection.reason}", match.drive.serial
                )
            )
        elif match.drive not in chosen:
            chosen.append(match.drive)
    for outcome in refused:
        printer(outcome)
    if not chosen:
        if not refused:
            click.echo("sanitiser: no usable drive to wipe", err=True)
        return EXIT_NOT_ALL_SANITISED
    if not yes and not _confirm(chosen):
        click.echo("sanitiser: not confirmed: nothing was erased", err=True)
        return EXIT_NOT_ALL_SANITISED
    orch = make_orchestrator(services)
    try:
        _echo_recovery(orch.recover(), printer)
        technique = None if method == "auto" else method
        outcomes = _run_batch(
            orch,
            lambda: orch.start(chosen, operator=operator, technique=technique, policy=policy),
            printer,
        )
        # Jobs resumed by recovery run on; wait for them too, so nothing is left mid-way.
        orch.wait()
    finally:
        orch.close()
    ok = not refused and len(outcomes) == len(chosen) and all(o.succeeded for o in outcomes)
    return 0 if ok else EXIT_NOT_ALL_SANITISED


def _job_json(view: Any) -> dict[str, Any]:
    out = outcome_of(view).to_json()
    out.pop("event", None)
    detail = dict(view.detail)
    out.update(
        created_at=view.created_at.isoformat(timespec="seconds"),
        updated_at=view.updated_at.isoformat(timespec="seconds"),
        interrupted_from=detail.get("interrupted_from"),
        retry_of=detail.get("retry_of"),
        retried_by=detail.get("retried_by"),
        progress=detail.get("progress"),
        policy=detail.get("policy"),
    )
    return out


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (for scripts).")
@click.pass_context
def jobs(ctx: click.Context, as_json: bool) -> None:
    """List jobs and their states (after recording crashed ones as interrupted)."""
    if ctx.invoked_subcommand is not None:
        return
    services = build_services(_settings(), lab=False)
    if services.store.read_only:  # an auditor's copy: shown as recorded, nothing written
        views = services.store.jobs()
        if any(JobState(v.state) in ACTIVE for v in views):
            click.echo(
                "sanitiser: the store is read-only here: jobs are shown as recorded (one "
                "whose bench stopped is not marked interrupted)",
                err=True,
            )
    else:
        make_orchestrator(services).recover(resume=False)
        views = services.store.jobs()
    if as_json:
        click.echo(json.dumps([_job_json(v) for v in views], indent=2))
        return
    if not views:
        click.echo("No jobs.")
    for v in views:
        o = outcome_of(v)
        click.echo(
            f"{v.id}  {v.state:<11} {o.device:<20} {v.serial or '-':<16} {o.method or '-':<24} "
            f"{v.operator or '-'}@{v.station}  {v.updated_at:%Y-%m-%d %H:%M:%S}"
            + (f"  {o.reason}" if o.reason and v.state != "routed" else "")
        )


@jobs.command("recover")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per event.")
@click.option("--lab", "lab_flag", is_flag=True, help="Include the simulated lab bench drives.")
def recover_cmd(as_json: bool, lab_flag: bool) -> None:
    """Record crashed jobs as interrupted and continue what can be (re-poll, certify)."""
    services = build_services(_settings(), lab=True if lab_flag else None)
    printer = Printer(as_json)
    orch = make_orchestrator(services)
    orch.subscribe(printer)
    try:
        report = orch.recover()
        _echo_recovery(report, printer)
        orch.wait()
    finally:
        orch.close()
    failed = [
        i
        for i in (*report.resumed, *report.certified)
        if (o := orch.outcome(i)) is None or not o.succeeded
    ]
    sys.exit(EXIT_NOT_ALL_SANITISED if failed else 0)


@jobs.command("restart")
@click.argument("job_ids", nargs=-1, required=True)
@click.option("--lab", "lab_flag", is_flag=True, help="Include the simulated lab bench drives.")
@click.option(
    "--operator",
    type=TypedText("operator", required=True),
    default=None,
    help="Who restarts them (default: the login name).",
)
@click.option("--yes", is_flag=True, help="Do not ask for the typed confirmation.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line per event.")
def restart_cmd(
    job_ids: tuple[str, ...], lab_flag: bool, operator: str | None, yes: bool, as_json: bool
) -> None:
    """Start interrupted (or failed/aborted) jobs again from the beginning, as new jobs."""
    services = build_services(_settings(), lab=True if lab_flag else None)
    printer = Printer(as_json)
    orch = make_orchestrator(services)
    who = session_operator(operator)
    try:
        orch.recover(resume=False)
        # Every job is checked (and its drive found as attached now) before anything is asked.
        drives = [orch.restart_target(job_id).drive for job_id in job_ids]
        if not yes and not _confirm(drives):
            click.echo("sanitiser: not confirmed: nothing was erased", err=True)
            sys.exit(EXIT_NOT_ALL_SANITISED)
        outcomes = _run_batch(
            orch, lambda: [orch.restart(j, operator=who) for j in job_ids], printer
        )
    finally:
        orch.close()
    ok = len(outcomes) == len(job_ids) and all(o.succeeded for o in outcomes)
    sys.exit(0 if ok else EXIT_NOT_ALL_SANITISED)
