"""Chain of custody: the destinations registry, consignments and their signed manifests, and
the CLI over the audit log (the tables and rules live in `sanitiser.store`)."""
