"""The auditor's and administrator's commands: keys, cert export, label and verify (exit codes)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sanitiser.certificate.issue import issue_certificate
from sanitiser.certificate.qr import decode_token
from sanitiser.certificate.samples import (
    SamplePki,
    make_pki,
    sample_context,
    sample_drive,
    sample_health,
    sample_outcome,
)
from sanitiser.certificate.verify import MAX_INPUT_BYTES
from sanitiser.cli.certificates import cert, keys, label, make_cert_group, verify

GOLDEN_V1 = Path(__file__).parent.parent / "data" / "token-v1"


@pytest.fixture
def cli() -> CliRunner:
    """A click runner."""
    return CliRunner()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SamplePki:
    """An organisation with station bench-01."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def record_file(pki: SamplePki, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A signed JSON record on disk."""
    issued = issue_certificate(
        sample_outcome(), sample_drive(), sample_health(), sample_context(), pki.signer
    )
    path = tmp_path_factory.mktemp("rec") / "record.json"
    path.write_bytes(issued.record_json)
    return path


def _keys_args(pki: SamplePki) -> list[str]:
    return ["--certs", str(pki.certs), "--keys", str(pki.keys), "--station", "bench-01"]


def test_keys_init_org_and_new_station(cli: CliRunner, tmp_path: Path) -> None:
    """init-org then new-station make public certs in certs/ and 0600 keys; no overwrite."""
    certs, keys_dir = tmp_path / "certs", tmp_path / "keys"
    where = ["--certs", str(certs), "--keys", str(keys_dir)]
    result = cli.invoke(keys, ["init-org", "--organisation", "Org", "--no-encrypt", *where])
    assert result.exit_code == 0, result.output
    result = cli.invoke(keys, ["new-station", "bench-9", *where])
    assert result.exit_code == 0, result.output
    assert (certs / "org-ca.pem").is_file()
    assert (certs / "station-bench-9.pem").is_file()
    for key in keys_dir.iterdir():
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    again = cli.invoke(keys, ["init-org", "--organisation", "Org", "--no-encrypt", *where])
    assert again.exit_code == 2
    assert "exists" in again.output


def test_keys_with_passphrase(cli: CliRunner, tmp_path: Path) -> None:
    """An encrypted CA key is asked for when issuing a station certificate."""
    where = ["--certs", str(tmp_path / "c"), "--keys", str(tmp_path / "k")]
    result = cli.invoke(
        keys, ["init-org", "--organisation", "Org", *where], input="s3cret\ns3cret\n"
    )
    assert result.exit_code == 0, result.output
    assert b"ENCRYPTED" in (tmp_path / "k" / "org-ca.key").read_bytes()
    wrong = cli.invoke(keys, ["new-station", "b1", *where], input="nope\n")
    assert wrong.exit_code == 2
    right = cli.invoke(keys, ["new-station", "b1", *where], input="s3cret\n")
    assert right.exit_code == 0, right.output


def test_export_then_verify_every_form(
    cli: CliRunner, pki: SamplePki, record_file: Path, tmp_path: Path
) -> None:
    """cert export writes PDF, JSON and label; verify accepts each, and the token, exit 0."""
    out = {k: tmp_path / f"out.{k}" for k in ("pdf", "json")}
    lab = tmp_path / "label.png"
    result = cli.invoke(
        cert,
        [
            "export",
            str(record_file),
            "--pdf",
            str(out["pdf"]),
            "--json",
            str(out["json"]),
            "--label",
            str(lab),
            *_keys_args(pki),
        ],
    )
    assert result.exit_code == 0, result.output
    assert out["json"].read_bytes() == record_file.read_bytes()
    assert lab.read_bytes().startswith(b"\x89PNG")
    for target in (out["pdf"], out["json"], lab):
        result = cli.invoke(verify, [str(target), "--certs", str(pki.certs)])
        assert result.exit_code == 0, result.output
        assert result.output.startswith("VALID")
        assert "S3Z9NB0K123456X" in result.output


def test_verify_token_and_url(cli: CliRunner, pki: SamplePki) -> None:
    """A token or token URL on the command line verifies."""
    issued = issue_certificate(
        sample_outcome(), sample_drive(), sample_health(), sample_context(), pki.signer
    )
    for arg in (issued.token, issued.url):
        result = cli.invoke(verify, [arg, "--certs", str(pki.certs)])
        assert result.exit_code == 0, result.output
        assert decode_token(arg).certificate_id in result.output
        assert "Make and model:      Samsung SSD 860 EVO 500GB" in result.output
        assert "Capacity (bytes):    500107862016" in result.output
        assert "Destination:         external-reuse" in result.output
        assert "Method name:         ata-sanitize-crypto-scra\u2026" in result.output


