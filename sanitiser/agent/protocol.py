"""The agent channel's messages and the bench's judgement of them. Pure: values in, values out.

A **report** goes from an agent to the bench: ``{"session", "agent", "seq", "kind", "body"}``.
``agent`` is the id of one boot of the agent (a new boot is a new agent: its sequence starts at
1 again); ``seq`` counts that agent's reports from 1 with no gap. The bench accepts report
``seq`` only when the last one it accepted from that agent was ``seq - 1`` (`judge_sequence`):
an earlier number is a replay, a later one is out of order; both are refused and logged, and the
agent is told which number the bench expects.

An **order** goes from the bench to an agent: erase (or resume) one drive, with the technique
the technician confirmed, or abort a running one.

Offline, the same reports are kept as lines on the stick, each signed with the session's agent
key (`sign_line` / `check_line`), so an altered, dropped or reordered line is caught at import.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from sanitiser.errors import SanitiserError

MAX_REPORT_BYTES: Final = 4 << 20
"""A report larger than this is refused unread (an inventory is a few kB)."""


class ReportKind(StrEnum):
    """What a report says."""

    HELLO = "hello"
    """The agent booted: its host inventory and its drives (each with the guard's verdict and
    the plan the policy makes for it)."""
    JOB = "job"
    """A step of a job the bench ordered (``body.event``: refused, planned, phase, progress,
    log, notes, outcome, failed)."""
    BYE = "bye"
    """The agent is stopping (nothing is running)."""


class JobEvent(StrEnum):
    """The ``event`` of a job report."""

    REFUSED = "refused"
    """Nothing was written: the guard, the policy or the confirmed plan said no."""
    PLANNED = "planned"
    PHASE = "phase"
    PROGRESS = "progress"
    LOG = "log"
    NOTES = "notes"
    """The method's private journal changed (kept by the bench: a resume needs it)."""
    OUTCOME = "outcome"
    """The method's verdict (`outcome_to_json`)."""
    FAILED = "failed"
    """The method could not give a verdict (the reason)."""
    ORDERED = "ordered"
    """Offline only: the technician confirmed the drive at the device (the order itself)."""


class ReportError(SanitiserError):
    """A report that is not well formed (it is refused and logged)."""


