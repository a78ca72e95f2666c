"""Keys, signed records and QR tokens: round trips, tampering, foreign and revoked signers."""

from __future__ import annotations

import base64
import re
import stat
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import cms
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from sanitiser.certificate import keys as keymod
from sanitiser.certificate.issue import issue_certificate
from sanitiser.certificate.qr import (
    DESTINATIONS,
    METHODS,
    capacity_text,
    decode_token,
    encode_token,
    human_bytes,
    make_token,
    token_body,
    token_url,
)
from sanitiser.certificate.record import (
    DESTINATION_ROUTES,
    Destination,
    build_record,
    new_certificate_id,
)
from sanitiser.certificate.samples import (
    SamplePki,
    make_pki,
    sample_context,
    sample_drive,
    sample_health,
    sample_outcome,
)
from sanitiser.certificate.sign import SignedRecord, parse_envelope, sign_record
from sanitiser.certificate.verify import (
    Trust,
    Validity,
    format_verdict,
    load_trust,
    require_verified,
    verify_pdf_bytes,
    verify_record_bytes,
    verify_token_text,
)
from sanitiser.domain import Drive, Outcome, OutcomeStatus
from sanitiser.errors import CertificateError
from sanitiser.probe.capabilities import Technique

B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
GOLDEN_V1 = Path(__file__).parent.parent / "data" / "token-v1"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SamplePki:
    """A production organisation with station bench-01."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def dev_pki(tmp_path_factory: pytest.TempPathFactory) -> SamplePki:
    """A DEVELOPMENT organisation, as `make run` creates."""
    return make_pki(tmp_path_factory.mktemp("dev"), "Dev Org", "dev-bench", development=True)


@pytest.fixture(scope="session")
def rogue(tmp_path_factory: pytest.TempPathFactory) -> SamplePki:
    """Another organisation with the same names: must never be trusted for the first."""
    return make_pki(tmp_path_factory.mktemp("rogue"))


@pytest.fixture(scope="session")
def trust(pki: SamplePki) -> Trust:
    """Trust in the production organisation's certs directory."""
    return load_trust(pki.certs)


def _signed(
    signer: keymod.StationSigner,
    status: OutcomeStatus = OutcomeStatus.SANITISED,
    simulated: bool = False,
    *,
    outcome: Outcome | None = None,
    drive: Drive | None = None,
    route: str = "external-reuse",
) -> SignedRecord:
    context = replace(sample_context(), destination=Destination(route=route))
    record = build_record(
        outcome or sample_outcome(status),
        drive or sample_drive(simulated=simulated),
        sample_health(),
        context,
        certificate_id=new_certificate_id(),
        issued_at=datetime.now(UTC),
        development=signer.development,
    )
    return sign_record(record, signer)


def test_private_keys_are_0600_in_a_0700_directory(pki: SamplePki) -> None:
    """Private keys are created owner-only; public material sits in certs/."""
    for name in ("org-ca.key", "station-bench-01.key"):
        assert stat.S_IMODE((pki.keys / name).stat().st_mode) == 0o600
    assert stat.S_IMODE(pki.keys.stat().st_mode) == 0o700
    assert sorted(p.name for p in pki.certs.iterdir()) == ["org-ca.pem", "station-bench-01.pem"]
    assert b"PRIVATE" not in b"".join(p.read_bytes() for p in pki.certs.iterdir())


def test_passphrase_protected_key_needs_its_passphrase(tmp_path: Path) -> None:
    """An encrypted CA key cannot be used without (or with a wrong) passphrase."""
    keymod.init_org(tmp_path / "c", tmp_path / "k", "Org", passphrase=b"correct horse")
    with pytest.raises(CertificateError, match="passphrase"):
        keymod.new_station(tmp_path / "c", tmp_path / "k", "s1")
    with pytest.raises(CertificateError, match="passphrase"):
        keymod.new_station(tmp_path / "c", tmp_path / "k", "s1", org_passphrase=b"wrong")
    keymod.new_station(tmp_path / "c", tmp_path / "k", "s1", org_passphrase=b"correct horse")
    assert (tmp_path / "c" / "station-s1.pem").is_file()


