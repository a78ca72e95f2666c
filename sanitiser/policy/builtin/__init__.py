"""The shipped sanitisation policies (``*.toml``), loaded by `sanitiser.policy.loader`."""
