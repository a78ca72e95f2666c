"""Loading and validating sanitisation policies (``*.toml``) into plain `Policy` values.

The shipped policies live in the package, ``sanitiser/policy/builtin/*.toml``: that directory is
the single source of truth, so they load the same from a checkout, an editable install and a
wheel (``policies/README.md`` at the top of the repository points there). A site may keep its
own policies in other directories (``search_dirs``) or pass a path.

File format (every key is checked; unknown keys are refused)::

    [policy]
    name = "nist-800-88"          # must equal the file name without .toml
    version = "1"                 # recorded with every plan and certificate
    title = "NIST SP 800-88 ..."
    standard = "NIST SP 800-88r1 App. A; IEEE 2883-2022"   # the revision the record claims
    description = "..."           # optional

    [defaults]                    # optional; each key may be overridden per media kind
    allow_downgrade = true        # Clear when no Purge technique is usable (recorded)
    operator_may_downgrade = true # may --category/--method ask for less than required?
    on_health_fail = "proceed"    # or "destroy": a FAIL-health drive goes to destruction
    verify_overwrite = "sampled"  # read-back after a host/drive overwrite: full | sampled
    verify_firmware = "canary"    # after a firmware erase: canary | sampled | full
    overwrite_scheme = "zeros"    # a built-in scheme (blockio.patterns.SCHEMES) or [schemes]

    [schemes]                     # optional: named overwrite schemes, passes in order
    pattern-complement = ["ones", "zeros"]

    [media.ssd]                   # one table per media kind (hdd, ssd, nvme, usb-flash,
    required = "purge"            # usb-drive, mmc, unknown; virtual is optional)
    techniques = [                # best first; the first usable one of the required
      { technique = "ata-sanitize-crypto", category = "purge" },   # category wins
      { technique = "host-overwrite", category = "clear", note = "..." },
    ]

    [routing.default]             # optional section: where a sanitised drive goes next
    destination = "recycle"       # reuse / recycle / destroy; see sanitiser/policy/routes.py
    reason = "..."                # for the full format: ordered [[routing.rules]] with
    [routing.destruction]         # conditions on outcome, health, media, capacity and age,
    hdd = "H-4"                   # and an ISO/IEC 21964 level per media kind

    [devices.readiness]           # optional: when a device (a laptop ...) is ready for reuse
    min_ram_gb = 8                # and where it goes otherwise; see sanitiser/policy/devices.py

Files without ``[routing]`` stay valid (`Policy.routing` is None; `sanitiser.routing.rules`
then routes by its built-in fallback); without ``[devices]`` a device takes
`DEFAULT_DEVICE_RULES`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sanitiser.blockio.patterns import SCHEMES, Scheme
from sanitiser.domain import MediaKind, NistCategory
from sanitiser.errors import ConfigError
from sanitiser.policy.devices import DEFAULT_DEVICE_RULES, DeviceRules, DevicesFile
from sanitiser.policy.routes import RoutingFile, RoutingTable
from sanitiser.probe.capabilities import Technique
from sanitiser.text import text_problem

DEFAULT_POLICY = "nist-800-88"
"""The policy used when none is named."""

BUILTIN_PACKAGE = "sanitiser.policy.builtin"
"""The package holding the shipped ``*.toml`` policies."""

REQUIRED_KINDS: tuple[MediaKind, ...] = tuple(k for k in MediaKind if k is not MediaKind.VIRTUAL)
"""Media kinds every policy must give a rule for; ``virtual`` may be left out (host overwrite)."""

HealthFailAction = Literal["proceed", "destroy"]
OverwriteVerify = Literal["full", "sampled"]
FirmwareVerify = Literal["canary", "sampled", "full"]

_FAMILIES: dict[MediaKind, tuple[str, ...]] = {
    MediaKind.HDD: ("ata-", "scsi-"),
    MediaKind.SSD: ("ata-", "scsi-"),
    MediaKind.NVME: ("nvme-",),
    MediaKind.USB_FLASH: ("ata-", "scsi-", "nvme-"),
    MediaKind.USB_DRIVE: ("ata-", "scsi-", "nvme-"),
    MediaKind.MMC: ("mmc-",),
    MediaKind.UNKNOWN: ("ata-", "scsi-", "nvme-"),
    MediaKind.VIRTUAL: (),
}
"""Command families that can reach each media kind (host overwrite reaches all)."""


# --- plain values the selection works on ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class TechniqueRule:
    """One technique a policy accepts for a media kind, and the NIST category it counts as."""

    technique: Technique
    category: NistCategory
    note: str = ""
    """Why it is listed here, or its limits (printed with the plan)."""


@dataclass(frozen=True, slots=True)
class MediaRule:
    """What a policy asks for one media kind, with the defaults already applied."""

    kind: MediaKind
    required: NistCategory
    """The category the policy requires; ``destroy`` sends every such drive to destruction."""
    techniques: tuple[TechniqueRule, ...]
    """Acceptable techniques, best first."""
    allow_downgrade: bool
    operator_may_downgrade: bool
    on_health_fail: HealthFailAction
    verify_overwrite: OverwriteVerify
    verify_firmware: FirmwareVerify
    overwrite_scheme: str
    note: str = ""

    def rule_for(self, technique: Technique) -> TechniqueRule | None:
        """The policy's entry for `technique`, or None when the policy does not accept it."""
        return next((r for r in self.techniques if r.technique is technique), None)