def test_verify_old_version_1_token(cli: CliRunner) -> None:
    """A v1 token from a label printed before v2 still verifies on the command line (exit 0)."""
    url = (GOLDEN_V1 / "token.txt").read_text().strip()
    result = cli.invoke(verify, [url, "--certs", str(GOLDEN_V1), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["facts"]["token_version"] == "1"
    assert data["facts"]["serial"] == "S3Z9NB0K123456X"
    assert "method" not in data["facts"]


def test_verify_json_output(cli: CliRunner, pki: SamplePki, record_file: Path) -> None:
    """--json prints a machine-readable verdict."""
    result = cli.invoke(verify, [str(record_file), "--certs", str(pki.certs), "--json"])
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["validity"] == "valid"
    assert data["facts"]["serial"] == "S3Z9NB0K123456X"
    assert all(check["ok"] for check in data["checks"])


def test_verify_tampered_is_exit_1_with_reason(
    cli: CliRunner, pki: SamplePki, record_file: Path, tmp_path: Path
) -> None:
    """A changed serial number is invalid: exit 1 and the reason."""
    tampered = tmp_path / "t.json"
    tampered.write_bytes(record_file.read_bytes().replace(b"S3Z9NB0K123456X", b"S3Z9NB0K123456Y"))
    result = cli.invoke(verify, [str(tampered), "--certs", str(pki.certs), "--json"])
    assert result.exit_code == 1
    assert "signature does not match" in json.loads(result.output)["reason"]


def test_verify_with_foreign_trust_is_exit_1(
    cli: CliRunner, record_file: Path, tmp_path: Path
) -> None:
    """--trust with another organisation's CA rejects the record."""
    other = make_pki(tmp_path)
    result = cli.invoke(verify, [str(record_file), "--trust", str(other.certs / "org-ca.pem")])
    assert result.exit_code == 1
    assert "INVALID" in result.output


@pytest.mark.parametrize("content", [b"hello", b"\x00\x01garbage", b"%PDF-"])
def test_verify_unusable_input_is_exit_2(
    cli: CliRunner, pki: SamplePki, tmp_path: Path, content: bytes
) -> None:
    """Files that are not certificates, and broken PDFs, never pass."""
    path = tmp_path / "x.bin"
    path.write_bytes(content)
    result = cli.invoke(verify, [str(path), "--certs", str(pki.certs)])
    assert result.exit_code in (1, 2)
    assert result.exit_code == (1 if content.startswith(b"%PDF") else 2)


def test_verify_without_trust_anchor_is_exit_2(
    cli: CliRunner, record_file: Path, tmp_path: Path
) -> None:
    """No org CA in certs/ and no --trust: cannot verify (exit 2), never 'valid'."""
    result = cli.invoke(verify, [str(record_file), "--certs", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "no organisation CA" in result.output
    missing = cli.invoke(verify, ["no-such-file", "--certs", str(tmp_path)])
    assert missing.exit_code == 2


def test_label_command_writes_pdf(
    cli: CliRunner, pki: SamplePki, record_file: Path, tmp_path: Path
) -> None:
    """`label` renders an A4 sheet PDF for several records."""
    out = tmp_path / "sheet.pdf"
    result = cli.invoke(
        label,
        [str(record_file), str(record_file), "--format", "a4", "--out", str(out), *_keys_args(pki)],
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF-")


def test_cert_export_by_id_uses_the_lookup(
    cli: CliRunner, pki: SamplePki, record_file: Path, tmp_path: Path
) -> None:
    """With a store lookup wired in, `cert export ID` finds the record; unknown ids fail."""
    from sanitiser.certificate.sign import parse_envelope

    cid = parse_envelope(record_file.read_bytes()).certificate_id
    group: click.Group = make_cert_group(lambda i: record_file.read_bytes() if i == cid else None)
    out = tmp_path / "r.json"
    certs = ["--certs", str(pki.certs)]  # an export verifies the record against these first
    assert cli.invoke(group, ["export", cid, "--json", str(out), *certs]).exit_code == 0
    assert out.read_bytes() == record_file.read_bytes()
    assert cli.invoke(group, ["export", "0000", "--json", str(out)]).exit_code == 2


def test_verify_and_label_refuse_input_too_large_to_read(
    cli: CliRunner, pki: SamplePki, tmp_path: Path
) -> None:
    """A file over the cap (a sparse 64 MiB + 1 byte here) and a file that reports no size but
    goes on for gigabytes (``/proc/self/pagemap``) are unusable input: exit 2 with the reason,
    and nothing past the cap is read. `label` reads its record files the same way; a
    directory is not a file to verify."""
    big = tmp_path / "big.json"
    with big.open("wb") as f:
        f.truncate(MAX_INPUT_BYTES + 1)
    for path in (big, Path("/proc/self/pagemap")):
        result = cli.invoke(verify, [str(path), "--certs", str(pki.certs)])
        assert result.exit_code == 2, result.output
        assert f"{path} is larger than 64 MiB" in result.output
    out = tmp_path / "label.pdf"
    result = cli.invoke(label, [str(big), "--out", str(out), *_keys_args(pki)])
    assert result.exit_code == 2
    assert "is larger than 64 MiB" in result.output
    assert not out.exists()
    result = cli.invoke(verify, [str(tmp_path), "--certs", str(pki.certs)])
    assert result.exit_code == 2
    assert "is not a regular file" in result.output


def test_cert_export_with_nothing_to_write_is_an_error(
    cli: CliRunner, pki: SamplePki, record_file: Path
) -> None:
    """No --pdf, --json or --label: exit 2 saying what to give, not a silent success."""
    result = cli.invoke(cert, ["export", str(record_file), "--certs", str(pki.certs)])
    assert result.exit_code == 2
    assert "give --pdf FILE, --json FILE and/or --label FILE" in result.output


def test_verify_with_a_station_certificate_as_trust_says_it_is_not_a_ca(
    cli: CliRunner, pki: SamplePki, record_file: Path
) -> None:
    """--trust naming a station's certificate: exit 2 saying the file holds no CA, not that
    --trust is missing."""
    station = pki.certs / "station-bench-01.pem"
    result = cli.invoke(verify, [str(record_file), "--trust", str(station)])
    assert result.exit_code == 2
    assert f"{station} holds no CA certificate" in result.output
    assert "pass --trust FILE" not in result.output
