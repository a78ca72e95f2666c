"""sanitiser: secure data-sanitisation and reuse workstation."""

__version__ = "0.1.0"