VIRTUAL_RULE_NOTE = (
    "a virtual device (loop, virtio) has no medium or firmware of its own: host overwrite is "
    "the only technique, and it is Clear; the storage behind it is not sanitised"
)


@dataclass(frozen=True, slots=True)
class Policy:
    """A validated sanitisation policy."""

    name: str
    version: str
    title: str
    standard: str
    """The standard and revision that plans made under this policy claim."""
    media: Mapping[MediaKind, MediaRule]
    schemes: Mapping[str, Scheme] = field(default_factory=dict)
    """Overwrite schemes the policy defines, by name (built-in ones are not repeated here)."""
    description: str = ""
    source: str = ""
    """Where it was loaded from (a path, or ``builtin:<name>``)."""
    routing: RoutingTable | None = None
    """Where sanitised drives go next (``[routing]``); None when the file has no such table."""
    devices: DeviceRules = DEFAULT_DEVICE_RULES
    """When a device (a laptop, a monitor ...) is ready for reuse, and where it goes otherwise
    (``[devices]``, `sanitiser.policy.devices`)."""

    def rule(self, kind: MediaKind) -> MediaRule:
        """The rule for `kind` (every kind has one after loading)."""
        return self.media[kind]

    def scheme(self, name: str) -> Scheme:
        """The overwrite scheme `name`: the policy's own, else a built-in one.

        Raises:
            ConfigError: no such scheme.
        """
        if name in self.schemes:
            return self.schemes[name]
        if name in SCHEMES:
            return SCHEMES[name]
        raise ConfigError(f"policy {self.name}: unknown overwrite scheme {name!r}")


# --- the file, as pydantic models (loader-private) -----------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Header(_Strict):
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    title: str = Field(min_length=1)
    standard: str = Field(min_length=1)
    description: str = ""

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("name", "version")
    @classmethod
    def _plain_text(cls, value: str) -> str:
        """Signed into every record: plain text only (see `sanitiser.text`)."""
        problem = text_problem(value, "name")
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("standard")
    @classmethod
    def _plain_standard(cls, value: str) -> str:
        """Signed into every record as the standard it claims: plain text only."""
        problem = text_problem(value, "details")
        if problem:
            raise ValueError(problem)
        return value


class _Defaults(_Strict):
    allow_downgrade: bool = True
    operator_may_downgrade: bool = True
    on_health_fail: HealthFailAction = "proceed"
    verify_overwrite: OverwriteVerify = "sampled"
    verify_firmware: FirmwareVerify = "canary"
    overwrite_scheme: str = "zeros"


class _TechniqueEntry(_Strict):
    technique: Technique
    category: Literal["clear", "purge"]
    note: str = ""

    @model_validator(mode="after")
    def _overwrite_is_clear(self) -> _TechniqueEntry:
        if self.technique is Technique.HOST_OVERWRITE and self.category != "clear":
            raise ValueError(
                "host-overwrite is only Clear (NIST SP 800-88 App. A: an overwrite through "
                "the read/write interface does not reach spare or remapped areas)"
            )
        return self


