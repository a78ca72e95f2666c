"""sanitiser.tui.screens."""
