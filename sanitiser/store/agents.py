"""The agent channel in the store: the log of every report (accepted or refused, and why) and
the last sequence number accepted from each agent, so a replay is caught across bench restarts.

Persistence only: whether a number follows is judged by the caller's pure rule, run inside the
transaction that moves the agent's number on, so two copies of one report racing in are never
both accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlmodel import Session, col, select

from sanitiser.store.audit import run_in_transaction
from sanitiser.store.repository import Store
from sanitiser.store.tables import AgentReportRow, AgentSequenceRow

REFUSED_BODY_CHARS = 4096
"""How much of a refused report is kept."""

SequenceJudge = Callable[[int, int], tuple[bool, str]]
"""``(seq, last accepted) -> (accepted, reason when refused)``."""


@dataclass(frozen=True, slots=True)
class AgentReportView:
    """One logged report."""

    id: int
    session: str
    agent: str
    seq: int
    kind: str
    accepted: bool
    reason: str
    peer: str
    received_at: datetime
    body: str


def _view(row: AgentReportRow) -> AgentReportView:
    at = row.received_at if row.received_at.tzinfo else row.received_at.replace(tzinfo=UTC)
    return AgentReportView(
        id=row.id or 0,
        session=row.session,
        agent=row.agent,
        seq=row.seq,
        kind=row.kind,
        accepted=row.accepted,
        reason=row.reason,
        peer=row.peer,
        received_at=at,
        body=row.body,
    )


def accept_report(
    store: Store,
    *,
    station: str,
    session: str,
    agent: str,
    seq: int,
    kind: str,
    body: str,
    peer: str,
    judge: SequenceJudge,
) -> tuple[bool, str, int]:
    """Log a report and, when `judge` accepts its number, move the agent's number on.

    Returns:
        ``(accepted, reason, last accepted before it)``.
    """

    def work(s: Session) -> tuple[bool, str, int]:
        row = s.get(AgentSequenceRow, (session, agent))
        last = row.last_seq if row is not None else 0
        accepted, reason = judge(seq, last)
        now = datetime.now(UTC)
        if accepted:
            if row is None:
                s.add(AgentSequenceRow(session=session, agent=agent, last_seq=seq, updated_at=now))
            else:
                row.last_seq = seq
                row.updated_at = now
                s.add(row)
        s.add(
            AgentReportRow(
                station=station,
                session=session,
                agent=agent,
                seq=seq,
                kind=kind,
                accepted=accepted,
                reason=reason,
                peer=peer,
                received_at=now,
                body=body if accepted else body[:REFUSED_BODY_CHARS],
            )
        )
        return accepted, reason, last

    return run_in_transaction(store, work)


def log_refused(
    store: Store,
    *,
    station: str,
    reason: str,
    peer: str,
    session: str = "",
    agent: str = "",
    seq: int = 0,
    kind: str = "",
    body: str = "",
) -> None:
    """Log a report (or a connection) refused before its number was looked at: forged, from
    another session, malformed."""

    def work(s: Session) -> None:
        s.add(
            AgentReportRow(
                station=station,
                session=session[:64],
                agent=agent[:64],
                seq=seq,
                kind=kind[:16],
                accepted=False,
                reason=reason[:4096],
                peer=peer[:256],
                received_at=datetime.now(UTC),
                body=body[:REFUSED_BODY_CHARS],
            )
        )

    run_in_transaction(store, work)


def agent_reports(
    store: Store, *, session: str | None = None, accepted: bool | None = None
) -> list[AgentReportView]:
    """Logged reports, oldest first (of one session, accepted or refused only, when given)."""

    def work(s: Session) -> list[AgentReportView]:
        query = select(AgentReportRow).order_by(col(AgentReportRow.id))
        if session is not None:
            query = query.where(AgentReportRow.session == session)
        if accepted is not None:
            query = query.where(AgentReportRow.accepted == accepted)
        return [_view(r) for r in s.exec(query).all()]

    return run_in_transaction(store, work)
