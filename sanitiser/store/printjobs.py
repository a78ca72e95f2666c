"""The label print queue in the store: every label asked for is a row before it goes to a
printer, so nothing is lost when a printer is offline or the bench restarts, and a label is
sent at most once unless someone asks again.

States: ``queued`` (asked for) -> ``printing`` (taken by one process: compare-and-set) ->
``printed``; or ``failed`` (nothing reached the printer: taken again by the next retry), or
``unconfirmed`` (label data reached the printer and its printing was not confirmed: never sent
again on its own; an explicit reprint makes a new row).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlmodel import Session, col, select, update

from sanitiser.errors import SanitiserError
from sanitiser.store.audit import run_in_transaction
from sanitiser.store.repository import Store
from sanitiser.store.tables import PrintJobRow


class PrintState(StrEnum):
    """Where a queued label is."""

    QUEUED = "queued"
    PRINTING = "printing"
    PRINTED = "printed"
    FAILED = "failed"
    UNCONFIRMED = "unconfirmed"


PENDING = (PrintState.QUEUED, PrintState.FAILED)
"""The states a retry takes."""


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(t: datetime | None) -> datetime | None:
    return None if t is None else (t if t.tzinfo is not None else t.replace(tzinfo=UTC))


@dataclass(frozen=True, slots=True)
class PrintJobView:
    """One queued label as stored."""

    id: str
    subject: str
    kind: str
    printer: str
    printer_name: str
    label_json: str
    copies: int
    state: PrintState
    attempts: int
    last_error: str
    reprint: bool
    station: str
    requested_by: str
    created_at: datetime
    updated_at: datetime
    printed_at: datetime | None

    @property
    def pending(self) -> bool:
        """Waiting for a (re)try."""
        return self.state in PENDING


def _view(row: PrintJobRow) -> PrintJobView:
    return PrintJobView(
        id=row.id,
        subject=row.subject,
        kind=row.kind,
        printer=row.printer,
        printer_name=row.printer_name,
        label_json=row.label_json,
        copies=row.copies,
        state=PrintState(row.state),
        attempts=row.attempts,
        last_error=row.last_error,
        reprint=row.reprint,
        station=row.station,
        requested_by=row.requested_by,
        created_at=_aware(row.created_at) or _now(),
        updated_at=_aware(row.updated_at) or _now(),
        printed_at=_aware(row.printed_at),
    )


def enqueue(
    store: Store,
    *,
    subject: str,
    kind: str,
    printer: str,
    printer_name: str,
    label_json: str,
    copies: int,
    station: str,
    requested_by: str,
    reprint: bool = False,
) -> tuple[PrintJobView, bool]:
    """Queue a label; the row, and whether it is new.

    The same label for the same printer already waiting is not queued twice (the row waiting
    is returned). A label already printed or sent is queued again only as a `reprint`.

    Raises:
        SanitiserError: it was printed (or sent) already and this is not a reprint.
    """

    def work(s: Session) -> tuple[PrintJobView, bool]:
        rows = s.exec(
            select(PrintJobRow)
            .where(col(PrintJobRow.subject) == subject, col(PrintJobRow.kind) == kind)
            .order_by(col(PrintJobRow.created_at))
        ).all()
        for row in rows:
            if row.state in PENDING and row.printer == printer:
                return _view(row), False
        done = [r for r in rows if r.state in (PrintState.PRINTED, PrintState.UNCONFIRMED)]
        if done and not reprint:
            last = done[-1]
            when = _aware(last.printed_at or last.updated_at) or _now()
            where = last.printer_name or last.printer
            raise SanitiserError(
                f"the {kind} label for {subject} was {last.state} on {where} "
                f"at {when:%Y-%m-%d %H:%M} UTC; ask for a reprint to print it again",
                title="Label",
            )
        now = _now()
        row = PrintJobRow(
            id=uuid.uuid4().hex,
            subject=subject,
            kind=kind,
            printer=printer,
            printer_name=printer_name,
            label_json=label_json,
            copies=copies,
            state=PrintState.QUEUED.value,
            reprint=reprint,
            station=station,
            requested_by=requested_by,
            created_at=now,
            updated_at=now,
        )
        s.add(row)
        s.flush()
        return _view(row), True

    return run_in_transaction(store, work)


def claim(store: Store, job_id: str) -> PrintJobView | None:
    """Take a pending job for printing (compare-and-set: one process only); None when it is
    not pending any more (printed, being printed, or sent)."""

    def work(s: Session) -> PrintJobView | None:
        row = s.get(PrintJobRow, job_id)
        if row is None or row.state not in PENDING:
            return None
        moved = s.execute(
            update(PrintJobRow)
            .where(col(PrintJobRow.id) == job_id, col(PrintJobRow.state) == row.state)
            .values(state=PrintState.PRINTING.value, attempts=row.attempts + 1, updated_at=_now())
            .execution_options(synchronize_session=False)
        )
        if getattr(moved, "rowcount", 1) != 1:
            return None
        s.expire(row)
        return _view(row)

    return run_in_transaction(store, work)


def finish(store: Store, job_id: str, state: PrintState, error: str = "") -> PrintJobView:
    """Record how a claimed job ended: printed, failed (retried later) or unconfirmed."""

    def work(s: Session) -> PrintJobView:
        row = s.get(PrintJobRow, job_id)
        if row is None:
            raise SanitiserError(f"no print job {job_id}", title="Label")
        now = _now()
        row.state = state.value
        row.last_error = error
        row.updated_at = now
        if state is PrintState.PRINTED:
            row.printed_at = now
        s.add(row)
        s.flush()
        return _view(row)

    return run_in_transaction(store, work)


def pending_jobs(store: Store) -> list[PrintJobView]:
    """The jobs waiting for a (re)try, oldest first."""
    with store.reading() as s:
        rows = s.exec(
            select(PrintJobRow)
            .where(col(PrintJobRow.state).in_([p.value for p in PENDING]))
            .order_by(col(PrintJobRow.created_at))
        ).all()
        return [_view(r) for r in rows]


def print_jobs(store: Store, *, limit: int = 50) -> list[PrintJobView]:
    """The latest jobs, newest first."""
    with store.reading() as s:
        rows = s.exec(
            select(PrintJobRow).order_by(col(PrintJobRow.created_at).desc()).limit(limit)
        ).all()
        return [_view(r) for r in rows]


def print_job(store: Store, job_id: str) -> PrintJobView | None:
    """One job by id (or a unique prefix of it), or None."""
    with store.reading() as s:
        row = s.get(PrintJobRow, job_id)
        if row is None and len(job_id) >= 6:
            found = s.exec(select(PrintJobRow).where(col(PrintJobRow.id).startswith(job_id))).all()
            row = found[0] if len(found) == 1 else None
        return None if row is None else _view(row)