def test_existing_keys_are_never_overwritten(pki: SamplePki) -> None:
    """init-org and new-station refuse to replace existing material without --force."""
    with pytest.raises(CertificateError, match="exists"):
        keymod.init_org(pki.certs, pki.keys, "Again")
    with pytest.raises(CertificateError, match="exists"):
        keymod.new_station(pki.certs, pki.keys, "bench-01")


@pytest.mark.parametrize("name", ["../etc", "", "a b", "-x", "x" * 70])
def test_station_names_are_safe_file_names(name: str) -> None:
    """Station names become file names, so path tricks are refused."""
    with pytest.raises(CertificateError):
        keymod.check_station_name(name)


@pytest.mark.parametrize("status", list(OutcomeStatus))
@pytest.mark.parametrize("simulated", [False, True])
def test_round_trip_every_outcome(
    pki: SamplePki, trust: Trust, status: OutcomeStatus, simulated: bool
) -> None:
    """Issue -> verify is valid for every outcome, and the facts come back out."""
    signed = _signed(pki.signer, status, simulated)
    verdict = verify_record_bytes(signed.to_bytes(), trust)
    assert verdict.validity is Validity.VALID, verdict.reason
    assert verdict.fact("outcome") == status.value
    assert verdict.fact("serial") == "S3Z9NB0K123456X"
    assert verdict.fact("simulated") == ("yes" if simulated else "no")
    assert verdict.fact("signer") == "bench-01"
    assert ("SIMULATED" in " ".join(verdict.warnings)) is simulated
    assert parse_envelope(signed.to_bytes()).record == signed.record


def test_a_downgrade_reason_is_signed_and_shown_by_verify(pki: SamplePki, trust: Trust) -> None:
    """A record carrying the plan's downgrade verifies, and verify states the reason; a
    record without one (as every record before) verifies with no such fact."""
    reason = "operator chose host-overwrite (clear) where policy nist-800-88 requires purge"
    record = build_record(
        sample_outcome(),
        sample_drive(),
        sample_health(),
        replace(sample_context(), downgrade=reason),
        certificate_id=new_certificate_id(),
        issued_at=datetime.now(UTC),
    )
    verdict = verify_record_bytes(sign_record(record, pki.signer).to_bytes(), trust)
    assert verdict.valid, verdict.reason
    assert verdict.fact("downgrade") == reason
    assert f"Downgraded:          {reason}" in format_verdict(verdict)
    plain = verify_record_bytes(_signed(pki.signer).to_bytes(), trust)
    assert plain.valid
    assert plain.fact("downgrade") == ""
    assert "Downgraded" not in format_verdict(plain)


def test_every_single_byte_change_to_the_record_file_is_rejected(
    pki: SamplePki, trust: Trust
) -> None:
    """Changing any one byte of the signed JSON record makes it invalid or unusable."""
    data = _signed(pki.signer).to_bytes()
    accepted = []
    for i in range(len(data)):
        for new in {data[i] ^ 0x01, data[i] ^ 0x20}:
            if new == 0x0A and i == len(data) - 1:
                continue
            changed = data[:i] + bytes([new]) + data[i + 1 :]
            if verify_record_bytes(changed, trust).valid:
                accepted.append(i)
    assert accepted == []


def _token(record: dict[str, object], signer: keymod.StationSigner, version: int) -> str:
    """A token of `version` for `record` (version 1 as labels printed before version 2)."""
    body = token_body(record, signer.cert, datetime.now(UTC), version=version)
    r, s = keymod.ecdsa_sign(signer, body)
    return encode_token(body + r.to_bytes(32, "big") + s.to_bytes(32, "big"))


