"""Policy files: the shipped ones load, and every kind of mistake is a clear ConfigError."""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from sanitiser.domain import MediaKind, NistCategory
from sanitiser.errors import ConfigError
from sanitiser.policy.loader import (
    BUILTIN_PACKAGE,
    DEFAULT_POLICY,
    REQUIRED_KINDS,
    available_policies,
    load_policy,
    parse_policy,
)
from sanitiser.probe.capabilities import Technique

REPO = Path(__file__).resolve().parents[2]


def builtin_dict(name: str) -> dict[str, Any]:
    """The shipped policy `name` as plain TOML data."""
    text = (resources.files(BUILTIN_PACKAGE) / f"{name}.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f'"{k}" = {_value(x)}' for k, x in v.items()) + " }"
    raise TypeError(v)


def dump(data: dict[str, Any], prefix: str = "") -> str:
    """A tiny TOML writer for the subset policies use (tables, scalars, lists, inline tables)."""
    scalars = [f'"{k}" = {_value(v)}' for k, v in data.items() if not isinstance(v, dict)]
    out = (f"[{prefix}]\n" if prefix and scalars else "") + "".join(s + "\n" for s in scalars)
    for k, v in data.items():
        if isinstance(v, dict):
            out += dump(v, f'{prefix}."{k}"' if prefix else f'"{k}"')
    return out


def write(tmp_path: Path, data: dict[str, Any], name: str | None = None) -> Path:
    """Write `data` as ``<policy.name>.toml`` (or `name`) and return the path."""
    stem = name or str(data.get("policy", {}).get("name", "broken"))
    path = tmp_path / f"{stem}.toml"
    path.write_text(dump(data), encoding="utf-8")
    return path


# --- shipped policies -------------------------------------------------------------------------


def test_shipped_policies_are_listed_and_load() -> None:
    """Both shipped policies are found in the package and validate."""
    assert {"nist-800-88", "strict"} <= set(available_policies())
    for name in available_policies():
        policy = load_policy(name)
        assert policy.name == name
        assert policy.version
        assert policy.standard
        assert policy.source == f"builtin:{name}"


def test_default_policy_is_nist() -> None:
    """The default is the NIST 800-88 policy, and loading with no argument gives it."""
    assert DEFAULT_POLICY == "nist-800-88"
    assert load_policy().name == DEFAULT_POLICY


@pytest.mark.parametrize("name", ["nist-800-88", "strict"])
def test_every_media_kind_has_a_rule(name: str) -> None:
    """Every media kind, virtual included, has a rule; virtual is host overwrite (Clear) only."""
    policy = load_policy(name)
    assert set(policy.media) == set(MediaKind)
    virtual = policy.rule(MediaKind.VIRTUAL)
    assert virtual.required is NistCategory.CLEAR
    assert [r.technique for r in virtual.techniques] == [Technique.HOST_OVERWRITE]


def test_nist_policy_purges_and_downgrades_to_overwrite() -> None:
    """NIST default: Purge required on physical media, downgrades allowed, overwrite is Clear."""
    policy = load_policy("nist-800-88")
    for kind in REQUIRED_KINDS:
        rule = policy.rule(kind)
        assert rule.required is NistCategory.PURGE
        assert rule.allow_downgrade
        last = rule.techniques[-1]
        assert (last.technique, last.category) == (Technique.HOST_OVERWRITE, NistCategory.CLEAR)
    assert policy.rule(MediaKind.USB_FLASH).overwrite_scheme == "pattern-complement"
    assert policy.scheme("pattern-complement").passes == ("ones", "zeros")


def test_nist_policy_follows_appendix_a() -> None:
    """Security erase is Purge only on magnetic media (Enhanced); Clear on flash (Table A-8)."""
    policy = load_policy("nist-800-88")
    hdd, ssd = policy.rule(MediaKind.HDD), policy.rule(MediaKind.SSD)
    enhanced = Technique.ATA_SECURITY_ERASE_ENHANCED
    hdd_enhanced, ssd_enhanced = hdd.rule_for(enhanced), ssd.rule_for(enhanced)
    hdd_normal = hdd.rule_for(Technique.ATA_SECURITY_ERASE)
    assert hdd_enhanced is not None
    assert hdd_enhanced.category is NistCategory.PURGE
    assert ssd_enhanced is not None
    assert ssd_enhanced.category is NistCategory.CLEAR
    assert hdd_normal is not None
    assert hdd_normal.category is NistCategory.CLEAR
    assert ssd.rule_for(Technique.ATA_SANITIZE_OVERWRITE) is None  # not listed for SSDs
    nvme = [r.technique for r in policy.rule(MediaKind.NVME).techniques]
    assert nvme.index(Technique.NVME_SANITIZE_CRYPTO) < nvme.index(Technique.NVME_FORMAT_CRYPTO)
    assert nvme.index(Technique.NVME_FORMAT_CRYPTO) < nvme.index(Technique.NVME_FORMAT_USER_DATA)


