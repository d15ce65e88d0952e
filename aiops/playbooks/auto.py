"""Playbooks that run without an operator asking, when their ``auto`` policy holds.

Why a periodic look and not a step of ingestion: a policy waits (``after``: the
incident must have had time to gather its alarms and settle its root cause), and an
incident that has gone quiet sends no batch that could wake a sink. So ``aiops serve``
looks every ``check_every`` seconds (``AIOPS_PLAYBOOK_AUTO_EVERY``, 0 = off) at the open
incidents; a replay, a training run or a CLI command never runs anything.

Once per incident and playbook: the run is asked for with the idempotency key
``auto``, so a look that overlaps another (two servers on one database, a restart)
returns the run already stored instead of running it again, and an operator's own run
of the playbook, in flight or finished, is its run for the incident: the policy does
not repeat it (an operator's dry run ran nothing and does not count). A failed automatic
run is not retried: the operator sees it on the incident and decides. ``max_per_hour``
bounds the runs of each playbook started this way, whatever the incidents, so a storm
of look-alike incidents cannot turn into a storm of remediations.

Each look first gives up the runs past their deadline (``runs.expire_for_reader``): a
run that waited for an approval nobody gave is rejected then even if nobody reads runs,
and its incident's receivers hear that it no longer waits (docs/sinks.md).

Cost: the cheap conditions (status, age, alert count, severity, the top root cause's
score) are read from the incidents table; only an incident that passes them and has
changed since it was last found not to fit is matched in full (its alerts and
recommended remediations, as the incident view shows them).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from aiops.errors import BrokerUnavailable, Conflict, InputError
from aiops.playbooks import runs
from aiops.playbooks.definition import Playbook
from aiops.playbooks.request import dispatch, load, submit_run
from aiops.runtime import Runtime
from aiops.store.tables import incidents, playbook_runs

log = logging.getLogger(__name__)

KEY = "auto"  # the idempotency key of every automatic run
REQUESTER = "aiops auto-run"
HORIZON = 7 * 86_400.0  # incidents last changed longer ago are not looked at
MAX_INCIDENTS = 500  # per look, the most recently changed first


def _criteria(playbook: Playbook) -> str:
    """What the full match reads of a playbook: a file edited to match differently
    must be matched again against incidents it was found not to fit."""
    return repr(sorted(playbook.match.items()))


def _status(conn: sa.Connection, incident_id: str) -> str | None:
    return conn.execute(sa.select(incidents.c.status)
                        .where(incidents.c.id == incident_id)).scalar_one_or_none()


def _ran(name: str) -> sa.ColumnElement[bool]:
    """The runs that make the policy's run a repeat: its own (dry or not), and any
    real run an operator asked for, in flight or finished (a failed one is the
    operator's to decide on, as a failed automatic run is)."""
    return sa.and_(playbook_runs.c.playbook == name,
                   sa.or_(playbook_runs.c.idempotency_key == KEY,
                          playbook_runs.c.dry_run.is_(False)))


def _ran_on(conn: sa.Connection, incident_id: str, name: str) -> bool:
    """Whether the playbook already ran on the incident: by its policy, or for real
    by an operator (whose run, once finished, the policy would otherwise repeat)."""
    return conn.execute(sa.select(playbook_runs.c.id)
                        .where(playbook_runs.c.incident_id == incident_id, _ran(name))
                        .limit(1)).first() is not None


def _ran_on_merged(conn: sa.Connection, incident_id: str, name: str) -> bool:
    """Whether an incident merged into this one (or into one merged into it, and so
    on) had the playbook run on it (``_ran``)."""
    seen: set[str] = set()
    frontier = {incident_id}
    while frontier and len(seen) < 10_000:
        merged = set(conn.execute(sa.select(incidents.c.id)
                                  .where(incidents.c.merged_into.in_(frontier))).scalars())
        frontier = merged - seen
        seen |= frontier
        if frontier and conn.execute(
                sa.select(playbook_runs.c.id)
                .where(playbook_runs.c.incident_id.in_(frontier), _ran(name))
                .limit(1)).first():
            return True
    return False


def requester(playbook: Playbook) -> str:
    """Who asked, as the run records it: the policy and the file it is in."""
    return f"{REQUESTER} ({playbook.path.rsplit('/', 1)[-1]})"


class LiveIncidents:
    """The incidents this process's engine changed since it started: an engine sink
    (aiops/sinks), so only what the serving process itself ingested is looked at.

    Why: incidents are read from the database, which other processes write too. An
    ``aiops replay`` of last week's export into the data dir a server uses would
    otherwise hand its incidents, whose alert times are recent enough, to the policies,
    and a remediation would run on a fault that is long over. A server restarted looks
    at an incident again once it changes. Bounded: the oldest ids leave first."""

    def __init__(self, limit: int = 50_000):
        self.limit = limit
        self._ids: dict[str, None] = {}
        self._lock = threading.Lock()

    def publish(self, incidents: Iterable[Any], alerts: Iterable[Any]) -> None:
        with self._lock:
            for incident in incidents:
                self._ids.pop(incident.id, None)
                self._ids[incident.id] = None
            while len(self._ids) > self.limit:
                del self._ids[next(iter(self._ids))]

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self._ids)

    def __contains__(self, incident_id: object) -> bool:
        with self._lock:
            return incident_id in self._ids


