"""sanitiser.probe."""
