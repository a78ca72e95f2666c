"""What a serve session runs on the bench: the receiver, the computers and their jobs, wired to
the bench's services (store, station identity, policies). The serve command and the TUI build
one `AgentService` and call `mint_session`, `start`, `url` and `stop`."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from sanitiser.agent.bench import (
    LINK_LOST_AFTER_S,
    REMOTE_DRIVES,
    AgentBench,
    RemoteHost,
    RemoteJobs,
    is_remote,
    link_state,
)
from sanitiser.agent.credentials import AgentSession, CredentialError, mint_session
from sanitiser.agent.receiver import AgentReceiver
from sanitiser.app.computers import Attachment, ComputerDesk, Match
from sanitiser.app.jobs import default_dependencies
from sanitiser.app.naming import session_operator
from sanitiser.app.services import DriveStatus, Services
from sanitiser.custody.anchors import CHECKPOINTS_FILE
from sanitiser.domain import Drive, Protection
from sanitiser.errors import SanitiserError

log = logging.getLogger(__name__)

SESSIONS_DIR: Final = "agent-sessions"
"""Under the data directory: the bench's side of every session it minted (one folder each)."""


def sessions_dir(services: Services) -> Path:
    """Where the bench keeps its sessions."""
    return services.settings.data_dir / SESSIONS_DIR


def saved_sessions(services: Services) -> list[AgentSession]:
    """Every session this bench minted, oldest first (unreadable ones skipped)."""
    found: list[AgentSession] = []
    root = sessions_dir(services)
    for folder in sorted(root.iterdir()) if root.is_dir() else ():
        try:
            found.append(AgentSession.load(folder))
        except CredentialError:
            continue
    return sorted(found, key=lambda s: s.created)


def load_session(services: Services, session_id: str) -> AgentSession:
    """The session this bench minted with that id.

    Raises:
        CredentialError: this bench minted no such session.
    """
    folder = sessions_dir(services) / session_id
    if not session_id.isalnum() or not (folder / "session.json").is_file():
        raise CredentialError(f"this bench minted no agent session {session_id!r}")
    return AgentSession.load(folder)


def make_remote_jobs(services: Services, *, poll_interval: float = 10.0) -> RemoteJobs:
    """The job engine for drives inside computers, over the bench's services (its store, its
    station's signing identity, its policies); nothing of those drives is opened here."""
    deps = default_dependencies(services)
    deps.backend_for = lambda _d: REMOTE_DRIVES
    deps.fingerprint = lambda _d: None
    jobs = RemoteJobs(
        services.store,
        deps,
        station=services.settings.station,
        organisation=services.settings.organisation,
        poll_interval=poll_interval,
        checkpoints=services.settings.data_dir / CHECKPOINTS_FILE,
    )
    bench = AgentBench(jobs)

    def find(recorded: Drive) -> Drive | None:
        if not is_remote(recorded):
            return None
        for found in bench.drives():
            if found.drive.path == recorded.path:
                return found.drive
        return None

    deps.find_drive = find
    return jobs


@dataclass(frozen=True, slots=True)
class ComputerView:
    """A computer on the bench as the technician sees it: its identity, its device record, its
    link and its drives (each with the guard's verdict on the device)."""

    key: str
    make: str
    model: str
    serial: str
    link: str
    """``connected`` or ``link lost`` (`link_state`)."""
    attachment: Attachment | None
    """Its device record; None while it is being looked for."""
    drives: tuple[DriveStatus, ...]
    captured: str

    @property
    def tag(self) -> str:
        """Its device's tag ("" when not attached)."""
        return self.attachment.tag if self.attachment is not None else ""


def computer_view(host: RemoteHost, now: float, lost_after: float) -> ComputerView:
    """What the bench shows of `host` at monotonic time `now`."""
    system = host.inventory.system if host.inventory is not None else None
    drives = tuple(
        DriveStatus(d.drive, d.health, Protection(bool(d.protected), d.protected))
        for d in host.drives.values()
    )
    return ComputerView(
        key=host.host,
        make=(system.vendor or "") if system else "",
        model=(system.product or "") if system else "",
        serial=(system.serial or "") if system else "",
        link=link_state(host.last_seen, now, lost_after),
        attachment=host.attachment,
        drives=drives,
        captured=host.captured,
    )