@pytest.mark.parametrize("version", [1, 2])
def test_every_single_character_change_to_the_token_is_rejected(
    pki: SamplePki, trust: Trust, version: int
) -> None:
    """Changing any one character of a v1 or v2 QR token, or its case, makes it invalid."""
    signed = _signed(pki.signer, outcome=replace(sample_outcome(), method="host-overwrite"))
    token = _token(signed.record, pki.signer, version)
    assert decode_token(token).version == version
    assert verify_token_text(token_url(token), trust).valid
    for i, ch in enumerate(token):
        variants = {B32[(B32.index(ch) + 1) % 32], B32[(B32.index(ch) + 17) % 32], ch.lower()}
        for new in variants - {ch}:
            changed = token[:i] + new + token[i + 1 :]
            verdict = verify_token_text(changed, trust)
            assert verdict.validity is not Validity.VALID, (i, new)


def test_token_is_small_and_carries_key_fields(pki: SamplePki, trust: Trust) -> None:
    """A v2 token states id, outcome, category, serial, digest, method, make and model,
    capacity and destination, in 269 characters for a typical drive."""
    outcome = replace(sample_outcome(), method="nvme-sanitize-crypto")
    signed = _signed(pki.signer, outcome=outcome)
    token = make_token(require_verified(signed, trust), pki.signer)
    assert len(token) == 269
    decoded = decode_token(token_url(token))
    assert decoded.version == 2
    assert decoded.certificate_id == signed.certificate_id
    assert decoded.serial == "S3Z9NB0K123456X"
    assert decoded.digest_prefix == signed.digest[:16]
    assert decoded.method == "nvme-sanitize-crypto"
    assert decoded.method_label == "NVMe Sanitize (crypto erase)"
    assert decoded.make_model == "Samsung SSD 860 EVO 500GB"
    assert decoded.capacity_bytes == 500_107_862_016
    assert decoded.destination == "external-reuse"
    assert (decoded.serial_truncated, decoded.make_model_truncated) == (False, False)
    verdict = verify_token_text(token, trust)
    assert verdict.valid
    assert (verdict.fact("outcome"), verdict.fact("nist_category")) == ("sanitised", "purge")
    assert verdict.fact("method") == "nvme-sanitize-crypto"
    assert verdict.fact("make_model") == "Samsung SSD 860 EVO 500GB"
    assert verdict.fact("capacity") == "500 GB (500,107,862,016 bytes)"
    assert verdict.fact("destination") == "external-reuse"
    assert verdict.fact("token_version") == "2"


def test_long_text_is_cut_at_a_character_boundary_and_marked(pki: SamplePki, trust: Trust) -> None:
    """Serial and make/model over 40 bytes, and an unknown method over 24, are cut on a UTF-8
    character boundary and flagged (here 39 + 40 + 23 bytes of text: 368 characters)."""
    model = "Ω" * 30  # 60 bytes: 20 characters fit
    drive = replace(sample_drive(model=model), serial="序" * 20, vendor="")
    outcome = replace(sample_outcome(), method="vendor-special-erase-" + "é" * 10)
    signed = _signed(pki.signer, outcome=outcome, drive=drive)
    token = make_token(require_verified(signed, trust), pki.signer)
    assert len(token) == 368
    decoded = decode_token(token)
    assert decoded.make_model == "Ω" * 20
    assert decoded.serial == "序" * 13  # 39 bytes: a 14th would need 42
    assert decoded.method == "vendor-special-erase-é"  # 21 + 2 bytes; a second é would be 25
    assert (decoded.serial_truncated, decoded.make_model_truncated) == (True, True)
    assert decoded.method_truncated
    verdict = verify_token_text(token, trust)
    assert verdict.valid, verdict.reason
    assert verdict.fact("make_model") == "Ω" * 20 + "\u2026"
    assert verdict.fact("method_label").endswith("\u2026")


