"""The static verification page: built from a certs directory, checked in real headless Chromium.

Pages are opened as ``file://.../verify.html#<token>`` (a secure context, so WebCrypto works)
and the DOM Chromium dumps is parsed. A parity test runs the page's own script over many
altered and re-signed tokens and compares every verdict with the Python verifier's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import struct
import subprocess
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import hashes

from sanitiser.certificate.issue import IssuedCertificate, issue_certificate
from sanitiser.certificate.keys import (
    COMPROMISED,
    RETIRED,
    ecdsa_sign,
    make_org_ca,
    make_station_cert,
    pem,
    revoke_station,
    write_public,
)
from sanitiser.certificate.qr import (
    DESTINATIONS,
    METHODS,
    Token,
    capacity_text,
    decode_token,
    destination_label,
    encode_token,
    token_body,
)
from sanitiser.certificate.samples import (
    HOSTILE,
    SamplePki,
    make_pki,
    sample_context,
    sample_drive,
    sample_outcome,
)
from sanitiser.certificate.verify import load_trust, verify_token_text
from sanitiser.certificate.verify_page import (
    page_script,
    page_trust,
    render_page,
    script_json,
    write_page,
)
from sanitiser.cli.verify_page import verify_page
from sanitiser.domain import Drive, Outcome
from sanitiser.errors import CertificateError

CHROMIUM = Path("/usr/bin/chromium")
GOLDEN_V1 = Path(__file__).parent.parent / "data" / "token-v1"
ORG = "Example Borough Council"
_P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_VOID = {"meta", "input", "br", "img", "link", "hr", "wbr", "source", "area", "col", "embed"}

browser = pytest.mark.browser


# --- helpers ----------------------------------------------------------------------------------


class Dom(HTMLParser):
    """The parts of a dumped DOM the tests look at: text by element id, tag counts, state."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: dict[str, str] = {}
        self.hidden: set[str] = set()
        self.tags: dict[str, int] = {}
        self.state = ""
        self.pairs: list[tuple[str, str]] = []
        """(tag, text) of every ``dt`` and ``dd``, in order."""
        self._open: list[str | None] = []
        self._def: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag == "body":
            self.state = a.get("data-state") or ""
        ident = a.get("id")
        if ident is not None and "hidden" in a:
            self.hidden.add(ident)
        if tag in ("dt", "dd"):
            self._def = [tag, ""]
        if tag not in _VOID:
            self._open.append(ident)
            if ident is not None:
                self.texts.setdefault(ident, "")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("dt", "dd") and self._def is not None:
            self.pairs.append((self._def[0], " ".join(self._def[1].split())))
            self._def = None
        if tag not in _VOID and self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._def is not None:
            self._def[1] += data
        for ident in self._open:
            if ident is not None:
                self.texts[ident] += data

    def text(self, ident: str) -> str:
        """The whitespace-normalised text inside the element with id `ident`."""
        return " ".join(self.texts.get(ident, "").split())

    def facts(self) -> dict[str, str]:
        """The page's facts list as {label: value}."""
        labels = [t for tag, t in self.pairs if tag == "dt"]
        values = [t for tag, t in self.pairs if tag == "dd"]
        return dict(zip(labels, values, strict=True))


def chromium(url: str, tmp_path: Path, *extra: str) -> str:
    """Run headless Chromium on `url`; returns stdout (the DOM with ``--dump-dom``)."""
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed (scripts/install-system.sh --test)")
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    args = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=5000",
        *extra,
        url,
    ]
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=30, check=True)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return out.stdout


def open_page(page: Path, token: str, tmp_path: Path) -> Dom:
    """The page's DOM after it checked `token` (from the URL fragment)."""
    dom = Dom()
    dom.feed(chromium(f"{page.as_uri()}#{token}", tmp_path, "--dump-dom"))
    return dom


def issue(
    pki: SamplePki, drive: Drive | None = None, outcome: Outcome | None = None
) -> IssuedCertificate:
    """A certificate for the sample (or given) outcome, signed by the PKI's station."""
    return issue_certificate(
        outcome or sample_outcome(), drive or sample_drive(), None, sample_context(), pki.signer
    )


def nvme_outcome(method: str = "nvme-sanitize-crypto") -> Outcome:
    """The sample outcome, done by a method from the token's table."""
    return replace(sample_outcome(), method=method)