class AgentService:
    """The bench's agent service for one serve run.

    A computer's hello is looked up among the devices taken in (`ComputerDesk.arrived`, in a
    worker thread): found, its facts are recorded and its internal drives linked, with
    `operator` named in the custody entries; otherwise it waits for `attach` (its scanned tag).

    Args:
        services: the bench's services.
        host: the address the receiver listens on (the bench network's).
        port: its port (0: any free one; see `url`).
        operator: who is operating (the TUI sets it when the operator changes; default: the
            session's, `session_operator`).
        lost_after: seconds without a word from a computer before its link shows lost.
    """

    def __init__(
        self,
        services: Services,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        operator: str | None = None,
        lost_after: float = LINK_LOST_AFTER_S,
    ) -> None:
        self.services = services
        self.operator = operator or session_operator(None)
        self.jobs = make_remote_jobs(services)
        self.bench: AgentBench = self.jobs.bench
        self.bench.lost_after = lost_after
        self.receiver = AgentReceiver(
            services.store, services.settings.station, self.bench, host=host, port=port
        )
        for session in saved_sessions(services):
            self.receiver.admit(session)
        self._looked: dict[str, str] = {}
        """The agent (boot) each computer's device record was last looked for at."""
        self._look_lock = threading.Lock()
        self.bench.watch(self._hello_seen)

    # --- computers and their device records ---

    def _hello_seen(self, key: str) -> None:
        found = self.bench.host(key)
        if found is None:
            return
        with self._look_lock:
            if self._looked.get(key) == found.agent:
                return  # this boot was looked up already (the change was its attachment)
            self._looked[key] = found.agent
        threading.Thread(
            target=self._look_up, args=(key,), name=f"agent-device-{key[:8]}", daemon=True
        ).start()

    def _look_up(self, key: str) -> None:
        """Find the computer's device record (`ComputerDesk.arrived`) and keep the answer."""
        found = self.bench.host(key)
        if found is None:
            return
        drives = [d.drive for d in found.drives.values()]
        try:
            attachment = ComputerDesk(self.services, self.operator).arrived(found.inventory, drives)
        except SanitiserError as exc:
            attachment = Attachment(Match.REFUSED, exc.msg)
        log.info("computer %s: %s", key, attachment.message)
        self.bench.set_attachment(key, attachment)

    def attach(self, key: str, tag: str, *, operator: str | None = None) -> Attachment:
        """Attach computer `key` to device `tag` (the technician scanned its tag): its facts
        recorded, its internal drives linked (`ComputerDesk.attach`).

        Raises:
            DeviceError: the desk refused (the reason); nothing is linked.
            SanitiserError: no such computer on the bench network.
        """
        found = self.bench.host(key)
        if found is None:
            raise SanitiserError(f"no computer {key} on the bench network")
        drives = [d.drive for d in found.drives.values()]
        desk = ComputerDesk(self.services, operator or self.operator)
        attachment = desk.attach(tag, found.inventory, drives)
        self.bench.set_attachment(key, attachment)
        return attachment

    def computers(self) -> list[ComputerView]:
        """Every computer that said hello, as the bench shows it now."""
        now = time.monotonic()
        return [computer_view(h, now, self.bench.lost_after) for h in self.bench.computers()]

    def mint_session(self, directory: Path) -> AgentSession:
        """A fresh session: the agent's credentials written into `directory` (for the
        session's initrd overlay or the stick), the bench's side kept under the data directory,
        and the receiver told to accept its agent."""
        session = mint_session(directory)
        session.save(sessions_dir(self.services) / session.session_id)
        self.receiver.admit(session)
        return session

    @property
    def url(self) -> str:
        """The receiver's ``https://HOST:PORT`` (what ``agent run --bench`` takes)."""
        return self.receiver.url

    def start(self) -> None:
        """Listen for agents."""
        self.receiver.start()

    def stop(self) -> None:
        """Stop listening and close the job engine (running jobs are left to recovery)."""
        self.receiver.stop()
        self.jobs.close()
