"""sanitiser.lab."""