class _MediaEntry(_Strict):
    required: Literal["clear", "purge", "destroy"]
    techniques: tuple[_TechniqueEntry, ...] = ()
    note: str = ""
    allow_downgrade: bool | None = None
    operator_may_downgrade: bool | None = None
    on_health_fail: HealthFailAction | None = None
    verify_overwrite: OverwriteVerify | None = None
    verify_firmware: FirmwareVerify | None = None
    overwrite_scheme: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> _MediaEntry:
        seen: set[Technique] = set()
        for entry in self.techniques:
            if entry.technique in seen:
                raise ValueError(f"technique {entry.technique.value!r} is listed twice")
            seen.add(entry.technique)
        if self.required != "destroy" and not self.techniques:
            raise ValueError('techniques is empty: list at least one, or set required = "destroy"')
        return self


class _PolicyFile(_Strict):
    policy: _Header
    defaults: _Defaults = _Defaults()
    schemes: dict[str, tuple[str, ...]] = {}
    media: dict[MediaKind, _MediaEntry]
    routing: RoutingFile | None = None
    devices: DevicesFile | None = None

    @field_validator("schemes")
    @classmethod
    def _schemes_valid(cls, value: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        for name, passes in value.items():
            if name in SCHEMES:
                raise ValueError(f"scheme {name!r} is built in; give yours another name")
            try:
                Scheme(name, passes)
            except ConfigError as exc:
                raise ValueError(f"scheme {name!r}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _media_complete(self) -> _PolicyFile:
        missing = [k.value for k in REQUIRED_KINDS if k not in self.media]
        if missing:
            raise ValueError(
                f"media: no rule for media kind(s) {', '.join(missing)}: add a [media.<kind>] "
                f"table for each of {', '.join(k.value for k in REQUIRED_KINDS)}"
            )
        known = set(SCHEMES) | set(self.schemes)
        schemes = [("defaults.overwrite_scheme", self.defaults.overwrite_scheme)] + [
            (f"media.{k.value}.overwrite_scheme", m.overwrite_scheme)
            for k, m in self.media.items()
            if m.overwrite_scheme is not None
        ]
        for where, name in schemes:
            if name not in known:
                raise ValueError(
                    f"{where}: unknown overwrite scheme {name!r} "
                    f"(built in: {', '.join(SCHEMES)}; or define it under [schemes])"
                )
        for kind, entry in self.media.items():
            families = _FAMILIES[kind]
            for i, t in enumerate(entry.techniques):
                tech = t.technique
                if tech is not Technique.HOST_OVERWRITE and not tech.value.startswith(families):
                    raise ValueError(
                        f"media.{kind.value}.techniques[{i}]: {tech.value!r} cannot reach a "
                        f"{kind.value} drive"
                    )
        virtual = self.media.get(MediaKind.VIRTUAL)
        if virtual is not None and virtual.required != "clear":
            raise ValueError(f'media.virtual.required: must be "clear": {VIRTUAL_RULE_NOTE}')
        return self


# --- conversion and errors -----------------------------------------------------------------


def _where(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith("function-") or part in ("[key]",):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def _problem(err: Mapping[str, Any]) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key (check the spelling; see sanitiser/policy/loader.py for the format)"
    if err["type"] == "missing":
        return "required key is missing"
    msg = str(err["msg"]).removeprefix("Value error, ")
    value = err.get("input")
    if isinstance(value, str | int | float | bool) and err["type"] != "value_error":
        msg += f" (got {value!r})"
    return msg


def _validation_message(source: str, exc: ValidationError) -> str:
    # Whole-file checks carry no location: their message starts with the key it concerns.
    lines = [
        f"{where}: {_problem(e)}" if (where := _where(e["loc"])) else _problem(e)
        for e in exc.errors()
    ]
    return f"invalid policy {source}: " + "; ".join(lines)


def _category(value: str) -> NistCategory:
    return NistCategory(value)


def _virtual_rule() -> _MediaEntry:
    return _MediaEntry(
        required="clear",
        techniques=(_TechniqueEntry(technique=Technique.HOST_OVERWRITE, category="clear"),),
        note=VIRTUAL_RULE_NOTE,
        overwrite_scheme="zeros",
    )


def _to_policy(parsed: _PolicyFile, source: str) -> Policy:
    d = parsed.defaults
    entries = dict(parsed.media)
    entries.setdefault(MediaKind.VIRTUAL, _virtual_rule())
    media: dict[MediaKind, MediaRule] = {}
    for kind, m in entries.items():
        techniques = tuple(
            TechniqueRule(t.technique, _category(t.category), t.note) for t in m.techniques
        )
        if kind is MediaKind.VIRTUAL:
            # A virtual device can only be overwritten from the host, whatever else is listed.
            techniques = tuple(t for t in techniques if t.technique is Technique.HOST_OVERWRITE)
            techniques = techniques or (
                TechniqueRule(Technique.HOST_OVERWRITE, NistCategory.CLEAR, VIRTUAL_RULE_NOTE),
            )
        media[kind] = MediaRule(
            kind=kind,
            required=_category(m.required),
            techniques=techniques,
            allow_downgrade=d.allow_downgrade if m.allow_downgrade is None else m.allow_downgrade,
            operator_may_downgrade=(
                d.operator_may_downgrade
                if m.operator_may_downgrade is None
                else m.operator_may_downgrade
            ),
            on_health_fail=m.on_health_fail or d.on_health_fail,
            verify_overwrite=m.verify_overwrite or d.verify_overwrite,
            verify_firmware=m.verify_firmware or d.verify_firmware,
            overwrite_scheme=m.overwrite_scheme or d.overwrite_scheme,
            note=m.note,
        )
    h = parsed.policy
    return Policy(
        name=h.name,
        version=h.version,
        title=h.title,
        standard=h.standard,
        description=h.description,
        media=media,
        schemes={n: Scheme(n, p) for n, p in parsed.schemes.items()},
        source=source,
        routing=parsed.routing.to_table() if parsed.routing is not None else None,
        devices=parsed.devices.to_rules() if parsed.devices is not None else DEFAULT_DEVICE_RULES,
    )


def parse_policy(
    text: str, *, source: str = "<string>", expected_name: str | None = None
) -> Policy:
    """A `Policy` from TOML text (pure).

    Args:
        text: the TOML.
        source: where it came from, for error messages and `Policy.source`.
        expected_name: when set, ``policy.name`` must equal it (the file's stem).

    Raises:
        ConfigError: the text is not TOML, or a key is unknown, missing or invalid; the
            message names the source, the key and the problem.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid policy {source}: not valid TOML: {exc}", "Policy") from exc
    try:
        parsed = _PolicyFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_validation_message(source, exc), "Policy") from exc
    if expected_name is not None and parsed.policy.name != expected_name:
        raise ConfigError(
            f"invalid policy {source}: policy.name: is {parsed.policy.name!r} but the file is "
            f"named {expected_name!r}; they must match, so records name the file that was used",
            "Policy",
        )
    return _to_policy(parsed, source)


def _builtin_names() -> list[str]:
    root = resources.files(BUILTIN_PACKAGE)
    return sorted(p.name.removesuffix(".toml") for p in root.iterdir() if p.name.endswith(".toml"))


def _dir_names(dirs: Iterable[Path]) -> list[str]:
    return [p.stem for d in dirs if d.is_dir() for p in sorted(d.glob("*.toml"))]


def available_policies(search_dirs: Sequence[Path] = ()) -> list[str]:
    """Names of the policies that `load_policy` can find: `search_dirs`, then the shipped ones."""
    return sorted(set(_dir_names(search_dirs)) | set(_builtin_names()))


def _looks_like_path(name_or_path: str | Path) -> bool:
    text = str(name_or_path)
    return isinstance(name_or_path, Path) or "/" in text or text.endswith(".toml")


def load_policy(
    name_or_path: str | Path = DEFAULT_POLICY, search_dirs: Sequence[Path] = ()
) -> Policy:
    """Load and validate a policy by name (``nist-800-88``, ``strict``) or by path.

    A name is looked up in each of `search_dirs` (as ``<name>.toml``), then among the shipped
    policies. A path (anything with a ``/`` or ending in ``.toml``) is read as given.

    Raises:
        ConfigError: no such policy, unreadable file, or invalid content (the message names the
            file, the key and the problem).
    """
    if _looks_like_path(name_or_path):
        path = Path(name_or_path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read policy file {path}: {exc}", "Policy") from exc
        return parse_policy(text, source=str(path), expected_name=path.stem)
    name = str(name_or_path)
    for d in search_dirs:
        candidate = d / f"{name}.toml"
        if candidate.is_file():
            return load_policy(candidate)
    resource = resources.files(BUILTIN_PACKAGE) / f"{name}.toml"
    if not resource.is_file():
        known = ", ".join(available_policies(search_dirs))
        raise ConfigError(f"no policy named {name!r} (available: {known})", "Policy")
    return parse_policy(
        resource.read_text(encoding="utf-8"), source=f"builtin:{name}", expected_name=name
    )
