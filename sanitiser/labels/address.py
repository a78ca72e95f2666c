"""Printer addresses: where a label goes and in which language, as one string.

- ``zpl://HOST[:PORT]`` and ``zpl:///dev/usb/lp0``: a Zebra printer (ZPL II) over raw TCP
  (port 9100 by default) or its USB printer node;
- ``brother://HOST[:PORT]?model=QL-820NWB&label=62x29`` and ``brother:///dev/usb/lp0?model=...``:
  a Brother QL printer (its raster language), with its model and the labels loaded;
- ``cups://QUEUE``: any printer CUPS knows (``lp``), e.g. IPP Everywhere, DYMO, Brother PT.

Options after ``?``: ``label`` (the stock: see `sanitiser.labels.render.STOCKS`), ``dpi`` (ZPL
and CUPS; Brother QL prints at 300), ``model`` (Brother), ``server`` (CUPS: ``HOST[:PORT]`` of
the scheduler). A bad address is a `PrinterAddressError` naming it and what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import parse_qsl, urlsplit

from sanitiser.errors import SanitiserError
from sanitiser.labels.brother import model_named
from sanitiser.labels.render import stock_named

DEFAULT_PORT = 9100
"""The raw ("JetDirect") printing port."""
_HOST = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$|^\[[0-9A-Fa-f:.]+\]$")
_QUEUE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,126}$")
_DEVICE = re.compile(r"^/dev/(usb/lp[0-9]+|lp[0-9]+)$")
_OPTIONS = {
    "zpl": {"label", "dpi"},
    "brother": {"label", "model"},
    "cups": {"label", "dpi", "server"},
}
_DPI = (203, 300, 600)


class PrinterAddressError(SanitiserError):
    """A printer address that cannot be used."""


class Language(StrEnum):
    """What the printer is spoken to in."""

    ZPL = "zpl"
    BROTHER = "brother"
    CUPS = "cups"


@dataclass(frozen=True, slots=True)
class PrinterAddress:
    """A parsed printer address."""

    text: str
    """The address as written (what the queue and messages show)."""
    language: Language
    host: str = ""
    """The network host (empty for a device node or a CUPS queue)."""
    port: int = DEFAULT_PORT
    device: str = ""
    """A printer node such as ``/dev/usb/lp0`` (empty for the network)."""
    queue: str = ""
    """The CUPS queue."""
    options: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The stock named by ``label=`` ("" when not given)."""
        return self.options.get("label", "")

    @property
    def dpi(self) -> int:
        """The printer's resolution: ``dpi=``, else 300 (Brother QL, most CUPS label printers)
        or 203 (most Zebra printers)."""
        if "dpi" in self.options:
            return int(self.options["dpi"])
        return 203 if self.language is Language.ZPL else 300

    @property
    def where(self) -> str:
        """``HOST:PORT``, the device node or the CUPS queue, for messages."""
        if self.queue:
            return f"CUPS queue {self.queue}"
        return self.device or f"{self.host}:{self.port}"


def _bad(text: str, why: str) -> PrinterAddressError:
    return PrinterAddressError(
        f"bad printer address {text!r}: {why} (e.g. zpl://HOST[:PORT], zpl:///dev/usb/lp0, "
        "brother://HOST?model=QL-820NWB&label=62x29, cups://QUEUE)",
        title="Printer",
    )


def parse_address(text: str) -> PrinterAddress:
    """Parse a printer address.

    Raises:
        PrinterAddressError: an unknown scheme, a bad host, port, device, queue or option.
    """
    raw = text.strip()
    if not raw:
        raise _bad(text, "it is empty")
    if "://" not in raw:
        raise _bad(text, "no scheme")
    scheme = raw.split("://", 1)[0].lower()
    if scheme not in _OPTIONS:
        raise _bad(text, f"unknown scheme {scheme!r}: use zpl, brother or cups")
    language = Language(scheme)
    try:
        parts = urlsplit(raw)
        port_given = parts.port
    except ValueError as e:
        raise _bad(text, f"bad port ({e})") from e
    if parts.fragment:
        raise _bad(text, "a '#' has no meaning here")
    options: dict[str, str] = {}
    try:
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError as e:
        raise _bad(text, "bad options after '?'") from e
    for key, value in pairs:
        if key not in _OPTIONS[scheme]:
            allowed = ", ".join(sorted(_OPTIONS[scheme]))
            raise _bad(text, f"unknown option {key!r} for {scheme} (allowed: {allowed})")
        if key in options:
            raise _bad(text, f"option {key!r} given twice")
        if not value:
            raise _bad(text, f"option {key!r} has no value")
        options[key] = value
    if "dpi" in options and (not options["dpi"].isdigit() or int(options["dpi"]) not in _DPI):
        raise _bad(text, f"dpi must be one of {', '.join(map(str, _DPI))}")
    if "label" in options:
        try:
            stock_named(options["label"])
        except SanitiserError as e:
            raise _bad(text, str(e)) from e
    host = parts.hostname or ""
    if language is Language.CUPS:
        queue = parts.netloc
        if parts.path not in ("", "/"):
            raise _bad(text, "a CUPS queue is cups://QUEUE, with no path")
        if not _QUEUE.fullmatch(queue):
            raise _bad(text, "no usable CUPS queue name")
        server = options.get("server", "")
        if server and not re.fullmatch(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|/[^\s]+", server):
            raise _bad(text, "server must be HOST[:PORT] or a socket path")
        return PrinterAddress(raw, language, queue=queue, options=options)
    if parts.netloc:
        if parts.path not in ("", "/"):
            raise _bad(text, "a network printer has no path")
        if not _HOST.fullmatch(host if ":" not in host else f"[{host}]"):
            raise _bad(text, f"bad host {host!r}")
        port = port_given if port_given is not None else DEFAULT_PORT
        if not 0 < port < 65536:
            raise _bad(text, f"port {port} out of range")
        address = PrinterAddress(raw, language, host=host, port=port, options=options)
    else:
        if not _DEVICE.fullmatch(parts.path):
            raise _bad(text, f"{parts.path or 'nothing'} is not a printer node like /dev/usb/lp0")
        address = PrinterAddress(raw, language, device=parts.path, options=options)
    if language is Language.BROTHER:
        if "model" not in options:
            raise _bad(text, "a Brother printer needs its model (?model=QL-820NWB)")
        try:
            model_named(options["model"])
        except SanitiserError as e:
            raise _bad(text, str(e)) from e
    return address
