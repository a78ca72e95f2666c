"""sanitiser.certificate."""
