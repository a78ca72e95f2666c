"""Certificate PDFs rendered from many threads at once in a fresh process: the fonts are
registered once, both faces before either is used, so no thread fails to map the bold face."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from sanitiser.runner import SubprocessRunner

THREADS = 16
STAGGERS_S = (0.012, 0.02)
"""One fresh process per value: thread i starts rendering i * stagger after the others, so some
threads arrive while the first one is registering the fonts. Against the old registration
(regular face registered, then bold) the pair of rounds failed in every trial run."""

SCRIPT = textwrap.dedent(
    """
    import dataclasses, json, sys, threading, time
    from pathlib import Path

    from reportlab.pdfbase import pdfmetrics

    from datetime import UTC, datetime

    from sanitiser.certificate.issue import sign_and_render
    from sanitiser.certificate.record import build_record, new_certificate_id
    from sanitiser.certificate.sign import sign_record
    from sanitiser.certificate.samples import (
        make_pki, sample_context, sample_drive, sample_health, sample_outcome,
    )
    from sanitiser.domain import OutcomeStatus

    out, n, STAGGER = Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    pki = make_pki(out / "pki")
    fresh = "SanDejaVu" not in pdfmetrics.getRegisteredFontNames()
    barrier = threading.Barrier(n)
    errors = []

    def work(i):
        try:
            status = OutcomeStatus.SANITISED if i % 2 else OutcomeStatus.FAILED
            drive = dataclasses.replace(sample_drive(simulated=True), serial=f"THREAD{i:02d}")
            record = build_record(
                sample_outcome(status), drive, sample_health(), sample_context(),
                certificate_id=new_certificate_id(), issued_at=datetime.now(UTC),
            )
            signed = sign_record(record, pki.signer)
            barrier.wait(60)  # all at the first render: the fonts are not registered yet
            time.sleep(i * STAGGER)  # spread over the registration: some arrive mid-way
            issued = sign_and_render(signed, pki.signer)
            (out / f"{i:02d}.pdf").write_bytes(issued.pdf)
        except BaseException as e:
            errors.append(f"thread {i}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(json.dumps({"fresh": fresh, "errors": errors}))
    """
)


def test_sixteen_threads_render_certificates_at_once_in_a_fresh_process(tmp_path: Path) -> None:
    """16 threads released together each issue a certificate PDF in a new interpreter (no font
    registered yet), in two rounds: none fails, and every PDF names its own drive and outcome
    and embeds the bold DejaVu face."""
    run = SubprocessRunner()
    for stagger in STAGGERS_S:
        out = tmp_path / f"round-{stagger}"
        out.mkdir()
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(out), str(THREADS), str(stagger)],
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout.strip().splitlines()[-1])
        assert report["fresh"] is True, "the fonts must not be registered before the threads"
        assert report["errors"] == []
        for i in range(THREADS):
            pdf = out / f"{i:02d}.pdf"
            text = run.run(["pdftotext", "-layout", str(pdf), "-"]).stdout
            assert f"THREAD{i:02d}" in text
            headline = "FAILED — NIST PURGE" if i % 2 == 0 else "SANITISED — NIST PURGE"
            assert headline in text, text[:400]
            fonts = run.run(["pdffonts", str(pdf)]).stdout
            assert "DejaVuSans-Bold" in fonts, fonts
