"""Every sanitisation method, by technique: what policy and jobs call.

``method_for(Technique.NVME_SANITIZE_CRYPTO).run(MethodContext(...))`` runs one; `all_methods`
lists them in the docs/DEVICE-COMMANDS.md §8 preference order (firmware purges first, host overwrite
last). Methods are stateless: one instance per technique serves every drive and job.
`category_for` gives the NIST category a technique earns *on a given drive* (e.g. an enhanced
security erase is Purge on an HDD but Clear on an SSD), which can be weaker than the method's
best-case `nist_category`.
"""

from __future__ import annotations

from typing import Protocol

from sanitiser.domain import Drive, NistCategory
from sanitiser.errors import ConfigError
from sanitiser.methods.ata import AtaSanitize, AtaSecurityErase
from sanitiser.methods.base import Method
from sanitiser.methods.mmc import MmcSanitize, MmcSecureErase, MmcSecureTrim
from sanitiser.methods.nvme import NvmeFormat, NvmeSanitize
from sanitiser.methods.overwrite import HostOverwrite
from sanitiser.methods.scsi import ScsiFormatUnit, ScsiSanitize
from sanitiser.probe.capabilities import Technique


class CategorisedMethod(Method, Protocol):
    """A Method that can also say which NIST category it earns on one drive."""

    def category_for(self, drive: Drive) -> NistCategory:
        """The category on `drive` (never stronger than `nist_category`)."""
        ...


_METHODS: tuple[CategorisedMethod, ...] = (
    AtaSanitize("crypto"),
    AtaSanitize("block"),
    AtaSanitize("overwrite"),
    AtaSecurityErase(enhanced=True),
    AtaSecurityErase(enhanced=False),
    NvmeSanitize("crypto"),
    NvmeSanitize("block"),
    NvmeSanitize("overwrite"),
    NvmeFormat(crypto=True),
    NvmeFormat(crypto=False),
    ScsiSanitize("crypto"),
    ScsiSanitize("block"),
    ScsiSanitize("overwrite"),
    ScsiFormatUnit(),
    MmcSanitize(),
    MmcSecureErase(),
    MmcSecureTrim(),
    HostOverwrite(),
)
_BY_TECHNIQUE: dict[Technique, CategorisedMethod] = {m.technique: m for m in _METHODS}


def method_for(technique: Technique | str) -> CategorisedMethod:
    """The method implementing `technique` (a `Technique` or its value, e.g. ``host-overwrite``).

    Raises:
        ConfigError: `technique` names no method (e.g. ``destroy``, which no software performs).
    """
    try:
        return _BY_TECHNIQUE[Technique(technique)]
    except ValueError:
        raise ConfigError(f"no sanitisation method for technique {technique!r}") from None


def all_methods() -> tuple[CategorisedMethod, ...]:
    """Every method, in preference order (§8): ATA, NVMe, SCSI, eMMC firmware methods, then
    overwrite."""
    return _METHODS


def category_for(technique: Technique | str, drive: Drive) -> NistCategory:
    """The NIST category `technique` earns on `drive` (see the method modules for the sources)."""
    return method_for(technique).category_for(drive)


__all__ = ["CategorisedMethod", "all_methods", "category_for", "method_for"]
