"""LLDP discovery against real lldpd and snmpd daemons in network namespaces.

The test builds three hosts, sw1 - sw2 - sw3, as network namespaces joined by veth
pairs, runs lldpd in each (with a 1 s transmit interval) and snmpd in sw2 serving
lldpd's AgentX subagent, then discovers the chain three ways: saved lldpcli output,
the local lldpd, and LLDP-MIB over SNMP. Every address is inside the namespaces
the test makes; the CLI runs inside them with ``ip netns exec``. Namespaces and
daemons are removed whatever happens. Needs root and Debian's iproute2, lldpd,
snmpd; skips with the reason otherwise.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

TOOLS = ("ip", "lldpd", "lldpcli", "snmpd")
SUBNET = "10.213"  # 10.213.12.0/24 between sw1 and sw2, 10.213.23.0/24 between sw2 and sw3
STARTUP = 40.0  # seconds for lldpd to see neighbours and the subagent to register


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create network namespaces"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return f"needs {', '.join(missing)} (scripts/install-test-deps.sh installs them)"
    return None


@dataclass
class Lab:
    tmp: Path
    prefix: str
    namespaces: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def ns(self, n: int) -> str:
        return f"{self.prefix}sw{n}"

    def sh(self, *args: str) -> str:
        done = subprocess.run(args, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def start(self, n: int, log: str, *command: str, env: dict[str, str] | None = None) -> None:
        with open(self.tmp / log, "wb") as out:
            self.processes.append(subprocess.Popen(
                ["ip", "netns", "exec", self.ns(n), *command], stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True, env=env))

    def lldpcli(self, n: int, *args: str) -> str:
        return self.sh("ip", "netns", "exec", self.ns(n), "lldpcli", "-u",
                       str(self.tmp / f"lldpd{n}.sock"), "-f", "json", *args)

    def aiops(self, n: int, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.ns(n), sys.executable, "-m", "aiops",
                               "--data-dir", str(data_dir), *args],
                              capture_output=True, text=True, timeout=120)

    def close(self) -> None:
        for proc in self.processes:  # each daemon is its own session: end it and its children
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for proc in self.processes:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        for name in self.namespaces:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


def _wire(lab: Lab) -> None:
    for n in (1, 2, 3):
        lab.sh("ip", "netns", "add", lab.ns(n))
        lab.namespaces.append(lab.ns(n))
        lab.sh("ip", "-n", lab.ns(n), "link", "set", "lo", "up")
    for a, b, net in ((1, 2, 12), (2, 3, 23)):
        left, right = f"{lab.prefix}v{a}{b}a", f"{lab.prefix}v{a}{b}b"
        lab.sh("ip", "link", "add", left, "type", "veth", "peer", "name", right)
        for end, n, host in ((left, a, a), (right, b, b)):
            ifname = "eth0" if (n, net) in ((1, 12), (2, 12), (3, 23)) else "eth1"
            lab.sh("ip", "link", "set", end, "netns", lab.ns(n), "name", ifname)
            lab.sh("ip", "-n", lab.ns(n), "addr", "add", f"{SUBNET}.{net}.{host}/24",
                   "dev", ifname)
            lab.sh("ip", "-n", lab.ns(n), "link", "set", ifname, "up")


def _daemons(lab: Lab) -> None:
    agentx = lab.tmp / "agentx.sock"
    (lab.tmp / "snmpd.conf").write_text(
        f"rocommunity public default\nmaster agentx\nagentXSocket unix:{agentx}\n")
    (lab.tmp / "snmp-state").mkdir()
    env = {**os.environ, "MIBS": "", "SNMP_PERSISTENT_DIR": str(lab.tmp / "snmp-state")}
    lab.start(2, "snmpd.log", "snmpd", "-f", "-C", "-c", str(lab.tmp / "snmpd.conf"),
              "-Lo", f"udp:{SUBNET}.12.2:161", env=env)
    _wait("snmpd's AgentX socket", lab, agentx.exists)  # else lldpd retries only after 15 s
    for n in (1, 2, 3):
        conf = lab.tmp / f"lldpd{n}.conf"
        conf.write_text(f"configure system hostname sw{n}.lab.example\n"
                        "configure lldp tx-interval 1\n"
                        f"configure system ip management pattern {SUBNET}.*\n")
        subagent = ["-x", "-X", str(agentx)] if n == 2 else []
        lab.start(n, f"lldpd{n}.log", "lldpd", "-d", "-u", str(lab.tmp / f"lldpd{n}.sock"),
                  "-O", str(conf), *subagent)


def _neighbours(lab: Lab, n: int) -> int:
    try:
        doc = json.loads(lab.lldpcli(n, "show", "neighbors"))
    except (RuntimeError, ValueError):
        return 0
    interfaces = doc.get("lldp", {}).get("interface", [])
    return len(interfaces) if isinstance(interfaces, list) else 1


def _snmp_ready(lab: Lab) -> bool:
    probe = ("from topology.discovery.lldp_mib import ROOTS, parse_lldp_mib\n"
             "from topology.discovery.snmp import walk\n"
             f"v = parse_lldp_mib(walk('{SUBNET}.12.2', ROOTS, timeout=1, retries=0))\n"
             "print(len(v.neighbours))\n")
    done = subprocess.run(["ip", "netns", "exec", lab.ns(1), sys.executable, "-c", probe],
                          capture_output=True, text=True, timeout=30,
                          cwd=Path(__file__).resolve().parents[2])
    return done.returncode == 0 and done.stdout.strip() == "2"


def _wait(what: str, lab: Lab, check) -> None:
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    logs = {p.name: p.read_text(errors="replace")[-2000:] for p in lab.tmp.glob("*.log")}
    raise AssertionError(f"{what} not ready after {STARTUP:g} s; logs: {logs}")


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    # lldpd drops privileges to _lldpd, which must reach the sockets: pytest's own
    # temporary directories are private to root, so the lab gets a traversable one.
    tmp = Path(tempfile.mkdtemp(prefix="aiops-lldp-lab-"))
    tmp.chmod(0o755)
    lab = Lab(tmp, prefix=f"ai{os.getpid() % 100000}")
    try:
        _wire(lab)
        _daemons(lab)
        _wait("LLDP neighbours", lab, lambda: _neighbours(lab, 2) == 2
              and _neighbours(lab, 1) == 1 and _neighbours(lab, 3) == 1)
        _wait("LLDP-MIB over SNMP", lab, lambda: _snmp_ready(lab))
        yield lab
    finally:
        lab.close()
        shutil.rmtree(tmp, ignore_errors=True)


def _chain(data_dir: Path) -> dict:
    doc = json.loads(subprocess.run(
        [sys.executable, "-m", "aiops", "--data-dir", str(data_dir), "topology", "export"],
        capture_output=True, text=True, timeout=120, check=True).stdout)
    devices = {n["id"] for n in doc["nodes"] if n["kind"] == "device"}
    links = {(e["source"], e["target"]) for e in doc["edges"]
             if e["kind"] == "connected_to" and e["source"] in devices}
    return {"devices": devices, "links": links, "doc": doc}


def test_saved_lldpcli_output(lab: Lab, tmp_path: Path) -> None:
    files = []
    for n in (1, 2, 3):
        path = tmp_path / f"sw{n}.lab.example.json"
        path.write_text(lab.lldpcli(n, "show", "neighbors"))
        files += ["--from-file", str(path)]
    r = lab.aiops(1, tmp_path / "d", "topology", "discover", "lldp", *files)
    assert r.returncode == 0, r.stderr
    chain = _chain(tmp_path / "d")
    assert chain["devices"] == {"sw1.lab.example", "sw2.lab.example", "sw3.lab.example"}
    assert chain["links"] == {("sw1.lab.example", "sw2.lab.example"),
                              ("sw2.lab.example", "sw3.lab.example")}


def test_local_lldpd(lab: Lab, tmp_path: Path) -> None:
    r = lab.aiops(2, tmp_path / "d", "topology", "discover", "lldp", "--local", "--socket",
                  str(lab.tmp / "lldpd2.sock"))
    assert r.returncode == 0, r.stderr
    chain = _chain(tmp_path / "d")
    assert chain["links"] == {("sw1.lab.example", "sw2.lab.example"),
                              ("sw2.lab.example", "sw3.lab.example")}
    sw2 = next(n for n in chain["doc"]["nodes"] if n["id"] == "sw2.lab.example")
    assert sw2["attrs"]["mgmt_ip"] == f"{SUBNET}.12.2"


def test_lldp_mib_over_snmp_merges_with_an_inventory(lab: Lab, tmp_path: Path) -> None:
    data = tmp_path / "d"
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text("nodes:\n  - {id: sw2, kind: device, serial: LAB0002}\n")
    assert lab.aiops(1, data, "topology", "discover", "inventory", str(inventory)).returncode == 0
    r = lab.aiops(1, data, "topology", "discover", "lldp", "--snmp", f"{SUBNET}.12.2")
    assert r.returncode == 0, r.stderr
    assert "merged: sw2.lab.example -> sw2" in r.stdout
    chain = _chain(data)
    assert chain["links"] == {("sw1.lab.example", "sw2"), ("sw2", "sw3.lab.example")}
    sw2 = next(n for n in chain["doc"]["nodes"] if n["id"] == "sw2")
    assert sw2["attrs"]["serial"] == "LAB0002" and sw2["attrs"]["seen_by"] == ["inventory",
                                                                               "lldp"]
    assert f"{SUBNET}.23.2" in sw2["attrs"]["ips"]
    port = next(n for n in chain["doc"]["nodes"] if n["id"] == "sw2:eth1")
    assert port["attrs"]["device"] == "sw2"
    # its ifIndex, read from snmpd's IF-MIB by the port's name (SNMP traps name it so)
    (link,) = json.loads(lab.sh("ip", "-n", lab.ns(2), "-j", "link", "show", "eth1"))
    assert port["attrs"]["ifindex"] == link["ifindex"]


def test_an_snmp_agent_that_does_not_answer_changes_nothing(lab: Lab, tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert lab.aiops(1, data, "topology", "discover", "lldp", "--snmp",
                     f"{SUBNET}.12.2").returncode == 0
    before = _chain(data)["doc"]
    r = lab.aiops(1, data, "topology", "discover", "lldp", "--snmp", f"{SUBNET}.12.2",
                  "--snmp", f"{SUBNET}.12.99", "--timeout", "0.5")
    assert r.returncode == 1
    assert f"{SUBNET}.12.99" in r.stderr and "not changed" in r.stderr
    assert _chain(data)["doc"] == before
