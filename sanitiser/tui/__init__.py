"""sanitiser.tui."""
