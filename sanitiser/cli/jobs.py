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

import dataclasses
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any

import click

from sanitiser.app.confirm import confirmation_phrase, phrase_matches, taken_by_all
from sanitiser.app.jobs import make_orchestrator, plan_for, shown_method
from sanitiser.app.naming import match_drive, session_operator
from sanitiser.app.routes import OVERRIDE_ROUTES, effective_destination, override_route, route_of
from sanitiser.app.services import assess_drives
from sanitiser.cli.context import cli_context
from sanitiser.cli.errors import EXIT_ERROR, EXIT_NOT_DONE, fail
from sanitiser.cli.text import TypedText
from sanitiser.config import Settings
from sanitiser.domain import Drive
from sanitiser.errors import SanitiserError
from sanitiser.jobs.detail import detail_of
from sanitiser.jobs.events import JobEvent, JobLog, JobOutcome, JobPhase, JobProgress
from sanitiser.jobs.orchestrator import (
    Orchestrator,
    RecoveryReport,
    outcome_of,
)
from sanitiser.jobs.states import ACTIVE, JobState
from sanitiser.policy.plan import Plan
from sanitiser.store import JobView, Store
from sanitiser.units import human_size

EXIT_NOT_ALL_SANITISED = EXIT_NOT_DONE


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


def _confirm(drives: Sequence[Drive], plans: Mapping[str, Plan | str] | None = None) -> bool:
    """Ask on stderr for a typed confirmation naming the drives and, when given, each one's plan
    (or why it cannot be planned); read one line from stdin."""
    click.echo("About to ERASE every byte of:", err=True)
    for d in drives:
        sim = " [SIMULATED]" if d.simulated else ""
        click.echo(
            f"  {d.path}  {d.model or '-'} / {d.serial or '(no serial)'}  "
            f"{human_size(d.size_bytes)}{sim}",
            err=True,
        )
        plan = (plans or {}).get(d.path)
        if isinstance(plan, str):
            click.echo(f"      cannot be planned now: {plan}", err=True)
        elif plan is not None:
            why = f" ({plan.downgrade})" if plan.downgrade else ""
            click.echo(
                f"      plan: {shown_method(plan)} {plan.chosen.nist_category.value}{why}", err=True
            )
    phrase = confirmation_phrase(drives)
    click.echo(f"Type '{phrase}' to continue: ", err=True, nl=False)
    line = sys.stdin.readline() if sys.stdin is not None else ""
    return phrase_matches(line, phrase)


