"""What a device certificate or device token says, as (label, text) facts for people: the
device, its specification and each drive, in the order `verify` prints them. Pure."""

from __future__ import annotations

from typing import Any

from sanitiser.certificate.device_token import DeviceToken
from sanitiser.certificate.qr import method_label


def fact_text(value: object) -> str:
    """A fact's value as text ("" for None, yes/no for booleans)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def record_part(record: dict[str, Any], name: str) -> dict[str, Any]:
    """A record's section (a JSON object), or {} when it is missing or not one."""
    value = record.get(name)
    return value if isinstance(value, dict) else {}


def device_facts(record: dict[str, Any]) -> list[tuple[str, str]]:
    """What a device certificate says, for people: the device, its facts, grade, readiness and
    each drive with its certificate and outcome."""
    dev, grade, ready = (
        record_part(record, "device"),
        record_part(record, "grade"),
        record_part(record, "readiness"),
    )
    facts: list[tuple[str, object]] = [
        ("certificate_id", record.get("certificate_id")),
        ("record_kind", "device"),
        ("tag", dev.get("tag")),
        ("kind", dev.get("kind")),
        ("make", dev.get("make")),
        ("model", dev.get("model")),
        ("serial", dev.get("serial")),
    ]
    for label, value in record_part(record, "facts").get("lines") or []:
        facts.append((f"spec {label}", value))
    facts += [
        ("cosmetic_grade", grade.get("cosmetic")),
        ("ready", ready.get("ready")),
        ("destination", record_part(record, "destination").get("route")),
        ("all_sanitised", record.get("all_sanitised")),
    ]
    drives = record.get("drives")
    for i, d in enumerate(drives if isinstance(drives, list) else [], start=1):
        if isinstance(d, dict):
            how = method_label(str(d.get("method") or d.get("technique") or ""))
            said = f"{d.get('serial')} {d.get('outcome')} by {how} ({d.get('nist_category')}, "
            said += f"verification {d.get('verification')}), certificate {d.get('certificate_id')}"
            facts.append((f"drive {i}", said))
    facts += [
        ("issued_at", record.get("issued_at")),
        ("organisation", record.get("organisation")),
        ("station", record.get("station")),
        ("operator", record_part(record, "operator").get("name")),
        ("simulated", record.get("simulated")),
        ("development_key", record.get("development_key")),
    ]
    return [(k, fact_text(v)) for k, v in facts]


def device_token_facts(token: DeviceToken) -> list[tuple[str, str]]:
    facts: list[tuple[str, object]] = [
        ("certificate_id", token.certificate_id),
        ("record_kind", "device"),
        ("tag", token.tag),
        ("make_model", token.make_model),
        ("cpu", token.cpu),
        ("ram_gib", token.ram_gib or "not recorded"),
        ("storage_gb", token.storage_gb or ("under 1" if token.all_sanitised else "none")),
        ("battery_health_pct", "not recorded" if token.battery_pct is None else token.battery_pct),
        ("cosmetic_grade", token.grade or "not graded"),
        ("ready", token.ready),
        ("destination", token.destination),
        ("all_sanitised", token.all_sanitised),
    ]
    for i, d in enumerate(token.drives, start=1):
        how = method_label(d.method) if d.method else "another method"
        facts.append((f"drive {i}", f"{d.status} by {how} (NIST {d.category})"))
    if token.more_drives:
        facts.append(("drives", "more than the token lists"))
    facts += [
        ("issued_at", token.issued_at.isoformat()),
        ("simulated", token.simulated),
        ("development_key", token.development),
    ]
    return [(k, fact_text(v)) for k, v in facts]


DEVICE_LABELS = (
    ("certificate_id", "Device certificate"),
    ("tag", "Asset tag"),
    ("kind", "Kind"),
    ("make", "Make"),
    ("model", "Model"),
    ("make_model", "Make and model"),
    ("serial", "Serial"),
    ("cpu", "CPU"),
    ("ram_gib", "Memory (GiB)"),
    ("storage_gb", "Storage (GB)"),
    ("battery_health_pct", "Battery health (%)"),
    ("cosmetic_grade", "Cosmetic grade"),
    ("ready", "Ready for reuse"),
    ("destination", "Destination"),
    ("all_sanitised", "All drives sanitised"),
    ("issued_at", "Issued"),
    ("organisation", "Organisation"),
    ("station", "Station"),
    ("operator", "Operator"),
    ("signer", "Signed by"),
    ("signer_organisation", "Signer organisation"),
    ("signer_fingerprint", "Signer SHA-256"),
)
"""What a device certificate or token shows, in order (then its specification and drives)."""