def test_unknown_method_is_spelled_out_and_destroy_has_a_code(pki: SamplePki, trust: Trust) -> None:
    """A method outside the table travels as text; ``destroy`` and every technique have codes."""
    assert {t.value for t in Technique} | {"destroy"} <= {m for m, _ in METHODS}
    assert len({m for m, _ in METHODS}) == len(METHODS) < 256
    assert set(DESTINATION_ROUTES) <= set(DESTINATIONS)
    plain = decode_token(make_token(require_verified(_signed(pki.signer), trust), pki.signer))
    assert plain.method == "ata-sanitize-crypto-scramble"[:24]
    assert plain.method_truncated
    outcome = replace(sample_outcome(), method="destroy")
    destroyed = _signed(pki.signer, outcome=outcome, route="destruction")
    token = make_token(require_verified(destroyed, trust), pki.signer)
    decoded = decode_token(token)
    assert (decoded.method, decoded.method_label) == ("destroy", "Physical destruction")
    assert decoded.destination == "destruction"
    assert len(token) < len(make_token(require_verified(_signed(pki.signer), trust), pki.signer))
    assert verify_token_text(token, trust).valid


def test_version_1_tokens_still_verify(pki: SamplePki, trust: Trust) -> None:
    """A label printed with a version 1 token (before method and model were added) verifies."""
    signed = _signed(pki.signer)
    token = _token(signed.record, pki.signer, 1)
    assert len(token) == 210
    decoded = decode_token(token)
    assert (decoded.version, decoded.method, decoded.capacity_bytes) == (1, "", None)
    verdict = verify_token_text(token, trust)
    assert verdict.valid, verdict.reason
    assert verdict.fact("serial") == "S3Z9NB0K123456X"
    assert verdict.fact("method") == ""
    assert verdict.fact("token_version") == "1"


def test_golden_version_1_token_from_the_field_verifies() -> None:
    """A v1 token issued by the version 1 code (kept with its certificates) still verifies."""
    url = (GOLDEN_V1 / "token.txt").read_text().strip()
    verdict = verify_token_text(url, load_trust(GOLDEN_V1))
    assert verdict.valid, verdict.reason
    assert verdict.fact("certificate_id") == "01a209d7-d4a5-7b90-b92f-3e4862455f9b"
    assert verdict.fact("record_digest_prefix") == "ae1a4d65f1a7da0a1e1322000fc80b45"
    assert verdict.fact("token_signed_at") == "2026-11-23T19:17:49Z"
    assert verdict.fact("serial") == "S3Z9NB0K123456X"
    assert verdict.fact("token_version") == "1"
    changed = url[:-5] + ("A" if url[-5] != "A" else "B") + url[-4:]
    assert verify_token_text(changed, load_trust(GOLDEN_V1)).validity is Validity.INVALID


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1.0 kB"),
        (1049, "1.0 kB"),
        (1050, "1.1 kB"),
        (99_949, "99.9 kB"),
        (99_950, "100 kB"),
        (999_499, "999 kB"),
        (999_500, "1.0 MB"),
        (16_008_609_792, "16.0 GB"),
        (500_107_862_016, "500 GB"),
        (1_920_383_410_176, "1.9 TB"),
        (18_000_207_937_536, "18.0 TB"),
        (2**64 - 1, "18.4 EB"),
    ],
)
def test_human_bytes_uses_decimal_units(n: int, text: str) -> None:
    """Capacities read as drives are sold: decimal units, three figures, halves round up."""
    assert human_bytes(n) == text


def test_capacity_text_gives_bytes_or_unknown() -> None:
    """The capacity line has the exact byte count; 0 and None are unknown."""
    assert capacity_text(512_110_190_592) == "512 GB (512,110,190,592 bytes)"
    assert capacity_text(0) == capacity_text(None) == "unknown"


def test_token_body_refuses_what_it_cannot_carry(pki: SamplePki) -> None:
    """Unknown destination routes, impossible capacities and versions are refused."""
    record = _signed(pki.signer).record
    now = datetime.now(UTC)
    with pytest.raises(CertificateError, match="destination"):
        token_body(dict(record, destination={"route": "moon"}), pki.signer.cert, now)
    device = dict(record["device"], capacity_bytes=2**64)
    with pytest.raises(CertificateError, match="capacity"):
        token_body(dict(record, device=device), pki.signer.cert, now)
    with pytest.raises(CertificateError, match="version 3"):
        token_body(record, pki.signer.cert, now, version=3)


