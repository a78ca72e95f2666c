"""What a serve session runs on the bench: the receiver, the computers and their jobs, wired to
the bench's services (store, station identity, policies). The serve command and the TUI build
one `AgentService` and call `mint_session`, `start`, `url` and `stop`."""

from __future__ import annotations

from pathlib import Path
from typing import Final

from sanitiser.agent.bench import REMOTE_DRIVES, AgentBench, RemoteJobs, is_remote
from sanitiser.agent.credentials import AgentSession, CredentialError, mint_session
from sanitiser.agent.receiver import AgentReceiver
from sanitiser.app.jobs import default_dependencies
from sanitiser.app.services import Services
from sanitiser.custody.anchors import CHECKPOINTS_FILE
from sanitiser.domain import Drive

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


class AgentService:
    """The bench's agent service for one serve run.

    Args:
        services: the bench's services.
        host: the address the receiver listens on (the bench network's).
        port: its port (0: any free one; see `url`).
    """

    def __init__(self, services: Services, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.services = services
        self.jobs = make_remote_jobs(services)
        self.bench: AgentBench = self.jobs.bench
        self.receiver = AgentReceiver(
            services.store, services.settings.station, self.bench, host=host, port=port
        )
        for session in saved_sessions(services):
            self.receiver.admit(session)

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
