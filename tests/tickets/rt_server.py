"""A real Request Tracker 5 (Debian ``request-tracker5``) on SQLite for the tests.

``rt-setup-database-5`` creates a fresh SQLite database from a site config in a
temporary directory (``RT_SITE_CONFIG``, with ``RT_SITE_CONFIG_DIR`` pointed at an
empty folder so the system's debconf settings do not apply), adds the custom
fields the connector reads and a service account with rights on the General queue
only (``SERVICE_AUTH``), and RT's standalone server ``rt-server`` serves it on
127.0.0.1. The default ``root``/``password`` account is used over REST2 basic auth.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

RT_SERVER = Path("/usr/share/request-tracker5/libexec/rt-server")
SETUP = "rt-setup-database-5"
AUTH = ("root", "password")
# A service account as sites give one to an integration: rights on the queue, not
# global ShowTicket nor SuperUser, so RT hides collection totals from it.
SERVICE_AUTH = ("svc-aiops", "svc-password")
_CF = ("    {{ Name => '{name}', Type => '{kind}', LookupType => 'RT::Queue-RT::Ticket', "
       "Queue => 0 }},\n")
CUSTOM_FIELDS = ("@CustomFields = (\n"
                 + _CF.format(name="Entity", kind="FreeformSingle")
                 + _CF.format(name="Root Cause", kind="FreeformSingle")
                 + _CF.format(name="Alert IDs", kind="FreeformMultiple") + ");\n"
                 f"@Users = ({{ Name => '{SERVICE_AUTH[0]}', Password => '{SERVICE_AUTH[1]}', "
                 "Privileged => 1 });\n@ACL = (\n"
                 + "".join(f"    {{ UserId => '{SERVICE_AUTH[0]}', Right => '{right}', "
                           "Queue => 'General' },\n"
                           for right in ("SeeQueue", "ShowTicket", "ShowTicketComments"))
                 + f"    {{ UserId => '{SERVICE_AUTH[0]}', Right => 'SeeCustomField' }},\n"
                 ");\n1;\n")


def rt_available() -> str | None:
    """None when RT can be started here, else why not."""
    if not RT_SERVER.exists() or shutil.which(SETUP) is None:
        return ("Debian's request-tracker5 is not installed (scripts/install-test-deps.sh "
                "installs it with rt5-db-sqlite)")
    return None


def _site_config(work: Path, port: int) -> str:
    return f"""Set($rtname, 'aiops-test');
Set($Organization, 'aiops-test');
Set($DatabaseType, 'SQLite');
Set($DatabaseName, '{work / "rt.db"}');
Set($WebDomain, '127.0.0.1');
Set($WebPort, {port});
Set($WebPath, '');
Set($WebBaseURL, 'http://127.0.0.1:{port}');
Set($MasonDataDir, '{work / "mason"}');
Set($MasonSessionDir, '{work / "sessions"}');
Set($LogToSTDERR, 'error');
Set($LogToSyslog, undef);
Set($LogToFile, undef);
Set($Timezone, 'UTC');
1;
"""


@contextmanager
def rt_server(work: Path, port: int, timeout: float = 90.0) -> Iterator[str]:
    """Set up a database and serve it; yields the base URL (without /REST/2.0)."""
    work.mkdir(parents=True, exist_ok=True)
    for folder in ("conf.d", "mason", "sessions"):
        (work / folder).mkdir(exist_ok=True)
    config = work / "RT_SiteConfig.pm"
    config.write_text(_site_config(work, port), encoding="utf-8")
    (work / "cfs.pl").write_text(CUSTOM_FIELDS, encoding="utf-8")
    env = {**os.environ, "RT_SITE_CONFIG": str(config),
           "RT_SITE_CONFIG_DIR": str(work / "conf.d")}
    log = (work / "setup.log").open("w")
    for args in (["--action", "init", "--skip-create"],
                 ["--action", "insert", "--datafile", str(work / "cfs.pl"), "--skip-create"]):
        subprocess.run([SETUP, *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                       check=True, timeout=300, stdin=subprocess.DEVNULL)
    server_log = (work / "server.log").open("w")
    process = subprocess.Popen([str(RT_SERVER), "--port", str(port)], env=env,
                               stdout=server_log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"rt-server exited; see {work / 'server.log'}")
            try:
                if requests.get(f"{url}/REST/2.0/queues/all", auth=AUTH, timeout=5).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"rt-server did not answer within {timeout:g} s")
            time.sleep(0.5)
        yield url
    finally:
        _stop(process)
        server_log.close()
        log.close()


def _stop(process: subprocess.Popen) -> None:
    """End the server and the workers it forked (its own process group)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=15)
            break
        except subprocess.TimeoutExpired:
            continue
    if process.poll() is None:
        process.wait(timeout=15)
