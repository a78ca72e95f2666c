"""Without a network, on the device: the agent keeps its evidence on the stick, and the bench
imports it later (`sanitiser.agent.evidence`).

`run_offline` does the same survey and the same execution as online; the technician confirms
each drive at the device (`confirm`), and every report is a line on the stick signed with the
session's agent key (`EvidenceFile`), the order itself first (``ordered``). Nothing here opens a
store: the boot image carries no database libraries.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from sanitiser.agent.agent import Agent, offline_orders
from sanitiser.agent.credentials import AgentCredentials
from sanitiser.agent.device import DeviceSeams
from sanitiser.agent.link import EvidenceFile, Reporter
from sanitiser.agent.protocol import (
    JobEvent,
    ReportKind,
)
from sanitiser.errors import SanitiserError

EVIDENCE_GLOB: Final = "evidence-*.jsonl"


def run_offline(
    seams: DeviceSeams,
    directory: Path,
    confirm: Callable[[dict[str, Any]], bool],
    *,
    policy: str = "",
) -> Path:
    """Survey, erase what the technician confirms at the device, keep the signed evidence in
    `directory` (which also holds the session's credentials); the evidence file's path."""
    creds = AgentCredentials.load(directory)
    agent_id = uuid.uuid4().hex
    path = directory / f"evidence-{agent_id}.jsonl"
    reporter = Reporter(EvidenceFile(path, creds.signing_key()), creds.session_id, agent_id)
    try:
        agent = Agent(seams, reporter, None, policy=policy)
        drives = agent.hello()
        for order in offline_orders(drives, confirm, policy):
            agent.emitter(order)(JobEvent.ORDERED, {"order_json": order.to_json()})
            agent.take(order)
        agent.join()
        last = reporter.report(ReportKind.BYE, {})
        if not reporter.wait_delivered(last, 600):
            raise SanitiserError(f"the evidence could not be kept on {path}: {reporter.paused}")
    finally:
        reporter.close()
    return path
