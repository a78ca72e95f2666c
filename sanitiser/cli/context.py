"""The CLI's one context: an invocation's settings, loaded once; the lab choice, made one way;
its services and store, built once.

The `sanitiser` group puts a `CliContext` on click's root context; every command asks for it
with `cli_context()` (a command invoked on its own, as a test may, gets a fresh one).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import click

from sanitiser.config import Settings, load_settings

if TYPE_CHECKING:  # imported when first used: the agent's commands never open a store, and
    # its boot image carries no database libraries (sanitiser/netboot/spec.py)
    from sanitiser.app.services import Services
    from sanitiser.store import Store


@dataclass
class CliContext:
    """One invocation of `sanitiser`: the group's options and what was built for it."""

    lab: bool = False
    """The group's ``--lab``: the simulated lab bench for every command."""
    verbose: bool = False
    """The group's ``--verbose``: tracebacks with errors, info lines in the log."""
    _settings: Settings | None = None
    _services: dict[bool | None, Services] = field(default_factory=dict)
    _store: Store | None = None

    @property
    def settings(self) -> Settings:
        """The settings (config file and environment), loaded on first use.

        Raises:
            ConfigError: the settings are invalid (said in one line by the group).
        """
        if self._settings is None:
            self._settings = load_settings()
        return self._settings

    def lab_choice(self, flag: bool, default: bool | None) -> bool | None:
        """Whether a command uses the lab bench: yes when its ``--lab`` or the group's is given,
        else `default` (None: the lab only when no real drive can safely be used)."""
        return True if flag or self.lab else default

    def services(self, lab: bool | None) -> Services:
        """The services for `lab` (see `lab_choice`), built once per invocation."""
        from sanitiser.app.services import build_services  # noqa: PLC0415 - see the imports

        if lab not in self._services:
            self._services[lab] = build_services(self.settings, lab=lab)
        return self._services[lab]

    def store(self) -> Store:
        """The store the settings name (a fleet bench's with its journal), opened once."""
        from sanitiser.store.sync import settings_store  # noqa: PLC0415 - see the imports

        if self._store is None:
            self._store = settings_store(self.settings)
        return self._store


def cli_context() -> CliContext:
    """The current invocation's context (a fresh one outside the `sanitiser` group)."""
    ctx = click.get_current_context(silent=True)
    root = ctx.find_root() if ctx is not None else None
    if root is not None and isinstance(root.obj, CliContext):
        return root.obj
    fresh = CliContext()
    if root is not None and root.obj is None:
        root.obj = fresh
    return fresh
