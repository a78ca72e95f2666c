"""Settings: a TOML file, overridden by ``SANITISER_*`` environment variables.

The file is ``/etc/sanitiser/config.toml`` unless ``SANITISER_CONFIG_FILE`` names another; a
missing file is fine (defaults apply). Unknown keys are errors, so a typo never passes silently.

Example ``config.toml``::

    data_dir = "/var/lib/sanitiser"
    database_url = "postgresql+psycopg://bench@db.example/sanitiser"
    station = "bench-01"
    organisation = "Example Borough Council"

    [printers]
    default = "desk"                 # a name below, or an address
    auto_print = true                # a label when a job's or device's certificate is issued
    [printers.named]
    desk = "brother://192.0.2.10?model=QL-820NWB&label=62x29"
    shipping = "zpl://192.0.2.11"
    office = "cups://Office_Label"
"""

from __future__ import annotations

import os
import re
import socket
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from sanitiser.errors import ConfigError
from sanitiser.text import STATION_NAME, text_problem

DEFAULT_CONFIG_FILE = Path("/etc/sanitiser/config.toml")


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "sanitiser"


def _default_station() -> str:
    """The host name made into a valid station name ("bench" when there is nothing usable)."""
    name = re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname()).strip("-._")[:63]
    return name if STATION_NAME.fullmatch(name) else "bench"


def database_url_problem(url: str) -> str:
    """Why `url` cannot be a store's database URL, or "" when it can.

    Only SQLite (``sqlite:///PATH``, whose folder must exist: it is never created) and
    PostgreSQL (``postgresql+psycopg://...``) are supported.
    """
    scheme = url.split(":", 1)[0]
    if scheme == "sqlite" or scheme.startswith("sqlite+"):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        path = path.split("?", 1)[0]
        if path and path != ":memory:" and not Path(path).parent.is_dir():
            return f"the folder of the SQLite database {path} does not exist (create it first)"
        return ""
    if scheme == "postgresql" or scheme.startswith("postgresql+"):
        return ""
    return (
        f"unsupported database scheme {scheme!r}: use sqlite:///PATH or "
        "postgresql+psycopg://USER@HOST/DB"
    )


def config_file() -> Path:
    """The config file in force: ``SANITISER_CONFIG_FILE`` or the default."""
    return Path(os.environ.get("SANITISER_CONFIG_FILE", str(DEFAULT_CONFIG_FILE)))


class PrinterSettings(BaseModel):
    """Label printers (``[printers]``): named addresses, the default, and auto-printing.

    Addresses are checked when used (``sanitiser label print`` says which one is bad and why;
    see `sanitiser.labels.address`)."""

    model_config = ConfigDict(extra="forbid")

    named: dict[str, str] = Field(default_factory=dict)
    """Printer name -> address, e.g. ``desk = "brother://192.0.2.10?model=QL-820NWB"``."""
    default: str = ""
    """The printer used when none is named: a name in `named`, or an address; "" for none."""
    auto_print: bool = False
    """Print a label on the default printer when a job's drive certificate or a device
    certificate is issued (never blocks or fails the job: a fault leaves it queued)."""
    timeout: float = Field(default=10.0, gt=0, le=600)
    """Seconds a printer is waited for (to connect, answer, take data, confirm a label)."""
    cups_wait: float = Field(default=120.0, gt=0, le=3600)
    """Seconds CUPS is given to finish a job before it is cancelled (or, once printing,
    left to finish unconfirmed)."""


class Settings(BaseSettings):
    """Everything the bench can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix="SANITISER_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    data_dir: Path = _default_data_dir()
    """Where the SQLite store, keys, journal and lab drive images live."""
    database_url: str = ""
    """SQLAlchemy URL of the store; empty means SQLite in `data_dir`."""
    station: str = Field(default_factory=_default_station)
    """This bench's name, printed on every record."""
    organisation: str = "Development organisation"
    """The organisation that owns the records and the signing CA."""
    certs_dir: Path = Path()
    """Public trust material (organisation CA, station certificates, CRL); by default
    ``<data_dir>/certs``, beside the private keys in ``<data_dir>/keys``."""
    verify_base_url: str = ""
    """Base URL printed in QR codes (the static verify page); empty means the built-in default."""
    device_policy: str = "digital-inclusion"
    """The policy whose ``[devices]`` rules decide when a device (a laptop, a monitor ...) is
    ready for reuse and where it goes (a shipped name, or one in the policy directory)."""
    lab: bool = False
    """Force the simulated lab bench even when real drives are usable."""
    lab_drive_mib: int = 64
    """Size of each simulated lab drive's backing file."""
    loop_devices: bool = False
    """Offer loop devices as drives. Off: a loop device is a file on this machine (attached by
    some other program, a VM, a test), never a medium brought to the bench, so neither the
    bench nor ``wipe --all`` offers one; turn on to practise on loop devices."""
    printers: PrinterSettings = Field(default_factory=PrinterSettings)
    """Label printers (``[printers]``)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Precedence: explicit arguments, then the environment, then the TOML file."""
        return (
            init_settings,
            env_settings,
            TomlConfigSettingsSource(settings_cls, toml_file=config_file()),
        )

    @field_validator("station", "organisation", "verify_base_url")
    @classmethod
    def _plain_text(cls, value: str, info: ValidationInfo) -> str:
        """Printed on (and signed into) every record and label: plain text only, checked at
        start before any drive is touched (see `sanitiser.text`; a station name also names
        its key files)."""
        kind = {"verify_base_url": "url"}.get(str(info.field_name), str(info.field_name))
        problem = text_problem(value, kind)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("database_url")
    @classmethod
    def _valid_database_url(cls, value: str) -> str:
        """Only the two stores the product supports; an SQLite file's folder must exist (a
        typo must not silently start an empty store somewhere new)."""
        problem = database_url_problem(value) if value else ""
        if problem:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _certs_beside_data(self) -> Settings:
        """Default `certs_dir` follows `data_dir`, so keys and their certificates stay together."""
        if "certs_dir" not in self.model_fields_set:
            self.certs_dir = self.data_dir / "certs"
        return self

    @property
    def effective_database_url(self) -> str:
        """`database_url`, or SQLite in the data directory."""
        return self.database_url or f"sqlite:///{self.data_dir / 'sanitiser.db'}"


def ensure_data_dir(settings: Settings) -> Path:
    """The data directory, made when it does not exist yet (the bench's first start).

    Raises:
        ConfigError: it cannot be made or used (a file in the way, a read-only disk).
    """
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(
            f"cannot use the data directory {settings.data_dir}: {e.strerror or e} "
            "(set SANITISER_DATA_DIR or data_dir in the config file)"
        ) from e
    return settings.data_dir


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, turning validation errors into one clear ConfigError.

    A config file named explicitly by ``SANITISER_CONFIG_FILE`` must exist; the default one
    may be absent.
    """
    named = os.environ.get("SANITISER_CONFIG_FILE")
    if named and not Path(named).exists():
        raise ConfigError(f"SANITISER_CONFIG_FILE names {named}, which does not exist")
    if config_file().is_dir():
        raise ConfigError(f"the settings file {config_file()} is a directory, not a TOML file")
    try:
        return Settings(**overrides)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(file)'}: {err['msg']}"
            for err in e.errors()
        )
        raise ConfigError(
            f"invalid settings (from SANITISER_* environment variables or {config_file()}): "
            f"{problems}"
        ) from e
    except (OSError, ValueError) as e:
        raise ConfigError(f"cannot read settings file {config_file()}: {e}") from e