def test_signer_outside_the_organisation_is_rejected(rogue: SamplePki, trust: Trust) -> None:
    """A record and token signed by another organisation's station (same names) are invalid."""
    signed = _signed(rogue.signer)
    verdict = verify_record_bytes(signed.to_bytes(), trust)
    assert verdict.validity is Validity.INVALID
    assert "trusted organisation CA" in verdict.reason
    rogue_trust = load_trust(rogue.certs)  # the rogue's own station vouches for its record
    token = make_token(require_verified(signed, rogue_trust), rogue.signer)
    token_verdict = verify_token_text(token, trust)
    assert token_verdict.validity is Validity.INVALID


def test_swapping_in_a_foreign_signature_is_rejected(
    pki: SamplePki, rogue: SamplePki, trust: Trust
) -> None:
    """A record re-signed by a foreign key but claiming the real station cert fails."""
    signed = _signed(pki.signer)
    forged = SignedRecord(signed.record, _signed(rogue.signer).signature, signed.certificates)
    assert verify_record_bytes(forged.to_bytes(), trust).validity is Validity.INVALID


def test_development_key_is_marked_and_cannot_hide(dev_pki: SamplePki) -> None:
    """Development keys sign only records that say DEVELOPMENT KEY, and verify says so."""
    signed = _signed(dev_pki.signer)
    assert signed.record["development_key"] is True
    assert "DEVELOPMENT KEY" in signed.signer.subject.rfc4514_string()
    verdict = verify_record_bytes(signed.to_bytes(), load_trust(dev_pki.certs))
    assert verdict.valid
    assert any("DEVELOPMENT KEY" in w for w in verdict.warnings)
    hidden = dict(signed.record, development_key=False)
    with pytest.raises(CertificateError, match="development_key"):
        sign_record(hidden, dev_pki.signer)


def _signed_at(signer: keymod.StationSigner, when: datetime) -> SignedRecord:
    record = build_record(
        sample_outcome(),
        sample_drive(),
        None,
        sample_context(),
        certificate_id=new_certificate_id(),
        issued_at=when,
    )
    return sign_record(record, signer)


def test_a_compromised_station_is_rejected_for_everything_it_signed(tmp_path: Path) -> None:
    """Revoked for key compromise: no record it signed verifies, however old."""
    pki = make_pki(tmp_path)
    signed = _signed(pki.signer)
    assert verify_record_bytes(signed.to_bytes(), load_trust(pki.certs)).valid
    keymod.revoke_station(pki.certs, pki.keys, "bench-01", reason=keymod.COMPROMISED)
    verdict = verify_record_bytes(signed.to_bytes(), load_trust(pki.certs))
    assert verdict.validity is Validity.INVALID
    assert "revoked for key compromise" in verdict.reason


def test_a_retired_station_keeps_its_history(tmp_path: Path) -> None:
    """Retired at T: records signed before T still verify, a record claiming T or later does
    not, the station cannot sign any more (not even a loaded signer), and revoking another
    station later keeps this entry's own time and reason."""
    pki = make_pki(tmp_path)
    keymod.new_station(pki.certs, pki.keys, "bench-02")
    retired_at = datetime.now(UTC).replace(microsecond=0)
    before = _signed_at(pki.signer, retired_at - timedelta(seconds=1))
    at_retirement = _signed_at(pki.signer, retired_at)
    keymod.revoke_station(pki.certs, pki.keys, "bench-01", reason=keymod.RETIRED, at=retired_at)
    trust = load_trust(pki.certs)
    assert verify_record_bytes(before.to_bytes(), trust).valid
    verdict = verify_record_bytes(at_retirement.to_bytes(), trust)
    assert verdict.validity is Validity.INVALID
    assert "was retired (revoked) on" in verdict.reason
    with pytest.raises(CertificateError, match="retired"):
        keymod.load_station_signer(pki.certs, pki.keys, "bench-01")
    with pytest.raises(CertificateError, match="retired"):  # loaded before, refused now
        _signed(pki.signer)
    keymod.revoke_station(pki.certs, pki.keys, "bench-02", reason=keymod.COMPROMISED)
    entries = keymod.revocations_of(keymod.read_crl(pki.certs / keymod.CRL_FILE))
    [mine] = [e for e in entries if e.serial == pki.signer.cert.serial_number]
    assert (mine.at, mine.reason, len(entries)) == (retired_at, keymod.RETIRED, 2)
    assert verify_record_bytes(before.to_bytes(), load_trust(pki.certs)).valid
    with pytest.raises(CertificateError, match="already revoked"):
        keymod.revoke_station(pki.certs, pki.keys, "bench-01", reason=keymod.COMPROMISED)


