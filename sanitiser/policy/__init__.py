"""sanitiser.policy."""
