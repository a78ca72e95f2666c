"""The network-boot (and USB) agent: a computer's own drives sanitised where they stand, under
the bench's control; and the bench's side of it.

**On the device** (``python3 -m sanitiser agent run``): `agent.Agent` surveys the host
(`collect_inventory`) and its drives (guard verdict, health, the policy's plan), reports
them, waits for orders and runs each one through the existing guard (`device.OwnMedium`: never
the agent's own boot medium), probe, policy and methods (`device.execute`); every step is a
numbered report (`link.Reporter`) to the bench over mutual TLS (`link.BenchLink`), or, offline,
a signed line on the stick (`link.EvidenceFile`).

**On the bench**, the API the serve command (and the TUI) calls:

- ``service = AgentService(services, host=ADDRESS, port=PORT)``: the receiver, the computers
  (`bench.AgentBench`) and their job engine (`bench.RemoteJobs`), wired to the bench's store,
  signing identity and policies. Sessions minted before (kept under
  ``DATA_DIR/agent-sessions``) are accepted again.
- ``session = service.mint_session(directory)`` -> `AgentSession`: a fresh per-session CA; the
  agent's ``ca.pem``, ``agent.pem``, ``agent.key`` and ``session.json`` written into
  `directory` (to pack into the session's initrd overlay, or onto a stick), the bench's side
  kept, the receiver told to accept that session's agent. (`credentials.mint_session` is the
  same without a receiver.)
- ``service.start()`` / ``service.stop()`` / ``service.url`` (``https://HOST:PORT``, what the
  agent's ``--bench`` takes: the guest's /init runs ``python3 -m sanitiser agent run --bench
  URL --credentials DIR``).
- ``service.bench.drives()`` lists the computers' drives (``agent://HOST/dev/NAME``, with the
  guard's verdict on the device and the plan shown), and ``service.bench.start(paths,
  operator=..., confirmed={path: shown method})`` is the technician's go; the jobs run on
  ``service.jobs`` (an `Orchestrator`: `subscribe`, `wait`, `outcome`, `abort`).

The receiver accepts reports only from agents of sessions the bench minted, numbered in order;
forged, replayed, out-of-order and unconfirmed reports are refused and logged (``agent_report``,
`sanitiser.store.agents`). The bench alone signs: certificates of these drives say
``captured: on-device`` (or ``off-bench`` for evidence brought back on a stick, `offline`).
"""

from sanitiser.agent.credentials import AgentCredentials, AgentSession, mint_session

__all__ = ["AgentCredentials", "AgentSession", "mint_session"]
