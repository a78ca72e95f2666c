"""sanitiser.methods."""
