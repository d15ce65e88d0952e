"""The ``aiops`` command: the group lives in ``cli_base``, each area in its module.

Importing the area modules registers their subcommands on the group.
"""

from aiops import (  # noqa: F401
    cli_icinga,
    cli_incidents,
    cli_ingest,
    cli_learning,
    cli_models,
    cli_nagios,
    cli_playbooks,
    cli_prune,
    cli_sessions,
    cli_sinks,
    cli_syslog,
    cli_tickets,
    cli_tokens,
    cli_topology,
    cli_traps,
    cli_webhooks,
    cli_zabbix,
)
from aiops.cli_base import main

__all__ = ["main"]
