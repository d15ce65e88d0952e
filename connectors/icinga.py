"""Icinga 2's REST API as an alert source: hard state changes from its event stream,
and what is wrong right now on every (re)connect.

Icinga 2 has no webhook of its own; its API (port 5665) streams events as they happen
(``POST /v1/events``: one JSON object per line) and answers object queries
(``/v1/objects/hosts|services``). Both are read here and turned into the items the
``icinga`` webhook mapping takes (``connectors/webhook_presets/icinga.yml``):

- only **hard** states count. A soft state is Icinga re-checking before it believes a
  problem (``max_check_attempts``), the same line it draws before it notifies anyone;
- a problem starts when the check that made it hard ended (``execution_end``);
  Icinga stores that as ``last_hard_state_change``, which a state query reports, but
  moves it when the problem changes state, so a query's problem is sent with it only
  as a fallback start (``state_since``): the engine keeps the start of an alert it has;
- a recovery, or a problem changing state (WARNING to CRITICAL), does not say when its
  problem began: it is sent without ``since`` and the engine gives it the start of the
  alert it belongs to (``Engine.ingest(start_unknown=...)``);
- every item says whether its object is acknowledged and in a downtime, a recovery
  too: Icinga ends every acknowledgement at a recovery, and the resolved alert must
  say so; an acknowledgement past its expiry is over (Icinga's attribute says 1 until
  a check result next asks);
- an object deleted from Icinga's configuration (``ObjectDeleted``) is sent as a
  recovery whose output says so: nothing will ever recover it otherwise;
- who acknowledged a problem and which downtimes suppress it are its comments and
  downtimes, queried at a (re)connect and then followed on the stream
  (``connectors.icinga_who``).

Tested against a real Icinga 2 (Debian ``icinga2-bin``): tests/integration/test_icinga_real.py.
"""

from __future__ import annotations

import json
import logging
import math
import time
import warnings
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
from urllib3.exceptions import HTTPError, InsecureRequestWarning, ReadTimeoutError

from connectors.icinga_who import COMMENT_ATTRS, COMMENTS_FILTER, DOWNTIME_ATTRS, IN_EFFECT

log = logging.getLogger(__name__)

SERVICE_STATES = {0: "OK", 1: "WARNING", 2: "CRITICAL", 3: "UNKNOWN"}
HOST_STATES = {0: "UP", 1: "DOWN"}
HARD = 1  # state_type
NO_PREVIOUS_STATE = 99  # previous_hard_state of an object's first check result
MAX_OUTPUT = 1024  # of the plugin output's first line, the alert's summary
MAX_LINE = 1024 * 1024  # one event; a longer line is skipped, not buffered
OBJECT_ATTRS = ["name", "last_hard_state", "last_hard_state_change", "last_check_result",
                "acknowledgement", "acknowledgement_expiry", "downtime_depth", "flapping"]
# Events that change an object's acknowledgement, downtime or flapping, not its state:
# the follower reads the object again and sends its problem with the new labels.
STATUS_EVENTS = ["AcknowledgementSet", "AcknowledgementCleared", "DowntimeStarted",
                 "DowntimeTriggered", "DowntimeRemoved", "Flapping"]
# The event types beyond StateChange, by what they bring; each needs its own permission
# (events/TYPE), and a user without one still follows without them (``open_stream``).
OPTIONAL_EVENTS = {
    "acknowledgements and downtimes": STATUS_EVENTS[:5],
    "flapping": ["Flapping"],
    "deletions": ["ObjectDeleted"],
}
ACKNOWLEDGEMENTS = {0: "false", 1: "true", 2: "true"}  # none, normal, sticky
RECOVERED = ("OK", "UP")
DELETED = "deleted from Icinga's configuration"  # a deleted object's recovery output


class IcingaError(Exception):
    """The API could not be read now (down, TLS, 5xx, a broken stream): try again."""