def test_a_high_s_twin_of_a_signature_is_rejected(pki: SamplePki, trust: Trust) -> None:
    """(r, n - s) verifies mathematically but is not what the station made: INVALID. Records
    signed before the rule (by versions that did not normalise s) stay valid in either form."""
    signed = _signed(pki.signer)
    r, s_ = decode_dss_signature(signed.signature)
    assert s_ <= keymod.P256_ORDER // 2  # the station signs low-s
    twin = replace(signed, signature=encode_dss_signature(r, keymod.P256_ORDER - s_))
    verdict = verify_record_bytes(twin.to_bytes(), trust)
    assert verdict.validity is Validity.INVALID
    assert "low-s" in verdict.reason
    old = _signed_at(pki.signer, keymod.LOW_S_SINCE - timedelta(seconds=1))
    r, s_ = decode_dss_signature(old.signature)
    old_twin = replace(old, signature=encode_dss_signature(r, keymod.P256_ORDER - s_))
    if pki.signer.cert.not_valid_before_utc < keymod.LOW_S_SINCE:
        assert verify_record_bytes(old_twin.to_bytes(), trust).valid


def test_a_high_s_twin_of_a_token_signature_is_rejected(pki: SamplePki, trust: Trust) -> None:
    """A QR token is signed low-s; the same token with s replaced by n - s is INVALID."""
    token = make_token(require_verified(_signed(pki.signer), trust), pki.signer)
    raw = base64.b32decode(token + "=" * (-len(token) % 8))
    s_ = int.from_bytes(raw[-32:], "big")
    assert s_ <= keymod.P256_ORDER // 2
    twin = encode_token(raw[:-32] + (keymod.P256_ORDER - s_).to_bytes(32, "big"))
    assert verify_token_text(token, trust).valid
    verdict = verify_token_text(twin, trust)
    assert verdict.validity is Validity.INVALID
    assert "the token's signature is not in canonical (low-s) form" in verdict.reason


def test_a_chain_without_its_ca_is_rejected(pki: SamplePki, trust: Trust) -> None:
    """The format carries [station, CA]; an envelope with the station certificate alone is
    altered, whatever else verifies."""
    signed = _signed(pki.signer)
    alone = replace(signed, certificates=signed.certificates[:1])
    verdict = verify_record_bytes(alone.to_bytes(), trust)
    assert verdict.validity is Validity.INVALID
    assert "requires the station's and its organisation CA's" in verdict.reason


@pytest.mark.parametrize(
    "mangle",
    [
        lambda b: b"\xef\xbb\xbf" + b,  # a BOM
        lambda b: b.replace(b'{"format":', b'{"format":"x","format":', 1),  # duplicate key
        lambda b: b.replace(b'"schema":', b'"extra":1.5,"schema":', 1),  # a float
    ],
    ids=["bom", "duplicate-key", "float"],
)
def test_a_signed_record_that_is_not_strict_json_is_invalid_not_unusable(
    pki: SamplePki, trust: Trust, mangle: Callable[[bytes], bytes]
) -> None:
    """Malformed-but-signed JSON is an altered record (INVALID, exit 1), not unusable input."""
    data = mangle(_signed(pki.signer).to_bytes())
    verdict = verify_record_bytes(data, trust)
    assert verdict.validity is Validity.INVALID, verdict.reason


