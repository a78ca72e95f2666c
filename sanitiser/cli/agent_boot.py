"""``sanitiser agent build | serve | inventory``: the donor agent's boot image and network boot.

Thin shells over `sanitiser.netboot`: ``build`` packs the kernel, initramfs and USB image
(`ImageBuilder`), ``serve`` runs proxy-DHCP + TFTP (dnsmasq) and the HTTP file server
(`NetbootServer`) until Ctrl-C, ``inventory`` prints the host report the image's self-test shows.
The commands are attached to the ``agent`` group (`BOOT_COMMANDS`). ``serve`` is CLI only for
now: a TUI hook (start/stop from the bench screen) can call `NetbootServer` the same way.
"""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import click

from sanitiser.devices.discover import UdevDriveSource
from sanitiser.netboot.build import ImageBuilder, default_cache
from sanitiser.netboot.probe import host_report
from sanitiser.netboot.serve import AgentEndpoint, NetbootServer, ServeError
from sanitiser.netboot.spec import VARIANTS
from sanitiser.runner import SubprocessRunner

DEFAULT_IMAGE_DIR = Path("build/agent")


@click.command("build")
@click.option(
    "--variant", type=click.Choice(sorted(VARIANTS)), default="full", show_default=True,
    help="full: every storage/network driver of Debian's kernel; ci: QEMU's only (tests).",
)  # fmt: skip
@click.option(
    "--out", type=click.Path(path_type=Path, file_okay=False), default=DEFAULT_IMAGE_DIR,
    show_default=True, help="Where vmlinuz, initrd.gz, sanitiser-usb.img and image.json go.",
)  # fmt: skip
@click.option(
    "--cache", type=click.Path(path_type=Path, file_okay=False), default=None,
    help="Debian packages and the kernel [default: the QEMU lab's cache, shared].",
)  # fmt: skip
@click.option("--no-usb", is_flag=True, help="Only the kernel and initramfs.")
def build(variant: str, out: Path, cache: Path | None, no_usb: bool) -> None:
    """Build the donor boot image from Debian packages (apt on the bench), reproducibly
    (SOURCE_DATE_EPOCH)."""
    builder = ImageBuilder(
        VARIANTS[variant],
        SubprocessRunner(),
        out,
        cache=cache or default_cache(),
        usb=not no_usb,
        log=lambda msg: click.echo(f"agent build: {msg}", err=True),
    )
    result = builder.build()
    click.echo(f"kernel  {result.kernel} ({result.kernel.stat().st_size} bytes)")
    click.echo(
        f"initrd  {result.initrd} ({result.initrd.stat().st_size} bytes, "
        f"{result.uncompressed_bytes} unpacked, {result.files} entries) "
        f"sha256 {result.initrd_sha256}"
    )
    if result.usb is not None:
        click.echo(
            f"usb     {result.usb} ({result.usb.stat().st_size} bytes) sha256 {result.usb_sha256}"
        )
    click.echo(f"manifest {result.manifest}")


def agent_endpoint(bench: str | None, credentials: Path | None, work: Path) -> AgentEndpoint:
    """The bench URL booted agents dial and the directory of their credentials, for a bench
    served elsewhere. Serving for this bench is ``sanitiser tui --serve-agents IF``: the TUI
    holds the receiver, the computers and the technician's go (`sanitiser.agent.serving`)."""
    if bench is None or credentials is None:
        raise ServeError(
            "to erase computers on this bench, serve from it: 'sanitiser tui --serve-agents IF'"
            " (the computers appear on the bench); here, give --bench URL and --credentials DIR"
            " of a bench that serves them"
        )
    return AgentEndpoint(bench, credentials)


@click.command("serve")
@click.option("--interface", required=True, help="The bench's boot network interface (e.g. eth1).")
@click.option(
    "--image", type=click.Path(path_type=Path, file_okay=False), default=DEFAULT_IMAGE_DIR,
    show_default=True, help="The built image (sanitiser agent build --out).",
)  # fmt: skip
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True,
              help="HTTP port for the kernel and initramfs.")  # fmt: skip
@click.option("--bench", default=None, help="URL the agents report to (default: our receiver).")
@click.option(
    "--credentials", type=click.Path(path_type=Path, file_okay=False, exists=True), default=None,
    help="Directory of the agents' credentials (default: minted for this session).",
)  # fmt: skip
@click.option(
    "--work", type=click.Path(path_type=Path, file_okay=False),
    default=Path("/run/sanitiser/netboot"),
    show_default=True, help="Session files (TFTP root, dnsmasq configuration and log).",
)  # fmt: skip
def serve(  # noqa: PLR0917 - click passes each option as an argument
    interface: str, image: Path, port: int, bench: str | None, credentials: Path | None, work: Path
) -> None:
    """Network-boot donors on INTERFACE: dnsmasq proxy-DHCP + TFTP (the network's own DHCP
    server keeps handing out addresses), iPXE chaining to HTTP. Runs until Ctrl-C."""
    server = NetbootServer(
        image=image,
        work=work,
        endpoint=agent_endpoint(bench, credentials, work),
        runner=SubprocessRunner(),
        interface=interface,
        port=port,
        log=lambda msg: click.echo(f"agent serve: {msg}", err=True),
    )
    server.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        click.echo(f"serving on {interface}: {server.url}/ (Ctrl-C stops)")
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        click.echo("stopped")


@click.command("inventory")
def inventory() -> None:
    """Print this computer's facts and drives as JSON (the boot image's self-test)."""
    click.echo(json.dumps(host_report(SubprocessRunner(), UdevDriveSource()), sort_keys=True))


BOOT_COMMANDS = (build, serve, inventory)
