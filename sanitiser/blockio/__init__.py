"""Block I/O: the overwrite engine, patterns, and read-back verification (full, sampled, canary).

Entry points (all take a `Target`, e.g. `DeviceTarget.from_claim(claim)`):

- `run_scheme(target, scheme("zeros"), verify=VerifyMode.FULL)` -> `EngineReport`
- `overwrite(target, [Pattern.zeros()])` -> `OverwriteResult`
- `verify_full` / `verify_sampled(target, pattern, plan_samples(size))` -> `VerifyResult`
- `write_canaries(target)` before a purge, `check_canaries(target, canaries)` after it.
"""

from sanitiser.blockio.engine import (
    EngineReport,
    OverwriteResult,
    VerifyMode,
    overwrite,
    run_scheme,
)
from sanitiser.blockio.patterns import SCHEMES, Pattern, PatternKind, Scheme, new_seed, scheme
from sanitiser.blockio.progress import ProgressEvent
from sanitiser.blockio.pump import IOConfig
from sanitiser.blockio.sampling import SamplePlan, plan_samples
from sanitiser.blockio.target import DeviceTarget, Target
from sanitiser.blockio.verify import (
    CanarySet,
    VerifyResult,
    check_canaries,
    verify_full,
    verify_sampled,
    write_canaries,
)

__all__ = [
    "SCHEMES",
    "CanarySet",
    "DeviceTarget",
    "EngineReport",
    "IOConfig",
    "OverwriteResult",
    "Pattern",
    "PatternKind",
    "ProgressEvent",
    "SamplePlan",
    "Scheme",
    "Target",
    "VerifyMode",
    "VerifyResult",
    "check_canaries",
    "new_seed",
    "overwrite",
    "plan_samples",
    "run_scheme",
    "scheme",
    "verify_full",
    "verify_sampled",
    "write_canaries",
]
