"""The command-line shell: the `sanitiser` group (`main`) and a module per command group.

A thin shell over the application layer (`sanitiser.app`): commands parse their options, call
the application's functions and print. Errors meet the user in one place, `cli.errors`. No other
package imports this one (an import contract in pyproject.toml).
"""

from sanitiser.cli.main import main

__all__ = ["main"]
