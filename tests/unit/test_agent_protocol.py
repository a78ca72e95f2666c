"""The agent channel's pure judgements (`sanitiser.agent.protocol`): a report's form, its
number after the agent's last accepted one, orders, and the signed lines of offline evidence."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from sanitiser.agent.protocol import (
    MAX_REPORT_BYTES,
    Order,
    OrderAction,
    Report,
    ReportError,
    ReportKind,
    check_line,
    dumps,
    judge_sequence,
    loads,
    order_from_json,
    parse_report,
    report_from_json,
    sign_line,
)

SESSION, AGENT = "s" * 32, "a" * 32


def report(seq: int = 1, **body: object) -> Report:
    return Report(SESSION, AGENT, seq, ReportKind.JOB, body)


def test_the_next_number_is_accepted() -> None:
    assert judge_sequence(1, 0).accepted
    assert judge_sequence(8, 7) == judge_sequence(8, 7)
    assert judge_sequence(8, 7).expected == 8


def test_an_earlier_number_is_a_replay() -> None:
    """Every number up to the last accepted one is a replay, the same one included."""
    for seq in (1, 6, 7):
        verdict = judge_sequence(seq, 7)
        assert not verdict.accepted
        assert verdict.reason.startswith("replayed")
        assert verdict.expected == 8


def test_a_later_number_is_out_of_order() -> None:
    """A gap (a report lost or held back) is refused: 9 before 8."""
    verdict = judge_sequence(9, 7)
    assert not verdict.accepted
    assert verdict.reason.startswith("out of order")
    assert "8 is the next" in verdict.reason
    assert not judge_sequence(2, 0).accepted


def test_a_report_round_trips_through_its_canonical_bytes() -> None:
    sent = report(3, event="progress", bytes_done=4096)
    assert parse_report(sent.encode()) == sent
    assert sent.encode() == dumps(json.loads(sent.encode()))  # canonical: sorted, compact


@pytest.mark.parametrize(
    ("doc", "why"),
    [
        ([], "not a JSON object"),
        ({"agent": AGENT, "seq": 1, "kind": "hello", "body": {}}, "no session"),
        ({"session": SESSION, "seq": 1, "kind": "hello", "body": {}}, "no agent id"),
        ({"session": SESSION, "agent": "x" * 65, "seq": 1, "kind": "hello", "body": {}}, "agent"),
        ({"session": SESSION, "agent": AGENT, "seq": 0, "kind": "hello", "body": {}}, "sequence"),
        ({"session": SESSION, "agent": AGENT, "seq": True, "kind": "hello", "body": {}}, "seq"),
        ({"session": SESSION, "agent": AGENT, "seq": "1", "kind": "hello", "body": {}}, "seq"),
        ({"session": SESSION, "agent": AGENT, "seq": 1, "kind": "hello", "body": []}, "no body"),
        ({"session": SESSION, "agent": AGENT, "seq": 1, "kind": "boo", "body": {}}, "not known"),
    ],
)
def test_a_malformed_report_is_refused_with_the_reason(doc: object, why: str) -> None:
    with pytest.raises(ReportError, match=why.rsplit(maxsplit=1)[-1]):
        report_from_json(doc)


def test_bytes_that_are_not_strict_json_are_refused() -> None:
    """Not UTF-8, not JSON, a key given twice (which one would count?), or too large."""
    for data in (b"\xff\xfe", b"{", b'{"seq": 1, "seq": 2}'):
        with pytest.raises(ReportError):
            parse_report(data)
    with pytest.raises(ReportError, match="larger than"):
        parse_report(b" " * (MAX_REPORT_BYTES + 1))
    with pytest.raises(ReportError, match="duplicate key"):
        loads(b'{"a": 1, "a": 1}', "test")


def test_an_order_round_trips_and_a_bad_one_is_refused() -> None:
    order = Order(
        "o" * 32,
        OrderAction.RESUME,
        "job-1",
        "/dev/nvme0n1",
        {"path": "/dev/nvme0n1"},
        "nvme-sanitize-crypto",
        notes={"k": "v"},
        verification="sampled",
    )
    assert order_from_json(json.loads(dumps(order.to_json()))) == order
    for bad in ("x", {"order": "1"}, {**order.to_json(), "action": "format-everything"}):
        with pytest.raises(ReportError):
            order_from_json(bad)


def test_a_signed_line_verifies_and_any_change_is_caught() -> None:
    """Offline evidence: the line verifies with the agent's key; an altered report, a signature
    from another key, or a line without a signature do not."""
    key = ec.generate_private_key(ec.SECP256R1())
    line = sign_line(report(2, event="outcome"), key)
    assert check_line(line, key.public_key()) == report(2, event="outcome")
    altered = line.replace(b'"outcome"', b'"refused"')
    with pytest.raises(ReportError, match="does not verify"):
        check_line(altered, key.public_key())
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ReportError, match="does not verify"):
        check_line(line, other.public_key())
    doc = json.loads(line)
    del doc["sig"]
    with pytest.raises(ReportError, match="no signature"):
        check_line(dumps(doc), key.public_key())
