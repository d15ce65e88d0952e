"""``aiops nagios follow``'s cost: a status.dat of many services parsed, and a
follower's read of it, timed.

Why: the follower re-reads the whole status.dat each time Nagios rewrites it (every
``status_update_interval``, 10 s by default) on the Nagios host; on a large Nagios
that read must stay a small share of a core. The file is generated: ``hosts`` hosts
of ``services`` services each, each block with the keys Nagios 4.4.6 writes (about
1.2 KB a service, as a real one is), 5 % of services CRITICAL.

Usage: .venv/bin/python -m benchmarks.nagios_status [--hosts 400] [--services 25]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from aiops.forwarder import Forwarder
from aiops.nagios_follower import NagiosFollower
from connectors.nagios_status import parse_status

# The keys of a Nagios 4.4.6 block, in its order, with typical values: read from the
# status.dat of tests/integration/test_nagios_real.py's Nagios.
COMMON = ["modified_attributes=0", "check_command=check_state", "check_period=24x7",
          "notification_period=24x7", "importance=0", "check_interval=1.000000",
          "retry_interval=1.000000", "event_handler=", "has_been_checked=1",
          "should_be_scheduled=1", "check_execution_time=0.017", "check_latency=0.002",
          "check_type=0"]
HOST = ["current_state=0", "last_hard_state=0", "last_event_id=0", "current_event_id=0",
        "current_problem_id=0", "last_problem_id=0", "plugin_output=PING OK",
        "long_plugin_output=", "performance_data=rta=0.1ms", "last_check=1795520468",
        "next_check=1795520474", "check_options=0", "current_attempt=1", "max_attempts=1",
        "state_type=1", "last_state_change=1795520469", "last_hard_state_change=1795520469",
        "last_time_up=1795520468", "last_time_down=0", "last_time_unreachable=0",
        "last_notification=0", "next_notification=0", "no_more_notifications=0",
        "current_notification_number=0", "current_notification_id=0",
        "notifications_enabled=1", "problem_has_been_acknowledged=0",
        "acknowledgement_type=0", "active_checks_enabled=1", "passive_checks_enabled=1",
        "event_handler_enabled=1", "flap_detection_enabled=1",
        "process_performance_data=1", "obsess=1", "last_update=1795520473",
        "is_flapping=0", "percent_state_change=0.00", "scheduled_downtime_depth=0"]
SERVICE = ["current_state={s}", "last_hard_state={s}", "last_event_id=0",
           "current_event_id=1", "current_problem_id=1", "last_problem_id=0",
           "current_attempt=1", "max_attempts=1", "state_type=1",
           "last_state_change=1795520469", "last_hard_state_change=1795520469",
           "last_time_ok=1795520469", "last_time_warning=0", "last_time_unknown=0",
           "last_time_critical=1795520473", "plugin_output=CHECK state {s}: a=b",
           "long_plugin_output=", "performance_data=value=1;2;3",
           "last_check=1795520473", "next_check=1795520474", "check_options=0",
           "current_notification_number=0", "current_notification_id=5",
           "last_notification=0", "next_notification=0", "no_more_notifications=0",
           "notifications_enabled=1", "active_checks_enabled=1",
           "passive_checks_enabled=1", "event_handler_enabled=1",
           "problem_has_been_acknowledged=0", "acknowledgement_type=0",
           "flap_detection_enabled=1", "process_performance_data=1", "obsess=1",
           "last_update=1795520473", "is_flapping=0", "percent_state_change=5.72",
           "scheduled_downtime_depth=0"]


def block(kind: str, lines: list[str]) -> str:
    return f"{kind} {{\n" + "".join(f"\t{line}\n" for line in lines) + "\t}\n\n"


def generate(folder: Path, hosts: int, services: int) -> tuple[Path, Path]:
    status = [block("info", ["created=1795520473", "version=4.4.6"]),
              block("programstatus", ["nagios_pid=1", "daemon_mode=1"])]
    objects = []
    for h in range(hosts):
        name = f"node-{h:04d}"
        status.append(block("hoststatus", [f"host_name={name}", *COMMON, *HOST]))
        objects.append(f"define host {{\n\thost_name\t{name}\n\taddress\t10.{h // 250}.0."
                       f"{h % 250}\n\t}}\n\n")
        for s in range(services):
            state = 2 if (h * services + s) % 20 == 0 else 0
            status.append(block("servicestatus", [
                f"host_name={name}", f"service_description=svc-{s:03d}", *COMMON,
                *(line.format(s=state) for line in SERVICE)]))
            objects.append(f"define service {{\n\thost_name\t{name}\n"
                           f"\tservice_description\tsvc-{s:03d}\n\t}}\n\n")
    (folder / "status.dat").write_text("".join(status))
    (folder / "objects.cache").write_text("".join(objects))
    return folder / "status.dat", folder / "objects.cache"


def timed(action, runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``action``."""
    walls, cpus = [], []
    for i in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        action(i)
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=400)
    parser.add_argument("--services", type=int, default=25)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        status, objects = generate(Path(tmp), args.hosts, args.services)
        text = status.read_text()
        found = parse_status(text)
        print(f"{args.hosts * args.services:,} services on {args.hosts} hosts, "
              f"{len(text) / 1e6:.1f} MB, {sum(o.is_problem for o in found.values())} "
              "problems")
        wall, cpu = timed(lambda _: parse_status(text), args.runs)
        print(f"parse_status: {wall * 1000:.0f} ms, {cpu * 1000:.0f} ms CPU (median)")
        forwarder = Forwarder("http://127.0.0.1:9/api/v1/webhooks/nagios")
        follower = NagiosFollower(status, objects, forwarder, interval=10.0)
        wall, cpu = timed(lambda _: follower.read_once(), 1)
        print(f"first read (objects.cache too; {forwarder.pending()} problems queued): "
              f"{wall * 1000:.0f} ms, {cpu * 1000:.0f} ms CPU")

        walls, cpus = [], []
        for i in range(args.runs):
            status.write_text(text + "#" * (i % 3 + 1) + "\n")  # as Nagios rewrites it
            wall, cpu = timed(lambda _: follower.read_once(), 1)
            walls.append(wall)
            cpus.append(cpu)
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        print(f"read of a rewritten file, nothing changed: {wall * 1000:.0f} ms, "
              f"{cpu * 1000:.0f} ms CPU (median), {cpu / 10 * 100:.1f} % of a core at a "
              "10 s interval")
        wall, cpu = timed(lambda _: follower.read_once(), 1000)
        print(f"read of an unchanged file (a stat): {wall * 1e6:.0f} µs")


if __name__ == "__main__":
    main()
