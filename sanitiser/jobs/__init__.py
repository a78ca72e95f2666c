"""sanitiser.jobs."""
