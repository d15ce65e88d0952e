"""``aiops nagios follow``: Nagios Core 4's state, read from its status file on the
Nagios host, as alerts.

It runs beside (or instead of) the notification command ``deploy/nagios/aiops-notify``
and forwards to the same ``/api/v1/webhooks/nagios`` mapping, so both make the same
alerts (docs/webhooks.md, "Nagios Core 4").
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from aiops.cli_base import main, reports_bad_input
from aiops.cli_follow import FORWARD, STATS_EVERY, engine_forwarder, run_follower
from aiops.errors import InputError


@main.group()
def nagios() -> None:
    """Nagios Core 4: follow its status file into the engine."""


@nagios.command("follow")
@click.option("--status-file", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("/var/lib/nagios4/status.dat"), show_default=True,
              help="Nagios's status_file (nagios.cfg); read every --interval when it "
                   "changed. It may be missing for a while (Nagios stopped).")
@click.option("--objects-cache", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("/var/lib/nagios4/objects.cache"), show_default=True,
              help="Nagios's object_cache_file (nagios.cfg): hosts' addresses, and "
                   "which objects still exist.")
@click.option("--log-file", type=click.Path(dir_okay=False, path_type=Path),
              default=None,
              help="Nagios's log_file (nagios.cfg; Debian: /var/log/nagios4/nagios.log), "
                   "read after status.dat at each read: a hard problem that began and "
                   "ended between two reads is sent with its start and its end. Read "
                   "from where it stopped (the first time: from its end), across "
                   "rotations (--log-archive-dir). Default: not read.")
@click.option("--log-archive-dir", type=click.Path(exists=True, file_okay=False,
                                                   path_type=Path),
              default=None,
              help="Nagios's log_archive_path (nagios.cfg; Debian: "
                   "/var/log/nagios4/archives), where a rotation moves the log: after "
                   "one or more rotations the rest of the old log, then the archives "
                   "written since, are read before the new log. Default: the archives/ "
                   "folder beside --log-file.")
@FORWARD
@click.option("--interval", default=10.0, show_default=True, type=click.FloatRange(1),
              help="Seconds between reads (Nagios rewrites the file every "
                   "status_update_interval, 10 s by default).")
@STATS_EVERY
@click.pass_context
@reports_bad_input
def nagios_follow(ctx: click.Context, status_file: Path, objects_cache: Path,
                  log_file: Path | None, log_archive_dir: Path | None, forward: str,
                  interval: float, stats_every: float) -> None:
    """Forward Nagios's hard problems, their acknowledgements, downtimes and flapping,
    and their recoveries, to an engine; with --log-file, also the problems that began
    and ended between two reads."""
    from aiops.nagios_follower import NagiosFollower, state_file_for

    if log_archive_dir is not None and log_file is None:
        raise InputError("--log-archive-dir is where Nagios's log is archived: it "
                         "needs --log-file")
    forwarder = engine_forwarder(forward, "nagios")
    logging.basicConfig(level=logging.INFO, format="aiops: %(message)s")
    follower = NagiosFollower(status_file, objects_cache, forwarder, interval=interval,
                              state_file=state_file_for(ctx.obj["data_dir"].path,
                                                        status_file),
                              log_file=log_file, log_archive_dir=log_archive_dir)
    run_follower("nagios", follower, forwarder, str(status_file), follower.stats.line,
                 stats_every)
