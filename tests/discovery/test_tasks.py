"""Celery tasks: eager in-process (the embedded default), and for real with a Redis server,
a ``celery worker --pool=solo`` and ``celery beat`` started here."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiops.errors import InputError
from aiops.tasks import beat_schedule, discover_inventory, make_app, run_schedule_inline
from tests.ports import free_port
from topology.discovery.base import SourceUnreachable
from topology.discovery.jobs import run_discovery
from topology.discovery.schedule import load_schedule, parse_schedule

INVENTORY = "nodes:\n  - {id: %s, mgmt_ip: %s}\n  - {id: %s}\nedges:\n" \
            "  - {source: %s, target: %s}\n"


def inventory(tmp: Path, node: str, peer: str = "peer", mgmt_ip: str = "10.9.9.9") -> Path:
    path = tmp / f"{node}.yaml"
    path.write_text(INVENTORY % (node, mgmt_ip, peer, node, peer))
    return path


def counts(data_dir: Path) -> tuple[int, int]:
    from aiops.store.db import open_database
    from topology.embedded import EmbeddedGraphStore

    db = open_database(f"sqlite:///{data_dir / 'aiops.db'}")
    try:
        return EmbeddedGraphStore(db).counts()
    finally:
        db.dispose()


def test_the_plain_function(tmp_path: Path) -> None:
    report = run_discovery("inventory", {"path": str(inventory(tmp_path, "n1"))},
                           str(tmp_path / "d"))
    assert report["total"] == {"nodes": 2, "edges": 1}
    assert counts(tmp_path / "d") == (2, 1)


def test_eager_without_a_broker(tmp_path: Path) -> None:
    assert discover_inventory.app.conf.task_always_eager
    result = discover_inventory.delay({"path": str(inventory(tmp_path, "n1"))},
                                      str(tmp_path / "d"))
    assert result.get()["new_nodes"] == 2
    with pytest.raises(SourceUnreachable):
        make_app().tasks["aiops.discover.netbox"].delay(
            {"url": "http://127.0.0.1:9", "timeout": 1}, str(tmp_path / "d")).get()
    assert counts(tmp_path / "d") == (2, 1)


def test_secrets_come_from_the_environment(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("AIOPS_TEST_TOKEN", raising=False)
    with pytest.raises(InputError, match="AIOPS_TEST_TOKEN is not set"):
        run_discovery("netbox", {"url": "http://127.0.0.1:9", "token_env": "AIOPS_TEST_TOKEN"},
                      str(tmp_path / "d"))


SCHEDULE = """
discovery:
  - {name: dc1, source: inventory, every: 15m, options: {path: %s}}
  - {source: netbox, cron: "*/10 * * * 1-5", options: {url: http://nb, token_env: NB}}
"""


def test_schedule_file_to_beat(tmp_path: Path) -> None:
    path = tmp_path / "schedule.yaml"
    path.write_text(SCHEDULE % "inv.yaml")
    beat = beat_schedule(load_schedule(path))
    assert beat["discover-dc1"]["task"] == "aiops.discover.inventory"
    assert beat["discover-dc1"]["schedule"].total_seconds() == 900
    assert beat["discover-dc1"]["kwargs"] == {"options": {"path": "inv.yaml"}}
    cron = beat["discover-netbox"]["schedule"]
    assert cron.minute == set(range(0, 60, 10)) and cron.day_of_week == {1, 2, 3, 4, 5}


@pytest.mark.parametrize(("doc", "message"), [
    ({"discovery": [{"source": "nope", "every": 5}]}, "'source' must be one of"),
    ({"discovery": [{"source": "lldp"}]}, "exactly one of 'every' and 'cron'"),
    ({"discovery": [{"source": "lldp", "every": "soon"}]}, "'every' must be seconds"),
    ({"discovery": [{"source": "lldp", "cron": "* *"}]}, "'cron' needs 5 fields"),
    ({"discovery": [{"source": "lldp", "every": 5}, {"source": "lldp", "every": 9}]},
     "duplicate entry name 'lldp'"),
    ({"sources": []}, "expected a mapping with a 'discovery' list"),
])
def test_bad_schedules_name_the_entry(doc: object, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_schedule(doc, "s.yaml")


def test_inline_scheduler_runs_each_entry(tmp_path: Path) -> None:
    path = tmp_path / "schedule.yaml"
    path.write_text(SCHEDULE % inventory(tmp_path, "n1"))
    seen: list[tuple[str, object]] = []
    failures = run_schedule_inline(load_schedule(path), str(tmp_path / "d"), None, once=True,
                                   on_result=lambda name, out: seen.append((name, out)))
    assert [name for name, _ in seen] == ["dc1", "netbox"]
    assert failures == 1 and "NB is not set" in str(seen[1][1])  # one failure, others run
    assert counts(tmp_path / "d") == (2, 1)


# --- the real thing --------------------------------------------------------------------

def _redis_server() -> str | None:
    return shutil.which("redis-server")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = _redis_server()
    if binary is None:
        pytest.skip("needs redis-server (scripts/install-test-deps.sh installs it)")
    tmp = tmp_path_factory.mktemp("redis")
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(tmp)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def worker(broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A real worker; tasks without a data dir write to the one returned here."""
    data_dir = tmp_path_factory.mktemp("worker-data")
    with celery_worker(broker, data_dir, data_dir / "worker.log", "aiops-test"):
        yield data_dir


@contextlib.contextmanager
def celery_worker(broker: str, data_dir: Path, log_path: Path, name: str) -> Iterator[None]:
    """``celery worker --pool=solo`` on ``broker`` writing to ``data_dir``, without the
    schedules or database URL of the environment the tests run in; stopped on exit."""
    env = {**os.environ, "AIOPS_BROKER_URL": broker, "AIOPS_DATA_DIR": str(data_dir)}
    for unwanted in ("AIOPS_DISCOVERY_SCHEDULE", "AIOPS_RETRAIN_SCHEDULE",
                     "AIOPS_DATABASE_URL"):
        env.pop(unwanted, None)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "aiops.tasks",
                                 "worker", "--pool=solo", "--loglevel=INFO",
                                 "--without-gossip", "--without-mingle",
                                 "--without-heartbeat", "-n", f"{name}-{os.getpid()}@localhost"],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            yield
        finally:
            _stop(proc)


def test_a_real_worker_runs_discovery(broker: str, worker: Path, tmp_path: Path) -> None:
    client = make_app(broker_url=broker)
    # Nodes of this test's own: the worker's data dir is the module's, and the beat test
    # writes "from-beat" and its peer (10.9.9.9) there; run after it, "peer" was not new.
    path = inventory(tmp_path, "w1", peer="w1-peer", mgmt_ip="10.9.9.11")
    result = client.send_task("aiops.discover.inventory", kwargs={"options": {"path": str(path)}})
    report = result.get(timeout=90)
    assert report["new_nodes"] == 2 and counts(worker)[0] >= 2
    failed = client.send_task("aiops.discover.netbox",
                              kwargs={"options": {"url": "http://127.0.0.1:9", "timeout": 1}})
    with pytest.raises(Exception, match="127.0.0.1:9"):
        failed.get(timeout=90)


def test_beat_schedules_discovery_on_the_worker(broker: str, worker: Path,
                                                tmp_path: Path) -> None:
    schedule = tmp_path / "schedule.yaml"
    path = inventory(tmp_path, "from-beat")
    schedule.write_text("discovery:\n  - source: inventory\n    every: 2\n"
                        f"    options: {{path: {path}}}\n")
    env = {**os.environ, "AIOPS_BROKER_URL": broker, "AIOPS_DISCOVERY_SCHEDULE": str(schedule)}
    log = open(tmp_path / "beat.log", "wb")  # noqa: SIM115 (closed in finally)
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "aiops.tasks", "beat",
                             "-s", str(tmp_path / "beat-state"), "--max-interval", "1"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        from aiops.store.db import open_database
        from topology.embedded import EmbeddedGraphStore

        deadline = time.monotonic() + 90
        found = False
        while time.monotonic() < deadline and not found:
            db = open_database(f"sqlite:///{worker / 'aiops.db'}")
            try:
                found = "from-beat" in EmbeddedGraphStore(db).load().nodes
            finally:
                db.dispose()
            time.sleep(0.5)
        assert found, (tmp_path / "beat.log").read_text()[-3000:]
    finally:
        _stop(proc)
        log.close()
