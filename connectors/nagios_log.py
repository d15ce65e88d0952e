"""Nagios Core 4's log file (``log_file`` in nagios.cfg; Debian's
``/var/log/nagios4/nagios.log``): the lines that say a host's or a service's state.

Nagios appends each line whole, as ``[EPOCH] TEXT`` (base/logging.c, ``write_to_log``),
the moment it decides; status.dat, by contrast, is a snapshot written every
``status_update_interval``. The lines read here (the format of Nagios 4.4's
``log_service_event``, ``log_host_event``, ``log_service_states`` and
``log_host_states``)::

    [T] SERVICE ALERT: HOST;SERVICE;STATE;HARD|SOFT;ATTEMPT;OUTPUT
    [T] HOST ALERT: HOST;STATE;HARD|SOFT;ATTEMPT;OUTPUT
    [T] CURRENT SERVICE STATE: ...   (the same fields, after each log rotation when
    [T] CURRENT HOST STATE: ...       log_current_states=1, Debian's and Nagios's default)
    [T] INITIAL SERVICE STATE: ...   (at Nagios's start, when log_initial_states=1)
    [T] INITIAL HOST STATE: ...

An ALERT is a state change (SOFT ones only when ``log_service_retries=1`` for services;
hosts' always); CURRENT and INITIAL lines repeat a state, they change nothing. The
output is the plugin's first line and may hold ``;``: it is the rest of the line. A
host name or a service description holds none (Nagios's object files read ``;`` as a
comment). Every other line (notifications, external commands, warnings), and one of
these kinds that is garbled (a field missing, a state Nagios does not write, a time
that is not a number), is not a state: ``parse_line`` gives None for it.

Rotation (``log_rotation_method`` h, d, w or m; Debian's is d): Nagios renames the log
to ``log_archive_path/nagios-MM-DD-YYYY-HH.log`` (base/logging.c, ``rotate_log_file``;
the time of the rotation, local), copying it instead when that folder is on another
file system, then begins a new log with ``LOG ROTATION`` and the CURRENT states.
Debian's ``log_archive_path`` is ``/var/log/nagios4/archives``, a source install's
``/usr/local/nagios/var/archives``: the ``archives`` folder beside the log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from connectors.nagios_status import FINE, HOST_STATES, SERVICE_STATES

_SERVICE = frozenset(SERVICE_STATES.values())
_HOST = frozenset(HOST_STATES.values())
# The text before the first ": " -> (a service's line, a state change)
_ARCHIVE = re.compile(r"nagios-\d\d-\d\d-\d{4}-\d\d\.log")
_KINDS = {"SERVICE ALERT": (True, True), "HOST ALERT": (False, True),
          "CURRENT SERVICE STATE": (True, False), "CURRENT HOST STATE": (False, False),
          "INITIAL SERVICE STATE": (True, False), "INITIAL HOST STATE": (False, False)}


@dataclass(frozen=True, slots=True)
class LoggedState:
    """One line's state of a host or service; ``check`` is the service's description,
    or ``"host"`` for the host's own state, as status.dat's reader names them."""

    time: int  # epoch seconds Nagios stamped the line with
    host: str
    check: str
    state: str  # UP, DOWN, UNREACHABLE, OK, WARNING, CRITICAL, UNKNOWN
    hard: bool
    output: str
    change: bool  # an ALERT; False for a CURRENT or INITIAL state

    @property
    def key(self) -> tuple[str, str]:
        return self.host, self.check

    @property
    def is_problem(self) -> bool:
        return self.state not in FINE


def parse_line(line: str) -> LoggedState | None:
    """The state a log line says, or None for a line that says none (another kind,
    garbled, cut short). ``line`` may end with its newline."""
    if not line.startswith("["):
        return None
    close = line.find("] ", 1)
    colon = line.find(": ", close + 2)
    if close < 0 or colon < 0:
        return None
    kind = _KINDS.get(line[close + 2:colon])
    stamp = line[1:close]
    if kind is None or not (stamp.isascii() and stamp.isdigit()):
        return None
    service, change = kind
    fields = line[colon + 2:].rstrip("\r\n").split(";", 5 if service else 4)
    if len(fields) != (6 if service else 5):
        return None
    if service:
        host, check, state, kind_of_state, attempt, output = fields
    else:
        host, state, kind_of_state, attempt, output = fields
        check = "host"
    if (not host or not check or state not in (_SERVICE if service else _HOST)
            or kind_of_state not in ("HARD", "SOFT") or not attempt.isascii()
            or not attempt.isdigit()):
        return None
    return LoggedState(time=int(stamp), host=host, check=check, state=state,
                       hard=kind_of_state == "HARD", output=output, change=change)


def is_archive_name(name: str) -> bool:
    """Whether a file name is one Nagios gives an archive of its log."""
    return _ARCHIVE.fullmatch(name) is not None