class StreamIdle(IcingaError):
    """The event stream said nothing for the idle timeout: reopen it (not a fault)."""


class IcingaRefused(IcingaError):
    """The API refused the user (401, 403) or the URL is not Icinga's API (404):
    trying again will not help; the message says what to fix."""


Key = tuple[str, str]  # (host, service); service "" for the host's own state


def key_of(item: dict[str, Any]) -> Key:
    return item["host"], item.get("service", "")


def status_of(attrs: dict[str, Any], where: str,
              now: float | None = None) -> dict[str, str]:
    """The ``acknowledged``, ``suppressed`` and ``flapping`` item fields of an object's
    (or a StateChange event's) ``acknowledgement`` (0 none, 1 normal, 2 sticky; the
    event's may be a boolean), ``downtime_depth`` (active downtimes) and ``flapping`` (a
    boolean; a StateChange event does not carry it). A value Icinga does not document is
    left out, and logged naming it: the alert keeps what it had.

    An object's acknowledgement whose ``acknowledgement_expiry`` is before ``now`` is
    over, as Icinga's own IsAcknowledged says: 2.13.6 leaves the attribute at 1 until
    something next asks (a check result), which a passive check may never do."""
    out: dict[str, str] = {}
    ack = attrs.get("acknowledgement")
    if isinstance(ack, bool):
        out["acknowledged"] = "true" if ack else "false"
    elif isinstance(ack, int | float) and ack in ACKNOWLEDGEMENTS:
        out["acknowledged"] = ACKNOWLEDGEMENTS[int(ack)]
    elif ack is not None:
        log.warning("icinga: %s: acknowledgement %s is not 0, 1 or 2; ignored", where,
                    str(ack)[:50])
    expiry = _number(attrs.get("acknowledgement_expiry"))
    if out.get("acknowledged") == "true" and expiry and now is not None and expiry < now:
        out["acknowledged"] = "false"
    depth = _number(attrs.get("downtime_depth"))
    if depth is not None and depth >= 0:
        out["suppressed"] = "downtime" if depth > 0 else "false"
    elif "downtime_depth" in attrs:
        log.warning("icinga: %s: downtime_depth %s is not a count; ignored", where,
                    str(attrs.get("downtime_depth"))[:50])
    flapping = attrs.get("flapping")
    if isinstance(flapping, bool):
        out["flapping"] = "true" if flapping else "false"
    elif flapping is not None:
        log.warning("icinga: %s: flapping %s is not a boolean; ignored", where,
                    str(flapping)[:50])
    return out


def flapping_event(doc: Any) -> tuple[Key, str] | None:
    """The host and service a ``Flapping`` event names, and whether it now flaps
    (``is_flapping``: "true"/"false"); None for another event or one that says neither."""
    if not isinstance(doc, dict) or doc.get("type") != "Flapping":
        return None
    key = status_event_key(doc)
    flapping = doc.get("is_flapping")
    if key is None or not isinstance(flapping, bool):
        return None
    return key, "true" if flapping else "false"


def deleted_item(doc: Any) -> dict[str, Any] | None:
    """The item for an ``ObjectDeleted`` event of a host or service: a recovery at the
    deletion, whose output says it was deleted (a deleted object never recovers, so its
    alert would fire for ever). None for another event or another object type (a
    downtime, a comment); ValueError naming what is missing."""
    if not isinstance(doc, dict) or doc.get("type") != "ObjectDeleted" \
            or doc.get("object_type") not in ("Host", "Service"):
        return None
    name, at = doc.get("object_name"), _number(doc.get("timestamp"))
    if not isinstance(name, str) or at is None:
        raise ValueError(f"an ObjectDeleted without a name or time: {str(doc)[:200]}")
    host, _, service = name.partition("!") if doc["object_type"] == "Service" \
        else (name, "", "")
    if not host or (doc["object_type"] == "Service" and not service):
        raise ValueError(f"an ObjectDeleted of a {doc['object_type']} named {name[:200]!r}")
    return deleted(host, service, at)


