"""sanitiser.store."""
