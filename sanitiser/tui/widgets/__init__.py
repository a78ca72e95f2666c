"""sanitiser.tui.widgets."""