def test_strict_policy_never_downgrades() -> None:
    """Strict: no downgrades, failing drives destroyed, only Purge techniques on physical media."""
    policy = load_policy("strict")
    for kind in REQUIRED_KINDS:
        rule = policy.rule(kind)
        assert not rule.allow_downgrade
        assert not rule.operator_may_downgrade
        assert rule.on_health_fail == "destroy"
        assert rule.required in (NistCategory.PURGE, NistCategory.DESTROY)
        assert all(r.category is NistCategory.PURGE for r in rule.techniques)
    for kind in (MediaKind.USB_FLASH, MediaKind.MMC, MediaKind.UNKNOWN):
        assert policy.rule(kind).required is NistCategory.DESTROY
    assert policy.rule(MediaKind.HDD).rule_for(Technique.ATA_SANITIZE_CRYPTO) is None


def test_policies_readme_points_at_the_package() -> None:
    """policies/README.md names each shipped file under sanitiser/policy/builtin/."""
    readme = (REPO / "policies" / "README.md").read_text(encoding="utf-8")
    for name in available_policies():
        assert f"sanitiser/policy/builtin/{name}.toml" in readme
        assert (REPO / "sanitiser" / "policy" / "builtin" / f"{name}.toml").is_file()


# --- loading by path and from site directories --------------------------------------------------


def test_load_by_path(tmp_path: Path) -> None:
    """A path loads that file, and the source records the path."""
    data = builtin_dict("strict")
    data["policy"]["name"] = "ours"
    path = write(tmp_path, data)
    policy = load_policy(path)
    assert policy.name == "ours"
    assert policy.source == str(path)
    assert load_policy(str(path)).name == "ours"


def test_site_directory_is_searched_first(tmp_path: Path) -> None:
    """A name found in a search directory wins over the shipped policy, and is listed."""
    data = builtin_dict("nist-800-88")
    data["policy"]["version"] = "site-7"
    write(tmp_path, data)
    data2 = builtin_dict("strict")
    data2["policy"]["name"] = "local-only"
    write(tmp_path, data2)
    assert load_policy("nist-800-88", search_dirs=[tmp_path]).version == "site-7"
    assert load_policy("nist-800-88").version == "1"
    assert "local-only" in available_policies([tmp_path])
    assert "local-only" not in available_policies()


def test_unknown_name_lists_the_available_ones() -> None:
    """An unknown name says which policies exist."""
    with pytest.raises(ConfigError, match=r"no policy named 'nope' \(available: .*strict"):
        load_policy("nope")


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    """A path that does not exist is a ConfigError naming the path."""
    path = tmp_path / "gone.toml"
    with pytest.raises(ConfigError, match=r"cannot read policy file .*gone\.toml"):
        load_policy(path)


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    """A TOML syntax error names the file and the line."""
    path = tmp_path / "bad.toml"
    path.write_text("[policy\nname = 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.toml: not valid TOML: .*line 1"):
        load_policy(path)


def test_name_must_match_the_file(tmp_path: Path) -> None:
    """A copied file that keeps the old name is refused, so records never name the wrong file."""
    path = write(tmp_path, builtin_dict("strict"), name="mine")
    with pytest.raises(ConfigError, match=r"mine\.toml: policy\.name: is 'strict'"):
        load_policy(path)


def test_integer_version_is_accepted_as_text() -> None:
    """``version = 2`` is read as "2" (it is printed, never compared as a number)."""
    data = builtin_dict("strict")
    data["policy"]["version"] = 2
    assert parse_policy(dump(data)).version == "2"


# --- validation errors: file, key and problem ---------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = data
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _delete(path: str) -> Mutation:
    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node = data
        for p in parents:
            node = node[p]
        del node[last]

    return mutate


def _duplicate_first_technique(data: dict[str, Any]) -> None:
    techniques = data["media"]["ssd"]["techniques"]
    techniques.append(dict(techniques[0]))