def v1_token(pki: SamplePki, cert: IssuedCertificate) -> str:
    """The version 1 token (as printed before version 2) for an issued certificate."""
    body = token_body(cert.signed.record, pki.signer.cert, datetime.now(UTC), version=1)
    return resign(body, pki)


def resign(body: bytes, pki: SamplePki, high_s: bool = False) -> str:
    """A token for arbitrary `body` bytes, correctly signed by the station key."""
    r, s = ecdsa_sign(pki.signer, body)  # low-s, as the station signs
    if high_s:
        s = _P256_N - s
    return encode_token(body + r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def set_u32(body: bytes, offset: int, value: int) -> bytes:
    """`body` with a big-endian uint32 replaced at `offset`."""
    return body[:offset] + struct.pack(">I", value) + body[offset + 4 :]


def set_byte(body: bytes, offset: int, value: int) -> bytes:
    """`body` with one byte replaced."""
    return body[:offset] + bytes([value]) + body[offset + 1 :]


def set_u64(body: bytes, offset: int, value: int) -> bytes:
    """`body` with a big-endian uint64 replaced at `offset`."""
    return body[:offset] + struct.pack(">Q", value) + body[offset + 8 :]


def v2_texts(body: bytes, serial: bytes, names: bytes, method: bytes) -> bytes:
    """A v2 `body` with its three texts (and their lengths) replaced."""
    return body[:61] + bytes([len(serial), len(names), len(method)]) + serial + names + method


@pytest.fixture
def pki(tmp_path: Path) -> SamplePki:
    """An organisation with one station."""
    return make_pki(tmp_path / "org", ORG)


@pytest.fixture
def page(pki: SamplePki, tmp_path: Path) -> Path:
    """The verification page for `pki`, written as verify.html."""
    path, _ = write_page(pki.certs, tmp_path / "www" / "verify.html")
    return path


# --- in the browser ---------------------------------------------------------------------------


@browser
def test_valid_token_shows_valid(pki: SamplePki, page: Path, tmp_path: Path) -> None:
    """A genuine token shows VALID and the device summary: serial, make and model, capacity,
    result, method, category, destination, dates; no banners."""
    cert = issue(pki, outcome=nvme_outcome())
    dom = open_page(page, cert.token, tmp_path)
    assert dom.state == "valid"
    assert dom.text("verdict-title") == "VALID"
    assert dom.text("verdict-reason") == f"Signed by {ORG}, station bench-01."
    assert dom.facts() == {
        "Serial number": "S3Z9NB0K123456X",
        "Make and model": "Samsung SSD 860 EVO 500GB",
        "Capacity": "500 GB (500,107,862,016 bytes)",
        "Result": "Sanitised",
        "Method": "NVMe Sanitize (crypto erase)",
        "Method category": "Purge (NIST SP 800-88)",
        "Verified": "yes",
        "Destination": "Reuse (passed on)",
        "Finished": "2025-03-14 15:09:26 UTC",
        "Certificate ID": cert.certificate_id,
        "Station": "bench-01",
        "Organisation": ORG,
        "Signed": dom.facts()["Signed"],
    }
    assert dom.facts()["Signed"].endswith(" UTC")
    assert dom.text("outcome-title") == "Sanitised"
    assert dom.text("banners") == ""
    assert "dev-org" in dom.hidden
    assert "claims-note" in dom.hidden
    assert dom.text("org") == ORG
    assert dom.text("pdf-note").startswith("The full record")


@browser
def test_old_version_1_label_still_shows_valid(tmp_path: Path) -> None:
    """A v1 token printed before v2 (kept with its certificates) is VALID on a page built
    today; the page shows what v1 carries and says where the rest is."""
    page, _ = write_page(GOLDEN_V1, tmp_path / "verify.html")
    url = (GOLDEN_V1 / "token.txt").read_text().strip()
    dom = open_page(page, url.rsplit("#", 1)[1], tmp_path)
    assert dom.state == "valid", dom.text("verdict-reason")
    facts = dom.facts()
    assert facts["Serial number"] == "S3Z9NB0K123456X"
    assert facts["Certificate ID"] == "01a209d7-d4a5-7b90-b92f-3e4862455f9b"
    assert facts["Method category"] == "Purge (NIST SP 800-88)"
    assert "Method" not in facts
    assert "Make and model" not in facts
    assert dom.text("pdf-note").startswith("This is an older label")


@browser
def test_tampered_token_shows_not_valid(pki: SamplePki, page: Path, tmp_path: Path) -> None:
    """A token with one character changed shows NOT VALID, and its claims as unverified."""
    token = issue(pki).token
    i = len(token) // 2
    tampered = token[:i] + ("B" if token[i] == "A" else "A") + token[i + 1 :]
    dom = open_page(page, tampered, tmp_path)
    assert dom.state == "invalid"
    assert dom.text("verdict-title") == "NOT VALID"
    assert dom.text("verdict-reason") == verify_token_text(tampered, load_trust(pki.certs)).reason
    assert "claims-note" not in dom.hidden
    assert dom.text("details-title") == "What the link claims"


@browser
def test_other_organisations_token_is_not_valid(pki: SamplePki, page: Path, tmp_path: Path) -> None:
    """A genuine token from another organisation is NOT VALID: not one of our stations."""
    other = make_pki(tmp_path / "other", "Rival Recyclers Ltd")
    dom = open_page(page, issue(other).token, tmp_path)
    assert dom.state == "invalid"
    assert dom.text("verdict-title") == "NOT VALID"
    assert f"signed by a key that is not one of {ORG}'s stations" in dom.text("verdict-reason")
    assert "Station" not in dom.text("facts")


@browser
def test_hostile_strings_render_as_text(tmp_path: Path) -> None:
    """Markup in the organisation name, serial, model and a spelled-out method is shown as
    text (controls made visible, cut text marked); no element is injected."""
    org = '<script>alert("o")</script> & <img src=x>'
    pki = make_pki(tmp_path / "org", org)
    serial = "<script>alert(1)</script><b>\u202eX"
    assert len(serial.encode()) <= 40
    drive = replace(sample_drive(model=HOSTILE), serial=serial, vendor="<i>")
    outcome = nvme_outcome("<img src=x>\u202e\x07")
    page, _ = write_page(pki.certs, tmp_path / "verify.html")
    dom = open_page(page, issue(pki, drive, outcome).token, tmp_path)
    assert dom.state == "valid"
    assert dom.tags.get("script") == 2  # the trust JSON and the page's own script
    assert {"img", "b", "i"}.isdisjoint(dom.tags)
    assert dom.text("org") == org
    facts = dom.facts()
    assert facts["Serial number"] == "<script>alert(1)</script><b>\\u202eX"
    assert facts["Method"] == "<img src=x>\\u202e\\x07"
    names = facts["Make and model"]
    assert names.startswith("<i> Ünïcödé Ωμέγα")
    assert names.endswith("\u2026")
    assert len(names.removesuffix("\u2026").encode()) <= 40


@browser
def test_simulated_development_record_shows_banners(tmp_path: Path) -> None:
    """A SIMULATED record signed by a DEVELOPMENT key shows both banners (and stays valid)."""
    pki = make_pki(tmp_path / "org", "Dev Org", development=True)
    page, _ = write_page(pki.certs, tmp_path / "verify.html")
    dom = open_page(page, issue(pki, sample_drive(simulated=True)).token, tmp_path)
    assert dom.state == "valid"
    assert "SIMULATED" in dom.text("banners")
    assert "DEVELOPMENT KEY" in dom.text("banners")
    assert "dev-org" not in dom.hidden


@browser
def test_revoked_station_is_not_valid(pki: SamplePki, tmp_path: Path) -> None:
    """A token from a station revoked before the page was built is NOT VALID: revoked."""
    token = issue(pki).token
    revoke_station(pki.certs, pki.keys, "bench-01", reason=COMPROMISED)
    page, _ = write_page(pki.certs, tmp_path / "verify.html")
    dom = open_page(page, token, tmp_path)
    assert dom.state == "invalid"
    assert "'bench-01' was revoked for key compromise on" in dom.text("verdict-reason")
    assert "(revoked)" in dom.text("station-list")


@browser
def test_a_retired_station_s_earlier_token_stays_valid(pki: SamplePki, tmp_path: Path) -> None:
    """Retired after the token was signed: the page (like `verify`) still says VALID."""
    token = issue(pki).token
    retired = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    while datetime.now(UTC) < retired:  # the token's second must be before the retirement's
        time.sleep(0.05)
    revoke_station(pki.certs, pki.keys, "bench-01", reason=RETIRED, at=retired)
    assert verify_token_text(token, load_trust(pki.certs)).valid
    page, _ = write_page(pki.certs, tmp_path / "verify.html")
    dom = open_page(page, token, tmp_path)
    assert dom.state == "valid", dom.text("verdict-reason")


@browser
def test_no_token_asks_for_one(page: Path, tmp_path: Path) -> None:
    """Without a fragment the page asks for a code instead of giving a verdict."""
    dom = Dom()
    dom.feed(chromium(page.as_uri(), tmp_path, "--dump-dom"))
    assert dom.state == "empty"
    assert dom.text("verdict-title") == "No certificate"


def _v1_cases(pki: SamplePki, cert: IssuedCertificate, now: int) -> list[str]:
    """Version 1 tokens (old labels), whole and altered at each field."""
    token = v1_token(pki, cert)
    body = decode_token(token).body
    flags, codes, n = body[1], body[2], body[51]
    cases = [token, f"https://verify.example/v#{token}", token[:-1], token + "A"]
    for i in range(0, len(token), 13):
        cases.append(token[:i] + ("B" if token[i] == "A" else "A") + token[i + 1 :])
    cases += [
        resign(body, pki),
        resign(body, pki, high_s=True),
        resign(bytes([3]) + body[1:], pki),
        resign(set_byte(body, 1, flags | 8), pki),
        resign(set_byte(body, 1, flags | 2), pki),  # DEVELOPMENT marker lies
        resign(set_byte(body, 1, flags | 1), pki),  # simulated: still valid
        resign(set_byte(body, 2, 0x40 | (codes & 0xF)), pki),
        resign(set_byte(body, 2, (codes & 0xF0) | 3), pki),
        resign(set_byte(body, 2, 0x10 | (codes & 0xF)), pki),  # failed: valid
        resign(set_byte(body, 51, n + 1), pki),
        resign(body[:51] + bytes([2]) + b"\xff\xfe", pki),
        resign(body[:51] + bytes([6]) + "\ufeffABC".encode(), pki),
        resign(body[:51] + bytes([0]), pki),
        resign(body[:51] + bytes([41]) + b"S" * 41, pki),  # v1 never limited the serial
        resign(set_u32(body, 19, now + 3 * 86400), pki),
        resign(set_u32(body, 19, now + 3600), pki),
        resign(set_u32(body, 23, now + 3 * 86400), pki),
        resign(set_u32(body, 23, int(pki.signer.cert.not_valid_before_utc.timestamp()) - 60), pki),
        resign(set_u32(body, 23, int(pki.signer.cert.not_valid_after_utc.timestamp()) + 1), pki),
        resign(body[:51] + bytes([len("Ωμέγα-日本".encode())]) + "Ωμέγα-日本".encode(), pki),
        resign(bytes([2]) + body[1:], pki),  # a v1 body that claims version 2
    ]
    return cases


def _v2_cases(pki: SamplePki, now: int) -> list[str]:
    """Version 2 tokens: genuine ones of every shape, and each field altered and re-signed."""
    table = issue(pki, outcome=nvme_outcome()).token  # method by code
    spelled = issue(pki).token  # ata-sanitize-crypto-scramble: not in the table, spelled out
    hostile = issue(
        pki,
        replace(sample_drive(model=HOSTILE), serial="<b>x</b>\u202e" + "序" * 12),
        nvme_outcome("<img src=x>\u202e\x07"),
    ).token
    destroyed = issue(pki, outcome=nvme_outcome("destroy")).token
    body, sbody = decode_token(table).body, decode_token(spelled).body
    flags, codes = body[1], body[2]
    serial, names = body[64 : 64 + body[61]], body[64 + body[61] : 64 + body[61] + body[62]]
    cases = [table, spelled, hostile, destroyed, f"  https://x.example/v#{table}\n"]
    cases += [table.lower(), table[:-1], table[:150], table + "A", table + "AA"]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    cases.append(table[:-1] + alphabet[alphabet.index(table[-1]) ^ 1])  # padding bits
    for i in range(0, len(table), 11):
        cases.append(table[:i] + ("B" if table[i] == "A" else "A") + table[i + 1 :])
    cases += [
        resign(body, pki),
        resign(body, pki, high_s=True),
        resign(set_byte(body, 0, 0), pki),
        resign(set_byte(body, 0, 255), pki),
        resign(set_byte(body, 1, flags | 0x40), pki),
        resign(set_byte(body, 1, flags | 0x80), pki),
        resign(set_byte(body, 1, flags | 8 | 16), pki),  # truncation marks: valid, shown
        resign(set_byte(body, 1, flags | 32), pki),  # method cut, but none spelled out
        resign(set_byte(sbody, 1, sbody[1] & ~32), pki),  # spelled out, not cut: valid
        resign(set_byte(body, 1, flags | 2), pki),  # DEVELOPMENT marker lies
        resign(set_byte(body, 1, flags & ~4), pki),  # not verified: valid
        resign(set_byte(body, 2, 0x40 | (codes & 0xF)), pki),
        resign(set_byte(body, 2, (codes & 0xF0) | 3), pki),
        resign(set_byte(body, 2, 0x20 | (codes & 0xF)), pki),  # refused: valid
        resign(set_byte(body, 3, len(METHODS)), pki),  # the last code: valid
        resign(set_byte(body, 3, len(METHODS) + 1), pki),
        resign(set_byte(body, 3, 255), pki),
        resign(set_byte(body, 3, 0), pki),  # no method stated at all: valid
        resign(set_byte(sbody, 3, 15), pki),  # a code and a spelled-out name
        resign(set_byte(body, 4, 0), pki),  # destination internal reuse: valid
        resign(set_byte(body, 4, len(DESTINATIONS) - 1), pki),
        resign(set_byte(body, 4, len(DESTINATIONS)), pki),
        resign(set_u64(body, 53, 0), pki),  # capacity unknown
        resign(set_u64(body, 53, 2**53 + 1), pki),  # beyond a JS number: exact
        resign(set_u64(body, 53, 2**64 - 1), pki),
        resign(set_u64(body, 53, 999_999_999_999), pki),
        resign(set_byte(body, 61, body[61] + 1), pki),
        resign(set_byte(body, 62, body[62] - 1), pki),
        resign(set_byte(body, 63, 1), pki),
        resign(v2_texts(body, b"S" * 41, names, b""), pki),
        resign(v2_texts(body, serial, b"M" * 41, b""), pki),
        resign(v2_texts(sbody, serial, names, b"m" * 25), pki),
        resign(v2_texts(body, serial, b"M" * 40, b""), pki),  # at the limit: valid
        resign(v2_texts(body, b"\xff\xfe", names, b""), pki),
        resign(v2_texts(body, serial, b"ab\xc3", b""), pki),
        resign(v2_texts(body, serial, b"\xed\xa0\x80", b""), pki),  # a surrogate
        resign(v2_texts(sbody, serial, names, b"\xc0\xaf"), pki),  # overlong
        resign(v2_texts(body, b"", b"", b""), pki),
        resign(v2_texts(set_byte(body, 3, 0), serial, names, "\ufeffΩ".encode()), pki),
        resign(v2_texts(set_byte(body, 3, 0), serial, names, b"host-overwrite"), pki),
        resign(body[:60], pki),  # shorter than a v2 head, longer than the least token
        resign(body[:63], pki),
        resign(set_u32(body, 21, now + 3 * 86400), pki),
        resign(set_u32(body, 25, now + 3 * 86400), pki),
        resign(set_u32(body, 25, int(pki.signer.cert.not_valid_before_utc.timestamp()) - 60), pki),
        resign(set_u32(body, 25, int(pki.signer.cert.not_valid_after_utc.timestamp()) + 1), pki),
    ]
    raw = base64.b32decode(table + "=" * (-len(table) % 8))
    cases.append(encode_token(raw[:-64] + bytes(32) + raw[-32:]))  # r = 0
    cases.append(encode_token(raw[:-64] + raw[-32:] + raw[-64:-32]))  # r and s swapped
    return cases


def _parity_cases(pki: SamplePki, tmp_path: Path) -> list[str]:
    """Tokens and texts that exercise every check, for both versions: altered, truncated,
    re-signed, foreign."""
    now = int(datetime.now(UTC).timestamp())
    cases = ["", "hello", "x# ", "A" * 200]
    cases += _v1_cases(pki, issue(pki), now)
    cases += _v2_cases(pki, now)
    other = make_pki(tmp_path / "other", "Rival Recyclers Ltd")
    cases += [issue(other).token, v1_token(other, issue(other))]
    return cases


def _display(text: str) -> list[object] | None:
    """What the page shows from a token it could decode (None when it cannot decode it)."""
    try:
        token: Token = decode_token(text)
    except CertificateError:
        return None
    return [
        token.version,
        token.serial + ("\u2026" if token.serial_truncated else ""),
        token.make_model + ("\u2026" if token.make_model_truncated else ""),
        capacity_text(token.capacity_bytes),
        token.method_label,
        destination_label(token.destination),
    ]


_SIZES = [0, 1, 999, 1000, 1049, 1050, 99_949, 99_950, 999_499, 999_500, 999_999, 10**6]
_SIZES += [16_008_609_792, 500_107_862_016, 1_920_383_410_176, 2**53 + 1, 10**21 - 1, 2**64 - 1]


@browser
def test_page_script_agrees_with_python_verifier(pki: SamplePki, tmp_path: Path) -> None:
    """For every altered, truncated, re-signed or foreign v1 or v2 token, the page's verdict,
    its wording and what it shows (model, capacity, method, destination) are Python's."""
    trust_json = page_trust(pki.certs).to_json()
    cases = _parity_cases(pki, tmp_path)
    now = datetime.now(UTC)
    verdicts = [verify_token_text(c, load_trust(pki.certs), now) for c in cases]
    expected = [str(v.validity) for v in verdicts]
    harness = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'></head><body><pre id='out'></pre>"
        f"<script type='application/json' id='trust'>{script_json(trust_json)}</script>"
        f"<script type='application/json' id='cases'>{script_json(cases)}</script>"
        f"<script type='application/json' id='sizes'>{script_json([str(n) for n in _SIZES])}"
        "</script>"
        f"<script>{page_script()}</script>"
        "<script>(async () => {"
        " const trust = JSON.parse(document.getElementById('trust').textContent);"
        " const cases = JSON.parse(document.getElementById('cases').textContent);"
        " const sizes = JSON.parse(document.getElementById('sizes').textContent);"
        f" const now = {int(now.timestamp())}; const out = [];"
        " for (const c of cases) { const r = await checkToken(c, trust, now); const t = r.token;"
        "   out.push([r.state, r.reason, t === null ? null : [t.version,"
        "     cut(t.serial, t.serialTruncated), cut(t.makeModel, t.makeModelTruncated),"
        "     capacityText(t.capacityBytes), methodLabel(t, trust),"
        "     destinationLabel(t.destination, trust)]]); }"
        " const shown = sizes.map((n) => capacityText(BigInt(n)));"
        " document.getElementById('out').textContent = JSON.stringify({out, shown});"
        "})();</script></body></html>"
    )
    path = tmp_path / "harness.html"
    path.write_text(harness, encoding="utf-8")
    dom = Dom()
    dom.feed(chromium(path.as_uri(), tmp_path, "--dump-dom"))
    result = json.loads(dom.texts["out"])
    got = result["out"]
    assert len(got) == len(cases)
    mismatches = [(c[:40], e, g) for c, e, g in zip(cases, expected, got, strict=True) if e != g[0]]
    assert mismatches == []
    worded_alike = [
        (v.reason, g[1])
        for v, g in zip(verdicts, got, strict=True)
        if not v.reason.startswith(("the token's signer", "the organisation CA"))
    ]
    assert [js for _, js in worded_alike] == [py for py, _ in worded_alike]
    shown_alike = [(_display(c), g[2]) for c, g in zip(cases, got, strict=True)]
    assert [js for _, js in shown_alike] == [py for py, _ in shown_alike]
    assert result["shown"] == [capacity_text(n) for n in _SIZES]
    assert {"valid", "invalid", "unusable"} <= set(expected)
    assert expected.count("valid") >= 20
    assert {g[2][0] for g in got if g[0] == "valid"} == {1, 2}
    assert len({v.reason for v in verdicts}) >= 20


