"""Settings from the TOML file and the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from sanitiser.config import load_settings
from sanitiser.errors import ConfigError


def test_defaults_use_sqlite_in_the_data_dir(isolated_settings: Path) -> None:
    """With no file and no URL, the store is SQLite inside SANITISER_DATA_DIR."""
    s = load_settings()
    assert s.data_dir == isolated_settings
    assert s.effective_database_url == f"sqlite:///{isolated_settings / 'sanitiser.db'}"


def test_file_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The TOML file sets values and the environment overrides them."""
    (tmp_path / "config.toml").write_text('station = "bench-07"\norganisation = "Borough"\n')
    monkeypatch.setenv("SANITISER_DATABASE_URL", "postgresql+psycopg://u@h/db")
    s = load_settings()
    assert (s.station, s.organisation) == ("bench-07", "Borough")
    assert s.effective_database_url == "postgresql+psycopg://u@h/db"


def test_unknown_key_is_a_clear_error(tmp_path: Path) -> None:
    """A typo in the file is refused with the file's name and the key."""
    (tmp_path / "config.toml").write_text('stattion = "x"\n')
    with pytest.raises(ConfigError, match="stattion"):
        load_settings()


def test_malformed_toml_is_a_clear_error(tmp_path: Path) -> None:
    """A file that is not TOML gives a ConfigError naming the file."""
    (tmp_path / "config.toml").write_text("station = \n[[[")
    with pytest.raises(ConfigError, match=r"config\.toml"):
        load_settings()


def test_named_config_file_must_exist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A config file named by SANITISER_CONFIG_FILE that is missing is an error, not ignored."""
    monkeypatch.setenv("SANITISER_CONFIG_FILE", str(tmp_path / "nope.toml"))
    with pytest.raises(ConfigError, match=r"nope\.toml"):
        load_settings()


def test_bad_environment_value_names_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad SANITISER_* value is reported as possibly coming from the environment."""
    monkeypatch.setenv("SANITISER_LAB", "maybe")
    with pytest.raises(ConfigError, match="environment"):
        load_settings()


def test_certs_live_beside_the_data_by_default(isolated_settings: Path) -> None:
    """Without a setting, public certificates are kept in DATA_DIR/certs, next to the keys."""
    assert load_settings().certs_dir == isolated_settings / "certs"


def test_certs_dir_can_be_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SANITISER_CERTS_DIR overrides the default."""
    monkeypatch.setenv("SANITISER_CERTS_DIR", str(tmp_path / "org"))
    assert load_settings().certs_dir == tmp_path / "org"


def test_invalid_station_is_refused_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """A station name certificates cannot carry is refused before anything runs."""
    monkeypatch.setenv("SANITISER_STATION", "(none)")
    with pytest.raises(ConfigError, match="station"):
        load_settings()


@pytest.mark.parametrize(("host", "station"), [("(none)", "none"), ("", "bench"), ("a b", "a-b")])
def test_default_station_is_a_valid_host_name(
    host: str, station: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default station comes from the host name, cleaned (a guest may have none)."""
    monkeypatch.setattr("socket.gethostname", lambda: host)
    assert load_settings().station == station