def _plan_or_reason(
    orch: Orchestrator, drive: Drive, policy: str | None, technique: str | None
) -> Plan | str:
    try:
        return plan_for(orch, drive, policy=policy, technique=technique)
    except SanitiserError as e:
        return e.msg


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
@click.option(
    "--all",
    "all_drives",
    is_flag=True,
    help="Every usable (unprotected) drive; with --lab, every simulated lab drive and no real one.",
)
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
    code = _wipe(
        devices,
        all_drives=all_drives,
        lab=bool(cli_context().lab_choice(lab_flag, default=False)),
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
    services = cli_context().services(lab)
    printer = Printer(as_json)
    statuses = assess_drives(services, services.source.list())
    chosen: list[Drive] = []
    refused: list[JobOutcome] = []
    if all_drives:
        for st in statuses:
            if not taken_by_all(st.drive, lab_on=lab):
                continue
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
    orch = make_orchestrator(services)
    try:  # before the confirmation: nothing is asked for that could not be certified
        orch.check_can_sign()
    except SanitiserError:
        orch.close()
        raise
    technique = None if method == "auto" else method
    shown: dict[str, str] = {}
    if not yes:
        plans = {d.path: _plan_or_reason(orch, d, policy, technique) for d in chosen}
        if not _confirm(chosen, plans):
            orch.close()
            click.echo("sanitiser: not confirmed: nothing was erased", err=True)
            return EXIT_NOT_ALL_SANITISED
        shown = {k: shown_method(p) for k, p in plans.items() if not isinstance(p, str)}
    try:
        _echo_recovery(orch.recover(), printer)
        outcomes = _run_batch(
            orch,
            lambda: orch.start(
                chosen,
                operator=operator,
                technique=technique,
                policy=policy,
                confirmed_plans=shown,
            ),
            printer,
        )
        # Jobs resumed by recovery run on; wait for them too, so nothing is left mid-way.
        orch.wait()
    finally:
        orch.close()
    _auto_print(services.settings, services.store, operator, outcomes)
    ok = not refused and len(outcomes) == len(chosen) and all(o.succeeded for o in outcomes)
    return 0 if ok else EXIT_NOT_ALL_SANITISED


def _auto_print(
    settings: Settings, store: Store, operator: str, outcomes: Sequence[JobOutcome]
) -> None:
    """Each certificate's label on the default printer when ``[printers] auto_print`` is on;
    after the jobs, on stderr, never changing the exit status (a fault leaves it queued)."""
    if not settings.printers.auto_print:
        return
    from sanitiser.app.labels import LabelDesk  # noqa: PLC0415 - only when printing

    desk = LabelDesk(settings, store, operator)
    for o in outcomes:
        if o.certificate_id:
            said = desk.auto_print(o.certificate_id)
            if said:
                click.echo(said, err=True)


def _job_json(view: JobView) -> dict[str, Any]:
    out = outcome_of(view).to_json()
    out.pop("event", None)
    detail = detail_of(view)
    out.update(
        created_at=view.created_at.isoformat(timespec="seconds"),
        updated_at=view.updated_at.isoformat(timespec="seconds"),
        interrupted_from=detail.interrupted_from or None,
        retry_of=detail.retry_of or None,
        retried_by=detail.retried_by or None,
        progress=detail.progress.to_json() if detail.progress is not None else None,
        policy=detail.policy or None,
        route_override=dict(detail.route_override) if detail.route_override else None,
    )
    if detail.route_override:  # where the drive goes now: the technician's route
        out["destination"] = effective_destination(detail)
    return out


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list (for scripts).")
@click.pass_context
def jobs(ctx: click.Context, as_json: bool) -> None:
    """List jobs and their states (after recording crashed ones as interrupted)."""
    if ctx.invoked_subcommand is not None:
        return
    services = cli_context().services(False)
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
    cli = cli_context()
    services = cli.services(cli.lab_choice(lab_flag, default=None))
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
    cli = cli_context()
    services = cli.services(cli.lab_choice(lab_flag, default=None))
    printer = Printer(as_json)
    orch = make_orchestrator(services)
    who = session_operator(operator)
    try:
        orch.recover(resume=False)
        orch.check_can_sign()
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


@jobs.command("route")
@click.argument("job_id")
@click.option(
    "--to",
    "destination",
    type=click.Choice(OVERRIDE_ROUTES),
    default=None,
    help="Route the job's drive here instead (the certificate is not edited).",
)
@click.option("--reason", type=TypedText("reason"), default=None, help="Why (required with --to).")
@click.option(
    "--operator",
    type=TypedText("operator", required=True),
    default=None,
    help="Who decides (default: the login name).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the route as JSON.")
def route_cmd(
    job_id: str, destination: str | None, reason: str | None, operator: str | None, as_json: bool
) -> None:
    """Show where a job's drive goes, or override it (--to DEST --reason TEXT), as the TUI's
    drive detail does: a new fact on the job, a journal line and a custody ``routed`` entry."""
    cli = cli_context()
    store = cli.store()
    if store.job(job_id) is None:
        fail(SanitiserError(f"no job {job_id} (see 'sanitiser jobs')"))
    if destination is None:
        if reason is not None:
            fail(SanitiserError("--reason needs --to DEST"))
        info = route_of(store, job_id)
    else:
        if not reason:
            fail(SanitiserError("--to needs --reason TEXT (it goes on the record)"))
        info = override_route(
            store,
            cli.settings.station,
            job_id,
            destination,
            reason,
            operator=session_operator(operator),
        )
    if as_json:
        click.echo(json.dumps(dataclasses.asdict(info), sort_keys=True))
    else:
        said = [info.route] if info.route and info.route != info.destination else []
        said += [f"override by {info.overridden_by}"] if info.overridden_by else []
        shown = f" ({'; '.join(said)})" if said else ""
        click.echo(f"{job_id}: {info.destination}{shown}: {info.reason}")
