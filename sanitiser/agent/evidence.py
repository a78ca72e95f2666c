"""At the bench: a stick's offline evidence checked (`check_evidence`), then imported
(`import_evidence`); the device side is `sanitiser.agent.offline`.

The session must be one this bench minted; every line must verify with the bench's own copy of
that session's agent certificate, name that session, and follow the one before (numbers from 1,
no gap, one agent per file). Only then are the reports replayed into the bench's job engine,
which signs: the certificates say ``captured: off-bench``. A stick's copy of the key could sign
new lines: the signature proves the lines were not altered by anyone without the session's key,
not where the key has been.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec

from sanitiser.agent.bench import OFF_BENCH, AgentBench, Follow, remote_path
from sanitiser.agent.credentials import SESSION_FILE
from sanitiser.agent.offline import EVIDENCE_GLOB
from sanitiser.agent.protocol import (
    JobEvent,
    Report,
    ReportError,
    ReportKind,
    check_line,
    order_from_json,
)
from sanitiser.agent.service import AgentService, load_session
from sanitiser.errors import SanitiserError


@dataclass(frozen=True, slots=True)
class Evidence:
    """One evidence file, checked."""

    path: Path
    session: str
    agent: str
    reports: tuple[Report, ...]


def check_evidence(service: AgentService, directory: Path) -> list[Evidence]:
    """Every evidence file in `directory`, checked line by line (see the module).

    Raises:
        SanitiserError: the session is not this bench's, or a line is altered, dropped,
            reordered or from another session (the file and line say which).
    """
    try:
        meta = json.loads((directory / SESSION_FILE).read_text())
        session_id = str(meta["session"])
    except (OSError, ValueError, KeyError) as exc:
        raise SanitiserError(f"{directory} holds no agent session ({exc})") from exc
    session = load_session(service.services, session_id)
    public = session.agent_certificate.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise SanitiserError("the session's agent key is not an EC key")
    files = sorted(directory.glob(EVIDENCE_GLOB))
    if not files:
        raise SanitiserError(f"{directory} holds no evidence ({EVIDENCE_GLOB})")
    checked: list[Evidence] = []
    for path in files:
        reports: list[Report] = []
        for number, line in enumerate(path.read_bytes().splitlines(), 1):
            where = f"{path.name} line {number}"
            try:
                report = check_line(line, public)
            except ReportError as exc:
                raise SanitiserError(f"{where}: {exc.msg}; nothing imported") from exc
            if report.session != session_id:
                raise SanitiserError(f"{where}: names another session; nothing imported")
            if reports and report.agent != reports[0].agent:
                raise SanitiserError(f"{where}: from another agent; nothing imported")
            if report.seq != number:
                raise SanitiserError(
                    f"{where}: report {report.seq} where {number} was due (a line dropped or "
                    "moved); nothing imported"
                )
            reports.append(report)
        if not reports or reports[0].kind is not ReportKind.HELLO:
            raise SanitiserError(f"{path.name}: does not start with the hello; nothing imported")
        checked.append(Evidence(path, session_id, reports[0].agent, tuple(reports)))
    return checked


def import_evidence(service: AgentService, directory: Path, *, operator: str) -> list[str]:
    """Check the evidence in `directory`, then replay it into the bench's jobs, which certify
    it (``captured: off-bench``); the job ids. Nothing is signed when a check fails."""
    bench: AgentBench = service.bench
    started: list[str] = []
    for evidence in check_evidence(service, directory):
        hello = evidence.reports[0]
        bench.record_hello(evidence.session, evidence.agent, hello.body, OFF_BENCH)
        host = next(h for h in bench.hosts.values() if h.agent == evidence.agent)
        for report in evidence.reports[1:]:
            body = report.body
            if report.kind is not ReportKind.JOB or body.get("event") != JobEvent.ORDERED:
                continue
            order = order_from_json(body["order_json"])
            follow = Follow(order.job_id, host.host, order)
            for later in evidence.reports:
                ours = later.kind is ReportKind.JOB and later.body.get("job") == order.job_id
                if ours and later.body.get("event") != JobEvent.ORDERED:
                    follow.mailbox.put(dict(later.body))
            path = remote_path(host.host, order.drive_path)
            bench.expect_imported(follow)
            started += bench.jobs.start(
                [bench.drive(path).drive],
                operator=operator,
                policy=order.policy or None,
                job_ids=[order.job_id],
                confirmed_plans={path: order.confirmed_method},
            )
    return started
