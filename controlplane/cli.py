"""The ``aiops`` command: every entry point of the project.

``aiops run`` (the control loop), ``aiops testbed ...`` (serve the simulated cluster),
``aiops db ...`` (the control plane's database), ``aiops eval`` (the evaluation harness),
``aiops api`` (the REST API, chat and console) and ``aiops token ...`` (API tokens).
"""

from __future__ import annotations

import click

from controlplane.api_cli import api_command, token_group
from controlplane.chat_cli import chat_command
from controlplane.db_cli import db_group
from controlplane.eval_cli import eval_command
from controlplane.run_cli import run_command
from testbed.cli import testbed_group


@click.group()
@click.version_option(package_name="aiops-controlplane")
def main() -> None:
    """AIOps control plane for cloud operations."""


main.add_command(testbed_group)
main.add_command(db_group)
main.add_command(run_command)
main.add_command(eval_command)
main.add_command(api_command)
main.add_command(token_group)
main.add_command(chat_command)


if __name__ == "__main__":  # pragma: no cover
    main()