@browser
def test_phone_screenshot_renders(pki: SamplePki, page: Path, tmp_path: Path) -> None:
    """A phone-sized screenshot of a checked token is produced (a PNG of the requested width)."""
    shot = tmp_path / "phone.png"
    chromium(
        f"{page.as_uri()}#{issue(pki).token}",
        tmp_path,
        f"--screenshot={shot}",
        "--window-size=412,915",
        "--hide-scrollbars",
    )
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (412, 915)


# --- building the page (no browser) -----------------------------------------------------------


def test_page_builds_in_only_stations_the_ca_signed(pki: SamplePki) -> None:
    """A station certificate from another CA in the directory is left out and reported."""
    rival_key, rival_ca = make_org_ca("Rival Recyclers Ltd")
    _, stray = make_station_cert(rival_key, rival_ca, "stray")
    write_public(pki.certs / "station-stray.pem", pem(stray))
    trust = page_trust(pki.certs)
    assert [s.name for s in trust.stations] == ["bench-01"]
    assert trust.stations[0].key_id == pki.signer.cert.fingerprint(hashes.SHA256())[:8].hex()
    assert len(trust.skipped) == 1
    assert "station-stray.pem" in trust.skipped[0]
    assert "not issued by the organisation CA" in trust.skipped[0]