class AutoRuns:
    """The looks of one process; remembers which incidents did not fit as they were
    (``updated_at``, alert count, root causes) and under which match criteria, so an
    unchanged incident is not matched again by an unchanged playbook. With ``live``,
    only the incidents it holds are looked at (a serving process: ``LiveIncidents``)."""

    def __init__(self, runtime: Runtime, live: LiveIncidents | None = None):
        self.runtime = runtime
        self.live = live
        self._unfit: dict[tuple[str, str], tuple[float, int, str, str]] = {}
        self._said_budget: set[tuple[str, int]] = set()
        self._failed: set[tuple[str, str, float]] = set()

    def look(self, now: float | None = None) -> list[dict[str, Any]]:
        """One look: the runs it started (or recorded, for a dry-run policy)."""
        now = time.time() if now is None else now
        # Runs past their deadline (a run nobody approved in time) are given up here
        # too, not only when someone reads runs: a receiver told that a run waits for
        # approval hears that it no longer does within a look (``runs`` module doc).
        runs.expire_for_reader(self.runtime.db, self.runtime.data_dir.playbook)
        books, _errors = load(self.runtime)
        policies = [b for b in books.values() if b.auto is not None]
        if not policies:
            return []
        started: list[dict[str, Any]] = []
        for row in self._open_incidents(now, policies):
            if self.live is not None and row.id not in self.live:
                continue  # written by another process (a replay): not this server's
            for playbook in policies:
                try:
                    run = self._consider(row, playbook, now)
                except (sa.exc.OperationalError, sa.exc.InterfaceError):
                    raise  # the database away: the whole look fails, the next retries
                except Exception:  # noqa: BLE001 - one incident must not stop the rest
                    # An incident the look cannot read (a row an older version wrote,
                    # one deleted meanwhile) would otherwise end every look at the same
                    # place, and the incidents after it would never be looked at.
                    failed = (row.id, playbook.name, row.updated_at)
                    (log.debug if failed in self._failed else log.exception)(
                        "automatic playbook %s on incident %s failed; the next look "
                        "tries again", playbook.name, row.id, exc_info=True)
                    self._failed.add(failed)  # said once, not every look
                    continue
                if run is not None:
                    started.append(run)
        if len(self._unfit) > 50_000:  # incidents long gone; a look re-learns the rest
            self._unfit.clear()
        if len(self._failed) > 10_000:
            self._failed.clear()
        return started

    def _open_incidents(self, now: float, policies: list[Playbook]) -> list[Any]:
        youngest = now - min(p.auto.after for p in policies if p.auto)
        query = (sa.select(incidents.c.id, incidents.c.severity, incidents.c.started_at,
                           incidents.c.updated_at, incidents.c.alert_count,
                           incidents.c.root_causes)
                 .where(incidents.c.status == "open", incidents.c.started_at <= youngest,
                        incidents.c.updated_at >= now - HORIZON)
                 .order_by(incidents.c.updated_at.desc()).limit(MAX_INCIDENTS))
        with self.runtime.db.connect() as conn:
            if self.live is None:
                return conn.execute(query).all()
            # Only this server's incidents, so another process's (a replay's) cannot
            # crowd them out of the look; in chunks a database takes as parameters.
            ids, rows = self.live.snapshot(), []
            for at in range(0, len(ids), 900):
                rows += conn.execute(query.where(incidents.c.id.in_(ids[at:at + 900]))).all()
        rows.sort(key=lambda r: r.updated_at, reverse=True)
        return rows[:MAX_INCIDENTS]

    def _consider(self, row: Any, playbook: Playbook, now: float) -> dict[str, Any] | None:
        policy = playbook.auto
        assert policy is not None
        causes = row.root_causes or []
        score = float(causes[0].get("score") or 0.0) if causes else 0.0
        if (now - row.started_at < policy.after or row.alert_count < policy.min_alerts
                or score < policy.min_score
                or (policy.severities and row.severity not in policy.severities)):
            return None
        key = (row.id, playbook.name)
        # ``updated_at`` is the latest alert's start (event time): an alert that comes
        # late, with an earlier start, joins the incident without moving it, and a
        # re-ranking changes the causes (and so the remediations matched) alone.
        unfit = (row.updated_at, row.alert_count, repr(causes), _criteria(playbook))
        if self._unfit.get(key) == unfit:
            return None
        with self.runtime.db.connect() as conn:
            if _ran_on(conn, row.id, playbook.name):
                return None
            # The rows were read at the start of the look, which matching hundreds of
            # incidents makes long: one resolved (or merged) since must not get a
            # remediation now (submit_run refuses merged incidents, not resolved ones).
            if _status(conn, row.id) != "open":
                return None
            # An incident that absorbed others (a merge) is the same fault they were: a
            # run on one of them is this playbook's run for it, not to be repeated.
            if _ran_on_merged(conn, row.id, playbook.name):
                self._unfit[key] = unfit
                return None
            # Runs are stamped with this host's clock (``requested_at``), whatever the
            # alerts' times the incident ages were read on.
            clock = time.time()
            if self._started_last_hour(conn, playbook, clock) >= policy.max_per_hour:
                self._say_budget(playbook, clock)
                return None
        try:
            run, new = submit_run(self.runtime, row.id, playbook.name, requester(playbook),
                                  dry_run=policy.dry_run, idempotency_key=KEY,
                                  approve_within=policy.approve_within if policy.approval
                                  else None)
        except InputError:  # does not match (or no longer: merged): until it changes
            self._unfit[key] = unfit
            return None
        except Conflict:  # an operator's run of it came in meanwhile: look again later
            return None
        if not new:
            return None
        waits = run["status"] == runs.NEEDS_APPROVAL
        log.warning("playbook %s %s on incident %s (run %d; policy: score "
                    "%.2f >= %.2f, %d alerts, %s)", playbook.name,
                    "asks an operator's approval" if waits else "started unasked", row.id,
                    run["id"], score, policy.min_score, row.alert_count,
                    "dry run" if policy.dry_run else "real run")
        if not policy.dry_run and not waits:
            try:
                dispatch(self.runtime, run["id"])
            except BrokerUnavailable as exc:  # recorded failed; the operator sees it
                log.error("%s", exc)
        return run

    @staticmethod
    def _started_last_hour(conn: sa.Connection, playbook: Playbook, now: float) -> int:
        return int(conn.execute(
            sa.select(sa.func.count()).select_from(playbook_runs)
            .where(playbook_runs.c.playbook == playbook.name,
                   playbook_runs.c.idempotency_key == KEY,
                   playbook_runs.c.requested_at >= now - 3600.0)).scalar_one())

    def _say_budget(self, playbook: Playbook, now: float) -> None:
        hour = int(now // 3600)
        if (playbook.name, hour) not in self._said_budget:
            self._said_budget.add((playbook.name, hour))
            log.warning("playbook %s: %d runs started unasked in the last hour, its "
                        "max_per_hour; the next incidents wait", playbook.name,
                        playbook.auto.max_per_hour if playbook.auto else 0)


class AutoRunLoop:
    """``AutoRuns.look`` every ``every`` seconds on a daemon thread, until ``stop``. A
    look that fails (the database away) is logged and the next one tries again."""

    def __init__(self, runtime: Runtime, every: float, live: LiveIncidents | None = None):
        self.auto = AutoRuns(runtime, live)
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="playbook-auto-runs")

    def start(self) -> AutoRunLoop:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout=timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.auto.look()
            except Exception:  # noqa: BLE001 - the next look tries again; say why
                log.exception("automatic playbook look failed")


def start_auto_runs(runtime: Runtime) -> AutoRunLoop | None:
    """Start the looks for a serving process (``aiops serve``, a WSGI server's app) unless
    ``AIOPS_PLAYBOOK_AUTO_EVERY`` is 0; ``Runtime.close`` stops them."""
    every = runtime.data_dir.playbook.auto_every
    if not every or runtime.auto_runs is not None:
        return runtime.auto_runs
    live = LiveIncidents()
    runtime.engine.sinks.append(live)
    runtime.auto_runs = AutoRunLoop(runtime, every, live).start()
    return runtime.auto_runs