def deleted(host: str, service: str, at: float) -> dict[str, Any]:
    """The recovery that ends the alert of a host or service deleted at ``at`` (or found
    deleted then)."""
    return _item(host, service, 0, DELETED, ended=at)


def status_event_key(doc: Any) -> Key | None:
    """The host and service whose acknowledgement, downtime or flapping an event of the
    stream changed (``STATUS_EVENTS``; a Flapping event names them as an acknowledgement
    does), or None for any other event or one that names none."""
    if not isinstance(doc, dict) or doc.get("type") not in STATUS_EVENTS:
        return None
    if str(doc["type"]).startswith("Downtime"):
        downtime = doc.get("downtime") if isinstance(doc.get("downtime"), dict) else {}
        host, service = downtime.get("host_name"), downtime.get("service_name", "")
    else:
        host, service = doc.get("host"), doc.get("service", "")
    if not isinstance(host, str) or not host or not isinstance(service, str):
        return None
    return host, service


def _item(host: str, service: str, state: int, output: Any, *, since: float | None = None,
          state_since: float | None = None, ended: float | None = None,
          status: dict[str, str] | None = None) -> dict[str, Any]:
    names = SERVICE_STATES if service else HOST_STATES
    text = output if isinstance(output, str) else ""
    item: dict[str, Any] = {
        "host": host, "check": service or "host",
        "state": names.get(state, "UNKNOWN"),
        "output": text.split("\n", 1)[0][:MAX_OUTPUT],
    }
    if service:
        item["service"] = service
    for key, value in (("since", since), ("state_since", state_since), ("ended", ended)):
        if value is not None:
            item[key] = value
    return item | (status or {})


