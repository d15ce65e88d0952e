"""A real Zabbix 6.0 for the tests (Debian ``zabbix-server-pgsql`` and
``zabbix-frontend-php``): the server on a database of its own in the tests'
PostgreSQL, and the frontend, which serves the JSON-RPC API, under PHP's built-in web
server, both from a temporary folder.

The frontend is copied there because Debian's build reads its configuration from
``/etc/zabbix/zabbix.conf.php`` (``CConfigFile::CONFIG_FILE_PATH``); the copy reads
its own, so the tests write nothing outside their folder. Values are sent to trapper
items with Zabbix's sender protocol (``send``), as ``zabbix_sender`` does.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg
import requests

from tests.polling import wait_for
from tests.ports import free_port  # under 32768, as Zabbix's ListenPort must be

ZABBIX_SERVER = "/usr/sbin/zabbix_server"
FRONTEND = Path("/usr/share/zabbix")
SCHEMA = Path("/usr/share/zabbix-server-pgsql")
CONFIG_CONSTANT = "const CONFIG_FILE_PATH = '/etc/zabbix/zabbix.conf.php';"


def available() -> bool:
    return (os.access(ZABBIX_SERVER, os.X_OK) and (FRONTEND / "api_jsonrpc.php").exists()
            and shutil.which("php") is not None and (SCHEMA / "data.sql.gz").exists())


class ZabbixServer:
    """``start()`` loads the schema (about 10 s: Zabbix's templates), starts the server
    and the frontend; ``api(method, params)`` calls the API as Admin."""

    def __init__(self, database_url: str):
        self.db = database_url  # an empty database of its own
        self.root = Path(tempfile.mkdtemp(prefix="aiops-zabbix-"))
        self.trapper_port = free_port()
        self.web_port = free_port()
        self.url = f"http://127.0.0.1:{self.web_port}/api_jsonrpc.php"
        self._processes: list[subprocess.Popen[bytes]] = []
        self._token: str | None = None

    def start(self, timeout: float = 90.0) -> None:
        self._load_schema()
        conninfo = psycopg.conninfo.conninfo_to_dict(self.db)
        config = self.root / "zabbix_server.conf"
        config.write_text("\n".join([
            "LogType=console", f"PidFile={self.root / 'server.pid'}",
            f"SocketDir={self.root}", "DBHost=127.0.0.1", f"DBPort={conninfo['port']}",
            f"DBName={conninfo['dbname']}", f"DBUser={conninfo['user']}",
            f"ListenPort={self.trapper_port}", "ListenIP=127.0.0.1", "AllowRoot=1",
            # New hosts, triggers and actions made through the API are seen within 1 s.
            "CacheUpdateFrequency=1", "StartPollers=1", "StartPollersUnreachable=1",
            "StartTrappers=2", "StartPingers=0", "StartDiscoverers=0", "StartHTTPPollers=0",
            "StartTimers=1", "StartEscalators=1", "StartAlerters=1", "Timeout=5", ""]))
        # Not UTC: the media type's script must find the server's offset ({EVENT.TIME}
        # is local time), which a UTC server could not show it getting wrong.
        self._spawn("server", [ZABBIX_SERVER, "-f", "-c", str(config)],
                    env={**os.environ, "TZ": "Europe/Paris"})
        self._frontend(conninfo)
        self._spawn("frontend", ["php", "-S", f"127.0.0.1:{self.web_port}", "-t",
                                 str(self.root / "ui")])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for process in self._processes:
                if process.poll() is not None:
                    raise RuntimeError(f"a Zabbix process exited:\n{self.log()}")
            try:
                self._token = self.api("user.login", {"username": "Admin",
                                                      "password": "zabbix"})
                return
            except (requests.RequestException, RuntimeError):
                time.sleep(0.3)
        raise RuntimeError(f"Zabbix's API did not answer within {timeout:g} s:\n{self.log()}")

    def _load_schema(self) -> None:
        with psycopg.connect(self.db, autocommit=True) as conn:
            for part in ("schema", "images", "data"):
                with gzip.open(SCHEMA / f"{part}.sql.gz", "rt", encoding="utf-8") as sql:
                    conn.execute(sql.read())

    def _frontend(self, conninfo: dict[str, Any]) -> None:
        ui = self.root / "ui"
        shutil.copytree(FRONTEND, ui, symlinks=True)
        conf = ui / "conf" / "zabbix.conf.php"
        source = ui / "include" / "classes" / "core" / "CConfigFile.php"
        text = source.read_text(encoding="utf-8")
        if CONFIG_CONSTANT in text:
            source.write_text(text.replace(CONFIG_CONSTANT,
                                           f"const CONFIG_FILE_PATH = '{conf}';"))
        settings = {"TYPE": "POSTGRESQL", "SERVER": "127.0.0.1", "PORT": str(conninfo["port"]),
                    "DATABASE": conninfo["dbname"], "USER": conninfo["user"], "PASSWORD": "",
                    "SCHEMA": "", "ENCRYPTION": False, "KEY_FILE": "", "CERT_FILE": "",
                    "CA_FILE": "", "VERIFY_HOST": False, "CIPHER_LIST": "", "VAULT_URL": "",
                    "VAULT_DB_PATH": "", "VAULT_TOKEN": "", "DOUBLE_IEEE754": True}
        lines = ["<?php"] + [f"$DB['{k}'] = {json.dumps(v)};" for k, v in settings.items()]
        lines += ["$ZBX_SERVER = '127.0.0.1';", f"$ZBX_SERVER_PORT = '{self.trapper_port}';",
                  "$ZBX_SERVER_NAME = 'aiops-test';",
                  "$IMAGE_FORMAT_DEFAULT = IMAGE_FORMAT_PNG;"]
        conf.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> None:
        with open(self.root / f"{name}.log", "ab") as log:  # the child keeps its copy
            self._processes.append(subprocess.Popen(argv, stdout=log, env=env,
                                                    stderr=subprocess.STDOUT))

    def api(self, method: str, params: Any) -> Any:
        body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params, "id": 1}
        if self._token and method != "user.login":
            body["auth"] = self._token
        answer = requests.post(self.url, json=body, timeout=30,
                               headers={"Content-Type": "application/json-rpc"}).json()
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def send(self, host: str, key: str, value: object) -> str:
        """A value for a trapper item, in Zabbix's sender protocol; the server's answer."""
        return self.send_items([{"host": host, "key": key, "value": str(value)}])

    def send_until_shown(self, host: str, key: str, value: int) -> None:
        """``value`` for a trigger ``last(KEY)=0``, sent again each second until the
        host's trigger shows it (PROBLEM for 0, OK for 1): a host made through the API
        reaches the server's configuration cache within CacheUpdateFrequency (1 s in
        these tests), but its item and its trigger can arrive in different syncs, and a
        value taken before the trigger fires nothing (the suite's rotating "did not
        happen within 60 s" failures: the value was processed, no problem ever opened).
        A value the trigger already shows opens no new event."""
        state = "1" if value == 0 else "0"  # trigger.value: 1 PROBLEM, 0 OK
        sent_at = [-math.inf]

        def shown() -> bool:
            if time.monotonic() - sent_at[0] >= 1.0:
                self.send(host, key, value)
                sent_at[0] = time.monotonic()
            (trigger,) = self.api("trigger.get", {"host": host, "output": ["value"]})
            return trigger["value"] == state

        wait_for(shown, f"the trigger of {host} showing the value {value}",
                 explain=self.log)

    def send_items(self, items: list[dict[str, object]], timeout: float = 10.0) -> str:
        """Several trapper values in one sender packet (each may carry its own ``clock``
        and ``ns``, as ``zabbix_sender -T``); the server's answer."""
        data = json.dumps({"request": "sender data", "data": items}).encode()
        with socket.create_connection(("127.0.0.1", self.trapper_port),
                                      timeout=timeout) as sock:
            sock.sendall(b"ZBXD\x01" + struct.pack("<Q", len(data)) + data)
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
        return answer[13:].decode("utf-8", "replace")

    def log(self) -> str:
        return "\n".join(path.read_text(errors="replace")[-2000:]
                         for path in sorted(self.root.glob("*.log")))

    def close(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self._processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.root, ignore_errors=True)
