"""The multi-bay bench's pure parts (scripts/bench_bays.py): its profiles, each bay's size, the
policy it wipes with, and its check that every bay came out sanitised and verified."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from bench_bays import (  # noqa: E402
    POLICY,
    BayProfile,
    bay_size,
    check_outcomes,
    parse_profiles,
    write_policy,
)

from sanitiser.domain import MediaKind  # noqa: E402
from sanitiser.policy.loader import load_policy  # noqa: E402

MiB = 1 << 20
REAL = REPO / "tests" / "data" / "bays" / "wipe-2-bays-100MBps.tsv"


def test_bay_profiles_are_count_at_cap() -> None:
    assert parse_profiles("8@250, 24@100") == [BayProfile(8, 250), BayProfile(24, 100)]
    assert BayProfile(24, 100).name == "24@100"
    assert parse_profiles("none") == []


@pytest.mark.parametrize("bad", ["8", "8@", "0@250", "8@0", "eight@250", "8x250"])
def test_a_malformed_bay_profile_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="is not <bays>@<MB/s per bay>"):
        BayProfile.parse(bad)


def test_bays_share_the_memory_in_whole_blocks() -> None:
    assert bay_size(6144 * MiB, 8) == 768 * MiB
    assert bay_size(6144 * MiB, 24) == 256 * MiB
    assert bay_size(1000 * MiB, 3) == 332 * MiB  # 333.3 MiB, down to a multiple of 4
    with pytest.raises(ValueError, match="less than 4 MiB"):
        bay_size(64 * MiB, 24)


@pytest.mark.parametrize("verify", ["full", "sampled"])
def test_the_bench_policy_is_the_shipped_one_with_the_read_back_chosen(
    tmp_path: Path, verify: str
) -> None:
    """It loads as a policy file (its name matches), and loop devices get a host overwrite of
    zeros read back as asked, as under the shipped default."""
    policy = load_policy(write_policy(tmp_path, verify))
    shipped = load_policy("nist-800-88")
    assert policy.name == POLICY
    virtual = policy.rule(MediaKind.VIRTUAL)
    assert virtual.verify_overwrite == verify
    assert virtual.overwrite_scheme == shipped.rule(MediaKind.VIRTUAL).overwrite_scheme
    assert virtual.techniques == shipped.rule(MediaKind.VIRTUAL).techniques


def stamped(text: str) -> list[tuple[float, str]]:
    return [(float(at), line) for at, line in (r.split("\t", 1) for r in text.splitlines())]


def test_the_real_wipe_sanitised_and_verified_both_bays() -> None:
    check_outcomes(stamped(REAL.read_text()), ["/dev/loop0", "/dev/loop1"])


def test_a_bay_without_an_outcome_or_not_verified_fails_the_bench() -> None:
    lines = stamped(REAL.read_text())
    with pytest.raises(RuntimeError, match="did not sanitise /dev/loop2: no outcome"):
        check_outcomes(lines, ["/dev/loop0", "/dev/loop2"])
    unverified = []
    for at, line in lines:
        event = json.loads(line)
        if event["event"] == "outcome" and event["device"] == "/dev/loop1":
            event |= {"verified": False, "status": "failed", "reason": "mismatch at byte 0"}
        unverified.append((at, json.dumps(event)))
    with pytest.raises(RuntimeError, match="/dev/loop1: failed: mismatch at byte 0"):
        check_outcomes(unverified, ["/dev/loop0", "/dev/loop1"])
