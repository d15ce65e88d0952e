"""A real Icinga 2 daemon for the tests (Debian ``icinga2-bin``), run from a temporary
folder: its own configuration, state and TLS certificates (a CA and a server
certificate for 127.0.0.1, made with openssl), the API on a free port.

Checks are passive (``enable_active_checks = false``): a test sets a state with the
API's ``process-check-result`` action, which is how Icinga itself takes results from
outside, and Icinga decides soft or hard and emits its events as in production.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import requests

ICINGA2 = shutil.which("icinga2") or "/usr/sbin/icinga2"
USER, PASSWORD = "aiops", "test-secret"

CONFIG = """
const NodeName = "aiops-test"
object Endpoint NodeName {{}}
object Zone NodeName {{ endpoints = [ NodeName ] }}
object ApiListener "api" {{
  bind_host = "127.0.0.1"
  bind_port = {port}
}}
object ApiUser "{user}" {{
  password = "{password}"
  permissions = [ "objects/query/Host", "objects/query/Service", "objects/query/Comment",
                  "objects/query/Downtime", "events/StateChange", "events/AcknowledgementSet",
                  "events/AcknowledgementCleared", "events/DowntimeStarted",
                  "events/DowntimeTriggered",
                  "events/DowntimeRemoved", "actions/process-check-result",
                  "actions/acknowledge-problem", "actions/remove-acknowledgement",
                  "actions/schedule-downtime", "actions/remove-downtime",
                  "events/Flapping", "events/ObjectDeleted", "objects/create/Service",
                  "objects/delete/Service" ]
}}
object ApiUser "legacy" {{
  password = "{password}"
  permissions = [ "objects/query/Host", "objects/query/Service", "events/StateChange" ]
}}
object ApiUser "nobody" {{
  password = "{password}"
  permissions = [ "objects/query/Host" ]
}}
object CheckCommand "passive" {{ command = [ "/bin/true" ] }}
template Host "passive-host" {{
  check_command = "passive"
  enable_active_checks = false
  max_check_attempts = 1
}}
template Service "passive-service" {{
  check_command = "passive"
  enable_active_checks = false
  max_check_attempts = 1
}}
object Host "router1" {{ import "passive-host" }}
object Host "switch7" {{ import "passive-host" }}
object Service "ping" {{ host_name = "router1"; import "passive-service" }}
object Service "bgp" {{ host_name = "router1"; import "passive-service" }}
object Service "disk" {{
  host_name = "switch7"
  import "passive-service"
  max_check_attempts = 3
}}
"""


def available() -> bool:
    return os.path.exists(ICINGA2) and shutil.which("openssl") is not None


class IcingaServer:
    """Start, stop and start again (its state file keeps the objects' states)."""

    def __init__(self, port: int):
        self.port = port
        self.url = f"https://127.0.0.1:{port}"
        self.root = Path(tempfile.mkdtemp(prefix="aiops-icinga-"))
        for sub in ("etc", "lib/certs", "log", "cache", "spool", "run"):
            (self.root / sub).mkdir(parents=True)
        (self.root / "etc/icinga2.conf").write_text(
            CONFIG.format(port=port, user=USER, password=PASSWORD))
        self.ca = self._certificates(self.root / "lib/certs")
        self._proc: subprocess.Popen[bytes] | None = None

    @staticmethod
    def _certificates(certs: Path) -> Path:
        """A CA, and the node's certificate for 127.0.0.1 signed by it (Icinga's API
        reads ``<NodeName>.crt``/``.key`` and ``ca.crt`` from its certs folder)."""
        def openssl(*args: str) -> None:
            subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=certs)

        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key",
                "-out", "ca.crt", "-days", "2", "-subj", "/CN=aiops test CA")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "aiops-test.key",
                "-out", "node.csr", "-subj", "/CN=aiops-test")
        (certs / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        openssl("x509", "-req", "-in", "node.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", "aiops-test.crt", "-days", "2",
                "-extfile", "san.ext")
        return certs / "ca.crt"

    def start(self, timeout: float = 60.0) -> None:
        root = self.root
        defines = [f"-D{name}={root / sub}" for name, sub in (
            ("ConfigDir", "etc"), ("DataDir", "lib"), ("LogDir", "log"),
            ("CacheDir", "cache"), ("SpoolDir", "spool"), ("InitRunDir", "run"),
            ("PkgDataDir", "pkg"))]
        who = "root" if os.geteuid() == 0 else os.environ.get("USER", "nobody")
        defines += [f"-DRunAsUser={who}", f"-DRunAsGroup={who}"]
        with open(root / "log/console.log", "ab") as console:  # the child keeps its copy
            self._proc = subprocess.Popen(
                [ICINGA2, "daemon", "-c", str(root / "etc/icinga2.conf"), *defines],
                stdout=console, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"icinga2 exited ({self._proc.returncode}):\n{self.log()}")
            try:
                requests.get(f"{self.url}/v1", auth=(USER, PASSWORD), verify=str(self.ca),
                             timeout=2)
                return  # it answers HTTP (what it answers does not matter here)
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"icinga2 did not answer within {timeout:g} s:\n{self.log()}")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "log/console.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def set_state(self, host: str, service: str | None, exit_status: int,
                  output: str) -> None:
        """A passive check result, as a monitored device's agent would submit it."""
        self.action("process-check-result", host, service, exit_status=exit_status,
                    plugin_output=output)

    def create_service(self, host: str, name: str, **attrs: object) -> None:
        """A passive service created at runtime (``PUT /v1/objects/services``), as a
        configuration tool such as Icinga Director's API does; ``attrs`` beyond the
        template's (``enable_flapping``, ...)."""
        self._object("put", f"{host}!{name}", {"templates": ["passive-service"],
                                                "attrs": {"check_command": "passive", **attrs}})

    def delete_service(self, host: str, name: str) -> None:
        """Delete a service created at runtime (``DELETE /v1/objects/services``)."""
        self._object("delete", f"{host}!{name}", None)

    def _object(self, method: str, name: str, body: dict | None) -> None:
        response = requests.request(method, f"{self.url}/v1/objects/services/{name}",
                                    json=body, auth=(USER, PASSWORD), verify=str(self.ca),
                                    timeout=10, headers={"Accept": "application/json"})
        assert response.status_code == 200, response.text

    def remove_downtime(self, name: str) -> None:
        """Remove one downtime by its full name (``HOST!SERVICE!NAME``), as Icinga Web's
        delete button does."""
        response = requests.post(f"{self.url}/v1/actions/remove-downtime",
                                 json={"downtime": name}, auth=(USER, PASSWORD),
                                 verify=str(self.ca), timeout=10,
                                 headers={"Accept": "application/json"})
        assert response.status_code == 200, response.text

    def action(self, name: str, host: str, service: str | None, **params: object) -> dict:
        """An API action (``/v1/actions/NAME``) on one host or service, as an operator's
        Icinga Web does it (acknowledge-problem, schedule-downtime, ...); its answer."""
        body = {"type": "Service" if service else "Host", **params,
                "filter": (f'host.name=="{host}" && service.name=="{service}"' if service
                           else f'host.name=="{host}"')}
        response = requests.post(f"{self.url}/v1/actions/{name}", json=body,
                                 auth=(USER, PASSWORD), verify=str(self.ca), timeout=10,
                                 headers={"Accept": "application/json"})
        assert response.status_code == 200, response.text
        return response.json()
