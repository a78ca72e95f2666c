"""Who works at the bench, as the screens read it from the app (one place for it)."""

from __future__ import annotations

from typing import Any

from textual.app import App


def operator_of(app: App[Any]) -> str:
    """The app's operator: the name recorded with what a screen does ("" until one is given).

    Screens read it through here rather than importing the app (which imports them).
    """
    return str(getattr(app, "operator", ""))