def test_station_window_is_within_the_ca(pki: SamplePki) -> None:
    """The built-in validity window is the overlap of the station's and the CA's."""
    station = page_trust(pki.certs).stations[0]
    cert, ca = pki.signer.cert, pki.signer.org_ca
    assert station.not_before == int(
        max(cert.not_valid_before_utc, ca.not_valid_before_utc).timestamp()
    )
    assert station.not_after == int(
        min(cert.not_valid_after_utc, ca.not_valid_after_utc).timestamp()
    )


def test_page_is_self_contained_with_hash_csp(pki: SamplePki) -> None:
    """The page loads nothing external and its CSP allows exactly its own script and style."""
    html = render_page(page_trust(pki.certs))
    assert not re.search(r"\b(src|href)\s*=", html)
    assert "http://" not in html
    assert "https://" not in html
    csp = re.search(r'Content-Security-Policy" content="([^"]+)"', html)
    assert csp is not None
    script = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    style = re.findall(r"<style>(.*?)</style>", html, re.DOTALL)
    assert len(script) == 1
    assert len(style) == 1
    for text in (script[0], style[0]):
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in csp.group(1)
    assert "default-src 'none'" in csp.group(1)
    assert "{{" not in html


def test_trust_json_cannot_close_its_script_element(tmp_path: Path) -> None:
    """An organisation name with ``</script>`` stays inside the JSON data block."""
    pki = make_pki(tmp_path / "org", "</script><script>alert(1)</script>")
    html = render_page(page_trust(pki.certs))
    assert html.count("</script>") == 2
    block = re.search(r'id="trust">(.*?)</script>', html, re.DOTALL)
    assert block is not None
    assert json.loads(block.group(1))["organisation"] == "</script><script>alert(1)</script>"


def test_command_writes_index_html(pki: SamplePki, tmp_path: Path) -> None:
    """`verify-page --out DIR` writes DIR/index.html and lists the stations built in."""
    result = CliRunner().invoke(
        verify_page, ["--out", str(tmp_path / "site"), "--certs", str(pki.certs)]
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "site" / "index.html").is_file()
    assert "station bench-01 key" in result.output


def test_command_without_org_ca_fails_clearly(tmp_path: Path) -> None:
    """Without an organisation CA the command exits 2 with a plain message."""
    (tmp_path / "certs").mkdir()
    result = CliRunner().invoke(
        verify_page, ["--out", str(tmp_path / "v.html"), "--certs", str(tmp_path / "certs")]
    )
    assert result.exit_code == 2
    assert "org-ca.pem not found" in result.output
    assert not (tmp_path / "v.html").exists()


def test_now_is_used_for_built_at(pki: SamplePki) -> None:
    """The page records when it was built."""
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert page_trust(pki.certs, when).built_at == "2026-01-02T03:04:05Z"
    assert page_trust(pki.certs, when + timedelta(days=1)).built_at.startswith("2026-01-03")
