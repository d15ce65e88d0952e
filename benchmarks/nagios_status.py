"""``aiops nagios follow``'s cost: a status.dat of many services parsed, and a
follower's read of it, timed.

Why: the follower re-reads the whole status.dat each time Nagios rewrites it (every
``status_update_interval``, 10 s by default) on the Nagios host; on a large Nagios
that read must stay a small share of a core. The file is generated: ``hosts`` hosts
of ``services`` services each, each block with the keys Nagios 4.4.6 writes (about
1.2 KB a service, as a real one is), 5 % of services CRITICAL.

With ``--log-file`` the follower also reads Nagios's log after each status.dat read;
its cost is a log line parsed, and after a stop (or a first read placed at a file's
start) the backlog. The log is generated too: ``--log-lines`` lines over the same
services, one in three a SERVICE ALERT (a problem turning SOFT, HARD, then OK: one
episode every three such lines), a few HOST ALERTs, and notifications, external
commands and passive check results, which are read and skipped.

Usage: .venv/bin/python -m benchmarks.nagios_status [--hosts 400] [--services 25]
       [--log-lines 1000000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from aiops.file_tail import FileTail, TailPosition
from aiops.forwarder import Forwarder
from aiops.nagios_follower import NagiosFollower
from aiops.nagios_log_episodes import Episode, LogState, replay
from connectors.nagios_log import parse_line
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


def generate_log(path: Path, hosts: int, services: int, lines: int) -> None:
    """``lines`` lines as Nagios 4.4 writes them (base/logging.c), a second apart."""
    t0 = 1795520473
    episode = ("CRITICAL;SOFT;1;CHECK state 2: a=b", "CRITICAL;HARD;3;CHECK state 2: a=b",
               "OK;HARD;1;CHECK state 0: a=b")
    steps: dict[tuple[str, str], int] = {}  # each service's lines of its episodes
    with path.open("w") as out:
        for i in range(lines):
            host, svc = f"node-{i % hosts:04d}", f"svc-{i // hosts % services:03d}"
            kind = i % 6
            if kind in (0, 1):  # the service's next line of its episode
                step = steps.get((host, svc), 0)
                steps[host, svc] = step + 1
                out.write(f"[{t0 + i}] SERVICE ALERT: {host};{svc};{episode[step % 3]}\n")
            elif kind == 2 and i % 60 == 2:
                out.write(f"[{t0 + i}] HOST ALERT: {host};DOWN;SOFT;1;PING CRITICAL\n")
            elif kind == 2:
                out.write(f"[{t0 + i}] SERVICE NOTIFICATION: aiops;{host};{svc};CRITICAL;"
                          "notify-service-aiops;CHECK state 2: a=b\n")
            elif kind == 3:
                out.write(f"[{t0 + i}] EXTERNAL COMMAND: PROCESS_SERVICE_CHECK_RESULT;"
                          f"{host};{svc};0;CHECK state 0\n")
            else:
                out.write(f"[{t0 + i}] PASSIVE SERVICE CHECK: {host};{svc};0;CHECK "
                          "state 0\n")


def read_log(path: Path) -> tuple[int, int]:
    """The follower's read of a whole log (its backlog), its lines parsed and replayed
    as ``aiops.nagios_follower`` does; the lines and the episodes found."""
    st = path.stat()
    state = LogState(str(path), TailPosition(st.st_dev, st.st_ino, 0))
    episodes: list[Episode] = []
    count = 0

    def each_line(line: str) -> None:
        nonlocal count
        count += 1
        logged = parse_line(line)
        if logged is not None:
            replay(state, logged, (), episodes)

    FileTail(path).read(state.position, each_line)
    return count, len(episodes)


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
    parser.add_argument("--log-lines", type=int, default=1_000_000)
    parser.add_argument("--log-runs", type=int, default=5)
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

        log = Path(tmp) / "nagios.log"
        generate_log(log, args.hosts, args.services, args.log_lines)
        lines = log.read_text().splitlines()
        wall, cpu = timed(lambda _: [parse_line(line) for line in lines], args.log_runs)
        print(f"parse_line, {len(lines):,} log lines ({log.stat().st_size / 1e6:.1f} MB): "
              f"{wall * 1000:.0f} ms, {cpu * 1000:.0f} ms CPU (median), "
              f"{len(lines) / cpu:,.0f} lines/s of CPU")
        found = [0, 0]

        def whole(_: int) -> None:
            found[:] = read_log(log)

        wall, cpu = timed(whole, args.log_runs)
        print(f"the log read whole by the follower (a backlog; {found[1]:,} problems "
              f"between reads found): {wall * 1000:.0f} ms, {cpu * 1000:.0f} ms CPU "
              f"(median), {found[0] / cpu:,.0f} lines/s of CPU")


if __name__ == "__main__":
    main()