CASES: list[tuple[str, Mutation, str, str]] = [
    ("routing not yet", _set("routing", {"fail": "destroy"}), "routing", "unknown key"),
    ("typo top", _set("defualts", {"allow_downgrade": True}), "defualts", "unknown key"),
    ("typo default", _set("defaults/allow_downgrades", True), "defaults.allow_downgrades",
     "unknown key"),
    ("typo media", _set("media/ssd/require", "purge"), "media.ssd.require", "unknown key"),
    ("typo entry", _set("media/ssd/techniques/0/categroy", "purge"),
     "media.ssd.techniques[0].categroy", "unknown key"),
    ("no header", _delete("policy"), "policy", "required key is missing"),
    ("no version", _delete("policy/version"), "policy.version", "required key is missing"),
    ("no required", _delete("media/nvme/required"), "media.nvme.required",
     "required key is missing"),
    ("bad technique", _set("media/ssd/techniques/0/technique", "ata-shred"),
     "media.ssd.techniques[0].technique", "'host-overwrite' (got 'ata-shred')"),
    ("bad category", _set("media/ssd/techniques/0/category", "destroy"),
     "media.ssd.techniques[0].category", "'clear' or 'purge'"),
    ("bad required", _set("media/hdd/required", "wipe"), "media.hdd.required", "'purge'"),
    ("bad media kind", _set("media/floppy", {"required": "purge"}), "media.floppy",
     "'hdd'"),
    ("bad health action", _set("defaults/on_health_fail", "ignore"),
     "defaults.on_health_fail", "'proceed' or 'destroy'"),
    ("bad verify", _set("defaults/verify_overwrite", "canary"), "defaults.verify_overwrite",
     "'full' or 'sampled'"),
    ("bool as text", _set("defaults/allow_downgrade", "yes please"),
     "defaults.allow_downgrade", "boolean"),
    ("overwrite as purge",
     _set("media/ssd/techniques/6", {"technique": "host-overwrite", "category": "purge"}),
     "media.ssd.techniques[6]", "host-overwrite is only Clear"),
    ("duplicate", _duplicate_first_technique, "media.ssd", "listed twice"),
    ("empty list", _set("media/hdd/techniques", []), "media.hdd",
     'set required = "destroy"'),
    ("missing kind", _delete("media/mmc"), "media",
     "no rule for media kind(s) mmc: add a [media.<kind>] table for each of hdd,"),
    ("unknown scheme", _set("media/usb-flash/overwrite_scheme", "dod-7"),
     "media.usb-flash.overwrite_scheme", "unknown overwrite scheme 'dod-7'"),
    ("bad pass", _set("schemes/pattern-complement", ["ones", "glitter"]), "schemes",
     "unknown overwrite pass 'glitter'"),
    ("builtin scheme redefined", _set("schemes/zeros", ["ones"]), "schemes",
     "scheme 'zeros' is built in"),
    ("wrong family", _set("media/hdd/techniques/0/technique", "nvme-format-crypto"),
     "media.hdd.techniques[0]", "cannot reach a hdd drive"),
    ("virtual purge", _set("media/virtual/required", "purge"), "media.virtual.required",
     'must be "clear"'),
    ("empty title", _set("policy/title", ""), "policy.title", "at least 1 character"),
    ("standard with a newline", _set("policy/standard", "NIST SP 800-88\nRev. 2"),
     "policy.standard", "control character"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("mutation", "key", "problem"),
    [pytest.param(m, k, p, id=i) for i, m, k, p in CASES],
)
def test_mistakes_name_file_key_and_problem(
    tmp_path: Path, mutation: Mutation, key: str, problem: str
) -> None:
    """Each mistake in a policy file is a ConfigError naming the file, the key and the problem."""
    data = copy.deepcopy(builtin_dict("nist-800-88"))
    mutation(data)
    path = write(tmp_path, data, name="nist-800-88")
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    message = str(info.value)
    assert message.startswith(f"invalid policy {path}: ")
    assert f"{key}: " in message or f"{key}[" in message
    assert problem in message


def test_unmodified_copy_is_valid(tmp_path: Path) -> None:
    """The writer used by the error tests round-trips a shipped policy (the tests are fair)."""
    for name in ("nist-800-88", "strict"):
        path = write(tmp_path, builtin_dict(name))
        assert load_policy(path) == dataclasses.replace(load_policy(name), source=str(path))


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """Several mistakes are all listed in one message, not one per attempt."""
    data = builtin_dict("nist-800-88")
    data["policy"]["colour"] = "red"
    data["media"]["hdd"]["required"] = "wipe"
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    assert "policy.colour: unknown key" in str(info.value)
    assert "media.hdd.required: " in str(info.value)


def test_unknown_scheme_lookup_is_a_config_error() -> None:
    """Policy.scheme falls back to built-in schemes and refuses unknown names."""
    policy = load_policy("strict")
    assert policy.scheme("zeros").passes == ("zeros",)
    with pytest.raises(ConfigError, match="unknown overwrite scheme 'dod'"):
        policy.scheme("dod")
