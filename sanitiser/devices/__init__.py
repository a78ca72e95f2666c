"""sanitiser.devices."""