@dataclass(frozen=True, slots=True)
class Report:
    """One report from an agent."""

    session: str
    agent: str
    seq: int
    kind: ReportKind
    body: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The report as sent."""
        return {
            "session": self.session,
            "agent": self.agent,
            "seq": self.seq,
            "kind": self.kind.value,
            "body": dict(self.body),
        }

    def encode(self) -> bytes:
        """Canonical bytes (what is sent, hashed and signed)."""
        return dumps(self.to_json())


def parse_report(data: bytes) -> Report:
    """A report from its bytes.

    Raises:
        ReportError: not JSON, or a field missing or of the wrong type (the reason).
    """
    if len(data) > MAX_REPORT_BYTES:
        raise ReportError(f"report of {len(data)} bytes is larger than {MAX_REPORT_BYTES}")
    return report_from_json(loads(data, "report"))


def report_from_json(doc: object) -> Report:
    """A report from its JSON value (see `parse_report`)."""
    if not isinstance(doc, dict):
        raise ReportError("report is not a JSON object")
    session, agent, seq, kind, body = (
        doc.get(k) for k in ("session", "agent", "seq", "kind", "body")
    )
    if not isinstance(session, str) or not session:
        raise ReportError("report has no session")
    if not isinstance(agent, str) or not agent or len(agent) > 64:
        raise ReportError("report has no agent id")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise ReportError("report has no sequence number (a positive integer)")
    if not isinstance(body, dict):
        raise ReportError("report has no body")
    try:
        report_kind = ReportKind(str(kind))
    except ValueError as exc:
        raise ReportError(f"report kind {kind!r} is not known") from exc
    return Report(session, agent, seq, report_kind, body)


@dataclass(frozen=True, slots=True)
class SequenceVerdict:
    """Whether a report's number follows the agent's last accepted one."""

    accepted: bool
    reason: str = ""
    """"replayed: ..." or "out of order: ..." when refused."""
    expected: int = 1


def judge_sequence(seq: int, last_accepted: int) -> SequenceVerdict:
    """Accept `seq` only right after `last_accepted` (0 when none was accepted yet)."""
    expected = last_accepted + 1
    if seq == expected:
        return SequenceVerdict(True, expected=expected)
    if seq < expected:
        return SequenceVerdict(
            False,
            f"replayed: report {seq} was already accepted (the last accepted is {last_accepted})",
            expected,
        )
    return SequenceVerdict(
        False, f"out of order: report {seq} arrived but {expected} is the next", expected
    )


class OrderAction(StrEnum):
    """What the bench asks of an agent."""

    ERASE = "erase"
    RESUME = "resume"
    """Re-poll an erase the drive went on with across a power cycle (the method's notes)."""
    ABORT = "abort"


@dataclass(frozen=True, slots=True)
class Order:
    """One order from the bench to one agent."""

    order_id: str
    action: OrderAction
    job_id: str
    drive_path: str
    """The drive's path on the device (as the agent reported it)."""
    drive: Mapping[str, Any] = field(default_factory=dict)
    """The drive as the technician confirmed it (`drive_to_json`): the guard re-checks it."""
    confirmed_method: str = ""
    """The technique (or ``DESTROY``) the technician was shown and confirmed."""
    policy: str = ""
    technique: str = ""
    """A technique chosen instead of the policy's ("" for the policy's)."""
    notes: Mapping[str, Any] = field(default_factory=dict)
    """The method's journal (a resume), encoded as the store keeps it."""
    verification: str = ""
    """A resume: the read-back the job's plan asked for."""

    def to_json(self) -> dict[str, Any]:
        """The order as sent."""
        return {
            "order": self.order_id,
            "action": self.action.value,
            "job": self.job_id,
            "drive_path": self.drive_path,
            "drive": dict(self.drive),
            "confirmed_method": self.confirmed_method,
            "policy": self.policy,
            "technique": self.technique,
            "notes": dict(self.notes),
            "verification": self.verification,
        }


def order_from_json(doc: object) -> Order:
    """An order from its JSON value.

    Raises:
        ReportError: a field missing or of the wrong type.
    """
    if not isinstance(doc, dict):
        raise ReportError("order is not a JSON object")
    try:
        return Order(
            order_id=str(doc["order"]),
            action=OrderAction(doc["action"]),
            job_id=str(doc["job"]),
            drive_path=str(doc["drive_path"]),
            drive=dict(doc.get("drive") or {}),
            confirmed_method=str(doc.get("confirmed_method") or ""),
            policy=str(doc.get("policy") or ""),
            technique=str(doc.get("technique") or ""),
            notes=dict(doc.get("notes") or {}),
            verification=str(doc.get("verification") or ""),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ReportError(f"order is not well formed: {exc!r}") from exc


# --- offline evidence: one signed line per report ------------------------------------------


def sign_line(report: Report, key: ec.EllipticCurvePrivateKey) -> bytes:
    """One line of offline evidence: the report and its ECDSA P-256 signature (agent key)."""
    data = report.encode()
    signature = key.sign(data, ec.ECDSA(hashes.SHA256()))
    line = {"report": report.to_json(), "sig": base64.b64encode(signature).decode("ascii")}
    return dumps(line) + b"\n"


def check_line(line: bytes, public: ec.EllipticCurvePublicKey) -> Report:
    """The report on a line of offline evidence, its signature checked.

    Raises:
        ReportError: the line is malformed or its signature does not verify (altered).
    """
    doc = loads(line.strip(), "line of evidence")
    if not isinstance(doc, dict) or not isinstance(doc.get("sig"), str):
        raise ReportError("not a line of evidence (no signature)")
    report = report_from_json(doc.get("report"))
    try:
        public.verify(
            base64.b64decode(doc["sig"], validate=True),
            report.encode(),
            ec.ECDSA(hashes.SHA256()),
        )
    except (InvalidSignature, ValueError) as exc:
        raise ReportError(
            f"report {report.seq} does not verify with the session's agent key (altered?)"
        ) from exc
    return report


def dumps(value: object) -> bytes:
    """JSON bytes for the wire and for signing: sorted keys, no whitespace, UTF-8."""
    return json.dumps(
        value, separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ReportError(f"duplicate key {key!r}")
        result[key] = value
    return result


def loads(data: bytes, what: str) -> Any:
    """JSON from the wire, strictly (UTF-8, no duplicate keys).

    Raises:
        ReportError: the bytes are not such JSON (`what` names them).
    """
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=_unique)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ReportError(f"{what} is not JSON: {exc}") from exc
