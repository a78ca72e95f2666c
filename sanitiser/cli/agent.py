"""``sanitiser agent``: the donor agent (issue 19).

In this branch the group holds the boot path's commands (`sanitiser.cli.agent_boot`: build,
serve, inventory); the agent's own commands (run, import) join it from the agent's branch.
"""

from __future__ import annotations

import click

from sanitiser.cli.agent_boot import BOOT_COMMANDS


@click.group()
def agent() -> None:
    """The donor agent: its boot image, network boot, and the agent itself."""


for _command in BOOT_COMMANDS:
    agent.add_command(_command)