def test_record_outside_the_station_validity_is_rejected(pki: SamplePki, trust: Trust) -> None:
    """A record claiming a time outside the station certificate's validity is invalid."""
    long_ago = datetime(2001, 1, 1, tzinfo=UTC)
    record = build_record(
        sample_outcome(),
        sample_drive(),
        None,
        sample_context(),
        certificate_id=new_certificate_id(),
        issued_at=long_ago,
    )
    verdict = verify_record_bytes(sign_record(record, pki.signer).to_bytes(), trust)
    assert verdict.validity is Validity.INVALID
    assert "not valid at" in verdict.reason
    future = datetime.now(UTC) + timedelta(days=30)
    record = build_record(
        sample_outcome(),
        sample_drive(),
        None,
        sample_context(),
        certificate_id=new_certificate_id(),
        issued_at=future,
    )
    verdict = verify_record_bytes(sign_record(record, pki.signer).to_bytes(), trust)
    assert verdict.validity is Validity.INVALID


def test_unusable_inputs_are_reported_as_such(pki: SamplePki, trust: Trust) -> None:
    """Non-records and a missing trust anchor are 'unusable' (exit 2), not 'invalid'."""
    assert verify_record_bytes(b'{"hello":1}', trust).exit_code == 2
    assert verify_record_bytes(b"not json", trust).exit_code == 2
    no_trust = Trust(org_cas=())
    assert verify_record_bytes(_signed(pki.signer).to_bytes(), no_trust).exit_code == 2
    assert verify_token_text("hello world", trust).exit_code == 2


def test_development_identity_is_made_once_and_marked(tmp_path: Path) -> None:
    """`make run`'s first use makes a DEVELOPMENT org and station; later uses reuse them."""
    first = keymod.ensure_development_identity(tmp_path / "c", tmp_path / "k", "Org", "bench")
    again = keymod.ensure_development_identity(tmp_path / "c", tmp_path / "k", "Org", "bench")
    assert first.development
    assert first.cert == again.cert
    assert "DEVELOPMENT KEY" in first.org_ca.subject.rfc4514_string()
    assert first.organisation == "Org"


