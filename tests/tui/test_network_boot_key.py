"""The bench started with ``--serve-agents`` stops and starts the network boot by one key
(``B``): a real `AgentServing` (receiver and HTTP boot files; QEMU-style user networking, so
no dnsmasq) whose HTTP server closes and opens again, while the receiver keeps listening."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sanitiser.agent.serving import AgentServing
from sanitiser.app.jobs import make_orchestrator
from sanitiser.app.services import Services
from sanitiser.netboot import texts
from sanitiser.runner import SubprocessRunner
from sanitiser.tui.app import SanitiserApp
from sanitiser.tui.bench import Bench
from tests.served import served_dir
from tests.tui.helpers import bench_ready, noticed, wait_for


@pytest.fixture
def serving(services: Services, tmp_path: Path) -> Iterator[AgentServing]:
    image = tmp_path / "image"
    image.mkdir()
    for name in (texts.KERNEL_FILE, texts.INITRD_FILE):
        (image / name).write_bytes(b"stand-in " + name.encode())
    with served_dir() as work:
        made = AgentServing(
            services,
            image=image,
            work=work,
            runner=SubprocessRunner(),
            advertise="127.0.0.1",
            http_port=0,
            agent_port=0,
        )
        made.start()
        try:
            yield made
        finally:
            made.stop()


def boot_script(serving: AgentServing) -> str:
    assert serving.server is not None
    with urllib.request.urlopen(f"{serving.server.url}/{texts.BOOT_SCRIPT}", timeout=30) as r:
        return str(r.read().decode())


def booting(serving: AgentServing) -> bool:
    """Read afresh each time (the key changes it on a worker thread)."""
    return serving.booting


def refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


async def test_b_stops_and_starts_the_network_boot(
    services: Services, serving: AgentServing
) -> None:
    assert serving.server is not None
    assert serving.service is not None
    first_port = serving.server.port
    receiver = serving.service.url
    assert receiver.split("//")[1] in boot_script(serving)  # the kernel is told where to report
    bench = Bench(
        services,
        make_orchestrator(services, poll_interval=0.01),
        agent=serving.service,
        serving=serving,
    )
    app = SanitiserApp(services, bench=bench, operator="mia")
    async with app.run_test(size=(160, 40)) as pilot:
        await bench_ready(pilot, app)
        await pilot.press("B")
        await wait_for(pilot, noticed(app, "Network boot stopped"))
        assert not booting(serving)
        assert refused(first_port)
        assert serving.service is not None
        assert serving.service.url == receiver  # the booted computers go on reporting
        await pilot.press("B")
        await wait_for(pilot, noticed(app, "Network boot started"))
        assert booting(serving)
        assert receiver.split("//")[1] in boot_script(serving)


async def test_a_bench_without_network_boot_has_no_b(services: Services) -> None:
    app = SanitiserApp(services, bench=Bench(services, make_orchestrator(services)))
    async with app.run_test(size=(160, 40)) as pilot:
        await bench_ready(pilot, app)
        assert app.check_action("toggle_boot", ()) is False
        keys = [k for k, _ in app.bench_screen.key_map(computers=False)]
        assert "B" not in keys
