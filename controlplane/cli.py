"""The ``aiops`` command: every entry point of the project.

Today: ``aiops testbed ...`` (serve the simulated cluster). Later issues add the control loop,
evaluation, the API and chat here.
"""

from __future__ import annotations

import click

from testbed.cli import testbed_group


@click.group()
@click.version_option(package_name="aiops-controlplane")
def main() -> None:
    """AIOps control plane for cloud operations."""


main.add_command(testbed_group)


if __name__ == "__main__":  # pragma: no cover
    main()