def _pdf_cms(pdf: bytes) -> tuple[int, bytes]:
    """Where the hex of a PDF's CMS signature starts, and the bytes it spells (with padding)."""
    m = re.search(rb"/ByteRange\s*\[\s*0\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    assert m is not None
    start, end = int(m[1]) + 1, int(m[2]) - 1
    return start, bytes.fromhex(pdf[start:end].decode())


def _with_cms_byte(pdf: bytes, start: int, offset: int, value: int) -> bytes:
    """`pdf` with byte `offset` of its CMS blob set to `value`: one byte of the file changed."""
    at = start + 2 * offset
    changed = pdf[:at] + b"%02X" % value + pdf[at + 2 :]
    assert sum(a != b for a, b in zip(pdf, changed, strict=True)) == 1
    return changed


@pytest.fixture(scope="module")
def pdf(pki: SamplePki) -> bytes:
    """One signed certificate PDF."""
    return issue_certificate(
        sample_outcome(), sample_drive(), sample_health(), sample_context(), pki.signer
    ).pdf


def test_a_pdf_signature_whose_outer_length_swallows_padding_is_rejected(
    pdf: bytes, trust: Trust
) -> None:
    """The flaky byte of test_changed_bytes_in_the_pdf_are_rejected: the CMS blob's outer
    SEQUENCE length (unsigned, in the /Contents gap) made 256 larger, so the blob ends inside
    its zero padding. asn1crypto, in pyHanko and in our checks alike, reads the extra
    ``00 00`` pairs as unknown trailing members of the ContentInfo, so the signature still
    verified; the verifier now requires the ContentInfo to end with its content."""
    start, blob = _pdf_cms(pdf)
    assert blob[:2] == b"\x30\x82"
    length = int.from_bytes(blob[2:4], "big")
    padding = len(blob) - 4 - length
    assert padding >= 256
    assert not blob[4 + length :].strip(b"\x00")
    assert blob[2] & 0x0F != 0x0F  # one hex digit of the file changes
    assert verify_pdf_bytes(pdf, trust).valid
    grown = _with_cms_byte(pdf, start, 2, blob[2] + 1)
    verdict = verify_pdf_bytes(grown, trust)
    assert verdict.validity is Validity.INVALID
    assert "the PDF signature's length does not match its contents" in verdict.reason


def test_a_pdf_signer_identifier_with_its_issuer_in_another_case_is_rejected(
    pdf: bytes, trust: Trust
) -> None:
    """The signer info names its certificate by issuer and serial; pyHanko compares names
    case-folded, so ``example Borough ...`` found the station's certificate. Unsigned: refused
    unless byte for byte the certificate's own issuer and serial."""
    start, blob = _pdf_cms(pdf)
    info = cms.ContentInfo.load(blob[: 4 + int.from_bytes(blob[2:4], "big")])
    sid = info["content"]["signer_infos"][0]["sid"].chosen.dump()
    at = blob.index(sid) + sid.index(b"Example Borough Council")
    verdict = verify_pdf_bytes(_with_cms_byte(pdf, start, at, ord("e")), trust)
    assert verdict.validity is Validity.INVALID
    assert "the CMS signer identifier is not its certificate's issuer and serial" in verdict.reason


def test_an_embedded_certificate_signature_with_unused_bits_is_rejected(tmp_path: Path) -> None:
    """A BIT STRING's first byte counts its unused bits; the certificate signature check reads
    the bytes after it whatever it says. With a CA signature ending in a 0 bit, 1 unused bit
    (the padding bit zero, as DER wants) was accepted; the verifier requires 0."""
    for _ in range(64):  # a CA whose signature's last bit is 0 (each try: one chance in two)
        org_key, org_ca = keymod.make_org_ca("Example Borough Council")
        if org_ca.signature[-1] % 2 == 0:
            break
    assert org_ca.signature[-1] % 2 == 0
    key, cert = keymod.make_station_cert(org_key, org_ca, "bench-01")
    signer = keymod.StationSigner(key=key, cert=cert, org_ca=org_ca)
    trust = Trust(org_cas=(org_ca,))
    pdf = issue_certificate(
        sample_outcome(), sample_drive(), sample_health(), sample_context(), signer
    ).pdf
    assert verify_pdf_bytes(pdf, trust).valid
    start, blob = _pdf_cms(pdf)
    ca_der = org_ca.public_bytes(serialization.Encoding.DER)
    unused_bits = blob.index(ca_der) + len(ca_der) - len(org_ca.signature) - 1
    assert blob[unused_bits] == 0
    verdict = verify_pdf_bytes(_with_cms_byte(pdf, start, unused_bits, 1), trust)
    assert verdict.validity is Validity.INVALID
    assert "a certificate in the PDF signature is damaged" in verdict.reason


def test_processes_starting_together_make_one_development_identity(tmp_path: Path) -> None:
    """Eight starts at once on a fresh bench (two wipes, the TUI and a command...): one
    organisation CA and one station certificate are made, and every start gets a signer (one
    used to be refused: 'org-ca.key exists; refusing to overwrite a private key')."""
    certs, keys = tmp_path / "certs", tmp_path / "keys"
    start = threading.Barrier(8)

    def one() -> bytes:
        start.wait()
        signer = keymod.ensure_development_identity(certs, keys, "Org", "bench-1")
        return signer.cert.fingerprint(hashes.SHA256())

    with ThreadPoolExecutor(8) as pool:
        certificates = list(pool.map(lambda _: one(), range(8)))
    assert len(set(certificates)) == 1  # one station certificate, every start signs with it
    assert len(list(keys.glob("*.key"))) == 2
    assert (keys.stat().st_mode & 0o777) == 0o700