def _number(value: Any) -> float | None:
    """A finite JSON number, else None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def state_change_item(doc: Any) -> dict[str, Any] | None:
    """The item for one event of the stream, or None when it is not a hard state change
    (a soft one, another event type). Raises ValueError naming what is missing."""
    if not isinstance(doc, dict) or doc.get("type") != "StateChange":
        return None
    if doc.get("state_type") != HARD:
        return None
    host, service, state = doc.get("host"), doc.get("service", ""), doc.get("state")
    if not isinstance(host, str) or not host or not isinstance(service, str):
        raise ValueError(f"a StateChange without a host name: {str(doc)[:200]}")
    if not isinstance(state, int) or isinstance(state, bool):
        raise ValueError(f"a StateChange of {host} without a numeric state")
    result = doc.get("check_result") if isinstance(doc.get("check_result"), dict) else {}
    at = _number(result.get("execution_end")) or _number(doc.get("timestamp"))
    if at is None:
        raise ValueError(f"a StateChange of {host} without a time")
    output = result.get("output")
    # A recovery says them too: Icinga ends every acknowledgement at a recovery (a
    # sticky one included), and the alert must not stay acknowledged once resolved.
    status = status_of(doc, f"{host}!{service}" if service else host)
    if state == 0:
        return _item(host, service, state, output, ended=at, status=status)
    previous = result.get("previous_hard_state")
    if isinstance(previous, int) and previous not in (0, NO_PREVIOUS_STATE):
        # WARNING to CRITICAL: the same problem
        return _item(host, service, state, output, status=status)
    return _item(host, service, state, output, since=at, status=status)


def object_item(result: Any, recovered_since: float,
                now: float | None = None) -> dict[str, Any] | None:
    """The item for one host or service of an object query: a problem in a hard state,
    or a recovery at or after ``recovered_since`` (one the stream may have missed while
    it was away); None for anything else (OK for long, never checked, never hard).
    ``now`` (the follower's clock when None) is when an acknowledgement's expiry ended
    it (``status_of``).

    A problem's ``last_hard_state_change`` is when its current hard state began: its
    start, unless it changed state since (WARNING to CRITICAL). So it is sent as
    ``state_since``, a start the engine takes only when it has no alert of the
    condition (the mapping's ``fallback_start``); an alert it has keeps its start."""
    if not isinstance(result, dict) or not isinstance(result.get("attrs"), dict):
        raise ValueError(f"an object without attrs: {str(result)[:200]}")
    attrs, kind = result["attrs"], result.get("type")
    service = attrs.get("name", "") if kind == "Service" else ""
    host = attrs.get("host_name") if kind == "Service" else attrs.get("name")
    if not isinstance(host, str) or not host or not isinstance(service, str):
        raise ValueError(f"a {kind} without a name: {str(result)[:200]}")
    check = attrs.get("last_check_result")
    state = _number(attrs.get("last_hard_state"))
    changed = _number(attrs.get("last_hard_state_change"))
    # Pending (never checked), or never in a hard state yet (a new object in its first
    # soft attempts: last_hard_state 3 or 1 with last_hard_state_change 0).
    if not isinstance(check, dict) or state is None or changed is None or changed <= 0:
        return None
    output = check.get("output")
    status = status_of(attrs, f"{host}!{service}" if service else host,
                       time.time() if now is None else now)
    if state == 0:
        return _item(host, service, 0, output, ended=changed, status=status) \
            if changed >= recovered_since else None
    return _item(host, service, int(state), output, state_since=changed, status=status)


@dataclass(frozen=True, slots=True)
class IcingaApi:
    """The few calls of Icinga 2's API this source needs, on one HTTPS session.

    ``verify``: a CA bundle (Icinga's own CA, ``/var/lib/icinga2/certs/ca.crt``), True
    for the system's, or False (not checked: only for a test bed)."""

    url: str
    user: str
    password: str = field(repr=False)  # a repr in a log or traceback must not show it
    verify: str | bool = True
    timeout: float = 10.0

    def _session(self) -> requests.Session:
        if self.verify is False:  # the operator chose it; said once at start, not per call
            warnings.simplefilter("ignore", InsecureRequestWarning)
        session = requests.Session()
        session.auth = (self.user, self.password)
        session.headers["Accept"] = "application/json"
        # Icinga gzips when asked (requests asks by default), and its compressor holds
        # the event stream's lines back until a block fills: ask for plain text.
        session.headers["Accept-Encoding"] = "identity"
        return session

    def _post(self, session: requests.Session, path: str, body: dict[str, Any], *,
              permission: str, stream: bool = False, read_timeout: float | None = None,
              method: str | None = None) -> requests.Response:
        headers = {"X-HTTP-Method-Override": method} if method else {}
        where = self.url.rstrip("/") + path
        try:
            # verify per request: a session's is overridden by REQUESTS_CA_BUNDLE
            response = session.post(where, json=body, headers=headers, stream=stream,
                                    verify=self.verify,
                                    timeout=(self.timeout, read_timeout or self.timeout))
        except requests.exceptions.SSLError as exc:
            raise IcingaError(f"TLS with {self.url} failed ({_reason(exc)}); give Icinga's "
                              "CA certificate with --ca") from None
        except requests.RequestException as exc:
            raise IcingaError(f"{where}: {_reason(exc)}") from None
        if response.status_code in (401, 403, 404):
            detail = _error_text(response)
            response.close()
            # Icinga answers a call the user may not make with 404 (objects: "No objects
            # found."; events: "could not be found"), the same as a wrong path.
            why = ("Icinga refused the user's name or password" if response.status_code == 401
                   else f"Icinga refused the call (the user needs the permission {permission}"
                        ", and the URL must be Icinga 2's API)")
            raise IcingaRefused(f"{where}: {why}: HTTP {response.status_code} {detail}")
        if response.status_code != 200:
            detail = _error_text(response)
            response.close()
            raise IcingaError(f"{where}: HTTP {response.status_code} {detail}")
        return response

    def problems(self, recovered_since: float) -> list[dict[str, Any]]:
        """Items for every host and service in a hard problem state now, and for those
        that recovered at or after ``recovered_since`` (epoch seconds)."""
        items: list[dict[str, Any]] = []
        with self._session() as session:
            for kind, var, type_name in (("hosts", "host", "Host"),
                                         ("services", "service", "Service")):
                body = {"attrs": OBJECT_ATTRS + (["host_name"] if var == "service" else []),
                        "filter": f"{var}.last_hard_state != 0 || "
                                  f"{var}.last_hard_state_change >= {recovered_since:.3f}"}
                results = self._query(session, kind, type_name, body)
                for result in results:
                    try:
                        item = object_item(result, recovered_since)
                    except ValueError as exc:
                        log.warning("icinga: skipped: %s", exc)
                        continue
                    if item is not None:
                        items.append(item)
        return items

    def _query(self, session: Any, kind: str, type_name: str,
               body: dict[str, Any]) -> list[Any]:
        """The ``results`` of an objects query (``kind``: hosts or services); an answer
        without them is an ``IcingaError`` naming the query."""
        response = self._post(session, f"/v1/objects/{kind}", body, method="GET",
                              permission=f"objects/query/{type_name}")
        try:
            results = response.json()["results"]
        except (ValueError, KeyError, TypeError):
            raise IcingaError(f"{self.url}: the {kind} query did not answer JSON "
                              "results") from None
        return results if isinstance(results, list) else []

    def problem(self, key: Key) -> dict[str, Any] | None:
        """The item of one host or service as it is now if it is in a hard problem state
        (``object_item``), else None: read when its acknowledgement or downtime changed,
        since those events do not all say the object's state."""
        host, service = key
        kind, type_name = ("services", "Service") if service else ("hosts", "Host")
        body = {"attrs": OBJECT_ATTRS + (["host_name"] if service else []),
                "filter": ("host.name == h && service.name == s" if service
                           else "host.name == h"),
                "filter_vars": {"h": host, "s": service} if service else {"h": host}}
        with self._session() as session:
            results = self._query(session, kind, type_name, body)
        for result in results:
            item = object_item(result, math.inf)
            if item is not None:
                return item
        return None

    def acknowledgement_comments(self) -> list[Any]:
        """Every acknowledgement's comment, for who acknowledged (one query, not one per
        object: ``connectors.icinga_who``)."""
        with self._session() as session:
            return self._query(session, "comments", "Comment",
                               {"attrs": COMMENT_ATTRS, "filter": COMMENTS_FILTER})

    def downtimes_in_effect(self) -> list[Any]:
        """Every downtime in effect now, on Icinga's clock (one query)."""
        with self._session() as session:
            return self._query(session, "downtimes", "Downtime",
                               {"attrs": DOWNTIME_ATTRS, "filter": IN_EFFECT})

    def existing(self, keys: list[Key]) -> set[Key]:
        """Which of ``keys`` (hosts and services) Icinga still has: asked at a reconnect
        for what was sent as a problem and is no longer listed, which was deleted
        unless it is still there (a query answers nothing for an object deleted)."""
        found: set[Key] = set()
        with self._session() as session:
            for kind, type_name, names in (
                    ("hosts", "Host", [h for h, s in keys if not s]),
                    ("services", "Service", [f"{h}!{s}" for h, s in keys if s])):
                if not names:
                    continue
                var = "host.name" if kind == "hosts" else "service.__name"
                body = {"attrs": ["name"], "filter": f"{var} in names",
                        "filter_vars": {"names": names}}
                for result in self._query(session, kind, type_name, body):
                    name = result.get("name") if isinstance(result, dict) else None
                    if isinstance(name, str):
                        host, _, service = name.partition("!")
                        found.add((host, service))
        return found

    def events(self, queue: str, idle_timeout: float,
               groups: Collection[str] | None = None) -> EventStream:
        """Open the event stream of hard and soft state changes (``queue`` names this
        follower's queue in Icinga) and of the ``OPTIONAL_EVENTS`` named by ``groups``
        (all when None). Opened before the object query on a (re)connect, so a change
        between the two is in one or the other."""
        chosen = OPTIONAL_EVENTS if groups is None else groups
        types = ["StateChange"] + [t for name in chosen for t in OPTIONAL_EVENTS[name]]
        session = self._session()
        try:
            response = self._post(session, "/v1/events", {"queue": queue, "types": types},
                                  permission=", ".join(f"events/{t}" for t in types),
                                  stream=True, read_timeout=idle_timeout)
        except BaseException:
            session.close()
            raise
        return EventStream(session, response)


def open_stream(api: Any, queue: str, idle_timeout: float,
                groups: Collection[str]) -> tuple[EventStream, dict[str, IcingaRefused]]:
    """The event stream with as many of ``groups`` (of ``OPTIONAL_EVENTS``) as the user
    may read, and the refusal of each it may not. Icinga refuses a stream whose types
    are not all permitted, without saying which: on a refusal each group is tried
    alone (a stream opened and closed) to find which. A user who may not read
    StateChange is refused by the last try (``IcingaRefused``)."""
    try:
        return api.events(queue, idle_timeout, list(groups)), {}
    except IcingaRefused:
        if not groups:
            raise
    refused: dict[str, IcingaRefused] = {}
    for name in groups:
        try:
            api.events(queue, idle_timeout, [name]).close()
        except IcingaRefused as exc:
            refused[name] = exc
    return api.events(queue, idle_timeout, [g for g in groups if g not in refused]), refused


class EventStream:
    """The lines of an open event stream as parsed JSON; a line that is not JSON, or
    longer than ``MAX_LINE``, is logged, counted in ``unreadable`` and skipped."""

    def __init__(self, session: requests.Session, response: requests.Response):
        self._session = session
        self._response = response
        self.unreadable = 0

    def __iter__(self) -> Iterator[Any]:
        for line in self._lines():
            try:
                yield json.loads(line)
            except (ValueError, RecursionError):  # not JSON, or nested beyond the parser
                self.unreadable += 1
                log.warning("icinga: an event stream line is not JSON: %r", line[:200])

    def _lines(self) -> Iterator[bytes]:
        # Icinga answers without a length or chunks and keeps the connection open, so
        # read what has arrived (read1), not a fixed amount that would wait for more.
        read = self._response.raw.read1
        buffer, skipping = b"", False
        while True:
            try:
                chunk = read(65536)
            except ReadTimeoutError:
                raise StreamIdle("no event within the idle timeout") from None
            except (HTTPError, OSError) as exc:
                raise IcingaError(f"the event stream broke: {_reason(exc)}") from None
            if not chunk:
                raise IcingaError("the event stream ended (Icinga restarted or closed it)")
            buffer += chunk
            while (end := buffer.find(b"\n")) >= 0:
                line, buffer = buffer[:end], buffer[end + 1:]
                if skipping:
                    skipping = False
                elif line.strip():
                    yield line
            if len(buffer) > MAX_LINE:
                if not skipping:
                    self.unreadable += 1
                    log.warning("icinga: an event longer than %d bytes skipped", MAX_LINE)
                buffer, skipping = b"", True

    def close(self) -> None:
        self._response.close()
        self._session.close()


def _reason(exc: BaseException) -> str:
    """The innermost reason of a requests error, not its wrapper chain."""
    while exc.args and isinstance(exc.args[0], BaseException):
        exc = exc.args[0]
    reason = getattr(exc, "reason", None)
    return str(reason if reason is not None else exc)[:300]


def _error_text(response: requests.Response) -> str:
    try:
        doc = response.json()
        return str(doc.get("status") or doc.get("error") or "")[:300]
    except (ValueError, AttributeError):
        return response.text[:300]
