"""``sanitiser agent run`` as the boot image's /init runs it: a subprocess reporting to a real
receiver over mutual TLS. It surveys this machine read-only (dmidecode, the drives' identify
commands) and erases nothing: no order is ever given here."""

from __future__ import annotations

import json
import subprocess
import sys

from sanitiser.store.agents import agent_reports
from tests.cli import run_sanitiser
from tests.integration.agent_rig import AgentRig, agent_rig, wait_until

__all__ = ["agent_rig"]


def test_agent_run_says_hello_to_a_real_receiver(agent_rig: AgentRig) -> None:
    """The command's agent is accepted with the minted credentials: its hello (this machine's
    inventory and drives, each with the guard's verdict) is on the bench, numbered from 1."""
    rig = agent_rig
    session = rig.service.mint_session(rig.tmp / "creds")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sanitiser",
            "agent",
            "run",
            "--bench",
            rig.service.url,
            "--credentials",
            str(rig.tmp / "creds"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(
            rig.service.bench.computers,
            "the command's hello",
            refused=lambda: "" if process.poll() is None else f"it exited {process.returncode}",
        )
        accepted = agent_reports(rig.services.store, session=session.session_id, accepted=True)
        assert accepted[0].seq == 1
        report = json.loads(accepted[0].body)
        assert report["kind"] == "hello"
        assert isinstance(report["body"]["drives"], list)
        [host] = rig.service.bench.computers()
        assert host.session == session.session_id
        wait_until(lambda: rig.service.computers()[0].link == "connected", "its polls")
        assert agent_reports(rig.services.store, accepted=False) == []
    finally:
        process.terminate()
        process.communicate(timeout=120)


def test_agent_run_without_a_bench_or_with_a_plain_http_one_is_refused(
    agent_rig: AgentRig,
) -> None:
    """No bench and no --offline: a usage error; an http:// bench: refused before anything."""
    rig = agent_rig
    rig.service.mint_session(rig.tmp / "creds")
    missing = run_sanitiser("agent", "run")
    assert missing.returncode == 2
    assert "--bench URL and --credentials DIR" in missing.stderr
    plain = run_sanitiser(
        "agent", "run", "--bench", "http://127.0.0.1:1", "--credentials", str(rig.tmp / "creds")
    )
    assert plain.returncode != 0
    assert "https://HOST:PORT" in plain.stderr
