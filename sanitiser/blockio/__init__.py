"""sanitiser.blockio."""
